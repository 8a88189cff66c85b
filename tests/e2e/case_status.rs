//! "Waar sta ik?" from the department's side (issue 10): a status that does not fit (a
//! grant not held or revoked, an unknown kind or field, a date in the past, hidden
//! characters, a category twice or outside the grant) is refused with nothing stored; the
//! resident's picture fills only the stages that happened; a grant holds at most fifty
//! statuses.

use crate::life_events::world;
use crate::portal::PortalClient;
use crate::support::TestDepartment;
use kluis::consent::grants::SHARES_SETTLE;
use kluis_sdk::proto::cases::{CaseStatus, NewCaseStatus};
use reqwest::Method;
use serde_json::{Value, json};

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
    vault.app.clock().advance(SHARES_SETTLE);
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
        (
            &work,
            json!({"status": {"kind": "received", "x": 1}}),
            400,
            "invalid_json",
        ),
        (
            &work,
            json!({"status": {"kind": "decision_made", "date": "2026-12-08"}}),
            400,
            "invalid_json",
        ),
        (
            &work,
            json!({"status": {"kind": "decision_expected", "by": "2001-01-01"}}),
            400,
            "invalid_parameter",
        ),
        (
            &work,
            json!({"status": {"kind": "appointment_planned", "date": "2026-12-08", "place": "Balie\u{202e}4"}}),
            400,
            "invalid_parameter",
        ),
        (
            &work,
            json!({"status": {"kind": "received"}, "contact": {"desk": "Balie\u{200b}4"}}),
            400,
            "invalid_parameter",
        ),
        (
            &work,
            json!({"status": {"kind": "more_information_needed", "categories": ["werk.profiel", "werk.profiel"]}}),
            400,
            "invalid_parameter",
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
    let log = log + 2; // the revocation, and its notice to the department
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
async fn the_progress_shows_only_what_happened_and_a_grant_holds_at_most_fifty_statuses() {
    let (vault, work, _debts, token, _henk) = world().await;
    vault
        .post(
            &token,
            "/v1/me/life-events/baan-kwijt",
            &json!({"answers": {"mantelzorg": false}, "share_with": ["werk-en-inkomen"]}),
        )
        .await;
    vault.app.clock().advance(SHARES_SETTLE);
    let client = work.client(&vault);
    let grant = client.shares(None).await.unwrap().grants.remove(0);
    let received = NewCaseStatus {
        status: CaseStatus::Received,
        contact: None,
    };
    client.post_status(&grant, &received).await.unwrap();

    // The department has not read anything: "Bekeken" stays open.
    let portal = PortalClient::login(&vault, "henk").await;
    let (_, _, cases) = portal.get("/portal/cases").await;
    assert!(
        cases.contains("Hoe ver is het: Gedeeld, Bezig</title>"),
        "{cases}"
    );
    assert_eq!(
        cases.matches("fill=\"#1e7b34\"").count(),
        2,
        "two stages filled"
    );

    for _ in 1..kluis::cases::MAX_STATUSES_PER_GRANT {
        client.post_status(&grant, &received).await.unwrap();
    }
    let path = format!("/v1/dept/grants/{}/status", grant.id);
    let got = work
        .call(
            &vault,
            Method::POST,
            &path,
            Some(&json!({"status": {"kind": "received"}})),
        )
        .await;
    crate::support::assert_problem(&got, 409, "conflict");
}
