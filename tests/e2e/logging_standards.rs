//! The log in the Dutch government's logging standards (issue 18): every record of a
//! Logboek Dataverwerkingen export validates against a JSON Schema written from the
//! standard's field list (`tests/schemas/`), and names no BSN; the Authorization Decision
//! Log export has one record per read, allowed or refused, each valid against the ADL 1.0.0
//! schema in the same folder.

use crate::consent::{BSNS, resident_with_bsn};
use crate::signals::{ACTIVITY, DEBTS, debt_grant};
use crate::support::{TestDepartment, TestVault, client, project_root};
use serde_json::{Value, json};

async fn export(vault: &TestVault, officer: &str, format: &str) -> Vec<Value> {
    let text = client()
        .get(format!(
            "{}/v1/officer/audit/export?format={format}",
            vault.url
        ))
        .bearer_auth(officer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logboek_export_follows_the_standard_and_adl_has_every_decision() {
    let vault = TestVault::start_in(tempfile::tempdir().unwrap(), kluis::Clock::system()).await;
    let (token, _) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let debts = json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]});
    let (status, _) = vault
        .put(&token, &format!("/v1/me/records/{DEBTS}"), &debts)
        .await;
    assert_eq!(status, 201);
    let team = TestDepartment::register(&vault, "schuldhulp-noord").await;
    let g = debt_grant(&vault, &team, &token).await;
    let sdk = team.client(&vault);
    sdk.read(&g, &[DEBTS]).await.unwrap();
    assert!(sdk.read(&g, &["kinderen.situatie"]).await.is_err());
    let officer = vault.officer().await;

    let text = std::fs::read_to_string(
        project_root().join("tests/schemas/logboek-dataverwerkingen.schema.json"),
    )
    .unwrap();
    let schema = jsonschema::draft202012::new(&serde_json::from_str(&text).unwrap()).unwrap();
    let records = export(&vault, &officer, "logboek").await;
    assert!(records.len() > 5, "{records:?}");
    for record in &records {
        let errors: Vec<String> = schema.iter_errors(record).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{record:#}");
        assert!(!record.to_string().contains(BSNS[0]), "{record}");
    }
    let read = records
        .iter()
        .find(|r| r["name"] == "kluis.read" && r["status_code"] == "STATUS_CODE_OK")
        .expect("the read is a processing record");
    assert_eq!(
        read["attributes"]["dpl.core.processing_activity_id"],
        format!("urn:kluis:activity:schuldhulp-noord:{ACTIVITY}:1")
    );
    // The schema can say no: a record without its processing activity fails it.
    let mut incomplete = read.clone();
    incomplete["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("dpl.core.processing_activity_id");
    assert!(!schema.is_valid(&incomplete));

    let text = std::fs::read_to_string(
        project_root().join("tests/schemas/authorization-decision-log.schema.json"),
    )
    .unwrap();
    let adl = jsonschema::draft202012::new(&serde_json::from_str(&text).unwrap()).unwrap();
    let decisions = export(&vault, &officer, "adl").await;
    for record in &decisions {
        let errors: Vec<String> = adl.iter_errors(record).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{record:#}");
        assert!(!record.to_string().contains(BSNS[0]), "{record}");
    }
    let response = |d: &Value| d["body"]["adl.core.response"].clone();
    let outcomes: Vec<bool> = decisions
        .iter()
        .map(|d| response(d)["decision"].as_bool().unwrap())
        .collect();
    assert_eq!(outcomes, [true, false], "{decisions:?}");
    assert_eq!(response(&decisions[1])["context"]["reason"], "out_of_scope");
    // The schema can say no: a timestamp as text (as earlier drafts had it) fails it.
    let mut draft = decisions[0].clone();
    draft["timestamp"] = json!("2026-12-02T10:00:00Z");
    assert!(!adl.is_valid(&draft));
}
