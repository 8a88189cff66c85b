//! Several vault nodes on one PostgreSQL database (issue 15, must-show 2 and 3): one truth
//! for grants, revocations and one-time token ids, and one gapless audit log whose
//! checkpoints, signed by either node, are consistent with each other.
//!
//! The nodes are two `App`s in this process, each with its own connection pool, caches and
//! audit writer, on one database and one key directory ([`TestVault::start_nodes`]). They
//! run on PostgreSQL whatever `KLUIS_TEST_STORE` says: sled is one process's database.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::{TestDepartment, TestVault, assert_problem, ctx};
use futures_util::StreamExt;
use kluis::audit::export::verify;
use serde_json::{Value, json};

const DEBTS: &str = "schulden.overzicht";

async fn two_nodes() -> (TestVault, TestVault) {
    let mut nodes = TestVault::start_nodes(2, kluis::Clock::system()).await;
    let b = nodes.pop().expect("node b");
    let a = nodes.pop().expect("node a");
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoke_on_one_node_refuses_the_next_read_on_the_other_a_thousand_times() {
    let (a, b) = two_nodes().await;
    let debts = TestDepartment::register(&a, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&a, "henk", BSNS[0]).await;
    a.app
        .residents()
        .write(&ctx(), henk, DEBTS, &json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]}))
        .await
        .unwrap();
    let first_entry = a.app.audit().size().await;
    for round in 0..1000 {
        // Approved on A, read on B at once.
        let g = grant(
            &a,
            &debts,
            &token,
            BSNS[0],
            "schuldhulp-traject",
            &[DEBTS],
            json!({}),
        )
        .await;
        let read = debts.read(&b, &g, &[DEBTS]).await;
        assert_eq!(
            read.0, 200,
            "round {round}: a grant approved on A reads on B: {}",
            read.1
        );
        // Revoked on A, refused on B by the very next read.
        let (status, body) = a
            .post(
                &token,
                &format!("/v1/me/grants/{}/revoke", g.id),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let refused = debts.read(&b, &g, &[DEBTS]).await;
        assert_problem(&refused, 403, "grant_revoked");
    }

    // One log across both nodes: every position filled once, the reads of both nodes in
    // it, and the whole of it verifies against B's checkpoint and A's earlier one. The
    // last 200 reads run on both nodes at once, so their appends contend for the log.
    let jwks = a.app.consent().jwks();
    let older = a.app.audit().checkpoint().await.unwrap();
    let g = grant(
        &a,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &[DEBTS],
        json!({}),
    )
    .await;
    let statuses: Vec<u16> = futures_util::stream::iter(0..200)
        .map(|i| {
            let (node, debts, g) = (if i % 2 == 0 { &a } else { &b }, &debts, &g);
            async move { debts.read(node, g, &[DEBTS]).await.0.as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let size = b.app.audit().size().await;
    assert_eq!(size, a.app.audit().size().await, "both nodes see one log");
    b.app.audit().checkpoint().await.unwrap();
    let export = b.app.audit().export(0, size).await.unwrap();
    verify(&export, Some(&jwks), Some(&older))
        .expect("B's log verifies, and is consistent with the checkpoint A signed earlier");
    let entries: Vec<Value> = export
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["entry"].clone())
        .collect();
    assert_eq!(entries.len() as u64, size);
    for (at, entry) in entries.iter().enumerate() {
        assert_eq!(
            entry["seq"], at,
            "gapless: position {at} holds entry {}",
            entry["seq"]
        );
    }
    let reads = entries[first_entry as usize..]
        .iter()
        .filter(|e| e["action"] == "read")
        .count();
    assert_eq!(
        reads, 2200,
        "every read on either node, refused or not, has its entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proof_or_assertion_used_on_one_node_is_refused_on_the_other() {
    let (a, b) = two_nodes().await;
    let debts = TestDepartment::register(&a, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&b, "henk", BSNS[1]).await;
    b.app
        .residents()
        .write(&ctx(), henk, DEBTS, &json!({"schulden": []}))
        .await
        .unwrap();
    let g = grant(
        &b,
        &debts,
        &token,
        BSNS[1],
        "schuldhulp-traject",
        &[DEBTS],
        json!({}),
    )
    .await;
    let body = json!({"resident": g.resident, "categories": [DEBTS]});

    // A DPoP proof accepted by A, replayed on B with a fresh assertion.
    let proof = debts.dpop_with(&a, &g.token, json!({}));
    let used = debts
        .read_raw(
            &a,
            Some(debts.assertion(&a)),
            Some(&g.token),
            Some(proof.clone()),
            body.clone(),
        )
        .await;
    assert_eq!(used.0, 200, "{}", used.1);
    let replayed = debts
        .read_raw(
            &b,
            Some(debts.assertion(&b)),
            Some(&g.token),
            Some(proof),
            body.clone(),
        )
        .await;
    assert_problem(&replayed, 401, "invalid_dpop_proof");

    // A client assertion accepted by A, replayed on B with a fresh proof.
    let assertion = debts.assertion(&a);
    let used = debts
        .read_raw(
            &a,
            Some(assertion.clone()),
            Some(&g.token),
            Some(debts.dpop_with(&a, &g.token, json!({}))),
            body.clone(),
        )
        .await;
    assert_eq!(used.0, 200, "{}", used.1);
    let replayed = debts
        .read_raw(
            &b,
            Some(assertion),
            Some(&g.token),
            Some(debts.dpop_with(&b, &g.token, json!({}))),
            body,
        )
        .await;
    assert_problem(&replayed, 401, "invalid_client");
}

/// A rotation on one node while the other creates vaults: every vault ends under the new
/// KEK and opens on both nodes, and the old KEK is gone. A vault whose key the other node
/// wrapped under the old KEK while the rotation ran is never lost: the database refuses it
/// once the rotation announced its KEK, and the node wraps it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vaults_created_on_one_node_while_the_other_rotates_keys_all_open() {
    let (a, b) = two_nodes().await;
    let creating = tokio::spawn({
        let residents = b.app.clone();
        async move {
            let created: Vec<_> = futures_util::stream::iter(0..400)
                .map(|i| {
                    let app = residents.clone();
                    async move {
                        app.residents()
                            .ensure_resident("https://login.test", &format!("rotating-{i}"))
                            .await
                            .expect("a vault is created while the other node rotates")
                    }
                })
                .buffer_unordered(8)
                .collect()
                .await;
            created
        }
    });
    for _ in 0..3 {
        a.app.residents().rotate_keys(&ctx()).await.unwrap();
    }
    let created = creating.await.unwrap();
    // Without the announcement a vault wrapped under a KEK the rotation then destroyed
    // does not open here (seen in 2 of 3 runs with it taken out).
    for node in [&a, &b] {
        let opened = node
            .app
            .residents()
            .check_every_record_opens()
            .await
            .unwrap();
        assert_eq!(opened.vaults, created.len() as u64, "every vault opens");
    }
}
