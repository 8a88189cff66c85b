// Long: requests, grants and reads are one flow; its tests share the helpers other files use.
//! Consent flows over HTTP: requests by BSN and by reference, partial approval, declines,
//! grants on the resident's own initiative, activity versions, disabling a department.

use crate::support::{TestDepartment, TestVault, assert_problem};
use kluis_sdk::Grant;
use reqwest::Method;
use serde_json::{Value, json};

pub const BSNS: [&str; 4] = ["999993653", "999990019", "999991905", "123456782"];

/// A department asks `resident` (by BSN) for `categories` under `activity`; the resident
/// approves with `approval`; returns the grant as the department receives it.
pub async fn grant(
    vault: &TestVault,
    department: &TestDepartment,
    resident_token: &str,
    bsn: &str,
    activity: &str,
    categories: &[&str],
    approval: Value,
) -> Grant {
    let ask = json!({
        "resident": {"national_id": {"scheme": "bsn", "value": bsn}},
        "processing_activity": activity, "categories": categories, "duration_days": 90,
    });
    let (status, created) = department
        .call(vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, body) = vault
        .post(
            resident_token,
            &format!("/v1/me/requests/{id}/approve"),
            &approval,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, decided) = department
        .call(
            vault,
            Method::GET,
            &format!("/v1/dept/access-requests/{id}"),
            None,
        )
        .await;
    assert_eq!(decided["state"], "approved");
    serde_json::from_value(decided["grant"].clone()).unwrap()
}

/// A resident logged in with a BSN on file.
pub async fn resident_with_bsn(
    vault: &TestVault,
    subject: &str,
    bsn: &str,
) -> (String, uuid::Uuid) {
    let (token, id) = vault.resident(subject).await;
    vault
        .app
        .residents()
        .set_national_id(id, "bsn", bsn)
        .await
        .unwrap();
    (token, id)
}

#[tokio::test]
async fn a_request_by_bsn_waits_for_the_resident_and_is_explained_plainly() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    // Asked before the resident has a vault: it waits for them.
    let ask = json!({
        "resident": {"national_id": {"scheme": "bsn", "value": BSNS[1]}},
        "processing_activity": "schuldhulp-traject",
        "categories": ["schulden.overzicht", "inkomen.bronnen"], "duration_days": 365,
    });
    let (status, created) = debts
        .call(&vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["state"], "pending");
    let (token, _) = resident_with_bsn(&vault, "anna", BSNS[1]).await;
    let (_, open) = vault.get(&token, "/v1/me/requests").await;
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1);
    let summary = open[0]["summary_nl"].as_str().unwrap();
    for expected in [
        "Afdeling schuldhulpverlening vraagt om",
        "Mijn schulden",
        "Mijn inkomen",
        "Wet gemeentelijke schuldhulpverlening",
        "1 jaar",
        "5 jaar",
        "stoppen",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} missing from {summary}"
        );
    }
    assert_eq!(open[0]["processing_activity"]["retention_days"], 1825);
    assert!(!summary.contains(BSNS[1]), "the BSN never appears");

    // Partial approval: fewer categories, shorter.
    let id = open[0]["id"].as_str().unwrap();
    let approval = json!({"categories": ["inkomen.bronnen"], "duration_days": 30});
    let (status, granted) = vault
        .post(&token, &format!("/v1/me/requests/{id}/approve"), &approval)
        .await;
    assert_eq!(status, 201);
    assert_eq!(granted["categories"].as_array().unwrap().len(), 1);
    assert_eq!(granted["state"], "active");
    // Deciding twice is a conflict; the first decision stands.
    assert_problem(
        &vault
            .post(&token, &format!("/v1/me/requests/{id}/decline"), &json!({}))
            .await,
        409,
        "conflict",
    );
    let (_, status) = debts
        .call(
            &vault,
            Method::GET,
            &format!("/v1/dept/access-requests/{id}"),
            None,
        )
        .await;
    assert_eq!(status["state"], "approved");
    assert_eq!(status["grant"]["categories"], json!(["inkomen.bronnen"]));
    let (_, open) = vault.get(&token, "/v1/me/requests").await;
    assert_eq!(open, json!([]), "a decided request is no longer open");
    let (_, all) = vault.get(&token, "/v1/me/requests?all=true").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_problem(
        &vault.get(&token, "/v1/me/requests?all=maybe").await,
        400,
        "invalid_parameter",
    );

    // A later request names Anna by the pairwise reference from the grant.
    let reference = status["grant"]["resident"].as_str().unwrap();
    let again = json!({"resident": {"reference": reference}, "processing_activity": "schuldhulp-traject", "categories": ["schulden.overzicht"], "duration_days": 30});
    let (status, _) = debts
        .call(
            &vault,
            Method::POST,
            "/v1/dept/access-requests",
            Some(&again),
        )
        .await;
    assert_eq!(status, 201);
    let (_, open) = vault.get(&token, "/v1/me/requests").await;
    assert_eq!(open.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn departments_can_only_ask_within_their_own_activities() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let ask = |activity: &str, categories: Value, days: u32, resident: Value| json!({"resident": resident, "processing_activity": activity, "categories": categories, "duration_days": days});
    let bsn = json!({"national_id": {"scheme": "bsn", "value": BSNS[0]}});
    let cases = [
        (
            ask(
                "schuldhulp-traject",
                json!(["zorg.ondersteuningsbehoefte"]),
                30,
                bsn.clone(),
            ),
            403,
            "out_of_scope",
        ),
        (
            ask(
                "schuldhulp-traject",
                json!(["schulden.onbekend"]),
                30,
                bsn.clone(),
            ),
            404,
            "unknown_category",
        ),
        (
            ask("schuldhulp-traject", json!([]), 30, bsn.clone()),
            400,
            "invalid_parameter",
        ),
        (
            ask(
                "schuldhulp-traject",
                json!(["schulden.overzicht", "schulden.overzicht"]),
                30,
                bsn.clone(),
            ),
            400,
            "invalid_parameter",
        ),
        (
            ask(
                "bijstand-aanvraag",
                json!(["schulden.overzicht"]),
                30,
                bsn.clone(),
            ),
            404,
            "not_found",
        ),
        (
            ask(
                "schuldhulp-traject",
                json!(["schulden.overzicht"]),
                0,
                bsn.clone(),
            ),
            400,
            "invalid_parameter",
        ),
        (
            ask(
                "schuldhulp-traject",
                json!(["schulden.overzicht"]),
                731,
                bsn.clone(),
            ),
            400,
            "invalid_parameter",
        ),
        (
            ask(
                "schuldhulp-traject",
                json!(["schulden.overzicht"]),
                30,
                json!({"national_id": {"scheme": "bsn", "value": "999993654"}}),
            ),
            400,
            "invalid_parameter",
        ),
        (
            ask(
                "schuldhulp-traject",
                json!(["schulden.overzicht"]),
                30,
                json!({"national_id": {"scheme": "ssn", "value": BSNS[0]}}),
            ),
            400,
            "invalid_parameter",
        ),
        (
            ask(
                "schuldhulp-traject",
                json!(["schulden.overzicht"]),
                30,
                json!({"reference": "never-issued"}),
            ),
            404,
            "not_found",
        ),
    ];
    for (body, status, code) in cases {
        let got = debts
            .call(
                &vault,
                Method::POST,
                "/v1/dept/access-requests",
                Some(&body),
            )
            .await;
        assert_problem(&got, status, code);
        assert!(
            !got.1.to_string().contains("999993654"),
            "the BSN is echoed: {}",
            got.1
        );
    }
}

#[tokio::test]
async fn a_declined_request_gives_no_grant_and_the_sdk_says_declined() {
    let vault = TestVault::start_now().await;
    let youth = TestDepartment::register(&vault, "jeugdhulp").await;
    let (token, _) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let client = youth.client(&vault);
    let asked = client
        .request_access(&kluis_sdk::proto::consent::NewAccessRequest {
            resident: kluis_sdk::proto::consent::ResidentIdentifier::NationalId {
                scheme: "bsn".into(),
                value: BSNS[0].into(),
            },
            processing_activity: "ondersteuning-gezin".into(),
            categories: vec!["kinderen.situatie".into()],
            duration_days: 30,
        })
        .await
        .unwrap();
    let pending = client.request_status(asked.id).await.unwrap();
    assert_eq!(
        pending.state,
        kluis_sdk::proto::consent::RequestState::Pending
    );
    assert!(pending.grant.is_none());
    let timeout = client
        .wait_for_decision(
            asked.id,
            std::time::Duration::from_millis(20),
            std::time::Duration::from_millis(60),
        )
        .await;
    assert!(
        matches!(timeout, Err(kluis_sdk::Error::Timeout)),
        "{timeout:?}"
    );
    let (status, _) = vault
        .post(
            &token,
            &format!("/v1/me/requests/{}/decline", asked.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let decided = client
        .wait_for_decision(
            asked.id,
            std::time::Duration::from_millis(20),
            std::time::Duration::from_secs(5),
        )
        .await;
    assert!(
        matches!(decided, Err(kluis_sdk::Error::Declined)),
        "{decided:?}"
    );
    assert!(client.grants().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_resident_can_grant_on_their_own_initiative() {
    let vault = TestVault::start_now().await;
    let work = TestDepartment::register(&vault, "werk-en-inkomen").await;
    let (token, id) = vault.resident("henk").await;
    vault
        .app
        .residents()
        .write(
            &crate::support::ctx(),
            id,
            "werk.profiel",
            &json!({"situatie": "werkzoekend"}),
        )
        .await
        .unwrap();
    let (_, departments) = vault.get(&token, "/v1/departments").await;
    assert_eq!(departments[0]["id"], "werk-en-inkomen");
    let offer = json!({"department": "werk-en-inkomen", "processing_activity": "re-integratie", "categories": ["werk.profiel"], "duration_days": 60});
    let (status, granted) = vault.post(&token, "/v1/me/grants", &offer).await;
    assert_eq!(status, 201, "{granted}");
    let outside = json!({"department": "werk-en-inkomen", "processing_activity": "re-integratie", "categories": ["schulden.overzicht"], "duration_days": 60});
    assert_problem(
        &vault.post(&token, "/v1/me/grants", &outside).await,
        403,
        "out_of_scope",
    );

    let client = work.client(&vault);
    let grants = client.grants().await.unwrap();
    assert_eq!(grants.len(), 1);
    let read = client.read(&grants[0], &["werk.profiel"]).await.unwrap();
    assert_eq!(read.records[0].data["situatie"], "werkzoekend");
    assert_eq!(read.grant_id.to_string(), granted["id"].as_str().unwrap());
}

#[tokio::test]
async fn a_new_activity_version_never_widens_an_old_grant() {
    let vault = TestVault::start_now().await;
    let mut activities = kluis::dev::demo_departments().remove(1).2;
    activities[0].categories = vec!["schulden.overzicht".into()];
    activities[0].writes.clear();
    let debts =
        TestDepartment::register_with(&vault, "schuldhulpverlening", activities.clone()).await;
    let (token, id) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    vault
        .app
        .residents()
        .write(
            &crate::support::ctx(),
            id,
            "inkomen.bronnen",
            &json!({"bronnen": []}),
        )
        .await
        .unwrap();
    let old = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    assert_eq!(old.processing_activity.version, 1);

    // Version 2 of the activity adds income. The old grant does not grow with it.
    activities[0].categories.push("inkomen.bronnen".into());
    let spec = kluis_proto::consent::DepartmentSpec {
        id: "schuldhulpverlening".into(),
        name: "Afdeling schuldhulpverlening".into(),
        jwks: json!({"keys": [debts.key.public_jwk()]}),
        processing_activities: activities,
        privacy_officer: kluis::dev::DEMO_PRIVACY_OFFICER.into(),
        events_endpoint: None,
    };
    let info = vault
        .app
        .consent()
        .register_department(
            &crate::support::ctx(),
            kluis::audit::entry::Actor::Operator,
            &spec,
        )
        .await
        .unwrap();
    assert_eq!(info.processing_activities[0].version, 2);
    assert_problem(
        &debts.read(&vault, &old, &["inkomen.bronnen"]).await,
        403,
        "out_of_scope",
    );
    let new = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht", "inkomen.bronnen"],
        json!({}),
    )
    .await;
    assert_eq!(new.processing_activity.version, 2);
    assert_eq!(debts.read(&vault, &new, &["inkomen.bronnen"]).await.0, 200);
    // Registering the same content again changes nothing.
    let again = vault
        .app
        .consent()
        .register_department(
            &crate::support::ctx(),
            kluis::audit::entry::Actor::Operator,
            &spec,
        )
        .await
        .unwrap();
    assert_eq!(again.processing_activities[0].version, 2);
}

#[tokio::test]
async fn disabling_a_department_stops_its_reads_at_once() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, _) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let g = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    assert_eq!(debts.read(&vault, &g, &["schulden.overzicht"]).await.0, 200);
    vault
        .app
        .consent()
        .set_department_disabled(
            &crate::support::ctx(),
            kluis::audit::entry::Actor::Operator,
            "schuldhulpverlening",
            true,
        )
        .await
        .unwrap();
    let got = debts.read(&vault, &g, &["schulden.overzicht"]).await;
    assert_problem(&got, 403, "department_disabled");
    assert!(got.1.get("records").is_none());
    let client = debts.client(&vault);
    assert!(matches!(
        client.grants().await,
        Err(kluis_sdk::Error::Disabled)
    ));
    let (_, departments) = vault.get(&token, "/v1/departments").await;
    assert_eq!(
        departments,
        json!([]),
        "residents are not offered a disabled department"
    );
    vault
        .app
        .consent()
        .set_department_disabled(
            &crate::support::ctx(),
            kluis::audit::entry::Actor::Operator,
            "schuldhulpverlening",
            false,
        )
        .await
        .unwrap();
    assert_eq!(debts.read(&vault, &g, &["schulden.overzicht"]).await.0, 200);
}

#[tokio::test]
async fn the_sdk_says_unavailable_when_the_vault_is_down() {
    // A socket bound but never listening: the port stays this test's (no other test can
    // take it meanwhile) and every connection to it is refused.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    let (private, _) = kluis::jose::keys::generate_department_jwk("x-1").unwrap();
    let client = kluis_sdk::Client::new(
        &url,
        "x",
        kluis_sdk::DepartmentKey::from_jwk(&private).unwrap(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = client.grants().await.unwrap_err();
    assert!(
        matches!(err, kluis_sdk::Error::Unavailable(_)) && err.is_transient(),
        "{err:?}"
    );
    // Status calls are retried (twice, with backoff) before giving up.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(400),
        "not retried"
    );
    let started = std::time::Instant::now();
    let ask = kluis_sdk::proto::consent::NewAccessRequest {
        resident: kluis_sdk::proto::consent::ResidentIdentifier::Reference("r".into()),
        processing_activity: "a".into(),
        categories: vec!["werk.profiel".into()],
        duration_days: 1,
    };
    assert!(matches!(
        client.request_access(&ask).await,
        Err(kluis_sdk::Error::Unavailable(_))
    ));
    assert!(
        started.elapsed() < std::time::Duration::from_millis(400),
        "request_access must not be retried"
    );
}
