//! A resident can never read or change another resident's vault or requests through any
//! endpoint (issue 3, must-show 5). The test walks every `/v1/me` operation in the OpenAPI
//! document as Anna, with Bram's request ids, grant ids and departments filled in, and
//! checks that nothing of Bram's leaked or changed.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::{TestDepartment, TestVault};
use reqwest::Method;
use serde_json::{Value, json};

const BRAMS_SECRET: &str = "Bram-GEHEIM-7731";

async fn brams_state(vault: &TestVault, token: &str) -> Value {
    let (_, records) = vault.get(token, "/v1/me/records").await;
    let (_, debts) = vault.get(token, "/v1/me/records/schulden.overzicht").await;
    let (_, requests) = vault.get(token, "/v1/me/requests?all=true").await;
    let (_, grants) = vault.get(token, "/v1/me/grants").await;
    json!({"records": records, "debts": debts, "requests": requests, "grants": grants})
}

#[tokio::test]
async fn every_resident_endpoint_with_another_residents_ids() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (anna, _) = resident_with_bsn(&vault, "anna", BSNS[0]).await;
    let (bram, bram_id) = resident_with_bsn(&vault, "bram", BSNS[1]).await;
    vault
        .app
        .residents()
        .write(
            &crate::support::ctx(),
            bram_id,
            "schulden.overzicht",
            &json!({"schulden": [{"schuldeiser": BRAMS_SECRET, "soort": "anders", "bedrag": 1}]}),
        )
        .await
        .unwrap();
    let brams_grant = grant(
        &vault,
        &debts,
        &bram,
        BSNS[1],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    let ask = json!({"resident": {"national_id": {"scheme": "bsn", "value": BSNS[1]}}, "processing_activity": "schuldhulp-traject", "categories": ["schulden.overzicht"], "duration_days": 30});
    let (_, pending) = debts
        .call(&vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
        .await;
    let brams_request = pending["id"].as_str().unwrap().to_owned();
    let before = brams_state(&vault, &bram).await;

    let doc: Value = serde_json::from_str(kluis::http::OPENAPI_JSON).unwrap();
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/me") {
            continue;
        }
        let ids: Vec<String> = if path.contains("/requests/{id}") {
            vec![brams_request.clone(), brams_grant.id.to_string()]
        } else if path.contains("/grants/{id}") {
            vec![brams_grant.id.to_string(), brams_request.clone()]
        } else {
            vec!["schuldhulpverlening".to_owned()]
        };
        for id in ids {
            let concrete = path
                .replace("{id}", &id)
                .replace("{category}", "schulden.overzicht")
                .replace("{version}", "1");
            for method in ["get", "put", "post", "delete"] {
                // Erasing her own vault is Anna's right, and it would end her session:
                // that operation is walked last, below.
                if item.get(method).is_none() || (method, path.as_str()) == ("delete", "/v1/me") {
                    continue;
                }
                let body = match (method, path.as_str()) {
                    ("put", _) => json!({"schulden": []}),
                    ("post", "/v1/me/grants") => {
                        json!({"department": "schuldhulpverlening", "processing_activity": "schuldhulp-traject", "categories": ["schulden.overzicht"], "duration_days": 1})
                    }
                    ("post", "/v1/me/grants/{id}/pause") => json!({"reason": "other"}),
                    _ => json!({}),
                };
                let request = vault
                    .http
                    .request(
                        method.to_uppercase().parse().unwrap(),
                        format!("{}{concrete}", vault.url),
                    )
                    .bearer_auth(&anna);
                let request = if method == "put" || method == "post" {
                    request.json(&body)
                } else {
                    request
                };
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                assert!(
                    !text.contains(BRAMS_SECRET),
                    "{method} {concrete} showed Bram's data: {text}"
                );
                assert!(
                    !text.contains(&brams_request) || status >= 400 && !text.contains("\"state\""),
                    "{method} {concrete}: {text}"
                );
                if concrete.contains(&brams_request)
                    || concrete.contains(&brams_grant.id.to_string())
                {
                    assert_eq!(
                        status, 404,
                        "{method} {concrete} with Bram's id answered {status}: {text}"
                    );
                }
                walked += 1;
            }
        }
    }
    assert!(walked >= 15, "walked only {walked} operations");
    assert_eq!(
        brams_state(&vault, &bram).await,
        before,
        "Anna changed something of Bram's"
    );
    // Bram's grant still works for the department.
    assert_eq!(
        debts
            .read(&vault, &brams_grant, &["schulden.overzicht"])
            .await
            .0,
        200
    );
    // And Anna's own session was never Bram's.
    let (_, annas) = vault.get(&anna, "/v1/me/records/schulden.overzicht").await;
    assert!(!annas.to_string().contains(BRAMS_SECRET));

    // Anna erases her vault: Bram's stays as it was, and his grant keeps working.
    let erased = vault
        .http
        .delete(format!("{}/v1/me", vault.url))
        .bearer_auth(&anna)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 204);
    assert_eq!(
        brams_state(&vault, &bram).await,
        before,
        "Anna's erasure touched Bram's vault"
    );
    assert_eq!(
        debts
            .read(&vault, &brams_grant, &["schulden.overzicht"])
            .await
            .0,
        200
    );
}
