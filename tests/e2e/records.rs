//! The resident's record API over HTTP: write, read, versions, delete, overview.

use crate::support::{TestVault, assert_problem};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn records_are_versioned_and_old_versions_stay_readable() {
    let vault = TestVault::start().await;
    let token = vault.login("anna").await;
    let path = "/v1/me/records/huishouden.samenstelling";

    let first = json!({"leefsituatie": "alleenstaand"});
    let (status, written) = vault.put(&token, path, &first).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(written["version"], 1);

    vault.app.clock().advance(chrono::TimeDelta::minutes(5));
    let second = json!({"leefsituatie": "alleenstaande_ouder", "leden": [{"rol": "kind", "geboortejaar": 2019}]});
    let (status, written) = vault.put(&token, path, &second).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(written["version"], 2);

    let (status, current) = vault.get(&token, path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(current["data"], second);
    assert_eq!(current["version"], 2);

    let (_, old) = vault.get(&token, &format!("{path}/versions/1")).await;
    assert_eq!(old["data"], first);

    let (_, versions) = vault.get(&token, &format!("{path}/versions")).await;
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0]["created_at"].as_str() < versions[1]["created_at"].as_str());

    let (_, overview) = vault.get(&token, "/v1/me/records").await;
    assert_eq!(
        overview,
        json!([{"category": "huishouden.samenstelling", "current_version": 2, "updated_at": current["created_at"]}])
    );

    let deleted = vault
        .http
        .delete(format!("{}{path}", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_problem(&vault.get(&token, path).await, 404, "not_found");
    assert_problem(
        &vault.get(&token, &format!("{path}/versions/1")).await,
        404,
        "not_found",
    );

    // A later write never reuses a deleted version number.
    let (_, again) = vault.put(&token, path, &first).await;
    assert_eq!(again["version"], 3);
}

#[tokio::test]
async fn residents_see_only_their_own_vault() {
    let vault = TestVault::start().await;
    let anna = vault.login("anna").await;
    let bram = vault.login("bram").await;
    let path = "/v1/me/records/werk.profiel";
    vault
        .put(&anna, path, &json!({"situatie": "werkend"}))
        .await;
    assert_problem(&vault.get(&bram, path).await, 404, "not_found");
    let (_, overview) = vault.get(&bram, "/v1/me/records").await;
    assert_eq!(overview, json!([]));
}

#[tokio::test]
async fn sessions_are_required_expire_and_end_at_logout() {
    let vault = TestVault::start().await;
    assert_problem(&vault.get("", "/v1/me").await, 401, "unauthenticated");
    assert_problem(
        &vault.get("made-up-token", "/v1/me").await,
        401,
        "unauthenticated",
    );
    let no_header = vault
        .http
        .get(format!("{}/v1/me", vault.url))
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        no_header.headers()["www-authenticate"],
        r#"Bearer realm="kluis""#
    );

    let token = vault.login("anna").await;
    assert_eq!(vault.get(&token, "/v1/me").await.0, StatusCode::OK);
    // Idle timeout (30 minutes by default): used at 29 minutes, it lives on; then 31 idle.
    vault.app.clock().advance(chrono::TimeDelta::minutes(29));
    assert_eq!(vault.get(&token, "/v1/me").await.0, StatusCode::OK);
    vault.app.clock().advance(chrono::TimeDelta::minutes(31));
    assert_problem(&vault.get(&token, "/v1/me").await, 401, "unauthenticated");

    let token = vault.login("anna").await;
    let logout = vault
        .http
        .post(format!("{}/v1/session/logout", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_problem(&vault.get(&token, "/v1/me").await, 401, "unauthenticated");
}

#[tokio::test]
async fn health_readiness_catalogue_and_openapi_answer() {
    let vault = TestVault::start().await;
    let get = |path: &str| vault.http.get(format!("{}{path}", vault.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    let ready: serde_json::Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let categories: serde_json::Value = get("/v1/categories").await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = categories
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"schulden.overzicht") && ids.len() >= 13);
    let openapi: serde_json::Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
}

/// A write whose audit entry cannot be stored is not stored either (issue 9, must-show
/// 4): the resident gets a 503 and the vault is as it was; once the log can be written
/// again the next write succeeds and the log runs on without a gap.
#[tokio::test]
async fn a_write_whose_entry_cannot_be_logged_is_not_stored() {
    let vault = TestVault::start().await;
    let token = vault.login("henk").await;
    let path = "/v1/me/records/werk.profiel";
    let first = json!({"situatie": "werkzoekend"});
    assert_eq!(vault.put(&token, path, &first).await.0, StatusCode::CREATED);
    let audit = vault.app.audit();
    let logged = audit.size().await;

    vault.faults.fail_audit_appends(true);
    let second = json!({"situatie": "werkend", "laatste_werk": "Heftruckchauffeur"});
    assert_problem(&vault.put(&token, path, &second).await, 503, "unavailable");
    let deleted = vault
        .http
        .delete(format!("{}{path}", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Nothing changed: the same single version, the same contents, the same log.
    let (_, versions) = vault.get(&token, &format!("{path}/versions")).await;
    assert_eq!(versions.as_array().unwrap().len(), 1);
    let (_, current) = vault.get(&token, path).await;
    assert_eq!(
        (current["version"].clone(), current["data"].clone()),
        (json!(1), first)
    );
    assert_eq!(audit.size().await, logged);

    vault.faults.fail_audit_appends(false);
    let (status, written) = vault.put(&token, path, &second).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, current) = vault.get(&token, path).await;
    assert_eq!(current["data"], second);
    assert_eq!(current["version"], written["version"]);
    let (_, versions) = vault.get(&token, &format!("{path}/versions")).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    // The log took the next position and still verifies from its first entry to its last.
    assert_eq!(audit.size().await, logged + 1);
    let export = audit.export(0, audit.size().await).await.unwrap();
    let verified =
        kluis::audit::export::verify(&export, Some(&vault.app.consent().jwks()), None).unwrap();
    assert_eq!(verified.to, logged + 1);
    let entries = audit.entries(0, logged + 1).await.unwrap();
    assert!(entries.iter().enumerate().all(|(i, e)| e.seq == i as u64));
}
