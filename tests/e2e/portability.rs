//! The resident's rights over the whole vault: download everything (GDPR art. 20) and
//! erase it (art. 17), with the key rotation that makes old copies unreadable.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::{TestDepartment, TestVault, assert_problem, ctx, status_and_json};
use kluis::Clock;
use reqwest::Method;
use serde_json::json;

/// A vault with Henk's household and debts, one grant to debt counselling, and one open
/// request from income support.
async fn henk_with_a_grant_and_a_request(
    vault: &TestVault,
) -> (String, uuid::Uuid, TestDepartment, kluis_sdk::Grant, String) {
    let debts = TestDepartment::register(vault, "schuldhulpverlening").await;
    let income = TestDepartment::register(vault, "werk-en-inkomen").await;
    let (token, henk) = resident_with_bsn(vault, "henk", BSNS[0]).await;
    for (category, value) in [
        (
            "huishouden.samenstelling",
            json!({"leefsituatie": "alleenstaande_ouder", "leden": [{"rol": "kind", "geboortejaar": 2015}]}),
        ),
        (
            "schulden.overzicht",
            json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]}),
        ),
    ] {
        let (status, body) = vault
            .put(&token, &format!("/v1/me/records/{category}"), &value)
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, _) = vault
        .put(
            &token,
            "/v1/me/records/schulden.overzicht",
            &json!({"schulden": []}),
        )
        .await;
    assert_eq!(status, 201);
    let g = grant(
        vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    debts
        .client(vault)
        .read(&g, &["schulden.overzicht"])
        .await
        .expect("read before erasure");
    let ask = json!({
        "resident": {"national_id": {"scheme": "bsn", "value": BSNS[0]}},
        "processing_activity": "bijstand-aanvraag", "categories": ["huishouden.samenstelling"], "duration_days": 30,
    });
    let (status, created) = income
        .call(vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
        .await;
    assert_eq!(status, 201, "{created}");
    let request = created["id"].as_str().unwrap().to_owned();
    (token, henk, debts, g, request)
}

#[tokio::test]
async fn the_export_holds_every_version_every_decision_and_who_looked() {
    let vault = TestVault::start_now().await;
    let (token, _, _, g, request) = henk_with_a_grant_and_a_request(&vault).await;

    let response = vault
        .http
        .get(format!("{}/v1/me/export", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let export: serde_json::Value = response.json().await.unwrap();

    assert_eq!(export["format"], "kluis-vault-export/1");
    let debts = export["records"]["schulden.overzicht"].as_array().unwrap();
    assert_eq!(debts.len(), 2, "both versions: {debts:?}");
    assert_eq!(debts[0]["data"]["schulden"][0]["bedrag"], 2628);
    assert_eq!(debts[1]["data"]["schulden"], json!([]));
    assert_eq!(
        export["records"]["huishouden.samenstelling"][0]["data"]["leden"][0]["geboortejaar"],
        2015
    );
    assert_eq!(export["grants"][0]["id"], g.id.to_string());
    assert!(
        export["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == request.as_str())
    );
    let audit = export["audit"].to_string();
    assert!(
        audit.contains("schuldhulpverlening"),
        "the department's read is in the export"
    );

    // The download itself is on the record.
    let (_, history) = vault.get(&token, "/v1/me/audit").await;
    assert!(history.to_string().contains("\"export\""), "{history}");

    // Without a login there is nothing to download.
    let anonymous = vault
        .http
        .get(format!("{}/v1/me/export", vault.url))
        .send()
        .await
        .unwrap();
    assert_problem(&status_and_json(anonymous).await, 401, "unauthenticated");
}

#[tokio::test]
async fn erasure_ends_grants_requests_records_and_the_login_and_destroys_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_dir = dir.path().join("keys");
    let vault = TestVault::start_in(dir, Clock::manual(Clock::system().now())).await;
    let (token, henk, debts, g, request) = henk_with_a_grant_and_a_request(&vault).await;
    // An old copy of Henk's row, as a backup taken before the erasure would hold it.
    let before = vault.app.store().resident(henk).await.unwrap().unwrap();
    let old_kek = kek_version(&before.wrapped_key);
    assert!(key_dir.join(format!("kek-{old_kek:08}.key")).exists());

    let erase = vault
        .http
        .delete(format!("{}/v1/me", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(erase.status(), 204);

    // The department's next read is refused; the open request was declined.
    let refused = debts.client(&vault).read(&g, &["schulden.overzicht"]).await;
    assert!(
        matches!(refused, Err(kluis_sdk::Error::Revoked)),
        "{refused:?}"
    );
    let state = vault
        .app
        .store()
        .request(request.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, kluis::store::RequestState::Declined);
    // The login ended, the vault is gone, and so is the key that wrapped its data key
    // (the development vault rotates at once).
    assert_problem(
        &vault.get(&token, "/v1/me/records").await,
        401,
        "unauthenticated",
    );
    assert!(vault.app.store().resident(henk).await.unwrap().is_none());
    assert!(
        vault
            .app
            .residents()
            .overview(henk)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !key_dir.join(format!("kek-{old_kek:08}.key")).exists(),
        "the old KEK was destroyed"
    );
    assert_eq!(vault.app.store().rotation_due().await.unwrap(), None);

    // The audit log keeps the pseudonymous record of what happened.
    let reference = vault.app.residents().audit_reference(henk);
    let entries = vault.app.audit().about_resident(&reference).await.unwrap();
    assert!(
        serde_json::to_string(&entries)
            .unwrap()
            .contains("\"erasure\"")
    );

    // Logging in again starts an empty vault, not the old one.
    let (token, again) = vault.resident("henk").await;
    assert_ne!(again, henk);
    let (_, overview) = vault.get(&token, "/v1/me/records").await;
    assert_eq!(overview, json!([]));
}

#[tokio::test]
async fn a_delayed_rotation_runs_once_it_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let key_dir = dir.path().join("keys");
    let clock = Clock::manual(Clock::system().now());
    let vault = TestVault::start_configured(dir, clock.clone(), |config, _| {
        config.rotate_after_erasure = std::time::Duration::from_secs(3600);
    })
    .await;
    let (anna_token, _) = vault.resident("anna").await;
    let (status, body) = vault
        .put(
            &anna_token,
            "/v1/me/records/huishouden.samenstelling",
            &json!({"leefsituatie": "alleenstaand"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (token, henk) = vault.resident("henk").await;
    let old_kek = kek_version(
        &vault
            .app
            .store()
            .resident(henk)
            .await
            .unwrap()
            .unwrap()
            .wrapped_key,
    );
    let erase = vault
        .http
        .delete(format!("{}/v1/me", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(erase.status(), 204);

    let due = vault
        .app
        .store()
        .rotation_due()
        .await
        .unwrap()
        .expect("a rotation is due");
    assert_eq!(due, clock.now() + chrono::TimeDelta::hours(1));
    let residents = vault.app.residents();
    assert!(!residents.rotate_if_due(&ctx()).await.unwrap(), "not yet");
    assert!(key_dir.join(format!("kek-{old_kek:08}.key")).exists());

    clock.advance(chrono::TimeDelta::hours(1));
    assert!(residents.rotate_if_due(&ctx()).await.unwrap());
    assert!(!key_dir.join(format!("kek-{old_kek:08}.key")).exists());
    assert_eq!(vault.app.store().rotation_due().await.unwrap(), None);
    // Other residents' data survives the rotation, rewrapped under the new KEK.
    let anna_token = vault.login("anna").await;
    let (status, body) = vault
        .get(&anna_token, "/v1/me/records/huishouden.samenstelling")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"leefsituatie": "alleenstaand"}));
}

#[tokio::test]
async fn erasing_needs_a_login() {
    let vault = TestVault::start().await;
    let (_, henk) = vault.resident("henk").await;
    let response = vault
        .http
        .delete(format!("{}/v1/me", vault.url))
        .send()
        .await
        .unwrap();
    assert_problem(&status_and_json(response).await, 401, "unauthenticated");
    let response = vault
        .http
        .delete(format!("{}/v1/me", vault.url))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_problem(&status_and_json(response).await, 401, "unauthenticated");
    assert!(
        vault.app.store().resident(henk).await.unwrap().is_some(),
        "nothing was erased"
    );
}

/// The KEK version in a wrapped data key (format byte, then a big-endian u32).
fn kek_version(wrapped: &[u8]) -> u32 {
    kluis::crypto::WrappedDataKey(wrapped.to_vec())
        .kek_version()
        .unwrap()
}
