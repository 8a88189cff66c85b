//! Rotating the grant-signing key while the vault serves (issue 19): the new key is in
//! the JWKS before it signs, departments read on without a failed request, grants signed
//! by the old key keep verifying against the published JWKS until the last of them has
//! ended, and only then does the old key leave it. Also through the CLI and the admin
//! socket of a running `kluis dev`.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::signals::debt_grant;
use crate::support::process::kluis_cli;
use crate::support::{TestDepartment, TestVault, VaultProcess, client, ctx};
use chrono::TimeDelta;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The key ids in a JWKS.
fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The `kid` a token names, and whether its signature verifies with that key of `jwks`.
fn signed_by(jwks: &Value, token: &str) -> (String, bool) {
    let parsed = kluis::jose::compact::parse(token).unwrap();
    let kid = parsed.header["kid"].as_str().unwrap().to_owned();
    let keys = kluis::jose::keys::KeySet::from_jwks(jwks).unwrap();
    let verifies = keys.select(Some(&kid)).is_ok_and(|key| {
        key.verify(parsed.signing_input.as_bytes(), &parsed.signature)
            .is_ok()
    });
    (kid, verifies)
}

async fn published(vault: &TestVault) -> Value {
    vault
        .http
        .get(format!("{}/.well-known/jwks.json", vault.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Three department readers under `grant` and one resident writing, until stopped.
fn load(
    vault: &Arc<TestVault>,
    department: &Arc<TestDepartment>,
    grant: &kluis_sdk::Grant,
    resident: &str,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    Vec<tokio::task::JoinHandle<usize>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for n in 0..4 {
        let (vault, department, grant, resident, stop, failed) = (
            vault.clone(),
            department.clone(),
            grant.clone(),
            resident.to_owned(),
            stop.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = if n == 0 {
                    vault
                        .put(
                            &resident,
                            "/v1/me/records/werk.profiel",
                            &json!({"situatie": "werkzoekend"}),
                        )
                        .await
                } else {
                    department
                        .read(&vault, &grant, &["schulden.overzicht"])
                        .await
                };
                if status.is_success() {
                    done += 1;
                } else {
                    eprintln!("client {n}: {status} {body}");
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
            done
        }));
    }
    (stop, failed, tasks)
}

async fn finish(
    (stop, failed, tasks): (
        Arc<AtomicBool>,
        Arc<AtomicUsize>,
        Vec<tokio::task::JoinHandle<usize>>,
    ),
) -> (usize, usize) {
    stop.store(true, Ordering::SeqCst);
    let mut done = 0;
    for task in tasks {
        done += task.await.unwrap();
    }
    (done, failed.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signing_key_rotation_under_load_fails_no_request_and_old_grants_verify_until_they_end() {
    let vault = Arc::new(TestVault::start().await);
    let debts = Arc::new(TestDepartment::register(&vault, "schuldhulpverlening").await);
    let youth = TestDepartment::register(&vault, "jeugdhulp").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    vault
        .app
        .residents()
        .write(
            &ctx(),
            henk,
            "schulden.overzicht",
            &json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]}),
        )
        .await
        .unwrap();
    let old = debt_grant(&vault, &debts, &token).await;
    assert_eq!(
        signed_by(&published(&vault).await, &old.token),
        ("kluis-1".into(), true)
    );

    // Staged under load: published at once, signing only after the lead.
    let running = load(&vault, &debts, &old, &token);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (kid, signs_from) = vault
        .app
        .consent()
        .rotate_signing_key(&ctx(), TimeDelta::minutes(10))
        .await
        .unwrap();
    assert_eq!(kid, "kluis-2");
    assert_eq!(signs_from, vault.app.clock().now() + TimeDelta::minutes(10));
    // A department that refreshes its JWKS cache during the lead (it may keep it five
    // minutes) already holds the key that will sign.
    let cached = published(&vault).await;
    assert_eq!(kids(&cached), ["kluis-1", "kluis-2"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (done, failed) = finish(running).await;
    assert_eq!(failed, 0);
    assert!(done > 20, "the load ran ({done} requests)");

    // Before the lead has passed, the old key still signs.
    vault.app.clock().advance(TimeDelta::minutes(5));
    let (token, _) = vault.resident("henk").await;
    let early = grant(
        &vault,
        &youth,
        &token,
        BSNS[0],
        "ondersteuning-gezin",
        &["kinderen.situatie"],
        json!({}),
    )
    .await;
    assert_eq!(
        signed_by(&published(&vault).await, &early.token).0,
        "kluis-1"
    );

    // After it, the new key signs; reads under the old grants go on, under load.
    vault.app.clock().advance(TimeDelta::minutes(5));
    let (token, _) = vault.resident("henk").await;
    let running = load(&vault, &debts, &old, &token);
    let (status, body) = vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/revoke", early.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let new = grant(
        &vault,
        &youth,
        &token,
        BSNS[0],
        "ondersteuning-gezin",
        &["kinderen.situatie"],
        json!({}),
    )
    .await;
    let (done, failed) = finish(running).await;
    assert_eq!(failed, 0);
    assert!(done > 0);
    // The cache from before the switch verifies the new grant, and the old one too.
    assert_eq!(signed_by(&cached, &new.token), ("kluis-2".into(), true));
    assert_eq!(signed_by(&cached, &old.token), ("kluis-1".into(), true));
    let jwks = published(&vault).await;
    assert_eq!(signed_by(&jwks, &new.token), ("kluis-2".into(), true));
    assert_eq!(signed_by(&jwks, &old.token), ("kluis-1".into(), true));

    // Once every node has followed the switch, the old key's retirement is set: when the
    // last grant it signed ends (the revoked one ended at its revocation).
    vault.app.clock().advance(TimeDelta::minutes(2));
    vault.app.consent().settle_signing_keys().await.unwrap();
    let schedule = vault.app.consent().vault_keys().schedule();
    let old_end = old.expires_at;
    assert!(
        early.expires_at > old_end,
        "the revoked grant would end later"
    );
    assert_eq!(schedule["kluis-1"].retired_from, Some(old_end));
    assert_eq!(kids(&published(&vault).await), ["kluis-1", "kluis-2"]);

    // The day the old grant ends, the old key leaves the JWKS; the new grant verifies on.
    vault.app.clock().set(old_end);
    let jwks = published(&vault).await;
    assert_eq!(kids(&jwks), ["kluis-2"]);
    assert_eq!(signed_by(&jwks, &new.token), ("kluis-2".into(), true));
    assert!(
        !signed_by(&jwks, &old.token).1,
        "the ended grant no longer verifies"
    );

    // The rotation is one audit entry.
    let size = vault.app.audit().size().await;
    let export = vault.app.audit().export(0, size).await.unwrap();
    let rotations: Vec<&str> = export
        .lines()
        .filter(|l| l.contains("\"key\":\"grant_signing\""))
        .collect();
    assert_eq!(rotations.len(), 1);
    assert!(
        rotations[0].contains("\"kid\":\"kluis-2\""),
        "{}",
        rotations[0]
    );
}

#[tokio::test]
async fn kluis_keys_rotate_signing_stages_a_key_in_a_running_vault() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let socket = dir.path().join("data/admin.sock");
    let rotate = |lead: &str| {
        kluis_cli(&[
            "keys".as_ref(),
            "rotate".as_ref(),
            "--signing".as_ref(),
            format!("--lead-seconds={lead}").as_ref(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ])
    };
    let (ok, _, err) = rotate("-1");
    assert!(!ok);
    assert!(err.contains("lead time must be 0 to"), "{err}");
    let (ok, said, err) = rotate("0");
    assert!(ok, "{said}{err}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(
        said.starts_with("rotated: signing key kluis-2 is published now"),
        "{said}"
    );
    let jwks: Value = client()
        .get(format!("{}/.well-known/jwks.json", vault.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kids(&jwks), ["kluis-1", "kluis-2"]);
    // With no lead, the new key signs at once: the next checkpoint names it.
    let (ok, checkpoint, err) = kluis_cli(&[
        "audit".as_ref(),
        "checkpoint".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        signed_by(&jwks, checkpoint.trim()),
        ("kluis-2".into(), true)
    );
    // After a restart the vault has the same keys and schedule.
    drop(vault);
    let vault = VaultProcess::dev(dir.path());
    let again: Value = client()
        .get(format!("{}/.well-known/jwks.json", vault.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, jwks);
}
