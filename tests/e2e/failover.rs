//! A primary with a synchronous streaming standby, two real PostgreSQL servers on loopback
//! (issue 15, must-show 5): the primary is killed under load, the standby promoted, and
//! the vault, whose URL names both servers with `target_session_attrs=read-write`, goes on
//! on the new primary by itself. No acknowledged write and no audit entry of a read that
//! returned data is lost, and the log continues consistently with a checkpoint signed
//! before the failover.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::{TestDepartment, TestVault, ctx};
use kluis::audit::export::verify;
use kluis::store::postgres::server::{PASSWORD, TestServer};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

const DEBTS: &str = "schulden.overzicht";
const WORK: &str = "/v1/me/records/werk.profiel";

/// Waits until the primary reports `standby` as its synchronous standby.
async fn wait_synchronous(primary: &TestServer, standby: &str) {
    let (client, connection) =
        tokio_postgres::connect(&primary.url("postgres"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    for _ in 0..300 {
        let rows = client
            .query(
                "SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND sync_state = 'sync'",
                &[&standby],
            )
            .await
            .unwrap();
        if !rows.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the standby never became synchronous");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_primary_dies_under_load_and_the_promoted_standby_has_everything_acknowledged() {
    // Synchronous only once the standby runs: until then, every commit would wait for it.
    let primary = TestServer::start().unwrap();
    let database = primary.new_database().await;
    let name = database
        .rsplit('/')
        .next()
        .and_then(|n| n.split('?').next())
        .unwrap()
        .to_owned();
    let standby = TestServer::start_standby(&primary, "standby1").unwrap();
    primary
        .execute("ALTER SYSTEM SET synchronous_standby_names = 'standby1'")
        .await;
    primary.execute("SELECT pg_reload_conf()").await;
    wait_synchronous(&primary, "standby1").await;
    let url = format!(
        "postgresql://kluis:{PASSWORD}@127.0.0.1:{},127.0.0.1:{}/{name}?sslmode=disable&target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
    let vault = TestVault::start_nodes_on(&url, 1, kluis::Clock::system())
        .await
        .pop()
        .unwrap();
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[2]).await;
    vault
        .app
        .residents()
        .write(&ctx(), henk, DEBTS, &json!({"schulden": []}))
        .await
        .unwrap();
    let g = grant(
        &vault,
        &debts,
        &token,
        BSNS[2],
        "schuldhulp-traject",
        &[DEBTS],
        json!({}),
    )
    .await;
    let before = vault.app.audit().checkpoint().await.unwrap();
    let vault = Arc::new(vault);
    let debts = Arc::new(debts);

    // Load: two writers and two readers, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<u64>>> = Arc::default();
    let reads_with_data = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..2 {
        let (vault, token, stop, acknowledged, errors) = (
            vault.clone(),
            token.clone(),
            stop.clone(),
            acknowledged.clone(),
            errors.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = vault
                    .put(&token, WORK, &json!({"situatie": "werkzoekend"}))
                    .await;
                match status.as_u16() {
                    201 => acknowledged
                        .lock()
                        .await
                        .push(body["version"].as_u64().unwrap()),
                    503 => {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("a write answered {other}: {body}"),
                }
            }
        }));
    }
    for _ in 0..2 {
        let (vault, debts, g, stop, reads_with_data, errors) = (
            vault.clone(),
            debts.clone(),
            g.clone(),
            stop.clone(),
            reads_with_data.clone(),
            errors.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = debts.read(&vault, &g, &[DEBTS]).await;
                match status.as_u16() {
                    200 => {
                        reads_with_data.fetch_add(1, Ordering::SeqCst);
                    }
                    503 => {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("a read answered {other}: {body}"),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acknowledged_before_kill = acknowledged.lock().await.len();
    assert!(acknowledged_before_kill > 0, "the load ran before the kill");

    primary.kill();
    standby.promote();
    // The vault goes on by itself once its new connections find the promoted standby.
    let mut recovered = false;
    for _ in 0..300 {
        let count = acknowledged.lock().await.len();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if acknowledged.lock().await.len() > count + 5 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "writes succeed again after the failover");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    drop(primary);

    // Every acknowledged write is there.
    let (status, versions) = vault.get(&token, &format!("{WORK}/versions")).await;
    assert_eq!(status, 200, "{versions}");
    let stored: std::collections::BTreeSet<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    let acknowledged = acknowledged.lock().await.clone();
    let lost: Vec<&u64> = acknowledged
        .iter()
        .filter(|v| !stored.contains(v))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes lost in the failover: {lost:?}"
    );

    // Every read that returned data has its entry, and the log continues the tree that
    // was signed before the failover.
    let jwks = vault.app.consent().jwks();
    let size = vault.app.audit().size().await;
    let export = vault.app.audit().export(0, size).await.unwrap();
    verify(&export, Some(&jwks), Some(&before))
        .expect("the log after the failover is consistent with the checkpoint before it");
    let entries: Vec<Value> = export
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["entry"].clone())
        .collect();
    let reads_logged = entries
        .iter()
        .filter(|e| e["action"] == "read" && e["outcome"] == "allowed")
        .count();
    let reads_with_data = reads_with_data.load(Ordering::SeqCst);
    assert!(
        reads_logged >= reads_with_data,
        "{reads_with_data} reads returned data but only {reads_logged} are in the log"
    );
    eprintln!(
        "failover: {} writes acknowledged ({acknowledged_before_kill} before the kill), {reads_with_data} reads with data, {} requests refused with 503 while the primary was gone",
        acknowledged.len(),
        errors.load(Ordering::SeqCst)
    );
}
