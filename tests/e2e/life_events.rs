//! Life events and "Waar sta ik?" over the API and the portal's forms (issue 10): Henk
//! starts from losing his job, confirms what his vault holds, shares with both departments
//! that can help, they read exactly that, one posts where his case stands; and every bad
//! input (a forged share, an unknown event, a status for a grant not held or revoked, an
//! unknown kind, a wrong date) is refused with nothing stored.

use crate::portal::PortalClient;
use crate::support::{TestDepartment, TestVault, ctx};
use kluis_sdk::proto::cases::{CaseStatus, NewCaseStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A vault with the two departments that help with job loss, and Henk's demo situation.
async fn world() -> (
    TestVault,
    TestDepartment,
    TestDepartment,
    String,
    uuid::Uuid,
) {
    let vault = TestVault::start_now().await;
    let work = TestDepartment::register(&vault, "werk-en-inkomen").await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = vault.resident("henk").await;
    for (category, data) in kluis::dev::henk_situation() {
        vault
            .app
            .residents()
            .write(&ctx(), henk, category, &data)
            .await
            .unwrap();
    }
    (vault, work, debts, token, henk)
}

#[tokio::test]
async fn henk_starts_from_losing_his_job_and_sees_where_he_stands() {
    let (vault, work, debts, token, henk) = world().await;
    let (status, list) = vault.get(&token, "/v1/life-events").await;
    assert_eq!(status, 200);
    assert!(list.as_array().unwrap().len() >= 10);

    // Only what his vault does not hold is new; the rest he confirms.
    let (status, steps) = vault
        .post(&token, "/v1/me/life-events/baan-kwijt/steps", &json!({}))
        .await;
    assert_eq!(status, 200, "{steps}");
    let new: Vec<&Value> = steps
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["held"].is_null())
        .collect();
    assert!(!new.is_empty() && new.len() <= 4, "{new:?}");
    let versions_before = vault.app.residents().overview(henk).await.unwrap();
    let (status, done) = vault
        .post(
            &token,
            "/v1/me/life-events/baan-kwijt",
            &json!({"answers": {"mantelzorg": false}, "share_with": ["werk-en-inkomen", "schuldhulpverlening"]}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["written"], json!(["zorg.mantelzorg"]));
    let versions_after = vault.app.residents().overview(henk).await.unwrap();
    for before in &versions_before {
        let after = versions_after
            .iter()
            .find(|a| a.category == before.category)
            .unwrap();
        assert_eq!(
            after.current_version, before.current_version,
            "{} was confirmed, not written again",
            before.category
        );
    }
    assert_eq!(done["grants"].as_array().unwrap().len(), 2);

    // Each department learns of the share from its feed and reads exactly what was shared.
    for department in [&work, &debts] {
        let client = department.client(&vault);
        let page = client.shares(None).await.unwrap();
        assert_eq!(page.grants.len(), 1);
        let again = client.shares(Some(&page.cursor)).await.unwrap();
        assert!(again.grants.is_empty(), "nothing new after the cursor");
        let grant = &page.grants[0];
        let categories: Vec<&str> = grant.categories.iter().map(String::as_str).collect();
        let read = client.read(grant, &categories).await.unwrap();
        let got: Vec<&str> = read.records.iter().map(|r| r.category.as_str()).collect();
        let mut want = categories.clone();
        want.retain(|c| !read.not_filled_in.iter().any(|n| n == c));
        assert_eq!(got, want);
        assert!(client.read(grant, &["kinderen.situatie"]).await.is_err());
    }

    // Work and income says where his case stands; he sees it, and what he must do.
    let client = work.client(&vault);
    let grant = client.shares(None).await.unwrap().grants.remove(0);
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
    for status in [
        CaseStatus::AppointmentPlanned {
            date,
            time: Some("10:30".into()),
            place: "Stadskantoor, balie 4".into(),
        },
        CaseStatus::MoreInformationNeeded {
            categories: vec!["werk.profiel".into()],
        },
    ] {
        client
            .post_status(
                &grant,
                &NewCaseStatus {
                    status,
                    contact: Some(kluis_sdk::proto::cases::Contact {
                        phone: Some("14 078".into()),
                        desk: None,
                    }),
                },
            )
            .await
            .unwrap();
    }
    let portal = PortalClient::login(&vault, "henk").await;
    let (_, _, home) = portal.get("/portal").await;
    assert!(
        home.contains("Afdeling werk-en-inkomen vraagt u om Mijn werk aan te vullen."),
        "{home}"
    );
    assert!(home.contains("Er is nieuws over uw aanvraag."));
    let (_, _, cases) = portal.get("/portal/cases").await;
    for seen in [
        "U deelde uw gegevens met Afdeling werk-en-inkomen.",
        "Afdeling werk-en-inkomen heeft uw gegevens bekeken.",
        "U heeft een afspraak op 8 december 2026 om 10:30 uur.",
        "Waar: Stadskantoor, balie 4.",
        "Afdeling werk-en-inkomen heeft meer gegevens nodig. Vul dit aan:",
        "Heeft u vragen? Bel 14 078.",
        "<svg",
    ] {
        assert!(cases.contains(seen), "{seen:?} not on the page: {cases}");
    }
    let (_, _, home) = portal.get("/portal").await;
    assert!(!home.contains("Er is nieuws"), "seen news is no longer new");
    // Once he updates his work (a minute later), the action is done.
    vault.app.clock().advance(chrono::TimeDelta::minutes(1));
    let (status, written) = vault
        .put(
            &token,
            "/v1/me/records/werk.profiel",
            &json!({"situatie": "werkzoekend", "uren_beschikbaar_per_week": 24}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{written}");
    let (_, _, home) = portal.get("/portal").await;
    assert!(!home.contains("Mijn werk aan te vullen"), "{home}");
}

#[tokio::test]
async fn a_status_that_does_not_fit_is_refused_and_nothing_is_stored() {
    let (vault, work, debts, token, henk) = world().await;
    vault
        .post(
            &token,
            "/v1/me/life-events/baan-kwijt",
            &json!({"answers": {"mantelzorg": false}, "share_with": ["werk-en-inkomen"]}),
        )
        .await;
    let grant = work
        .client(&vault)
        .shares(None)
        .await
        .unwrap()
        .grants
        .remove(0);
    let path = format!("/v1/dept/grants/{}/status", grant.id);
    let log = vault.app.audit().size().await;
    let stored = || async {
        vault
            .app
            .cases()
            .of_resident(henk)
            .await
            .unwrap()
            .iter()
            .map(|c| c.steps.len())
            .sum::<usize>()
    };
    let steps = stored().await;
    let cases: Vec<(&TestDepartment, Value, u16, &str)> = vec![
        (
            &debts,
            json!({"status": {"kind": "received"}}),
            404,
            "not_found",
        ),
        (
            &work,
            json!({"status": {"kind": "on_hold"}}),
            400,
            "invalid_json",
        ),
        (
            &work,
            json!({"status": {"kind": "decision_expected", "by": "31-12-2026"}}),
            400,
            "invalid_json",
        ),
        (
            &work,
            json!({"status": {"kind": "decision_expected", "by": "1850-12-31"}}),
            400,
            "invalid_parameter",
        ),
        (
            &work,
            json!({"status": {"kind": "appointment_planned", "date": "2026-12-08", "time": "25:00", "place": "Stadskantoor"}}),
            400,
            "invalid_parameter",
        ),
        (
            &work,
            json!({"status": {"kind": "appointment_planned", "date": "2026-12-08", "place": "x".repeat(101)}}),
            400,
            "invalid_parameter",
        ),
        (
            &work,
            json!({"status": {"kind": "more_information_needed", "categories": ["kinderen.situatie"]}}),
            403,
            "out_of_scope",
        ),
        (
            &work,
            json!({"status": {"kind": "more_information_needed", "categories": ["geen.categorie"]}}),
            404,
            "unknown_category",
        ),
        (
            &work,
            json!({"status": {"kind": "received"}, "contact": {"phone": "bel me"}}),
            400,
            "invalid_parameter",
        ),
        (
            &work,
            json!({"status": {"kind": "received"}, "extra": true}),
            400,
            "invalid_json",
        ),
    ];
    for (department, body, status, code) in cases {
        let got = department
            .call(&vault, Method::POST, &path, Some(&body))
            .await;
        crate::support::assert_problem(&got, status, code);
    }
    let (status, _) = vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/revoke", grant.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let log = log + 1; // the revocation
    let got = work
        .call(
            &vault,
            Method::POST,
            &path,
            Some(&json!({"status": {"kind": "received"}})),
        )
        .await;
    crate::support::assert_problem(&got, 403, "grant_revoked");
    assert_eq!(
        stored().await,
        steps + 1,
        "only the revocation is a new step"
    );
    assert_eq!(vault.app.audit().size().await, log, "no status was logged");
}

#[tokio::test]
async fn forged_shares_and_unknown_events_change_nothing() {
    let (vault, _work, _debts, _token, henk) = world().await;
    let portal = PortalClient::login(&vault, "henk").await;
    let csrf = portal.csrf().await;
    let origin = Some(vault.url.as_str());
    let grants = || async {
        vault
            .app
            .consent()
            .resident_grants(henk)
            .await
            .unwrap()
            .len()
    };
    for (path, share) in [
        ("/portal/events/baan-kwijt/share", "jeugdhulp"),
        ("/portal/events/baan-kwijt/share", "nergens"),
        ("/portal/events/bestaat-niet/share", "werk-en-inkomen"),
    ] {
        let (status, page) = portal
            .post(path, &[("csrf", &csrf), ("share", share)], origin)
            .await;
        assert!(status.is_client_error(), "{path} {share}: {status}");
        assert!(page.contains("<html"), "an error page, not JSON: {page}");
    }
    assert_eq!(grants().await, 0);
    let (status, _, page) = portal.get("/portal/events/bestaat-niet").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("<html"));
    // A forged answer to a question that does not apply is ignored; a forged value for one
    // that does is checked like any other record.
    let (status, page) = portal
        .post(
            "/portal/events/baan-kwijt/save",
            &[("csrf", &csrf), ("a.situatie", "\"op de maan\"")],
            origin,
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    assert!(page.contains("<html"));
    let work = vault
        .app
        .residents()
        .read(henk, "werk.profiel", None)
        .await
        .unwrap();
    assert_eq!(work.version, 1, "nothing was written");
}
