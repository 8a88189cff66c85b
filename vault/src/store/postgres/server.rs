//! A real PostgreSQL server for tests: Debian's `postgresql` binaries, a fresh cluster in a
//! temporary directory, a free loopback port, and a new database per test.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then the cluster belongs to the
//! `postgres` user and its commands run through `runuser`. The server runs under a small
//! shell that holds a pipe from this process: when the test process ends, however it ends,
//! the pipe closes and the shell stops the server and removes its directory, so no server
//! outlives the tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The superuser `kluis`'s password on every test server.
pub const PASSWORD: &str = "kluis-test-password";

/// A running test server. Dropping it stops the server.
pub struct TestServer {
    port: u16,
    dir: PathBuf,
    stop: Option<ChildStdin>,
    shell: Child,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("port", &self.port)
            .finish()
    }
}

/// The server every test of this process shares (one database each).
pub fn shared() -> &'static TestServer {
    static SHARED: OnceLock<TestServer> = OnceLock::new();
    SHARED.get_or_init(|| TestServer::start().unwrap_or_else(|e| panic!("{e}")))
}

/// Where Debian (or the `PATH`) keeps `initdb` and `postgres`.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("KLUIS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path).find(|dir| dir.join("initdb").exists())
        })
        .ok_or_else(|| {
            "PostgreSQL is not installed: the tests need Debian's `postgresql` package (scripts/test installs it), or KLUIS_PG_BIN set to its bin directory".to_owned()
        })
}

/// A user and group id.
type Owner = (u32, u32);

/// The uid and gid of the `postgres` user, when running as root.
fn unprivileged_owner() -> Result<Option<(u32, u32)>, String> {
    let id = |args: &[&str]| -> Result<String, String> {
        let out = Command::new("id")
            .args(args)
            .output()
            .map_err(|e| format!("running id: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if id(&["-u"])? != "0" {
        return Ok(None);
    }
    let uid = id(&["-u", "postgres"])?.parse().map_err(|_| {
        "running as root, and there is no `postgres` user to run PostgreSQL as".to_owned()
    })?;
    let gid = id(&["-g", "postgres"])?
        .parse()
        .map_err(|_| "the `postgres` user has no group".to_owned())?;
    Ok(Some((uid, gid)))
}

/// A command that runs `program` as the cluster's owner.
fn as_owner(owner: Option<(u32, u32)>, program: &Path) -> Command {
    match owner {
        Some(_) => {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The binaries, the cluster's owner and a new directory it owns, with the password file
/// initdb and the tests use.
fn prepare() -> Result<(PathBuf, Option<Owner>, PathBuf), String> {
    let bin = bin_dir()?;
    let owner = unprivileged_owner()?;
    let dir = tempfile::Builder::new()
        .prefix("kluis-pg-")
        .tempdir()
        .map_err(|e| format!("creating a directory for PostgreSQL: {e}"))?
        .keep();
    // Over TCP the server asks for the password, as a real one does; on its socket in the
    // directory (only its owner can reach) it trusts.
    let password_file = dir.join("password");
    std::fs::write(&password_file, PASSWORD)
        .map_err(|e| format!("writing {}: {e}", password_file.display()))?;
    if let Some((uid, gid)) = owner {
        for path in [&dir, &password_file] {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| format!("handing {} to postgres: {e}", path.display()))?;
        }
    }
    Ok((bin, owner, dir))
}

/// Starts a server on the cluster in `dir` on a free port, under the shell that stops it
/// and removes `dir` once this process lets go of its stdin.
fn launch(bin: &Path, owner: Option<(u32, u32)>, dir: PathBuf) -> Result<TestServer, String> {
    let port = free_port()?;
    let script = r#"
bin="$1"; dir="$2"; port="$3"
"$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=on >"$dir/server.log" 2>&1 &
pid=$!
cat >/dev/null
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"#;
    let mut command = as_owner(owner, Path::new("/bin/sh"));
    command
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(bin)
        .arg(&dir)
        .arg(port.to_string());
    let shell = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting PostgreSQL: {e}"))?;
    let mut server = TestServer {
        port,
        dir,
        stop: None,
        shell,
    };
    server.stop = server.shell.stdin.take();
    server.wait_ready(bin)?;
    Ok(server)
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

impl TestServer {
    /// Creates a cluster in a new temporary directory and starts a server on it.
    pub fn start() -> Result<TestServer, String> {
        TestServer::start_with(&[])
    }

    /// [`TestServer::start`] with `settings` ("name = value" lines) added to the cluster's
    /// `postgresql.conf`.
    pub fn start_with(settings: &[&str]) -> Result<TestServer, String> {
        let (bin, owner, dir) = prepare()?;
        let password_file = dir.join("password");
        let out = as_owner(owner, &bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .arg(format!("--pwfile={}", password_file.display()))
            .args([
                "-U",
                "kluis",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["-E", "UTF8", "--locale=C", "-N"])
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        if !settings.is_empty() {
            let conf = dir.join("data/postgresql.conf");
            std::fs::OpenOptions::new()
                .append(true)
                .open(&conf)
                .and_then(|mut file| writeln!(file, "{}", settings.join("\n")))
                .map_err(|e| format!("adding settings to {}: {e}", conf.display()))?;
        }
        launch(&bin, owner, dir)
    }

    /// A streaming standby of `primary`, named `name` (for `synchronous_standby_names`):
    /// a base backup of the primary, started in recovery.
    pub fn start_standby(primary: &TestServer, name: &str) -> Result<TestServer, String> {
        let (bin, owner, dir) = prepare()?;
        let conninfo = format!(
            "host=127.0.0.1 port={} user=kluis password={PASSWORD} application_name={name}",
            primary.port
        );
        let out = as_owner(owner, &bin.join("pg_basebackup"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-d", &conninfo, "-R", "-X", "stream", "-c", "fast"])
            .output()
            .map_err(|e| format!("running pg_basebackup: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_basebackup failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        launch(&bin, owner, dir)
    }

    /// SIGKILL to the server's postmaster: a crash, nothing flushed or shut down.
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
            .expect("the server's pid file");
        let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) {
        let bin = bin_dir().expect("PostgreSQL binaries");
        let out = as_owner(unprivileged_owner().expect("owner"), &bin.join("pg_ctl"))
            .args(["promote", "-w", "-D"])
            .arg(self.dir.join("data"))
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "promoting the standby failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn wait_ready(&self, bin: &Path) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Err(format!("PostgreSQL did not start within 60 s: {log}"))
    }

    /// The directory of its cluster (data files and WAL).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgresql://kluis:{PASSWORD}@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    /// Creates a new, empty database and returns its URL.
    pub async fn new_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "kluis_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        self.execute(&format!("CREATE DATABASE {name}")).await;
        self.url(&name)
    }

    /// [`TestServer::new_database`] for code that is not async (or runs inside a runtime
    /// it must not block): on a thread of its own.
    pub fn new_database_blocking(&'static self) -> String {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(self.new_database())
        })
        .join()
        .expect("creating a test database")
    }

    /// Runs `sql` as the superuser in the `postgres` database.
    pub async fn execute(&self, sql: &str) {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .expect("the test server accepts a connection");
        let task = tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap_or_else(|e| {
            let reason = e.as_db_error().map(|d| d.message().to_owned());
            panic!("{sql}: {e} {}", reason.unwrap_or_default())
        });
        drop(client);
        let _ = task.await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut stop) = self.stop.take() {
            let _ = stop.flush();
        }
        let _ = self.shell.wait();
    }
}
