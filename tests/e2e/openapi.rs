//! The OpenAPI document tells the truth: every documented operation exists, and the
//! error codes it lists are exactly the codes the vault and SDK share.

use crate::support::TestVault;
use kluis_proto::ErrorCode;

#[tokio::test]
async fn every_documented_operation_exists() {
    let vault = TestVault::start().await;
    let doc: serde_json::Value = serde_json::from_str(kluis::http::OPENAPI_JSON).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{category}", "schulden.overzicht")
            .replace("{version}", "1")
            .replace("{id}", "00000000-0000-4000-8000-000000000000");
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let response = vault
                .http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}", vault.url),
                )
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && body.contains("no such endpoint")),
                "{method} {path} is documented but not routed"
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} operations checked");
}

#[test]
fn error_codes_match_the_shared_enum() {
    let doc: serde_json::Value = serde_json::from_str(kluis::http::OPENAPI_JSON).unwrap();
    let documented: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let shared: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        documented, shared,
        "docs/openapi.json lists other error codes than kluis-proto"
    );
}

#[test]
fn audit_actions_match_the_shared_enum() {
    let doc: serde_json::Value = serde_json::from_str(kluis::http::OPENAPI_JSON).unwrap();
    let documented: Vec<String> = doc["components"]["schemas"]["AuditAction"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let shared: Vec<String> = kluis::audit::entry::Action::ALL
        .iter()
        .map(|a| {
            serde_json::to_value(a)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        documented, shared,
        "docs/openapi.json lists other audit actions than kluis-proto"
    );
}
