//! Delivering events to departments (issue 17, must-shows 2 and 5): by poll, in order,
//! each once after it is acknowledged; by push where a department registered an endpoint,
//! without a down, hanging or refusing endpoint losing an event or slowing a resident's
//! action; durable across a SIGKILL; bad acknowledgements and bad endpoints refused with
//! nothing changed.

use crate::consent::{BSNS, resident_with_bsn};
use crate::signals::{
    ACTIVITY, DEBTS, debt_grant, drain, henk_and_three_teams, jwks, kinds, node_verify,
};
use crate::support::process::VaultProcess;
use crate::support::{TestDepartment, TestVault, assert_problem, client};
use kluis_sdk::{Event, Grant};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

async fn poll(
    vault: &TestVault,
    team: &TestDepartment,
    body: Value,
) -> (reqwest::StatusCode, Value) {
    team.call(vault, Method::POST, "/v1/dept/events", Some(&body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_acknowledgements_are_refused_and_change_nothing() {
    let (vault, token, teams) = henk_and_three_teams().await;
    let (noord, g) = &teams[0];
    let zuid = &teams[1].0;
    let (status, _) = vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/pause", g.id),
            &json!({"reason": "data_incorrect"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, first) = poll(&vault, noord, json!({"maxEvents": 0})).await;
    assert_eq!(status, 200, "{first}");
    assert!(
        first["sets"].as_object().unwrap().is_empty(),
        "maxEvents 0 only acknowledges"
    );
    let (_, waiting) = poll(&vault, noord, json!({})).await;
    let id = waiting["order"][0].as_str().unwrap().to_owned();
    assert_eq!(waiting["moreAvailable"], false);

    // Each refused, naming the fault; the event stays waiting.
    for (body, code) in [
        (json!({"ack": [&id]}), "zuid acknowledges noord's event"),
        (
            json!({"ack": [uuid::Uuid::new_v4().to_string()]}),
            "a forged id",
        ),
        (json!({"ack": ["not-an-id"]}), "a malformed id"),
        (json!({"ack": [&id], "maxEvents": 1000}), "too many events"),
        (
            json!({"setErrs": {&id: {"err": "", "description": "x"}}}),
            "an empty err",
        ),
    ] {
        let team = if code.starts_with("zuid") {
            zuid
        } else {
            noord
        };
        let (status, problem) = poll(&vault, team, body.clone()).await;
        assert_eq!(status, 400, "{code}: {problem}");
        assert_eq!(problem["code"], "invalid_parameter", "{code}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("nothing was acknowledged"),
            "{problem}"
        );
    }
    for body in [
        json!({"ack": [42]}),
        json!({"ack": [&id], "extra": true}),
        json!({"ack": "all"}),
    ] {
        let (status, problem) = poll(&vault, noord, body.clone()).await;
        assert!(status == 400 || status == 422, "{body}: {status} {problem}");
    }
    let unauthenticated = client()
        .post(format!("{}/v1/dept/events", vault.url))
        .json(&json!({"ack": [&id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    // A pause is no erasure request: it cannot be confirmed; nor can another's.
    let (status, problem) = noord
        .call(
            &vault,
            Method::POST,
            &format!("/v1/dept/events/{id}/erasure-confirmation"),
            Some(&json!({})),
        )
        .await;
    assert_problem(&(status, problem), 404, "not_found");

    let (_, again) = poll(&vault, noord, json!({})).await;
    assert_eq!(
        again["order"],
        json!([&id]),
        "still waiting, delivered again"
    );
    let (status, acked) = poll(&vault, noord, json!({"ack": [&id]})).await;
    assert_eq!(status, 200, "{acked}");
    assert!(
        acked["sets"].as_object().unwrap().is_empty(),
        "acknowledged: never again"
    );
    let (status, repeat) = poll(&vault, noord, json!({"ack": [&id]})).await;
    assert_eq!(
        status, 200,
        "acknowledging again (a lost answer) is harmless: {repeat}"
    );
}

/// Events are durable before the resident's action is answered: a SIGKILL right after a
/// share and its revoke loses neither, and the department receives them in order.
#[tokio::test]
async fn events_survive_a_sigkill_between_the_action_and_the_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let url = vault.url.clone();
    let http = client();
    let henk = crate::support::dev_login(&http, &url, "signals-henk").await;
    let share = json!({
        "department": "werk-en-inkomen", "processing_activity": "bijstand-aanvraag",
        "categories": ["inkomen.bronnen"], "duration_days": 30,
    });
    let response = http
        .post(format!("{url}/v1/me/grants"))
        .bearer_auth(&henk)
        .json(&share)
        .send()
        .await
        .unwrap();
    let (status, shared) = crate::support::status_and_json(response).await;
    assert_eq!(status, 201, "{shared}");
    let id = shared["id"].as_str().unwrap().to_owned();
    let response = http
        .post(format!("{url}/v1/me/grants/{id}/revoke"))
        .bearer_auth(&henk)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    vault.kill();

    let _vault = VaultProcess::dev_at(dir.path(), url.trim_start_matches("http://"));
    let key =
        kluis_sdk::DepartmentKey::from_file(dir.path().join("departments/werk-en-inkomen.jwk"))
            .unwrap();
    let sdk = kluis_sdk::Client::new(&url, "werk-en-inkomen", key).unwrap();
    let events: Vec<Event> = drain(&sdk)
        .await
        .into_iter()
        .filter(|e| e.kind.grant().map(|g| g.to_string()) == Some(id.clone()))
        .collect();
    assert_eq!(kinds(&events), ["grant-created", "grant-revoked"]);
}

/// A push endpoint as a department's system runs it: records what arrives and answers
/// `202 Accepted`.
async fn accepting_endpoint() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/kluis/events",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let media = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                kept.lock().unwrap().push((media, body));
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/kluis/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// An endpoint that takes every connection and never answers; counts the connections.
async fn hanging_endpoint() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/kluis/events", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, connections)
}

/// An endpoint nobody listens on.
async fn endpoint_that_is_down() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/kluis/events", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Henk, and a debt-help team that pushes to `endpoint` and holds his grant.
async fn henk_and_a_pushing_team(endpoint: &str) -> (TestVault, String, TestDepartment, Grant) {
    let vault = TestVault::start_in(tempfile::tempdir().unwrap(), kluis::Clock::system()).await;
    let (token, _) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let activities = kluis::dev::demo_departments().remove(1).2;
    let team =
        TestDepartment::register_pushing(&vault, "schuldhulp-push", activities, endpoint).await;
    let g = debt_grant(&vault, &team, &token).await;
    (vault, token, team, g)
}

async fn pause_and_resume(vault: &TestVault, token: &str, grant: &Grant) {
    let path = format!("/v1/me/grants/{}/pause", grant.id);
    let (status, body) = vault.post(token, &path, &json!({"reason": "other"})).await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/v1/me/grants/{}/resume", grant.id);
    let (status, body) = vault.post(token, &path, &json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_whose_push_endpoint_is_down_receives_every_event_by_poll() {
    let endpoint = endpoint_that_is_down().await;
    let (vault, token, team, g) = henk_and_a_pushing_team(&endpoint).await;
    pause_and_resume(&vault, &token, &g).await;
    let share = json!({"department": team.id, "processing_activity": ACTIVITY,
        "categories": [DEBTS], "duration_days": 30});
    let (status, shared) = vault.post(&token, "/v1/me/grants", &share).await;
    assert_eq!(status, 201, "{shared}");
    for id in [g.id.to_string(), shared["id"].as_str().unwrap().to_owned()] {
        let (status, body) = vault
            .post(&token, &format!("/v1/me/grants/{id}/revoke"), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // Give the push task time to try (and fail) a few times.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let client = team.client(&vault);
    let events = drain(&client).await;
    assert_eq!(
        kinds(&events),
        [
            "grant-paused",
            "grant-resumed",
            "grant-created",
            "grant-revoked",
            "grant-revoked"
        ],
        "every event, in the order they happened"
    );
    assert!(
        drain(&client).await.is_empty(),
        "each once: acknowledged, never again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_push_endpoint_does_not_slow_a_revoke() {
    let (endpoint, connections) = hanging_endpoint().await;
    let (vault, token, team, g) = henk_and_a_pushing_team(&endpoint).await;
    pause_and_resume(&vault, &token, &g).await;
    // Wait until the push of the pause hangs.
    for _ in 0..100 {
        if connections.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        connections.load(Ordering::SeqCst) > 0,
        "the vault tried to push"
    );
    let started = std::time::Instant::now();
    let (status, body) = vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/revoke", g.id),
            &json!({}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    println!(
        "revoke with the push endpoint hanging: {} ms",
        took.as_millis()
    );
    // A push waits up to 10 s for an answer; the revoke does not wait for it at all.
    assert!(
        took < std::time::Duration::from_secs(5),
        "the revoke took {took:?} while a push hung"
    );
    let events = drain(&team.client(&vault)).await;
    assert_eq!(
        kinds(&events),
        ["grant-paused", "grant-resumed", "grant-revoked"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_push_endpoint_receives_each_event_as_a_set() {
    let (endpoint, received) = accepting_endpoint().await;
    let (vault, token, team, g) = henk_and_a_pushing_team(&endpoint).await;
    pause_and_resume(&vault, &token, &g).await;
    for _ in 0..200 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let pushed = received.lock().unwrap().clone();
    assert_eq!(pushed.len(), 2, "{pushed:?}");
    let keys = jwks(&vault).await;
    for (media, set) in &pushed {
        assert_eq!(media, "application/secevent+jwt");
        let verified = node_verify(&vault.url, &keys, &team.id, std::slice::from_ref(set));
        assert_eq!(verified[0]["ok"], true, "{}", verified[0]);
    }
    let verified = node_verify(
        &vault.url,
        &keys,
        &team.id,
        &pushed.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
    );
    let types: Vec<String> = verified
        .iter()
        .map(|v| {
            v["claims"]["events"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(
        types,
        [
            "urn:kluis:secevent:grant-paused",
            "urn:kluis:secevent:grant-resumed"
        ]
    );
    assert!(
        drain(&team.client(&vault)).await.is_empty(),
        "pushed and accepted: acknowledged"
    );
}

#[tokio::test]
async fn a_push_endpoint_must_be_https_and_not_the_vault_itself() {
    let vault = TestVault::start_in(tempfile::tempdir().unwrap(), kluis::Clock::system()).await;
    let production = TestVault::start_configured(
        tempfile::tempdir().unwrap(),
        kluis::Clock::system(),
        |config, _| config.dev_login = false,
    )
    .await;
    let activities = kluis::dev::demo_departments().remove(1).2;
    let own = format!("{}/kluis/events", vault.url);
    for (vault, endpoint, why) in [
        (
            &vault,
            "ftp://afdeling.example.nl/events",
            "must be an https URL",
        ),
        (&vault, "afdeling.example.nl/events", "is not a URL"),
        (
            &vault,
            "https://user:secret@afdeling.example.nl/events",
            "may not hold a user name",
        ),
        (&vault, own.as_str(), "points at the vault itself"),
        (
            &production,
            "http://afdeling.example.nl/events",
            "must be an https URL",
        ),
    ] {
        let refused = TestDepartment::try_register(
            vault,
            "wmo",
            "Wmo-loket",
            activities.clone(),
            Some(endpoint),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{endpoint} was accepted"));
        assert!(refused.contains(why), "{endpoint}: {refused}");
        assert!(
            !refused.contains("secret"),
            "the password is not echoed: {refused}"
        );
        assert!(
            vault
                .app
                .consent()
                .departments()
                .await
                .unwrap()
                .iter()
                .all(|d| d.id != "wmo"),
            "nothing was registered"
        );
    }
    TestDepartment::try_register(
        &production,
        "wmo",
        "Wmo-loket",
        activities,
        Some("https://systeem.wmo.example.nl/kluis/events"),
    )
    .await
    .expect("an https endpoint of the department's own system");
}
