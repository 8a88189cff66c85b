//! Life events and "Waar sta ik?" over the API and the portal's forms (issue 10): Henk
//! starts from losing his job, confirms what his vault holds, shares with both departments
//! that can help, they read exactly that, one posts where his case stands; a bad answer
//! stores none of the answers; a forged share or an unknown event changes nothing; the
//! shares feed lists every share exactly once. (Refused statuses: `case_status`.)

use crate::portal::PortalClient;
use crate::support::{TestDepartment, TestVault, ctx};
use kluis::consent::grants::SHARES_SETTLE;
use kluis_sdk::proto::cases::{CaseStatus, NewCaseStatus};
use kluis_sdk::proto::consent::OwnInitiativeGrant;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A vault with the two departments that help with job loss, and Henk's demo situation.
/// (Also the world of `case_status`.)
pub async fn world() -> (
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
    vault.app.clock().advance(SHARES_SETTLE);
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

#[tokio::test]
async fn the_feed_lists_every_share_once_even_when_read_within_the_second_it_was_made() {
    let (vault, work, _debts, _token, henk) = world().await;
    let client = work.client(&vault);
    let share = OwnInitiativeGrant {
        department: "werk-en-inkomen".into(),
        processing_activity: "bijstand-aanvraag".into(),
        categories: vec!["inkomen.bronnen".into()],
        duration_days: 30,
    };
    // The vault's clock stands still: every share is made in the same second, and the
    // department reads its feed between them.
    let (mut made, mut seen) = (BTreeSet::new(), BTreeSet::new());
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let view = vault
            .app
            .consent()
            .grant_own_initiative(&ctx(), henk, &share)
            .await
            .unwrap();
        made.insert(view.id);
        let page = client.shares(cursor.as_deref()).await.unwrap();
        assert!(
            page.grants.is_empty(),
            "a share of this second is not listed yet"
        );
        cursor = Some(page.cursor);
    }
    vault.app.clock().advance(SHARES_SETTLE);
    let page = client.shares(cursor.as_deref()).await.unwrap();
    for grant in page.grants {
        assert!(seen.insert(grant.id), "{} listed twice", grant.id);
    }
    assert_eq!(seen, made, "every share listed");
    let after = client.shares(Some(&page.cursor)).await.unwrap();
    assert!(after.grants.is_empty(), "nothing twice");
}

#[tokio::test]
async fn a_bad_answer_in_any_category_stores_none_of_the_answers() {
    let (vault, _work, _debts, _henk_token, _henk) = world().await;
    // A resident whose vault is empty: every answer would be new.
    let (token, henk) = vault.resident("piet").await;
    let before = vault.app.residents().overview(henk).await.unwrap();
    let log = vault.app.audit().size().await;
    // The first categories' answers are fine; the last one is not a yes or no.
    let got = vault
        .post(
            &token,
            "/v1/me/life-events/baan-kwijt",
            &json!({
                "answers": {"situatie": "werkend", "laatste-werk": "Bakker", "woonvorm": "koopwoning", "mantelzorg": "ja"},
                "share_with": ["werk-en-inkomen"]
            }),
        )
        .await;
    assert_eq!(got.0, 422, "{}", got.1);
    assert_eq!(vault.app.residents().overview(henk).await.unwrap(), before);
    assert_eq!(vault.app.audit().size().await, log, "nothing logged");
    assert!(
        vault
            .app
            .consent()
            .resident_grants(henk)
            .await
            .unwrap()
            .is_empty()
    );
}
