//! The root key in a hardware security module (issue 19, must-show 3), with SoftHSM2 from
//! Debian's packages as a real PKCS#11 token: `kluis keys generate-root --pkcs11` makes a
//! key that cannot leave the token, Henk's journey runs on a vault whose keyring it seals,
//! nothing in the vault's directories opens without it, and without the token the vault
//! refuses to start with one line. (`vault/tests/pkcs11_token.rs` checks the key's
//! attributes and the refusal of a key the token would export.)

use crate::henks_journey;
use crate::support::process::{kluis_binary, said};
use crate::support::{VaultProcess, client, dev_login, get_as};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's SoftHSM2 module.
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "kluis";
const PIN: &str = "4711-0815";

/// A SoftHSM2 with one initialised token, in a directory of its own.
struct SoftHsm {
    dir: tempfile::TempDir,
}

impl SoftHsm {
    fn new() -> SoftHsm {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
        let hsm = SoftHsm { dir };
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", TOKEN, "--pin", PIN])
            .args(["--so-pin", "so-pin-1234"])
            .env("SOFTHSM2_CONF", hsm.conf())
            .output()
            .expect("softhsm2-util runs (Debian package `softhsm2`; scripts/test installs it)");
        assert!(out.status.success(), "{out:?}");
        hsm
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// The environment that points `kluis` at the key labelled `key` in the token.
    fn env(&self, key: &str) -> Vec<(&'static str, OsString)> {
        vec![
            ("SOFTHSM2_CONF", self.conf().into()),
            ("KLUIS_PKCS11_MODULE", MODULE.into()),
            ("KLUIS_PKCS11_TOKEN", TOKEN.into()),
            ("KLUIS_PKCS11_KEY", key.into()),
            ("KLUIS_PKCS11_PIN_FILE", self.dir.path().join("pin").into()),
        ]
    }

    /// Takes the token out: its files are gone.
    fn remove_token(&self) {
        std::fs::remove_dir_all(self.dir.path().join("tokens")).unwrap();
        std::fs::create_dir(self.dir.path().join("tokens")).unwrap();
    }
}

/// Runs `kluis ARGS [DATA]`; one that is still running after a minute (a vault that
/// started where it should not) is killed and reported.
fn kluis(hsm: Option<(&SoftHsm, &str)>, args: &[&str], data: Option<&Path>) -> (bool, String) {
    let mut command = Command::new(kluis_binary());
    command.args(args);
    if let Some(data) = data {
        command.arg(data);
    }
    if let Some((hsm, key)) = hsm {
        command.envs(hsm.env(key));
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let began = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if began.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kluis {args:?} still ran after a minute:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.success(), said(&out))
}

fn dev(hsm: &SoftHsm, key: &str, data: &Path) -> VaultProcess {
    VaultProcess::dev_with(data, &hsm.env(key))
}

/// The last line `kluis` printed to say why it stopped.
fn error_line(said: &str) -> &str {
    said.lines()
        .rfind(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{said}"))
}

#[tokio::test]
async fn henks_journey_runs_with_the_root_key_inside_softhsm_and_nothing_opens_without_it() {
    let hsm = SoftHsm::new();
    let (made, said) = kluis(
        Some((&hsm, "kluis-root")),
        &["keys", "generate-root", "--pkcs11"],
        None,
    );
    assert!(made, "{said}");
    let (again, said) = kluis(
        Some((&hsm, "kluis-root")),
        &["keys", "generate-root", "--pkcs11"],
        None,
    );
    assert!(!again && said.contains("already holds a key"), "{said}");

    // Henk's whole journey on a vault whose keyring the token seals.
    let data = tempfile::tempdir().unwrap();
    let vault = dev(&hsm, "kluis-root", data.path());
    henks_journey::run(&vault.url, &data.path().join("departments"), &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("the journey failed: {e:#}\n{}", vault.output()));
    vault.stop();
    assert!(
        !data.path().join("root.key").exists(),
        "no root key file beside the data"
    );

    // The key directory opens with the token, and with no key outside it.
    let keys = data.path().join("keys");
    let kek = std::fs::read_dir(&keys)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("kek-"));
    assert!(kek);
    let outside = kluis::crypto::RootKey::generate().unwrap();
    assert!(kluis::crypto::Keyring::open(&keys, outside, false).is_err());
    let (started, said) = kluis(
        None,
        &["dev", "--listen", "127.0.0.1:0", "--data"],
        Some(data.path()),
    );
    assert!(!started, "a vault started without the token:\n{said}");
    assert!(
        error_line(&said).contains("root key does not open it"),
        "{said}"
    );
    std::fs::remove_file(data.path().join("root.key")).unwrap();

    // With the token again, Henk's records are there.
    let vault = dev(&hsm, "kluis-root", data.path());
    let token = dev_login(&client(), &vault.url, "henk").await;
    let (_, records) = get_as(&format!("{}/v1/me/records", vault.url), &token).await;
    assert!(
        records.as_array().is_some_and(|r| r.len() >= 9),
        "{records}"
    );
    vault.stop();

    // Without the token the vault refuses to start, in one line that says what to do.
    hsm.remove_token();
    let (started, said) = kluis(
        Some((&hsm, "kluis-root")),
        &["dev", "--listen", "127.0.0.1:0", "--data"],
        Some(data.path()),
    );
    assert!(!started, "{said}");
    let line = error_line(&said);
    assert!(
        line.contains("the token \"kluis\" is not present") && line.contains("insert it"),
        "{said}"
    );
    assert!(!said.contains(PIN), "the PIN was printed");
}

/// The root key moves to another key in the same token while the vault serves: the key
/// directory is sealed again inside the token, and from then on only the new key opens it.
#[tokio::test]
async fn the_root_key_changes_to_another_key_in_the_token_while_the_vault_serves() {
    let hsm = SoftHsm::new();
    for label in ["kluis-root", "kluis-root-2"] {
        let (made, said) = kluis(
            Some((&hsm, label)),
            &["keys", "generate-root", "--pkcs11"],
            None,
        );
        assert!(made, "{said}");
    }
    let data = tempfile::tempdir().unwrap();
    let vault = dev(&hsm, "kluis-root", data.path());
    let token = dev_login(&client(), &vault.url, "henk").await;
    let (_, before) = get_as(&format!("{}/v1/me/records", vault.url), &token).await;
    let socket = data.path().join("data/admin.sock");
    let socket = socket.to_str().unwrap();
    let (same, said) = kluis(
        None,
        &[
            "keys",
            "rotate",
            "--root-pkcs11-key",
            "kluis-root",
            "--socket",
            socket,
        ],
        None,
    );
    assert!(!same && error_line(&said).contains("already"), "{said}");
    let (rotated, said) = kluis(
        None,
        &[
            "keys",
            "rotate",
            "--root-pkcs11-key",
            "kluis-root-2",
            "--socket",
            socket,
        ],
        None,
    );
    assert!(rotated, "{said}");
    assert!(said.contains("the token's key \"kluis-root-2\""), "{said}");
    let (status, after) = get_as(&format!("{}/v1/me/records", vault.url), &token).await;
    assert_eq!(
        (status.as_u16(), &after),
        (200, &before),
        "the vault serves on"
    );
    vault.stop();

    let (started, said) = kluis(
        Some((&hsm, "kluis-root")),
        &["dev", "--listen", "127.0.0.1:0", "--data"],
        Some(data.path()),
    );
    assert!(!started, "the old key still opens the vault:\n{said}");
    assert!(
        error_line(&said).contains("root key does not open it"),
        "{said}"
    );
    let vault = dev(&hsm, "kluis-root-2", data.path());
    let token = dev_login(&client(), &vault.url, "henk").await;
    let (_, records) = get_as(&format!("{}/v1/me/records", vault.url), &token).await;
    assert_eq!(records, before);
}
