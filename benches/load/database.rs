//! The PostgreSQL server under the nodes (a real one, from the test support code): the CPU
//! its processes spend, the time and WAL of each kind of statement (`pg_stat_statements`),
//! the length of a vault's audit log in it, and the machine's CPU.

use super::vault::{allocated_bytes, clock_ticks, process_stats};
use kluis::store::postgres::server::TestServer;
use std::collections::BTreeMap;
use std::time::Duration;

/// A PostgreSQL server of its own for the benchmark.
pub struct Database {
    server: TestServer,
}

impl Database {
    /// Started with `pg_stat_statements`, or without it (and the statements' costs) if
    /// this PostgreSQL does not have it.
    pub fn start() -> Database {
        let server = TestServer::start_with(&[
            "shared_preload_libraries = 'pg_stat_statements'",
            "pg_stat_statements.track_planning = on",
        ])
        .or_else(|e| {
            println!("PostgreSQL without pg_stat_statements ({e}): no costs by statement");
            TestServer::start()
        })
        .unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
        Database { server }
    }

    /// A new, empty database's URL.
    pub async fn new_database(&self) -> String {
        self.server.new_database().await
    }

    /// The CPU all the server's processes spent so far (the postmaster, the backends that
    /// live, and, through the postmaster's children's time, the ones that ended), by kind
    /// of process, in user space and in the kernel:
    /// "connections" (the backends serving the nodes), "walwriter", "checkpointer",
    /// "autovacuum workers" and the others by their title, "ended" for exited children.
    pub fn cpu_by_process(&self) -> BTreeMap<String, (Duration, Duration)> {
        let ticks = |t: u64| Duration::from_millis(t * 1000 / clock_ticks());
        let mut by_kind: BTreeMap<String, (Duration, Duration)> = BTreeMap::new();
        for (n, pid) in self.processes().into_iter().enumerate() {
            let fields = stat_fields(pid);
            let field = |i: usize| ticks(fields.get(i).copied().unwrap_or(0));
            let kind = if n == 0 {
                by_kind.insert("ended".into(), (field(13), field(14)));
                "postmaster".into()
            } else {
                process_kind(pid)
            };
            let cpu = by_kind.entry(kind).or_default();
            cpu.0 += field(11);
            cpu.1 += field(12);
        }
        by_kind
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

    /// Forgets the statements counted so far, in every database (creating the extension
    /// in database `url` first).
    pub async fn reset_statements(url: &str) {
        // Without the extension, `statements` finds nothing to show.
        let _ = connect(url)
            .await
            .batch_execute(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
                 SELECT pg_stat_statements_reset()",
            )
            .await;
    }

    /// The statements run in database `url` since [`Database::reset_statements`], the most
    /// time first.
    pub async fn statements(url: &str) -> Vec<Statement> {
        let Ok(rows) = connect(url)
            .await
            .query(
                "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, total_exec_time, \
                        wal_bytes::float8, wal_fpi, total_plan_time \
                 FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 ORDER BY total_exec_time DESC",
                &[],
            )
            .await
        else {
            return Vec::new();
        };
        rows.iter()
            .map(|row| Statement {
                query: row.get(0),
                calls: row.get::<_, i64>(1).max(0) as u64,
                time: Duration::from_secs_f64(row.get::<_, f64>(2).max(0.0) / 1e3),
                wal_bytes: row.get::<_, f64>(3).max(0.0) as u64,
                wal_full_pages: row.get::<_, i64>(4).max(0) as u64,
                planning: Duration::from_secs_f64(row.get::<_, f64>(5).max(0.0) / 1e3),
            })
            .collect()
    }

    /// How many entries the audit log of the vault in database `url` holds.
    pub async fn audit_size(url: &str) -> i64 {
        connect(url)
            .await
            .query_one("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries", &[])
            .await
            .expect("count")
            .get(0)
    }

    /// The server's version line.
    pub async fn version(url: &str) -> String {
        let version: String = connect(url)
            .await
            .query_one("SHOW server_version", &[])
            .await
            .expect("version")
            .get(0);
        format!("PostgreSQL {version}")
    }
}

/// One kind of statement (its text with the values taken out) and what it cost in a phase.
pub struct Statement {
    pub query: String,
    pub calls: u64,
    /// Time inside the statement: CPU, and waits for locks and the WAL.
    pub time: Duration,
    pub wal_bytes: u64,
    pub wal_full_pages: u64,
    /// Time spent planning it.
    pub planning: Duration,
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
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

/// A server process's kind, from the title PostgreSQL gives it.
fn process_kind(pid: u32) -> String {
    let title = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let title = title.trim_end_matches('\0').replace('\0', " ");
    let title = title.strip_prefix("postgres: ").unwrap_or(&title);
    if title.contains('(') {
        "connections".into()
    } else if title.starts_with("autovacuum worker") {
        "autovacuum workers".into()
    } else {
        title.to_owned()
    }
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
