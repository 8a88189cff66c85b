//! `kluis migrate --from-sled DIR --to URL` (issue 15, must-show 6): Henk's `kluis dev`
//! vault and a generated vault of 10,000 residents move from sled into PostgreSQL, the
//! command checks the copy and says so in one line, a second run into the same database is
//! refused, and the migrated vault serves Henk's journey.

use crate::henks_journey;
use crate::support::process::kluis_cli;
use crate::support::{VaultProcess, client, dev_login, store};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::path::Path;

fn migrate(dir: &Path, url: &str) -> (bool, String, String) {
    kluis_cli(&[
        "migrate".as_ref(),
        "--from-sled".as_ref(),
        dir.as_os_str(),
        "--to".as_ref(),
        url.as_ref(),
    ])
}

async fn records_of(url: &str, subject: &str) -> Value {
    let http = client();
    let token = dev_login(&http, url, subject).await;
    http.get(format!("{url}/v1/me/records"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn henks_dev_vault_moves_to_postgresql_and_still_serves_his_journey() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev_on(dir.path(), None);
    henks_journey::run(&vault.url, &dir.path().join("departments"), &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("the journey failed on sled: {e:#}"));
    let before = records_of(&vault.url, "henk").await;
    vault.stop();

    let url = store::new_database();
    let (ok, out, err) = migrate(dir.path(), &url);
    assert!(ok, "{out}{err}");
    assert_eq!(out.lines().count(), 1, "one line: {out}");
    assert!(
        out.starts_with("migrated ")
            && out.contains("rows equal in 22 tables")
            && out.contains("every record opens")
            && out.contains("audit root and size equal")
            && out.contains("a new checkpoint verifies"),
        "{out}"
    );
    assert!(
        err.contains("copying audit_entries:"),
        "progress is shown: {err}"
    );
    assert!(
        !out.contains(crate::support::store::PASSWORD)
            && !err.contains(crate::support::store::PASSWORD),
        "the password is never printed"
    );

    // Into a database that holds a vault: refused, nothing changed.
    let (ok, out, err) = migrate(dir.path(), &url);
    assert!(!ok && err.contains("already holds a vault"), "{out}{err}");

    // The migrated vault: Henk's records as they were, and his journey runs on it.
    let vault = VaultProcess::dev_on(dir.path(), Some(&url));
    // The banner's lines after "listening on" arrive a moment later.
    for _ in 0..100 {
        if vault.output().contains("database:       postgresql://") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        vault.output().contains("database:       postgresql://"),
        "{}",
        vault.output()
    );
    assert_eq!(records_of(&vault.url, "henk").await, before);
    henks_journey::run(&vault.url, &dir.path().join("departments"), &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("the journey failed on the migrated vault: {e:#}"));
    vault.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vault_of_ten_thousand_residents_migrates_and_every_record_opens() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev_on(dir.path(), None);
    let http = client();
    let written: Vec<u16> = futures_util::stream::iter(0..10_000)
        .map(|i| {
            let (http, url) = (http.clone(), vault.url.clone());
            async move {
                let token = dev_login(&http, &url, &format!("inwoner-{i}")).await;
                http.put(format!("{url}/v1/me/records/werk.profiel"))
                    .bearer_auth(token)
                    .json(&json!({"situatie": "werkzoekend"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(written.iter().all(|s| *s == 201));
    vault.stop();

    let url = store::new_database();
    let (ok, out, err) = migrate(dir.path(), &url);
    assert!(ok, "{out}{err}");
    // Henk and the demo coach's vaults, and the 10,000.
    let vaults: u64 = out
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no vault count in {out}"));
    assert!(vaults > 10_000, "{out}");
    assert!(out.contains("every record opens"), "{out}");
}
