//! Backup and restore (issue 19): `kluis backup` takes a consistent snapshot of a running
//! vault while residents read and write; after more writes, `kluis restore` puts it into a
//! new directory, and the restored vault serves exactly the state of the backup's
//! manifest. A backup with a file removed, truncated, altered or added is refused with one
//! line naming the file, and nothing is restored. On sled the backup is a copy of the
//! database taken while writes wait; on PostgreSQL, one `COPY` per table in one
//! REPEATABLE READ transaction, loaded back into an empty database.

use crate::support::load::ResidentLoad;
use crate::support::process::{audit_export, kluis_cli};
use crate::support::{VaultProcess, client, dev_login, get_as, store};
use std::ffi::OsStr;
use std::path::Path;

fn backup(dir: &Path, to: &Path) -> (bool, String, String) {
    let socket = dir.join("data/admin.sock");
    kluis_cli(&[
        "backup".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
        "--to".as_ref(),
        to.as_os_str(),
    ])
}

/// `kluis restore` into the `kluis dev` directory `data` (on PostgreSQL, into the new
/// database the test support gives that directory).
fn restore(from: &Path, data: &Path) -> (bool, String, String) {
    let mut args: Vec<std::ffi::OsString> = vec![
        "restore".into(),
        "--from".into(),
        from.into(),
        "--data".into(),
        data.into(),
    ];
    if let Some(url) = store::store_url_for(data) {
        args.extend(["--store-url".into(), url.into()]);
    }
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    kluis_cli(&args)
}

/// What a test does to a copy of a backup.
type Damage = Box<dyn Fn(&Path)>;

fn manifest(backup: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap()
}

/// A new `kluis dev` directory holding the vault's root key and nothing else.
fn new_home(root: &Path, name: &str, live: &Path) -> std::path::PathBuf {
    let home = root.join(name);
    std::fs::create_dir(&home).unwrap();
    std::fs::copy(live.join("root.key"), home.join("root.key")).unwrap();
    home
}

#[tokio::test]
async fn a_backup_under_load_restores_exactly_the_state_of_its_manifest() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let vault = VaultProcess::dev(&live);
    let url = vault.url.clone();
    let to = root.path().join("backup");

    let load = ResidentLoad::four_residents(&url).await;
    let before = load.done();
    let (live_dir, to_dir) = (live.clone(), to.clone());
    let (ok, said, err) = tokio::task::spawn_blocking(move || backup(&live_dir, &to_dir))
        .await
        .unwrap();
    assert!(ok, "{said}{err}");
    assert!(said.trim().starts_with("backed up into"), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (done, failed) = load.stop().await;
    assert_eq!(failed, 0, "{}", vault.output());
    assert!(
        done > before,
        "the load went on during and after the backup"
    );

    // More writes after the backup: a new resident with a record of their own.
    let dirk = dev_login(&client(), &url, "dirk").await;
    let wrote = client()
        .put(format!("{url}/v1/me/records/werk.profiel"))
        .bearer_auth(&dirk)
        .json(&serde_json::json!({"situatie": "werkend"}))
        .send()
        .await
        .unwrap();
    assert!(wrote.status().is_success());
    let live_log = audit_export(&live);

    let manifest = manifest(&to);
    let size = manifest["audit"]["size"].as_u64().unwrap() as usize;
    assert!(
        size > 0 && size < live_log.lines().count() - 1,
        "{}",
        manifest["audit"]
    );
    for file in manifest["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        assert!(
            path.starts_with("data/") || path.starts_with("keys/"),
            "{path}"
        );
        assert!(
            !path.ends_with("root.key"),
            "a backup never holds the root key"
        );
        assert_eq!(file["sha256"].as_str().unwrap().len(), 64);
    }

    // Restore into a new directory; the command checks the copy and says so in one line.
    let home = new_home(root.path(), "restored", &live);
    let (ok, said, err) = restore(&to, &home);
    assert!(ok, "{said}{err}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(
        said.contains(&format!("{size} audit entries"))
            && said.contains("every record opens")
            && said.contains("verifies against the backup's checkpoint"),
        "{said}"
    );

    // The restored vault serves the state of the backup: the log's first `size` entries
    // are the live log's, the residents' records are there, the later writes are not.
    let restored = VaultProcess::dev(&home);
    let restored_log = audit_export(&home);
    // Each export starts with a header line (issuer, checkpoint); entries follow.
    let entries = |log: &str| -> Vec<String> { log.lines().skip(1).map(str::to_owned).collect() };
    let (live_entries, restored_entries) = (entries(&live_log), entries(&restored_log));
    assert!(
        restored_entries.len() >= size && restored_entries[..size] == live_entries[..size],
        "the restored log does not start with the backup's {size} entries"
    );
    assert_ne!(
        restored_entries.get(size),
        live_entries.get(size),
        "the entry after the backup is not in the restored log"
    );
    for who in ["henk", "anna", "bram", "carla"] {
        let token = dev_login(&client(), &restored.url, who).await;
        let (status, record) = get_as(
            &format!("{}/v1/me/records/werk.profiel", restored.url),
            &token,
        )
        .await;
        assert_eq!(status, 200, "{who}: {record}");
    }
    let dirk = dev_login(&client(), &restored.url, "dirk").await;
    let (status, _) = get_as(
        &format!("{}/v1/me/records/werk.profiel", restored.url),
        &dirk,
    )
    .await;
    assert_eq!(status, 404, "dirk's record was written after the backup");
    drop(restored);

    // A second restore into the same place is refused: it holds a vault now.
    let (ok, _, err) = restore(&to, &home);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn a_damaged_or_partial_backup_is_refused_and_nothing_is_restored() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let vault = VaultProcess::dev(&live);
    let to = root.path().join("backup");
    let (ok, said, err) = {
        let (live, to) = (live.clone(), to.clone());
        tokio::task::spawn_blocking(move || backup(&live, &to))
            .await
            .unwrap()
    };
    assert!(ok, "{said}{err}");
    drop(vault);

    let copy = |name: &str| {
        let damaged = root.path().join(name);
        let status = std::process::Command::new("cp")
            .args([OsStr::new("-r"), to.as_os_str(), damaged.as_os_str()])
            .status()
            .unwrap();
        assert!(status.success());
        damaged
    };
    let kek = "keys/kek-00000001.key";
    // The largest file of the database copy (sled's `data/db`, or PostgreSQL's
    // `data/audit_entries.copy`).
    let listed = manifest(&to);
    let big = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().starts_with("data/"))
        .max_by_key(|f| f["bytes"].as_u64().unwrap())
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let (truncated, altered) = (format!("{big} is truncated"), format!("{big} was altered"));
    let (cut, bent) = (big.clone(), big.clone());
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "removed",
            Box::new(move |b: &Path| std::fs::remove_file(b.join(kek)).unwrap()),
            "keys/kek-00000001.key is missing from the backup",
        ),
        (
            "truncated",
            Box::new(move |b: &Path| {
                let db = b.join(&cut);
                let len = std::fs::metadata(&db).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&db)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }),
            &truncated,
        ),
        (
            "altered",
            Box::new(move |b: &Path| {
                let db = b.join(&bent);
                let mut bytes = std::fs::read(&db).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x01;
                std::fs::write(&db, bytes).unwrap();
            }),
            &altered,
        ),
        (
            "added",
            Box::new(|b: &Path| std::fs::write(b.join("keys/kek-00000009.key"), b"x").unwrap()),
            "keys/kek-00000009.key is in the backup but not in its manifest",
        ),
        (
            "unfinished",
            Box::new(|b: &Path| std::fs::remove_file(b.join("manifest.json")).unwrap()),
            "holds no manifest.json",
        ),
        (
            "forged-manifest",
            Box::new(|b: &Path| {
                let path = b.join("manifest.json");
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, text.replacen("data/", "../", 1)).unwrap();
            }),
            "is not a path inside the backup",
        ),
    ];
    for (name, damage, expected) in cases {
        let damaged = copy(name);
        damage(&damaged);
        let home = new_home(root.path(), &format!("home-{name}"), &live);
        let (ok, said, err) = restore(&damaged, &home);
        assert!(!ok, "{name}: {said}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        let left: Vec<_> = std::fs::read_dir(&home)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![OsStr::new("root.key")],
            "{name}: nothing restored"
        );
    }

    // Without the root key beside it, a restore says where the key must go.
    let empty = root.path().join("no-key");
    let (ok, _, err) = restore(&to, &empty);
    assert!(!ok);
    assert!(err.contains("holds no root.key"), "{err}");
    // With the wrong root key, the restored vault does not open, and nothing stays.
    let wrong = root.path().join("wrong-key");
    std::fs::create_dir(&wrong).unwrap();
    let key_file = wrong.join("root.key");
    let (ok, key, err) = kluis_cli(&[
        "keys".as_ref(),
        "generate-root".as_ref(),
        "--out".as_ref(),
        key_file.as_os_str(),
    ]);
    assert!(ok, "{key}{err}");
    let (ok, _, err) = restore(&to, &wrong);
    assert!(!ok);
    assert!(err.contains("does not open"), "{err}");
    for part in ["data", "keys"] {
        let files = std::fs::read_dir(wrong.join(part)).map_or(0, |d| d.count());
        assert_eq!(files, 0, "{part} was emptied again");
    }
}
