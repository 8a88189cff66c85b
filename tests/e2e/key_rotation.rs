//! Rotating keys while the vault serves (issue 19): the key-encryption key (`kluis keys
//! rotate`) and the root key (`--root-key-file`) through the running vault's admin socket,
//! with residents reading and writing from several clients the whole time: no request
//! fails, every record opens afterwards, the old key opens nothing, and each rotation is
//! one audit entry. A rotation a crash (a real SIGKILL mid-rewrap, and a state left by
//! one) cut short is finished at the next start. The grant-signing key is in
//! `signing_key_rotation.rs`.

use crate::support::load::ResidentLoad;
use crate::support::process::{audit_export, kluis_cli};
use crate::support::{VaultProcess, client, dev_login, get_as};
use serde_json::json;

#[tokio::test]
async fn a_kek_rotation_under_continuous_reads_and_writes_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let url = vault.url.clone();
    let keys = dir.path().join("keys");
    assert!(keys.join("kek-00000001.key").exists());

    // Four residents (Henk and three more), each reading and writing in a loop.
    let load = ResidentLoad::four_residents(&url).await;
    let before = load.done();

    let socket = dir.path().join("data/admin.sock");
    let (rotated, said, err) = tokio::task::spawn_blocking(move || {
        kluis_cli(&[
            "keys".as_ref(),
            "rotate".as_ref(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ])
    })
    .await
    .unwrap();
    assert!(rotated, "{said}{err}");
    let last = said.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("rotated: key-encryption key 2 is current;")
            && last.contains("vaults rewrapped"),
        "{said}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (done, failed) = load.stop().await;
    assert_eq!(failed, 0, "{}", vault.output());
    assert!(done > before, "the load ran on after the rotation");

    // The old KEK is gone; the records open under the new one, after a restart too.
    assert!(!keys.join("kek-00000001.key").exists());
    assert!(keys.join("kek-00000002.key").exists());
    let out = vault.stop();
    assert!(!out.contains("Woonkracht"));
    let vault = VaultProcess::dev(dir.path());
    let token = dev_login(&client(), &vault.url, "anna").await;
    let read = client()
        .get(format!("{}/v1/me/records/werk.profiel", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let henk = dev_login(&client(), &vault.url, "henk").await;
    let (_, history) = get_as(&format!("{}/v1/me/records", vault.url), &henk).await;
    assert!(
        history.as_array().is_some_and(|r| r.len() >= 9),
        "{history}"
    );

    // One audit entry says what was done.
    let export = audit_export(dir.path());
    let rotations: Vec<&str> = export
        .lines()
        .filter(|l| l.contains("\"key_rotation\""))
        .collect();
    assert_eq!(rotations.len(), 1, "{export}");
    assert!(
        rotations[0].contains("\"kek_version\":\"2\""),
        "{}",
        rotations[0]
    );
}

#[test]
fn rotating_without_a_running_vault_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("admin.sock");
    let (ok, _, err) = kluis_cli(&[
        "keys".as_ref(),
        "rotate".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
    ]);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("admin.sock"), "{err}");
}

/// A rotation cut short by a crash (SIGKILL after the new KEK was written, before the data
/// keys were rewrapped and the old KEK destroyed; the state is made here by adding the KEK
/// through the library while the vault is down) is finished when the vault starts again.
#[tokio::test]
async fn a_rotation_a_crash_cut_short_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    for who in ["anna", "bram"] {
        let token = dev_login(&client(), &vault.url, who).await;
        let wrote = client()
            .put(format!("{}/v1/me/records/werk.profiel", vault.url))
            .bearer_auth(&token)
            .json(&json!({"situatie": "werkzoekend"}))
            .send()
            .await
            .unwrap();
        assert!(wrote.status().is_success());
    }
    vault.kill();

    let keys = dir.path().join("keys");
    let root = std::fs::read_to_string(dir.path().join("root.key")).unwrap();
    let ring = kluis::crypto::Keyring::open(
        &keys,
        kluis::crypto::RootKey::from_encoded(&root).unwrap(),
        false,
    )
    .unwrap();
    assert_eq!(ring.add_kek().unwrap(), 2);
    drop(ring);
    assert!(keys.join("kek-00000001.key").exists() && keys.join("kek-00000002.key").exists());

    let vault = VaultProcess::dev(dir.path());
    assert!(
        !keys.join("kek-00000001.key").exists(),
        "the old KEK is gone"
    );
    for who in ["anna", "bram"] {
        let token = dev_login(&client(), &vault.url, who).await;
        let read = client()
            .get(format!("{}/v1/me/records/werk.profiel", vault.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200, "{who}");
        assert!(read.text().await.unwrap().contains("werkzoekend"), "{who}");
    }
    let export = audit_export(dir.path());
    let resumed = export
        .lines()
        .find(|l| l.contains("\"key_rotation\""))
        .expect("the finished rotation is logged");
    assert!(resumed.contains("\"resumed\":\"true\""), "{resumed}");
    assert!(resumed.contains("\"kek_version\":\"2\""), "{resumed}");
}

/// The root key changes while residents read and write: every file of the key directory
/// is sealed again under the new root key, no request fails, the old root key opens
/// nothing any more, and the vault starts again with the new one (and not the old).
#[tokio::test]
async fn a_root_key_rotation_under_load_fails_no_request_and_the_old_key_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let url = vault.url.clone();
    let load = ResidentLoad::four_residents(&url).await;
    let before = load.done();

    let new_key = dir.path().join("new-root.key");
    let (made, said, err) = kluis_cli(&[
        "keys".as_ref(),
        "generate-root".as_ref(),
        "--out".as_ref(),
        new_key.as_os_str(),
    ]);
    assert!(made, "{said}{err}");
    let socket = dir.path().join("data/admin.sock");
    let (rotated, said, err) = {
        let (socket, new_key) = (socket.clone(), new_key.clone());
        tokio::task::spawn_blocking(move || {
            kluis_cli(&[
                "keys".as_ref(),
                "rotate".as_ref(),
                "--root-key-file".as_ref(),
                new_key.as_os_str(),
                "--socket".as_ref(),
                socket.as_os_str(),
            ])
        })
        .await
        .unwrap()
    };
    assert!(rotated, "{said}{err}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(said.starts_with("rotated: "), "{said}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (done, failed) = load.stop().await;
    assert_eq!(failed, 0, "{}", vault.output());
    assert!(done > before, "the load ran on after the rotation");

    // The old root key opens nothing in the key directory.
    let keys = dir.path().join("keys");
    let old = std::fs::read_to_string(dir.path().join("root.key")).unwrap();
    let refused = kluis::crypto::Keyring::open(
        &keys,
        kluis::crypto::RootKey::from_encoded(&old).unwrap(),
        false,
    );
    assert!(refused.is_err(), "the old root key still opens the keyring");
    let export = audit_export(dir.path());
    let rotations: Vec<&str> = export
        .lines()
        .filter(|l| l.contains("\"key\":\"root\""))
        .collect();
    assert_eq!(rotations.len(), 1, "one audit entry");
    vault.stop();

    // With the old key the vault refuses to start, in one line; with the new one it serves.
    let out = std::process::Command::new(crate::support::process::kluis_binary())
        .args(["dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let said = crate::support::process::said(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("root key does not open"), "{said}");
    std::fs::copy(&new_key, dir.path().join("root.key")).unwrap();
    let vault = VaultProcess::dev(dir.path());
    for who in ["henk", "anna"] {
        let token = dev_login(&client(), &vault.url, who).await;
        let (status, record) =
            get_as(&format!("{}/v1/me/records/werk.profiel", vault.url), &token).await;
        assert_eq!(status, 200, "{who}: {record}");
    }
}

/// Opens the `kluis dev` vault in `dir` (stopped) with the library and opens every record
/// of every vault: what `kluis migrate` and `kluis restore` check. Returns the vault count.
async fn every_record_opens(dir: &std::path::Path) -> u64 {
    let root = std::fs::read_to_string(dir.join("root.key")).unwrap();
    let mut config = kluis::Config::development(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        kluis::crypto::RootKey::from_encoded(&root).unwrap(),
    );
    if let Some(url) = crate::support::store::store_url_for(dir) {
        config.store = kluis::config::StoreKind::Postgres(kluis::config::PostgresSettings {
            url,
            pool_size: 2,
            ca_file: None,
        });
    }
    let store = kluis::store::open(&config).await.unwrap();
    let app = kluis::App::open(
        &config,
        store,
        kluis::Clock::system(),
        "http://127.0.0.1:1".into(),
    )
    .await
    .unwrap();
    app.residents()
        .check_every_record_opens()
        .await
        .unwrap()
        .vaults
}

/// A real crash in the middle of a rewrap: `kluis keys rotate` runs against a vault with
/// hundreds of vaults, and the vault is killed (SIGKILL) a few milliseconds after the new
/// KEK is on disk, while data keys are being rewrapped. At restart the vault finishes the
/// rotation before it serves: every record opens, the old KEK is gone, one `resumed`
/// entry that rewrapped only the vaults the killed run had not reached. (The kill is
/// timed by trying: later when nothing was rewrapped yet, more vaults when it came too
/// late.)
#[tokio::test]
async fn a_sigkill_in_the_middle_of_a_kek_rewrap_is_finished_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let kek = |v: u32| keys.join(format!("kek-{v:08}.key"));
    let socket = dir.path().join("data/admin.sock");
    let http = client();
    let mut vault = VaultProcess::dev(dir.path());
    let (mut residents, mut wait_ms) = (0, 20);
    for attempt in 0.. {
        assert!(attempt < 12, "no kill landed in the middle of a rewrap");
        let target = if residents == 0 { 300 } else { residents };
        for n in residents..target {
            let token = dev_login(&http, &vault.url, &format!("inwoner-{n}")).await;
            if n % 25 == 0 {
                let wrote = http
                    .put(format!("{}/v1/me/records/werk.profiel", vault.url))
                    .bearer_auth(&token)
                    .json(&json!({"situatie": "werkend"}))
                    .send()
                    .await
                    .unwrap();
                assert!(wrote.status().is_success());
            }
        }
        residents = target;
        // The KEK the rotation will add: one past the newest (older ones are destroyed).
        let newest = (1..=64).rev().find(|v| kek(*v).exists()).unwrap();
        let version = newest + 1;
        let rotation = {
            let socket = socket.clone();
            std::thread::spawn(move || {
                kluis_cli(&[
                    "keys".as_ref(),
                    "rotate".as_ref(),
                    "--socket".as_ref(),
                    socket.as_os_str(),
                ])
            })
        };
        let began = std::time::Instant::now();
        while !kek(version).exists() && began.elapsed() < std::time::Duration::from_secs(30) {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        vault.kill();
        let _ = rotation.join();
        vault = VaultProcess::dev(dir.path());
        assert!(
            !kek(version - 1).exists(),
            "the old KEK is gone after the restart"
        );
        assert!(kek(version).exists());
        let export = audit_export(dir.path());
        let Some(resumed) = export.lines().find(|l| {
            l.contains("\"key_rotation\"")
                && l.contains("\"resumed\":\"true\"")
                && l.contains(&format!("\"kek_version\":\"{version}\""))
        }) else {
            // The rotation finished before the kill: more vaults, so it takes longer.
            residents *= 2;
            continue;
        };
        let left: usize = resumed
            .split("\"vaults_rewrapped\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        // Every vault but Henk's is an `inwoner-N`: more than `residents` left means none
        // was rewrapped before the kill.
        if left > residents {
            // Killed before the first vault was rewrapped: a little later next time.
            wait_ms *= 2;
            continue;
        }
        eprintln!(
            "killed after {wait_ms} ms of a rotation over {residents} vaults; {left} were left at restart"
        );
        break;
    }
    vault.stop();
    assert!(every_record_opens(dir.path()).await >= residents as u64);
}
