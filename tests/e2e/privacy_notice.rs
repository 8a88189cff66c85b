//! What GDPR art. 13 says a resident must be told (issue 17): every request and share
//! screen names who is responsible, to whom the department passes the data on, how to reach
//! its data protection officer, the resident's rights and where to complain, from the
//! department's registration.

use crate::consent::{BSNS, resident_with_bsn};
use crate::portal::PortalClient;
use crate::support::{TestDepartment, TestVault};
use kluis::dev::DEMO_PRIVACY_OFFICER;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The parts of the notice every such screen shows for `department`.
fn assert_notice(html: &str, department: &str, recipients: &str, what: &str) {
    for expected in [
        "Wie is verantwoordelijk",
        &format!("Gemeente Voorbeeld, {department}"),
        "Aan wie geeft de afdeling gegevens?",
        recipients,
        "Vragen over uw privacy",
        DEMO_PRIVACY_OFFICER,
        "Uw rechten",
        "U mag de toestemming altijd stoppen of tijdelijk stoppen.",
        "https://autoriteitpersoonsgegevens.nl/",
    ] {
        assert!(html.contains(expected), "{what} lacks {expected:?}");
    }
}

#[tokio::test]
async fn request_and_share_screens_say_what_article_13_requires() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register_demo(&vault, "schuldhulpverlening").await;
    TestDepartment::register_demo(&vault, "werk-en-inkomen").await;
    resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let ask = json!({"resident": {"national_id": {"scheme": "bsn", "value": BSNS[0]}}, "processing_activity": "schuldhulp-traject", "categories": ["schulden.overzicht"], "duration_days": 30});
    let (status, asked) = debts
        .call(&vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
        .await;
    assert_eq!(status, 201, "{asked}");
    let portal = PortalClient::login(&vault, "henk").await;

    let request = format!("/portal/requests/{}", asked["id"].as_str().unwrap());
    let (status, _, html) = portal.get(&request).await;
    assert_eq!(status, StatusCode::OK);
    assert_notice(
        &html,
        "Schuldhulpverlening",
        "Uw schuldeisers, alleen als u met een regeling instemt.",
        "the request page",
    );

    let (status, _, html) = portal.get("/portal/events/baan-kwijt/help").await;
    assert_eq!(status, StatusCode::OK);
    assert_notice(
        &html,
        "Werk en Inkomen",
        "Het UWV, als dat nodig is voor uw uitkering.",
        "the life event's share page",
    );
}
