//! What a department knows better than the resident (issue 11): the debt counsellor writes
//! the step of debt help through the SDK under the grant Henk gave, Henk sees it in words
//! and in his history, and cannot change it himself, by API or portal.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::portal::PortalClient;
use crate::support::{TestDepartment, TestVault};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_debt_counsellor_writes_the_step_henk_sees_it_and_cannot_change_it() {
    let vault = TestVault::start_now().await;
    let (token, _) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let grant = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.traject"],
        json!({}),
    )
    .await;
    let client = debts.client(&vault);
    let step = json!({"fase": "stabilisatie", "budgetbeheer": true, "gestart_op": "2026-09-15"});
    let written = client
        .write_record(&grant, "schulden.traject", &step)
        .await
        .expect("the department keeps this category");
    assert_eq!(written.version, 1);
    let refused = client
        .write_record(&grant, "schulden.overzicht", &json!({"schulden": []}))
        .await;
    assert!(
        matches!(refused, Err(kluis_sdk::Error::OutOfScope(_))),
        "{refused:?}"
    );

    // Henk sees it in words, with no button to change it, and who wrote it.
    let portal = PortalClient::login(&vault, "henk").await;
    let (_, _, page) = portal.get("/portal/records/schulden.traject").await;
    for words in [
        "Eerst rust: vaste lasten op tijd betalen",
        "Dit vult een afdeling voor u in.",
        "15 september 2026",
    ] {
        assert!(page.contains(words), "{words:?} missing: {page}");
    }
    assert!(!page.contains("/portal/records/schulden.traject/edit"));
    let (status, _, _) = portal.get("/portal/records/schulden.traject/edit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, history) = portal.get("/portal/history").await;
    assert!(
        history.contains("Afdeling schuldhulpverlening heeft deze gegevens voor u bijgewerkt:"),
        "{history}"
    );

    // Before he decides, a request says what the department fills in for him.
    let ask = json!({"resident": {"national_id": {"scheme": "bsn", "value": BSNS[0]}}, "processing_activity": "schuldhulp-traject", "categories": ["schulden.traject", "schulden.overzicht"], "duration_days": 30});
    let (_, asked) = debts
        .call(
            &vault,
            reqwest::Method::POST,
            "/v1/dept/access-requests",
            Some(&ask),
        )
        .await;
    let (_, _, request) = portal
        .get(&format!(
            "/portal/requests/{}",
            asked["id"].as_str().unwrap()
        ))
        .await;
    let told = request
        .split("Wat vult de afdeling ook voor u in?")
        .nth(1)
        .unwrap_or_else(|| panic!("not told: {request}"));
    let told = &told[..told.find("</dd>").unwrap()];
    assert!(
        told.contains("Mijn hulp bij schulden") && !told.contains("Mijn schulden<"),
        "only what it fills in: {told}"
    );

    // Not through the API either: the record stays as the department wrote it.
    let (status, body) = vault
        .put(
            &token,
            "/v1/me/records/schulden.traject",
            &json!({"fase": "afgerond"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], "urn:kluis:problem:forbidden");
    let deleted = vault
        .http
        .delete(format!("{}/v1/me/records/schulden.traject", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::FORBIDDEN);
    let (_, current) = vault.get(&token, "/v1/me/records/schulden.traject").await;
    assert_eq!(current["data"], step);
}
