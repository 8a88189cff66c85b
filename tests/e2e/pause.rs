//! Pausing a grant (issue 17, must-show 4): reads during a pause get `grant_paused`
//! through the SDK and succeed again after a resume; a pause and a revoke racing end in a
//! state the resident sees and the log explains; bad input changes nothing.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::{TestDepartment, TestVault, assert_problem};
use kluis::audit::entry::{Action, Outcome};
use serde_json::json;

const DEBTS: &str = "schulden.overzicht";

/// A vault, the debt counsellors, and Henk (with his debts) who granted them a read.
async fn henk_granted() -> (TestVault, TestDepartment, String, kluis_sdk::Grant) {
    let vault = TestVault::start_in(tempfile::tempdir().unwrap(), kluis::Clock::system()).await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    vault
        .app
        .residents()
        .write(
            &crate::support::ctx(),
            henk,
            DEBTS,
            &json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]}),
        )
        .await
        .unwrap();
    let g = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &[DEBTS],
        json!({}),
    )
    .await;
    (vault, debts, token, g)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_during_a_pause_are_refused_and_succeed_after_the_resume() {
    let (vault, debts, token, g) = henk_granted().await;
    let client = debts.client(&vault);
    client
        .read(&g, &[DEBTS])
        .await
        .expect("a read before the pause");

    // Bad input first: nothing changes.
    let path = format!("/v1/me/grants/{}/pause", g.id);
    for body in [
        json!({}),
        json!({"reason": "bored"}),
        json!({"reason": "other", "until": "tomorrow"}),
    ] {
        let (status, problem) = vault.post(&token, &path, &body).await;
        assert!(status == 400 || status == 422, "{body}: {status} {problem}");
    }
    let (anna, _) = resident_with_bsn(&vault, "anna", BSNS[1]).await;
    assert_problem(
        &vault.post(&anna, &path, &json!({"reason": "other"})).await,
        404,
        "not_found",
    );
    assert_problem(
        &vault
            .post(
                &token,
                &format!("/v1/me/grants/{}/resume", g.id),
                &json!({}),
            )
            .await,
        409,
        "conflict",
    );
    client.read(&g, &[DEBTS]).await.expect("still readable");

    let (status, paused) = vault
        .post(&token, &path, &json!({"reason": "data_incorrect"}))
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["paused"]["reason"], "data_incorrect");
    for _ in 0..3 {
        assert!(
            matches!(
                client.read(&g, &[DEBTS]).await,
                Err(kluis_sdk::Error::Paused)
            ),
            "a read during the pause is refused as paused"
        );
    }
    let listed = client.grants().await.unwrap();
    assert_eq!(
        listed.iter().find(|l| l.id == g.id).map(|l| l.state),
        Some(kluis_sdk::proto::consent::GrantState::Paused),
        "the department sees the pause in its list"
    );
    assert_problem(
        &vault.post(&token, &path, &json!({"reason": "other"})).await,
        409,
        "conflict",
    );

    let (status, resumed) = vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/resume", g.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["state"], "active");
    assert!(resumed.get("paused").is_none(), "{resumed}");
    let read = client
        .read(&g, &[DEBTS])
        .await
        .expect("a read after the resume");
    assert_eq!(read.records.len(), 1);

    // The log: the pause with its reason, three refusals saying why, the resume.
    let audit = vault.app.audit();
    let entries = audit.entries(0, audit.size().await).await.unwrap();
    let about: Vec<_> = entries
        .iter()
        .filter(|e| e.grant == Some(g.id))
        .filter(|e| e.action == Action::Pause || e.action == Action::Read)
        .map(|e| {
            (
                e.action,
                e.outcome,
                e.reason.clone(),
                e.details.get("change").cloned(),
            )
        })
        .collect();
    let read_ok = (Action::Read, Outcome::Allowed, None, None);
    let refused = (
        Action::Read,
        Outcome::Refused,
        Some("grant_paused".to_owned()),
        None,
    );
    assert_eq!(
        about,
        vec![
            read_ok.clone(),
            read_ok.clone(),
            (Action::Pause, Outcome::Done, None, Some("paused".into())),
            refused.clone(),
            refused.clone(),
            refused,
            (Action::Pause, Outcome::Done, None, Some("resumed".into())),
            read_ok,
        ]
    );
}

/// Pause and revoke sent at once, many times: the grant always ends revoked, the pause
/// either happened first (and is logged) or was refused (and is not), and the department
/// can never read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pause_racing_a_revoke_ends_revoked_and_the_log_explains_it() {
    let (vault, debts, token, _) = henk_granted().await;
    let client = debts.client(&vault);
    let mut paused_first = 0;
    for round in 0..12 {
        let g = grant(
            &vault,
            &debts,
            &token,
            BSNS[0],
            "schuldhulp-traject",
            &[DEBTS],
            json!({}),
        )
        .await;
        let pause_path = format!("/v1/me/grants/{}/pause", g.id);
        let revoke_path = format!("/v1/me/grants/{}/revoke", g.id);
        let reason = json!({"reason": "objection_made"});
        let nothing = json!({});
        let (paused, revoked) = tokio::join!(
            vault.post(&token, &pause_path, &reason),
            vault.post(&token, &revoke_path, &nothing),
        );
        assert_eq!(revoked.0, 200, "round {round}: {}", revoked.1);
        assert_eq!(revoked.1["state"], "revoked");
        match paused.0.as_u16() {
            200 => paused_first += 1,
            409 => assert_eq!(paused.1["code"], "conflict"),
            other => panic!("round {round}: pause answered {other}: {}", paused.1),
        }
        let (_, mine) = vault.get(&token, "/v1/me/grants").await;
        let seen = mine
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == g.id.to_string())
            .unwrap()
            .clone();
        assert_eq!(seen["state"], "revoked", "round {round}: {seen}");
        assert!(matches!(
            client.read(&g, &[DEBTS]).await,
            Err(kluis_sdk::Error::Revoked)
        ));
        let audit = vault.app.audit();
        let entries = audit.entries(0, audit.size().await).await.unwrap();
        let pauses = entries
            .iter()
            .filter(|e| e.grant == Some(g.id) && e.action == Action::Pause)
            .count();
        let revocations = entries
            .iter()
            .filter(|e| e.grant == Some(g.id) && e.action == Action::Revocation)
            .count();
        assert_eq!(revocations, 1, "round {round}");
        assert_eq!(
            pauses,
            usize::from(paused.0 == 200),
            "round {round}: a pause is logged exactly when it happened"
        );
    }
    println!("{paused_first} of 12 pauses came first");
}

/// The portal's way: "Tijdelijk stoppen" asks why (and says which field to fill when
/// nothing was chosen, changing nothing), pauses, shows the pause on the grants page with
/// one button that lets it go on; the history tells both in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henk_pauses_and_resumes_in_the_portal() {
    use crate::portal::PortalClient;
    use reqwest::StatusCode;
    let (vault, debts, _, g) = henk_granted().await;
    let client = debts.client(&vault);
    let portal = PortalClient::login(&vault, "henk").await;
    let csrf = portal.csrf().await;
    let (_, _, grants) = portal.get("/portal/grants").await;
    let pause_link = format!("/portal/grants/{}/pause", g.id);
    assert!(grants.contains(&pause_link), "{grants}");
    assert!(grants.contains("Tijdelijk stoppen"));

    let (status, _, page) = portal.get(&pause_link).await;
    assert_eq!(status, StatusCode::OK);
    for reason in [
        "data_incorrect",
        "use_disputed",
        "needed_for_claim",
        "objection_made",
        "other",
    ] {
        assert!(page.contains(&format!("value=\"{reason}\"")), "{reason}");
    }
    assert!(page.contains("Waarom stopt u tijdelijk?"));

    let (status, page) = portal
        .post(&pause_link, &[("csrf", &csrf)], Some(&vault.url))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Kies een reden. Bijvoorbeeld: Mijn gegevens kloppen niet."),
        "{page}"
    );
    assert!(
        page.contains("href=\"#reason-data_incorrect\""),
        "the error points at the field"
    );
    client.read(&g, &[DEBTS]).await.expect("nothing changed");

    let (status, location) = portal
        .post(
            &pause_link,
            &[("csrf", &csrf), ("reason", "use_disputed")],
            Some(&vault.url),
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/portal/grants?done=paused")
    );
    assert!(matches!(
        client.read(&g, &[DEBTS]).await,
        Err(kluis_sdk::Error::Paused)
    ));
    let (_, _, grants) = portal.get("/portal/grants?done=paused").await;
    assert!(
        grants.contains("Het delen is tijdelijk gestopt"),
        "{grants}"
    );
    assert!(
        grants.contains("Uw reden: Ik vind dat de afdeling mijn gegevens niet mag gebruiken."),
        "{grants}"
    );
    assert!(grants.contains(&format!("/portal/grants/{}/resume", g.id)));
    assert!(grants.contains("Weer aanzetten"));

    let (status, location) = portal
        .post(
            &format!("/portal/grants/{}/resume", g.id),
            &[("csrf", &csrf)],
            Some(&vault.url),
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/portal/grants?done=resumed")
    );
    client.read(&g, &[DEBTS]).await.expect("readable again");
    let (_, _, history) = portal.get("/portal/history").await;
    assert!(history.contains("tijdelijk gestopt"), "{history}");
    assert!(history.contains("weer aangezet"), "{history}");

    // Paused, then withdrawn straight away: no need to let it go on first.
    portal
        .post(
            &pause_link,
            &[("csrf", &csrf), ("reason", "other")],
            Some(&vault.url),
        )
        .await;
    let revoke_link = format!("/portal/grants/{}/revoke", g.id);
    let (status, _, confirm) = portal.get(&revoke_link).await;
    assert_eq!(status, StatusCode::OK, "{confirm}");
    let (status, location) = portal
        .post(&revoke_link, &[("csrf", &csrf)], Some(&vault.url))
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/portal/grants?done=revoked")
    );
    assert!(matches!(
        client.read(&g, &[DEBTS]).await,
        Err(kluis_sdk::Error::Revoked)
    ));
}
