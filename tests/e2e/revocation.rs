//! Revocation is immediate (issue 3, must-show 2): departments read in a tight loop while
//! the resident revokes; every read that starts after the revoke response has returned is
//! refused, and none of them returns data.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::{TestDepartment, TestVault};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Mutex;

#[derive(Debug)]
struct Attempt {
    started: Instant,
    outcome: Result<usize, String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_read_that_starts_after_the_revoke_returns_data() {
    let vault = TestVault::start_in(tempfile::tempdir().unwrap(), kluis::Clock::system()).await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    vault
        .app
        .residents()
        .write(&crate::support::ctx(), henk, "schulden.overzicht", &json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]}))
        .await
        .unwrap();
    let g = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;

    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (client, g, attempts, stop, successes) = (
            debts.client(&vault),
            g.clone(),
            attempts.clone(),
            stop.clone(),
            successes.clone(),
        );
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let outcome = match client.read(&g, &["schulden.overzicht"]).await {
                    Ok(read) => {
                        successes.fetch_add(1, Ordering::SeqCst);
                        Ok(read.records.len())
                    }
                    Err(kluis_sdk::Error::Revoked) => Err("revoked".to_owned()),
                    Err(e) => Err(format!("unexpected: {e}")),
                };
                attempts.lock().await.push(Attempt { started, outcome });
            }
        }));
    }
    while successes.load(Ordering::SeqCst) < 50 {
        tokio::task::yield_now().await;
    }
    let (status, body) = vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/revoke", g.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let revoked = Instant::now();
    // Reads in flight at the revoke finish later; wait for 200 that started after it.
    while attempts
        .lock()
        .await
        .iter()
        .filter(|a| a.started > revoked)
        .count()
        < 200
    {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.unwrap();
    }

    let attempts = attempts.lock().await;
    let after: Vec<&Attempt> = attempts.iter().filter(|a| a.started > revoked).collect();
    assert!(
        after.len() >= 200,
        "only {} reads started after the revoke",
        after.len()
    );
    for attempt in &after {
        assert_eq!(
            attempt.outcome,
            Err("revoked".to_owned()),
            "a read that started after the revoke: {attempt:?}"
        );
    }
    let served = attempts.iter().filter(|a| a.outcome.is_ok()).count();
    assert!(
        served >= 50,
        "the loop read data before the revoke ({served} reads)"
    );
    let unexpected: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.outcome.as_ref().is_err_and(|e| e != "revoked"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "every read either returned the record or was refused as revoked: {unexpected:?}"
    );
}
