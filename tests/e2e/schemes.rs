// Long: three end-to-end stories of one feature: nothing leaves, the API, the report.
//! Schemes a resident may be missing (issue 12), end to end:
//! - must-show 3: a real `kluis dev` process evaluates, applies and serves a department
//!   read while the test watches its sockets: it opens no connection of its own; the log
//!   holds one receipt per evaluation and none of the fixture's marker values;
//! - the resident's API: hide and show again, a changed situation brings a hidden
//!   suggestion back, the approach preference (read by a department through the SDK),
//!   and every bad input refused with nothing changed;
//! - must-show 4: the uptake report over 1,000 generated residents, with known answers,
//!   small counts hidden, made while no sealed record can be read.

use crate::audit::export_and_verify;
use crate::support::sockets::Watch;
use crate::support::{TestDepartment, TestVault, VaultProcess, assert_problem, ctx};
use futures_util::StreamExt;
use kluis::auth::dev_login::DEV_ISSUER;
use kluis_sdk::proto::schemes::{SchemeOutcome, SchemeView};
use kluis_sdk::{Client, DepartmentKey};
use reqwest::Method;
use serde_json::{Value, json};

/// Henk's income, with marker values no log line may hold.
fn marked_income() -> Value {
    json!({"bronnen": [{
        "soort": "uitkering_bijstand",
        "omschrijving": "ZONNEBLOEM-MARKER",
        "bedrag_per_maand": 1234.56,
        "sinds": "2019-02"
    }]})
}

#[tokio::test]
async fn nothing_leaves_the_vault_and_each_evaluation_writes_one_receipt_without_values() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let port: u16 = vault.url.rsplit(':').next().unwrap().parse().unwrap();
    let watch = Watch::start(vault.pid(), port);

    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{}/dev/login", vault.url))
        .json(&json!({"subject": "henk"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let call = |method: Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{}{path}", vault.url))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let stored = call(
        Method::PUT,
        "/v1/me/records/inkomen.bronnen",
        Some(marked_income()),
    )
    .await
    .unwrap();
    assert!(stored.status().is_success(), "{}", stored.status());

    // Two evaluations: two receipts.
    let mut views = Vec::new();
    for _ in 0..2 {
        let answer = call(Method::GET, "/v1/me/schemes", None).await.unwrap();
        assert_eq!(answer.status(), 200);
        views = answer.json::<Vec<SchemeView>>().await.unwrap();
    }
    let iit = views
        .iter()
        .find(|v| v.id == "individuele-inkomenstoeslag")
        .unwrap();
    assert_eq!(iit.outcome, SchemeOutcome::MayFit);
    assert!(
        iit.why_nl
            .contains(&"Uw inkomen is € 1.234,56 per maand.".to_owned()),
        "{:?}",
        iit.why_nl
    );

    // He applies; work and income learns of it and reads exactly what the scheme needs.
    let applied = call(
        Method::POST,
        "/v1/me/schemes/individuele-inkomenstoeslag/apply",
        None,
    )
    .await
    .unwrap();
    assert_eq!(applied.status(), 201);
    let key = DepartmentKey::from_file(dir.path().join("departments/werk-en-inkomen.jwk")).unwrap();
    let work = Client::new(&vault.url, "werk-en-inkomen", key).unwrap();
    let mut page = work.shares(None).await.unwrap();
    for _ in 0..40 {
        if !page.grants.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        page = work.shares(None).await.unwrap();
    }
    let grant = page.grants.last().expect("the share in the feed");
    let mut shared: Vec<&str> = grant.categories.iter().map(String::as_str).collect();
    shared.sort();
    assert_eq!(
        shared,
        [
            "huishouden.samenstelling",
            "identiteit.basis",
            "inkomen.bronnen"
        ]
    );
    let read = work.read(grant, &shared).await.unwrap();
    assert_eq!(read.records.len(), 3);

    // The vault served every one of these requests and opened no connection itself (but
    // to its own database, when that is PostgreSQL).
    let (mut outgoing, served) = watch.finish();
    if let Some(port) = crate::support::store::database_port() {
        outgoing.retain(|s| !s.remote.ends_with(&format!(":{port:04X}")));
    }
    assert!(
        served >= 2,
        "the watch saw the vault serve the resident and the department ({served} clients)"
    );
    assert!(
        outgoing.is_empty(),
        "the vault opened connections of its own: {outgoing:?}"
    );

    // One receipt per evaluation: rule set, version, hash, categories, ids; no values.
    let entries = export_and_verify(dir.path(), &vault.url).await;
    let receipts: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "scheme_check")
        .collect();
    assert_eq!(receipts.len(), 2);
    for receipt in &receipts {
        let details = &receipt["details"];
        assert_eq!(details["rule_set"], "drechtsteden-voorbeeld");
        assert_eq!(details["rule_set_version"], "1");
        assert_eq!(details["rule_set_hash"].as_str().unwrap().len(), 64);
        assert!(
            details["suggested"]
                .as_str()
                .unwrap()
                .split(',')
                .any(|id| id == "individuele-inkomenstoeslag")
        );
        assert!(
            receipt["categories"]
                .as_array()
                .unwrap()
                .contains(&json!("inkomen.bronnen"))
        );
    }
    let applications = entries
        .iter()
        .filter(|e| e["action"] == "scheme_application")
        .count();
    assert_eq!(applications, 1);
    let log = entries
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for marker in [
        "ZONNEBLOEM",
        "1234.56",
        "1234,56",
        "1.234,56",
        "1985-03-14",
        "Jansen",
    ] {
        assert!(!log.contains(marker), "the log holds {marker}");
    }
}

/// A vault with work and income, and Henk on a low income for years.
async fn henk_on_a_low_income() -> (TestVault, TestDepartment, String, uuid::Uuid) {
    let vault = TestVault::start_now().await;
    let work = TestDepartment::register_demo(&vault, "werk-en-inkomen").await;
    let (token, henk) = vault.resident("henk").await;
    for (category, data) in kluis::dev::henk_situation() {
        let data = if category == "inkomen.bronnen" {
            marked_income()
        } else {
            data
        };
        vault
            .app
            .residents()
            .write(&ctx(), henk, category, &data)
            .await
            .unwrap();
    }
    (vault, work, token, henk)
}

async fn suggestion(vault: &TestVault, token: &str, id: &str) -> Value {
    let (status, all) = vault.get(token, "/v1/me/schemes").await;
    assert_eq!(status, 200, "{all}");
    all.as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn hide_show_and_the_approach_choice_and_bad_input_changes_nothing() {
    let (vault, work, token, henk) = henk_on_a_low_income().await;

    // "Niet voor mij" hides it; a changed situation brings it back.
    let (status, _) = vault
        .post(&token, "/v1/me/schemes/stadspas/hide", &json!({}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(suggestion(&vault, &token, "stadspas").await["hidden"], true);
    let mut raised = marked_income();
    raised["bronnen"][0]["bedrag_per_maand"] = json!(1300.0);
    vault
        .app
        .residents()
        .write(&ctx(), henk, "inkomen.bronnen", &raised)
        .await
        .unwrap();
    assert_eq!(
        suggestion(&vault, &token, "stadspas").await["hidden"],
        false,
        "a new income brings it back"
    );
    vault
        .post(&token, "/v1/me/schemes/stadspas/hide", &json!({}))
        .await;
    let (status, _) = vault
        .post(&token, "/v1/me/schemes/stadspas/unhide", &json!({}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        suggestion(&vault, &token, "stadspas").await["hidden"],
        false
    );

    // The approach choice: unset, then yes; a department with a grant reads it.
    let (_, choice) = vault.get(&token, "/v1/me/schemes/approach").await;
    assert_eq!(choice, json!({"may_approach": null}));
    let (status, _) = vault
        .put(
            &token,
            "/v1/me/schemes/approach",
            &json!({"may_approach": true}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, grant) = vault
        .post(
            &token,
            "/v1/me/grants",
            &json!({"department": "werk-en-inkomen", "processing_activity": "bijstand-aanvraag",
                    "categories": ["regelingen.benaderen"], "duration_days": 30}),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let grant = work.settled_shares(&vault).await.grants.remove(0);
    assert_eq!(
        work.client(&vault).may_approach(&grant).await.unwrap(),
        Some(true)
    );

    // Bad input: refused, and nothing written or logged.
    let records = vault.app.residents().overview(henk).await.unwrap();
    let log = vault.app.audit().size().await;
    for (method, path, body, status, code) in [
        (
            Method::POST,
            "/v1/me/schemes/bestaat-niet/hide",
            json!({}),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/v1/me/schemes/bestaat-niet/apply",
            json!({}),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/v1/me/schemes/huurtoeslag/apply",
            json!({}),
            409,
            "conflict",
        ),
        (
            Method::POST,
            "/v1/me/schemes/NIET%20GELDIG/hide",
            json!({}),
            404,
            "not_found",
        ),
        (
            Method::PUT,
            "/v1/me/schemes/approach",
            json!({"may_approach": null}),
            400,
            "invalid_parameter",
        ),
        (
            Method::PUT,
            "/v1/me/schemes/approach",
            json!({}),
            400,
            "invalid_parameter",
        ),
        (
            Method::PUT,
            "/v1/me/schemes/approach",
            json!({"may_approach": "ja"}),
            400,
            "invalid_json",
        ),
        (
            Method::PUT,
            "/v1/me/schemes/approach",
            json!({"may_approach": true, "x": 1}),
            400,
            "invalid_json",
        ),
    ] {
        let got = if method == Method::PUT {
            vault.put(&token, path, &body).await
        } else {
            vault.post(&token, path, &body).await
        };
        assert_problem(&got, status, code);
    }
    assert_eq!(vault.app.residents().overview(henk).await.unwrap(), records);
    assert_eq!(vault.app.audit().size().await, log, "nothing logged");
    let (status, _) = vault.get("not-a-session", "/v1/me/schemes").await;
    assert_eq!(status, 401);
}

/// One generated resident: (household type, income per month, with debts).
fn resident_of(i: usize) -> (&'static str, f64, bool) {
    match i {
        0..400 => ("alleenstaand", 1000.0, false),
        400..700 => ("alleenstaand", 1500.0, false),
        700..995 => ("alleenstaand", 3000.0, false),
        _ => ("getrouwd_of_partnerschap", 2050.0, true),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_uptake_report_counts_1000_residents_and_reads_no_record() {
    let vault = TestVault::start_now().await;
    TestDepartment::register_demo(&vault, "werk-en-inkomen").await;
    let app = &vault.app;
    let ids: Vec<uuid::Uuid> = futures_util::stream::iter(0..1000)
        .map(|i| async move {
            let id = app
                .residents()
                .ensure_resident(DEV_ISSUER, &format!("bewoner-{i}"))
                .await
                .unwrap()
                .id;
            let (household, income, debts) = resident_of(i);
            let mut records = vec![
                (
                    "identiteit.basis",
                    json!({"voornamen": "A", "achternaam": "B", "geboortedatum": "1986-05-01"}),
                ),
                (
                    "huishouden.samenstelling",
                    json!({"leefsituatie": household}),
                ),
                (
                    "inkomen.bronnen",
                    json!({"bronnen": [{"soort": "uitkering_bijstand", "bedrag_per_maand": income, "sinds": "2020-01"}]}),
                ),
            ];
            if debts {
                records.push((
                    "schulden.overzicht",
                    json!({"schulden": [{"schuldeiser": "X", "soort": "energie", "bedrag": 100.0}]}),
                ));
            }
            let pairs: Vec<(&str, &Value)> = records.iter().map(|(c, d)| (*c, d)).collect();
            app.residents().write_all(&ctx(), id, &pairs).await.unwrap();
            app.schemes().evaluate(&ctx(), id).await.unwrap();
            id
        })
        .buffered(16)
        .collect()
        .await;
    // Some look twice (still one resident each); some apply.
    for id in &ids[..50] {
        app.schemes().evaluate(&ctx(), *id).await.unwrap();
    }
    for id in &ids[..12] {
        app.schemes().apply(&ctx(), *id, "stadspas").await.unwrap();
    }
    for id in &ids[12..19] {
        app.schemes()
            .apply(&ctx(), *id, "individuele-inkomenstoeslag")
            .await
            .unwrap();
    }

    // From here no sealed record can be read: the report must not need one.
    vault.faults.refuse_sealed_reads(true);
    assert!(
        app.schemes().evaluate(&ctx(), ids[0]).await.is_err(),
        "the switch works"
    );
    let (_, officer) = app.officers().issue("fg", "FG", 30).await.unwrap();
    let (status, report) = vault
        .get(&officer, "/v1/officer/reports/scheme-uptake")
        .await;
    assert_eq!(status, 200, "{report}");
    // By hand: 400 at 1000 (105%, 110%, 100%, 130% of 1401), 300 at 1500 (110%, 130%),
    // 295 at 3000 (none), 5 couples at 2050 (105%, 110%, 130% of 2001; debts); all 1000
    // may check care allowance (no toeslag_zorg, under 3300, 18 or older).
    assert_eq!(
        report["result"],
        json!({
            "smallest_count_shown": 10,
            "schemes": [
                {"scheme": "bijzondere-bijstand-witgoed", "shown": 705, "applied": null},
                {"scheme": "gratis-schuldhulp", "shown": null, "applied": null},
                {"scheme": "individuele-inkomenstoeslag", "shown": 405, "applied": null},
                {"scheme": "kwijtschelding", "shown": 400, "applied": null},
                {"scheme": "stadspas", "shown": 705, "applied": 12},
                {"scheme": "zorgtoeslag", "shown": 1000, "applied": null}
            ]
        })
    );
}
