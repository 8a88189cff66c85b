//! The vault under load: a `kluis dev` process of its own, and what `/proc` says about it.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One grant the departments read under.
pub struct Grant {
    pub token: String,
    pub resident: String,
}

/// A running vault (one node, or several on one PostgreSQL database) and the department
/// that loads it.
pub struct Vault {
    pub label: String,
    /// The URL departments use (the issuer; with several nodes, one name for all).
    pub url: String,
    /// Where each node listens (`host:port`); connections are spread over them.
    pub addresses: Vec<String>,
    /// The department's key (`schuldhulpverlening`, from the dev vault's key directory).
    pub key: kluis_sdk::DepartmentKey,
    /// Whether every read carries a client assertion (a vault from before one signature
    /// per read wants one).
    pub with_assertion: bool,
    pub grants: Vec<Grant>,
    /// How many load residents exist.
    pub residents: usize,
    pub data: PathBuf,
    binary: PathBuf,
    /// The most reads/s seen, as `f64` bits.
    fastest: std::sync::atomic::AtomicU64,
    /// One process per node.
    children: Vec<Child>,
    started_in: Duration,
    _dir: tempfile::TempDir,
}

/// The processes of a vault just started.
struct Nodes {
    children: Vec<Child>,
    addresses: Vec<String>,
    url: String,
    started_in: Duration,
}

/// The one name several nodes serve under; each connection resolves it to its own node.
const NODES_HOST: &str = "kluis-nodes.test";

/// The `kluis` to load: `KLUIS_LOAD_BINARY` if set (scripts/load builds it first), else
/// this checkout's, built if needed (release; a debug build for the smoke).
pub fn this_checkouts_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("KLUIS_LOAD_BINARY") {
        return PathBuf::from(binary);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let release = !cfg!(debug_assertions);
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    kluis::nested_cargo::without_outer_cargo_env(&mut build)
        .args(["build", "--quiet", "-p", "kluis", "--bin", "kluis"])
        .current_dir(&root);
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building kluis failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target
        .join(if release { "release" } else { "debug" })
        .join("kluis")
}

impl Vault {
    /// Starts `binary dev` on a fresh data directory and waits until it listens.
    pub async fn start(label: &str, binary: &Path, with_assertion: bool) -> Vault {
        let mut vault = Vault::start_with(label, binary, &[]).await;
        vault.with_assertion = with_assertion;
        vault
    }

    /// Starts `binary dev` on a fresh data directory with the environment variables `env`.
    pub async fn start_with(label: &str, binary: &Path, env: &[(&str, &str)]) -> Vault {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let (child, url, started_in) = spawn(binary, &data, "127.0.0.1:0", (&[], env));
        let addresses = vec![url.trim_start_matches("http://").to_owned()];
        let nodes = Nodes {
            children: vec![child],
            addresses,
            url,
            started_in,
        };
        Vault::new(label, binary, false, (dir, data), nodes)
    }

    /// Starts `count` nodes of `binary dev` on the PostgreSQL database `database`, node
    /// `i` on 127.0.0.`i+1`, all on one port and under one public URL; they share the root
    /// key, the key directory and the department keys (the first node's).
    pub async fn start_nodes(label: &str, binary: &Path, count: u8, database: &str) -> Vault {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = dir.path().join("node-0");
        let port = port_free_on(count);
        let url = format!("http://{NODES_HOST}:{port}");
        let mut nodes = Nodes {
            children: Vec::new(),
            addresses: Vec::new(),
            url: url.clone(),
            started_in: Duration::ZERO,
        };
        for i in 0..count {
            let data = dir.path().join(format!("node-{i}"));
            if i > 0 {
                std::fs::create_dir_all(&data).expect("node directory");
                std::fs::copy(first.join("root.key"), data.join("root.key")).expect("root key");
                for shared in ["keys", "departments"] {
                    std::os::unix::fs::symlink(first.join(shared), data.join(shared))
                        .expect("shared key directory");
                }
            }
            let listen = format!("127.0.0.{}:{port}", i + 1);
            let args = ["--store-url", database, "--public-url", &url];
            let (child, _, took) = spawn(binary, &data, &listen, (&args, &[]));
            nodes.children.push(child);
            nodes.addresses.push(listen);
            nodes.started_in = nodes.started_in.max(took);
        }
        Vault::new(label, binary, false, (dir, first), nodes)
    }

    fn new(
        label: &str,
        binary: &Path,
        with_assertion: bool,
        (dir, data): (tempfile::TempDir, PathBuf),
        nodes: Nodes,
    ) -> Vault {
        let key = kluis_sdk::DepartmentKey::from_file(
            data.join("departments").join("schuldhulpverlening.jwk"),
        )
        .expect("the dev vault's department key");
        Vault {
            label: label.to_owned(),
            addresses: nodes.addresses,
            url: nodes.url,
            key,
            with_assertion,
            grants: Vec::new(),
            residents: 0,
            data,
            binary: binary.to_owned(),
            fastest: std::sync::atomic::AtomicU64::new(0),
            children: nodes.children,
            started_in: nodes.started_in,
            _dir: dir,
        }
    }

    /// Stops the vault (SIGKILL: no shutdown work) and starts it again on the same data
    /// and address; returns how long until it listened.
    pub fn restart(&mut self) -> Duration {
        self.stop();
        let listen = self.url.trim_start_matches("http://").to_owned();
        let (child, url, started_in) = spawn(&self.binary, &self.data, &listen, (&[], &[]));
        (self.children, self.url, self.started_in) = (vec![child], url, started_in);
        started_in
    }

    /// What `/readyz` says of the audit log.
    pub async fn audit_readiness(&self) -> String {
        let answer: serde_json::Value = match reqwest::get(format!("{}/readyz", self.url)).await {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let checks = answer.get("checks").unwrap_or(&answer);
        checks["audit"].as_str().unwrap_or("unknown").to_owned()
    }

    pub fn print_start(&self) {
        let stats = self.stats();
        println!(
            "{}: {} (pid {:?}), listening after {:.0} ms, RSS {:.1} MiB",
            self.label,
            self.url,
            self.children.iter().map(Child::id).collect::<Vec<_>>(),
            self.started_in.as_secs_f64() * 1e3,
            stats.rss_mib
        );
    }

    /// The counters of its processes now, summed over the nodes.
    pub fn stats(&self) -> Stats {
        let mut total = Stats {
            kept: allocated_bytes(&self.data),
            ..Stats::default()
        };
        for child in &self.children {
            let node = process_stats(child.id());
            total.cpu += node.cpu;
            total.rss_mib += node.rss_mib;
            total.written += node.written;
        }
        total
    }

    /// The most reads/s seen so far (to know how many requests to sign).
    pub fn fastest_rate(&self) -> f64 {
        f64::from_bits(self.fastest.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn saw_rate(&self, rate: f64) {
        let fastest = self.fastest_rate().max(rate);
        self.fastest
            .store(fastest.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// An HTTP client that reaches the vault's URL (through the first node).
    pub fn http(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder();
        if let Ok(first) = self.addresses[0].parse() {
            builder = builder.resolve(NODES_HOST, first);
        }
        builder.build().expect("client")
    }

    /// The department's key file.
    pub fn key_file(&self) -> PathBuf {
        self.data
            .join("departments")
            .join("schuldhulpverlening.jwk")
    }

    pub fn stop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port free on 127.0.0.1 … 127.0.0.`count`.
fn port_free_on(count: u8) -> u16 {
    'search: loop {
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = first.local_addr().expect("addr").port();
        for i in 1..count {
            if std::net::TcpListener::bind((format!("127.0.0.{}", i + 1), port)).is_err() {
                continue 'search;
            }
        }
        return port;
    }
}

/// The page cache the vaults on sled get: `KLUIS_CACHE_MB` in this process's environment,
/// which they inherit, or the default.
pub fn page_cache() -> String {
    match std::env::var("KLUIS_CACHE_MB") {
        Ok(mb) => format!("{mb} MiB (KLUIS_CACHE_MB)"),
        Err(_) => format!(
            "{} MiB (the default; KLUIS_CACHE_MB sets it)",
            kluis::config::DEFAULT_CACHE_MB
        ),
    }
}

/// Starts `binary dev --data data --listen listen ARGS` with `ENV` set; waits for its
/// "listening on" line.
fn spawn(
    binary: &Path,
    data: &Path,
    listen: &str,
    (args, env): (&[&str], &[(&str, &str)]),
) -> (Child, String, Duration) {
    let began = Instant::now();
    let mut child = Command::new(binary)
        .args(["dev", "--listen", listen, "--data"])
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .env("KLUIS_LOG", "warn,sled=warn")
        // The store is chosen by the arguments alone.
        .env_remove("KLUIS_STORE_URL")
        // One department is the whole fleet here: its rate limit must not be what is measured.
        .env("KLUIS_DEPARTMENT_RATE", "1000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the vault did not start");
    (child, url, began.elapsed())
}

impl Drop for Vault {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counters of the vault process at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub cpu: Duration,
    pub rss_mib: f64,
    /// Bytes the process caused to be written to the disk.
    pub written: u64,
    /// Bytes the data directory takes on disk.
    pub kept: u64,
}

/// CPU, memory and disk writes of process `pid` now (`/proc`).
pub fn process_stats(pid: u32) -> Stats {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clock_ticks());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let written = io
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Stats {
        cpu,
        rss_mib: kib("VmRSS:") / 1024.0,
        written,
        kept: 0,
    }
}

pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// The disk blocks the files under `dir` take, in bytes.
pub fn allocated_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
