//! Expiry (issue 17): a grant that runs out is told to its department once, by the sweep;
//! a withdrawn one is not; one that ran out long ago (beyond the sweep's window) is not.

use crate::consent::{BSNS, resident_with_bsn};
use crate::signals::debt_grant;
use crate::support::{TestDepartment, TestVault};
use serde_json::{Value, json};

/// The event names in a raw poll answer, oldest first (decoded without verifying: the
/// verification is the SDK's and the Node verifier's, tested above).
fn polled_kinds(page: &Value) -> Vec<String> {
    use base64::Engine;
    page["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            let token = page["sets"][id.as_str().unwrap()].as_str().unwrap();
            let payload = token.split('.').nth(1).unwrap();
            let claims: Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .unwrap(),
            )
            .unwrap();
            let uri = claims["events"].as_object().unwrap().keys().next().unwrap();
            uri.trim_start_matches("urn:kluis:secevent:").to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_runs_out_is_told_once_and_a_withdrawn_one_not() {
    let vault = TestVault::start_now().await;
    let (token, _) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let team = TestDepartment::register(&vault, "schuldhulp-noord").await;
    let kept = debt_grant(&vault, &team, &token).await;
    let withdrawn = debt_grant(&vault, &team, &token).await;
    let (status, _) = vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/revoke", withdrawn.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let signals = vault.app.signals();
    let context = crate::support::ctx();
    assert_eq!(
        signals.expiry_round(&context).await.unwrap(),
        0,
        "nothing ran out yet"
    );

    vault.app.clock().advance(chrono::TimeDelta::days(91));
    assert_eq!(signals.expiry_round(&context).await.unwrap(), 1);
    assert_eq!(
        signals.expiry_round(&context).await.unwrap(),
        0,
        "told once"
    );
    let (status, page) = team
        .call(
            &vault,
            reqwest::Method::POST,
            "/v1/dept/events",
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(polled_kinds(&page), ["grant-revoked", "grant-expired"]);
    let expired = page["order"][1].as_str().unwrap();
    assert_eq!(
        expired,
        kluis::signals::expiry::expiry_event_id(kept.id).to_string()
    );

    // Long after (beyond the sweep's window) nothing more is sent.
    vault.app.clock().advance(chrono::TimeDelta::days(60));
    assert_eq!(signals.expiry_round(&context).await.unwrap(), 0);
}
