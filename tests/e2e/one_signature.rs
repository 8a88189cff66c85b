//! One signature per read (issue 14): a read needs no client assertion. The DPoP proof by
//! the key the grant is bound to, still registered to the grant's department, is what
//! authenticates it; without an assertion every other check still says no, and each
//! attempt with a genuine grant writes exactly one audit entry (an attempt in which nothing
//! verified is counted per source and minute).

use crate::read_pipeline::{one_entry, raw_read};
use crate::support::TestVault;
use kluis::audit::entry::Actor;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A read with only the grant and a DPoP proof, no client assertion.
async fn proof_only(
    vault: &TestVault,
    token: &str,
    proof: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let authorization = format!("DPoP {token}");
    raw_read(
        vault,
        &[("authorization", &authorization), ("dpop", proof)],
        body.to_string().into(),
    )
    .await
}

/// The last entry of the log.
async fn last_entry(vault: &TestVault) -> kluis::audit::entry::Entry {
    let size = vault.app.audit().size().await;
    vault
        .app
        .audit()
        .entries(size - 1, size)
        .await
        .unwrap()
        .remove(0)
}

/// One signature per read (issue 14): the DPoP proof by the key the grant is bound to,
/// still registered to the grant's department, is enough to read; without an assertion
/// every other check still says no, and each attempt is logged once.
#[tokio::test]
async fn a_proof_by_the_grants_key_is_enough_and_every_check_still_says_no() {
    let crate::refusals::World {
        vault,
        debts,
        work,
        henk: g,
        henk_id,
        ..
    } = crate::refusals::world().await;
    let henk = vault.app.residents().audit_reference(henk_id);
    let body = json!({"resident": g.resident, "categories": ["schulden.overzicht"]});
    let proof = || debts.dpop_with(&vault, &g.token, json!({}));

    // Allowed, attributed to the grant's department on the strength of its proof.
    let once = proof();
    let (status, read) = one_entry(
        &vault,
        "proof only",
        proof_only(&vault, &g.token, &once, &body),
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["records"][0]["category"], "schulden.overzicht");
    let entry = last_entry(&vault).await;
    assert_eq!(
        entry.actor,
        Actor::Department {
            id: debts.id.clone()
        }
    );
    assert_eq!(entry.resident.as_ref(), Some(&henk));
    assert_eq!(entry.grant, Some(g.id));

    // The same proof again.
    let (status, again) = one_entry(
        &vault,
        "replayed",
        proof_only(&vault, &g.token, &once, &body),
    )
    .await;
    assert_eq!(
        (status.as_u16(), again["code"].as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    // Anyone may have captured it: the attempt is not the department's, but Henk's.
    let entry = last_entry(&vault).await;
    assert_eq!(entry.actor, Actor::Unknown);
    assert_eq!(entry.resident.as_ref(), Some(&henk));

    // A proof by another department's key: not authenticated, still in Henk's history.
    let theirs = work.dpop_with(&vault, &g.token, json!({}));
    let (status, other) = one_entry(
        &vault,
        "another key",
        proof_only(&vault, &g.token, &theirs, &body),
    )
    .await;
    assert_eq!(
        (status.as_u16(), other["code"].as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    let entry = last_entry(&vault).await;
    assert_eq!(entry.actor, Actor::Unknown);
    assert_eq!(entry.resident.as_ref(), Some(&henk));

    // A proof for another URL, or too old.
    for (what, overrides) in [
        (
            "another URL",
            json!({"htu": format!("{}/v1/dept/grants", vault.url)}),
        ),
        (
            "too old",
            json!({"iat": vault.app.clock().now().timestamp() - 120}),
        ),
    ] {
        let bent = debts.dpop_with(&vault, &g.token, overrides);
        let (status, answer) =
            one_entry(&vault, what, proof_only(&vault, &g.token, &bent, &body)).await;
        assert_eq!(
            (status.as_u16(), answer["code"].as_str()),
            (401, Some("invalid_dpop_proof")),
            "{what}"
        );
    }

    // The token with one character of its signature changed: not the token the vault
    // issued (so not Henk's either), although it names the same grant id.
    let mut altered = g.token.clone().into_bytes();
    let at = altered.len() - 10;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let bent = debts.dpop_with(&vault, &altered, json!({}));
    let before = vault.app.audit().size().await;
    let (status, answer) = proof_only(&vault, &altered, &bent, &body).await;
    assert_eq!(
        (status.as_u16(), answer["code"].as_str()),
        (401, Some("invalid_grant"))
    );
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("no grant with this token"),
        "{answer}"
    );
    // Nothing in it verified: counted for its source and minute, never in Henk's history.
    assert_eq!(
        vault.app.audit().size().await,
        before,
        "counted, not logged alone"
    );
    let counted = crate::support::counted_refusals(&vault, before).await;
    assert_eq!(counted.resident, None);
    assert_eq!(counted.reason.as_deref(), Some("invalid_grant"));
    assert_eq!(counted.details["count"], "1");

    // A disabled department is told so once its proof verifies.
    let operator = || (crate::support::ctx(), Actor::Operator);
    let (context, actor) = operator();
    vault
        .app
        .consent()
        .set_department_disabled(&context, actor, &debts.id, true)
        .await
        .unwrap();
    let (_, disabled) = one_entry(
        &vault,
        "disabled",
        proof_only(&vault, &g.token, &proof(), &body),
    )
    .await;
    assert_eq!(disabled["code"], "department_disabled");
    let (context, actor) = operator();
    vault
        .app
        .consent()
        .set_department_disabled(&context, actor, &debts.id, false)
        .await
        .unwrap();

    // A new key registered in place of the old: the grant bound to the old key stops.
    let _renewed = crate::support::department::TestDepartment::register(&vault, &debts.id).await;
    let (status, gone) = one_entry(
        &vault,
        "old key",
        proof_only(&vault, &g.token, &proof(), &body),
    )
    .await;
    assert_eq!(
        (status.as_u16(), gone["code"].as_str()),
        (401, Some("invalid_dpop_proof"))
    );
    assert!(
        gone["detail"]
            .as_str()
            .unwrap()
            .contains("no longer registered"),
        "{gone}"
    );
}
