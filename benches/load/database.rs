//! The PostgreSQL server under the nodes (a real one, from the test support code): the CPU
//! its processes spend, the length of a vault's audit log in it, and the machine's CPU.

use super::vault::{allocated_bytes, clock_ticks, process_stats};
use kluis::store::postgres::server::TestServer;
use std::time::Duration;

/// A PostgreSQL server of its own for the benchmark.
pub struct Database {
    server: TestServer,
}

impl Database {
    pub fn start() -> Database {
        Database {
            server: TestServer::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}")),
        }
    }

    /// A new, empty database's URL.
    pub async fn new_database(&self) -> String {
        self.server.new_database().await
    }

    /// The CPU all the server's processes spent so far: the postmaster, the backends that
    /// live, and (through the postmaster's children's time) the ones that ended.
    pub fn cpu(&self) -> Duration {
        let processes = self.processes();
        let ended = processes
            .first()
            .map_or(Duration::ZERO, |p| children_time(*p));
        processes
            .into_iter()
            .map(|pid| process_stats(pid).cpu)
            .sum::<Duration>()
            + ended
    }

    /// Bytes the server's live processes caused to be written to disk so far, and the
    /// bytes its cluster directory takes.
    pub fn disk(&self) -> (u64, u64) {
        let written = self
            .processes()
            .into_iter()
            .map(|pid| process_stats(pid).written)
            .sum();
        (written, allocated_bytes(self.server.dir()))
    }

    /// The postmaster first, then its children.
    fn processes(&self) -> Vec<u32> {
        let Some(postmaster) =
            std::fs::read_to_string(self.server.dir().join("data/postmaster.pid"))
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        else {
            return Vec::new();
        };
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if parent_of(pid) == Some(postmaster) {
                pids.push(pid);
            }
        }
        pids
    }

    /// How many entries the audit log of the vault in database `url` holds.
    pub async fn audit_size(url: &str) -> i64 {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .query_one("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries", &[])
            .await
            .expect("count")
            .get(0)
    }

    /// The server's version line.
    pub async fn version(url: &str) -> String {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let version: String = client
            .query_one("SHOW server_version", &[])
            .await
            .expect("version")
            .get(0);
        format!("PostgreSQL {version}")
    }
}

/// The fields of `/proc/PID/stat` after the command name.
fn stat_fields(pid: u32) -> Vec<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_default()
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid).get(1).map(|p| *p as u32)
}

/// cutime + cstime: the CPU of the children `pid` waited for.
fn children_time(pid: u32) -> Duration {
    let fields = stat_fields(pid);
    let ticks = fields.get(13).copied().unwrap_or(0) + fields.get(14).copied().unwrap_or(0);
    Duration::from_millis(ticks * 1000 / clock_ticks())
}

/// The machine's CPU time so far: (busy, all), from `/proc/stat`.
pub fn machine_cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let times: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let all: u64 = times.iter().sum();
    // idle and iowait are the fourth and fifth.
    let idle = times.get(3).copied().unwrap_or(0) + times.get(4).copied().unwrap_or(0);
    (all - idle, all)
}
