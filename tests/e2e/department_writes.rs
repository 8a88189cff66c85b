//! What a department knows better than the resident (issue 11): the debt counsellor writes
//! the step of debt help through the SDK under the grant Henk gave, Henk sees it in words
//! and in his history, and cannot change it himself, by API or portal.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::portal::PortalClient;
use crate::support::{TestDepartment, TestVault, ctx};
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

#[tokio::test]
async fn a_write_is_proven_like_a_read_and_every_refusal_is_logged_with_nothing_stored() {
    let vault = TestVault::start_now().await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let grant = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.traject", "schulden.overzicht"],
        json!({}),
    )
    .await;
    let client = debts.client(&vault);
    let step = json!({"fase": "stabilisatie"});
    let path = format!("/v1/dept/grants/{}/records/schulden.traject", grant.id);
    let log = vault.app.audit().size().await;

    // Only the client assertion, no grant token or proof: refused.
    let (status, body) = debts
        .call(&vault, reqwest::Method::PUT, &path, Some(&step))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["type"], "urn:kluis:problem:invalid_grant");
    // The SDK's proven write, with each thing that is not allowed.
    let refusals = [
        (
            client
                .write_record(&grant, "schulden.traject", &json!({"fase": "iets anders"}))
                .await,
            "the schema",
        ),
        (
            client
                .write_record(&grant, "schulden.overzicht", &json!({"schulden": []}))
                .await,
            "the resident's own category",
        ),
        (
            client
                .write_record(&grant, "zelfredzaamheid.zrm", &json!({"scores": {}}))
                .await,
            "outside the grant",
        ),
    ];
    for (result, what) in refusals {
        assert!(result.is_err(), "{what}: {result:?}");
    }
    assert!(matches!(
        client
            .write_record(&grant, "schulden.overzicht", &json!({"schulden": []}))
            .await,
        Err(kluis_sdk::Error::OutOfScope(_))
    ));
    let entries = vault.app.audit().size().await - log;
    assert_eq!(entries, 5, "each refused attempt is logged");
    let not_found = vault
        .app
        .residents()
        .read(henk, "schulden.traject", None)
        .await;
    assert!(not_found.is_err(), "nothing was stored");

    // A new version of the activity that no longer fills it in: a grant given under it
    // may not write, though it covers the category.
    let mut activities = kluis::dev::demo_departments().remove(1).2;
    activities[0].writes.clear();
    let spec = kluis_proto::consent::DepartmentSpec {
        id: "schuldhulpverlening".into(),
        name: "Afdeling schuldhulpverlening".into(),
        jwks: json!({"keys": [debts.key.public_jwk()]}),
        processing_activities: activities,
        privacy_officer: kluis::dev::DEMO_PRIVACY_OFFICER.into(),
        events_endpoint: None,
    };
    vault
        .app
        .consent()
        .register_department(&ctx(), kluis::audit::entry::Actor::Operator, &spec)
        .await
        .unwrap();
    let later = crate::consent::grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.traject"],
        json!({}),
    )
    .await;
    assert_eq!(later.processing_activity.version, 2);
    let undeclared = client.write_record(&later, "schulden.traject", &step).await;
    assert!(
        matches!(&undeclared, Err(kluis_sdk::Error::OutOfScope(why)) if why.contains("does not fill in")),
        "{undeclared:?}"
    );

    // Under the first grant: allowed; then revoked, and the next write is refused at once.
    client
        .write_record(&grant, "schulden.traject", &step)
        .await
        .expect("allowed");
    vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/revoke", grant.id),
            &json!({}),
        )
        .await;
    let after = client.write_record(&grant, "schulden.traject", &step).await;
    assert!(matches!(after, Err(kluis_sdk::Error::Revoked)), "{after:?}");
    let stored = vault
        .app
        .residents()
        .read(henk, "schulden.traject", None)
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
}
