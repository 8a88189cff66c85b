//! A real `kluis` process: for tests that kill, restart or read the log of the server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The `kluis` binary, built once per test run from this checkout (a no-op when it is
/// current), so a test never runs a stale binary.
pub fn kluis_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let root = super::project_root();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = kluis::nested_cargo::without_outer_cargo_env(&mut Command::new(cargo))
                .args(["build", "--quiet", "-p", "kluis", "--bin", "kluis"])
                .current_dir(&root)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the kluis binary failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            let binary = target.join("debug").join("kluis");
            assert!(binary.exists(), "no binary at {}", binary.display());
            binary
        })
        .clone()
}

/// Runs `kluis ARGS` to completion: (success, stdout, stderr).
pub fn kluis_cli(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(kluis_binary())
        .args(args)
        .output()
        .expect("kluis runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The whole audit log of the `kluis dev` vault in `dir`, exported through its admin socket.
pub fn audit_export(dir: &Path) -> String {
    let socket = dir.join("data/admin.sock");
    let (exported, export, err) = kluis_cli(&[
        "audit".as_ref(),
        "export".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
    ]);
    assert!(exported, "{err}");
    export
}

/// What a finished process wrote: standard output, then standard error.
pub fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running `kluis dev --data DIR` process.
pub struct VaultProcess {
    child: Child,
    /// Its base URL.
    pub url: String,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl VaultProcess {
    /// Starts `kluis dev --data dir` on a free port and waits until it listens.
    pub fn dev(dir: &Path) -> VaultProcess {
        VaultProcess::dev_at(dir, "127.0.0.1:0")
    }

    /// Starts `kluis dev --data dir` on `listen`: a restart on the same address keeps the
    /// vault's issuer URL, so grants it issued stay valid.
    pub fn dev_at(dir: &Path, listen: &str) -> VaultProcess {
        let mut command = Command::new(kluis_binary());
        command.args(["dev", "--listen", listen, "--data"]).arg(dir);
        if let Some(url) = super::store::store_url_for(dir) {
            command.args(["--store-url", &url]);
        }
        VaultProcess::spawn(&mut command)
    }

    /// Starts `kluis dev --data dir` on sled, whatever the tests run on (a vault to migrate),
    /// or on PostgreSQL at `store_url`.
    pub fn dev_on(dir: &Path, store_url: Option<&str>) -> VaultProcess {
        let mut command = Command::new(kluis_binary());
        command
            .args(["dev", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir);
        if let Some(url) = store_url {
            command.args(["--store-url", url]);
        }
        VaultProcess::spawn(&mut command)
    }

    /// Starts `kluis dev --data dir` on a free port, on the store the tests run on, with the
    /// environment variables `env` set.
    pub fn dev_with(dir: &Path, env: &[(&str, std::ffi::OsString)]) -> VaultProcess {
        let mut command = Command::new(kluis_binary());
        command
            .args(["dev", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir)
            .envs(env.iter().map(|(k, v)| (k, v)));
        if let Some(url) = super::store::store_url_for(dir) {
            command.args(["--store-url", &url]);
        }
        VaultProcess::spawn(&mut command)
    }

    /// Starts `command` (a `kluis` invocation) and waits for its "listening on" line.
    pub fn spawn(command: &mut Command) -> VaultProcess {
        let mut child = command
            // Tests read as fast as they can; `limits.rs` tests the department rate.
            .env("KLUIS_DEPARTMENT_RATE", "1000000")
            .env(
                "KLUIS_LOG",
                std::env::var("KLUIS_TEST_LOG").unwrap_or_else(|_| "debug,sled=info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kluis starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let output = output.clone();
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        let _ = tx.send(url.trim().to_owned());
                    }
                    let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
                    out.push_str(&line);
                    out.push('\n');
                }
            }));
        }
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => VaultProcess {
                child,
                url,
                output,
                readers,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kluis did not start; its output:\n{}",
                    output.lock().unwrap_or_else(|p| p.into_inner())
                );
            }
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// SIGKILL: no shutdown, no final flush.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit; returns the full output.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "kluis exited with {status}");
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.output()
    }
}

impl Drop for VaultProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
