//! Rotating the key-encryption key while the vault serves (issue 19): `kluis keys rotate`
//! through the running vault's admin socket, with residents reading and writing from
//! several clients the whole time. No request fails, every record opens afterwards under
//! the new KEK, the old KEK's file is gone, and the rotation is one audit entry.

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
    let mut tokens = vec![dev_login(&client(), &url, "henk").await];
    for who in ["anna", "bram", "carla"] {
        tokens.push(dev_login(&client(), &url, who).await);
    }
    let load = ResidentLoad::start(&url, tokens);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = load.done();
    assert!(before > 0, "the load runs before the rotation");

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
    let mut tokens = Vec::new();
    for who in ["henk", "anna", "bram", "carla"] {
        tokens.push(dev_login(&client(), &url, who).await);
    }
    let load = ResidentLoad::start(&url, tokens);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = load.done();
    assert!(before > 0, "the load runs before the rotation");

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
