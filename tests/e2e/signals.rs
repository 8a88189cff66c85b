//! Events for departments (issue 17): a correction reaches exactly the departments that
//! read the older version, an erasure reaches every department that may still hold data
//! and the officer sees who confirmed, a revoke arrives before the next read; every event
//! verifies with an independent verifier (Node's crypto, `tests/setverify`) and carries no
//! BSN, value or name; bad acknowledgements change nothing; events survive a SIGKILL.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::{TestDepartment, TestVault, assert_problem, client};
use kluis_sdk::proto::events::EventKind;
use kluis_sdk::{Event, Grant};
use serde_json::{Value, json};

pub(crate) const DEBTS: &str = "schulden.overzicht";
pub(crate) const ACTIVITY: &str = "schuldhulp-traject";

/// Henk (logged in with `token`, BSN on file) grants `team` a read of his debts under the
/// debt-help activity, as the department asked.
pub(crate) async fn debt_grant(vault: &TestVault, team: &TestDepartment, token: &str) -> Grant {
    grant(vault, team, token, BSNS[0], ACTIVITY, &[DEBTS], json!({})).await
}

fn debts(creditor: &str, amount: u32) -> Value {
    json!({"schulden": [{"schuldeiser": creditor, "soort": "huurachterstand", "bedrag": amount}]})
}

/// Every event waiting for `client`, acknowledged (the stream acknowledges what it
/// handed out when it finds no more).
pub(crate) async fn drain(client: &kluis_sdk::Client) -> Vec<Event> {
    let mut events = client.events();
    let mut out = Vec::new();
    while let Some(event) = events.next().await.expect("events verify") {
        out.push(event);
    }
    out
}

/// Whether `word` stands in `text` on its own, not inside a longer run of letters and
/// digits (a random id such as `acbf26285dd6` may hold `2628` by chance).
fn holds_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

pub(crate) fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

/// Verifies `tokens` for `audience` with the independent (Node) verifier.
pub(crate) fn node_verify(
    vault: &str,
    jwks: &Value,
    audience: &str,
    tokens: &[String],
) -> Vec<Value> {
    crate::support::verifiers::verify_sets(vault, jwks, audience, tokens)
}

pub(crate) async fn jwks(vault: &TestVault) -> Value {
    client()
        .get(format!("{}/.well-known/jwks.json", vault.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A vault with Henk's debts and three debt-help teams holding a grant to read them.
pub(crate) async fn henk_and_three_teams() -> (TestVault, String, Vec<(TestDepartment, Grant)>) {
    let vault = TestVault::start_in(tempfile::tempdir().unwrap(), kluis::Clock::system()).await;
    let (token, _) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let path = format!("/v1/me/records/{DEBTS}");
    let (status, body) = vault.put(&token, &path, &debts("Woonkracht", 2628)).await;
    assert_eq!(status, 201, "{body}");
    let mut teams = Vec::new();
    for id in ["schuldhulp-noord", "schuldhulp-zuid", "schuldhulp-oost"] {
        let team = TestDepartment::register(&vault, id).await;
        let g = debt_grant(&vault, &team, &token).await;
        teams.push((team, g));
    }
    (vault, token, teams)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_an_erasure_and_a_revoke_reach_the_departments_that_need_them() {
    let (vault, token, teams) = henk_and_three_teams().await;
    let clients: Vec<_> = teams.iter().map(|(t, _)| t.client(&vault)).collect();
    for (client, (_, g)) in clients.iter().zip(&teams).take(2) {
        client.read(g, &[DEBTS]).await.expect("noord and zuid read");
    }
    for client in &clients {
        assert!(
            drain(client).await.is_empty(),
            "no event before anything changed"
        );
    }

    // Henk corrects his debts: exactly the two teams that read them hear of it.
    let path = format!("/v1/me/records/{DEBTS}");
    let (status, body) = vault.put(&token, &path, &debts("Woonkracht", 1314)).await;
    assert_eq!(status, 201, "{body}");
    let mut all: Vec<(String, String)> = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let events = drain(client).await;
        all.extend(
            events
                .iter()
                .map(|e| (client.department().to_owned(), e.token.clone())),
        );
        if i < 2 {
            assert_eq!(
                kinds(&events),
                ["record-rectified"],
                "{}",
                client.department()
            );
            assert_eq!(
                events[0].kind,
                EventKind::RecordRectified {
                    grant: teams[i].1.id,
                    category: DEBTS.into(),
                    version: 2
                }
            );
            assert_eq!(
                events[0].subject.as_deref(),
                Some(teams[i].1.resident.as_str())
            );
        } else {
            assert!(events.is_empty(), "oost never read the debts: {events:?}");
        }
    }

    // Henk withdraws oost's grant: oost hears it before its next read fails.
    let (status, body) = vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/revoke", teams[2].1.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = drain(&clients[2]).await;
    assert_eq!(kinds(&events), ["grant-revoked"]);
    assert_eq!(
        events[0].kind,
        EventKind::GrantRevoked {
            grant: teams[2].1.id
        }
    );
    all.extend(
        events
            .iter()
            .map(|e| ("schuldhulp-oost".to_owned(), e.token.clone())),
    );
    assert!(matches!(
        clients[2].read(&teams[2].1, &[DEBTS]).await,
        Err(kluis_sdk::Error::Revoked)
    ));

    // Henk erases his vault: every team that had a grant is asked to delete its copy.
    let response = vault
        .http
        .delete(format!("{}/v1/me", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let mut requests = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let events = drain(client).await;
        all.extend(
            events
                .iter()
                .map(|e| (client.department().to_owned(), e.token.clone())),
        );
        let expected: &[&str] = if i < 2 {
            &["grant-revoked", "erasure-requested"]
        } else {
            &["erasure-requested"]
        };
        assert_eq!(kinds(&events), expected, "{}", client.department());
        let request = events.last().unwrap().clone();
        assert_eq!(
            request.kind,
            EventKind::ErasureRequested {
                grant: teams[i].1.id,
                read: None,
                categories: vec![DEBTS.into()]
            }
        );
        requests.push(request);
    }

    // Noord confirms (twice: logged once); the officer sees who did and who did not yet.
    let first = clients[0].confirm_erasure(&requests[0]).await.unwrap();
    let again = clients[0].confirm_erasure(&requests[0]).await.unwrap();
    assert_eq!(first, again, "a repeated confirmation changes nothing");
    assert!(
        matches!(
            clients[1].confirm_erasure(&requests[0]).await,
            Err(kluis_sdk::Error::NotFound(_))
        ),
        "zuid cannot confirm noord's request"
    );
    let officer = vault.officer().await;
    let (status, statuses) = vault.get(&officer, "/v1/officer/erasure-requests").await;
    assert_eq!(status, 200, "{statuses}");
    let statuses = statuses.as_array().unwrap();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    for (request, team) in
        requests
            .iter()
            .zip(["schuldhulp-noord", "schuldhulp-zuid", "schuldhulp-oost"])
    {
        let status = statuses
            .iter()
            .find(|s| s["event"] == request.id.to_string())
            .expect("every request is listed");
        assert_eq!(status["department"], team);
        assert_eq!(
            status["confirmed_at"].is_null(),
            team != "schuldhulp-noord",
            "{status}"
        );
    }
    let audit = vault.app.audit();
    let confirmations = audit
        .entries(0, audit.size().await)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == kluis::audit::entry::Action::ErasureConfirmed)
        .count();
    assert_eq!(confirmations, 1);

    // Every event verifies independently and carries no BSN, value or name.
    let keys = jwks(&vault).await;
    for (department, token) in &all {
        let results = node_verify(&vault.url, &keys, department, std::slice::from_ref(token));
        assert_eq!(results[0]["ok"], true, "{department}: {}", results[0]);
        let claims = results[0]["claims"].to_string();
        for secret in [BSNS[0], "Woonkracht", "2628", "1314", "henk", "Henk"] {
            assert!(
                !holds_word(&claims, secret),
                "an event holds {secret}: {claims}"
            );
        }
    }
    // The verifier can say no: another audience, a changed payload, another key.
    let (department, token) = &all[0];
    let refused = node_verify(
        &vault.url,
        &keys,
        "schuldhulp-elders",
        std::slice::from_ref(token),
    );
    assert_eq!(refused[0]["error"], "aud is not the department");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &parts[1])
            .unwrap(),
    )
    .unwrap();
    claims["iat"] = json!(claims["iat"].as_i64().unwrap() + 1);
    parts[1] = crate::support::department::b64(claims.to_string());
    let forged = parts.join(".");
    let refused = node_verify(&vault.url, &keys, department, &[forged]);
    assert_eq!(refused[0]["error"], "the signature does not verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_asks_for_one_read_to_be_erased_and_sees_the_confirmation() {
    let (vault, token, teams) = henk_and_three_teams().await;
    let (team, g) = &teams[0];
    let sdk = team.client(&vault);
    sdk.read(g, &[DEBTS]).await.unwrap();
    let (_, history) = vault.get(&token, "/v1/me/audit").await;
    let read = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "read" && e["outcome"] == "allowed")
        .expect("the read is in Henk's history")["seq"]
        .as_u64()
        .unwrap();

    // Not a read of Henk's, not a read at all, not a number: refused, nothing sent.
    let (anna, _) = resident_with_bsn(&vault, "anna", BSNS[1]).await;
    let ask = |seq: String| format!("/v1/me/audit/{seq}/erasure-request");
    assert_problem(
        &vault.post(&anna, &ask(read.to_string()), &json!({})).await,
        404,
        "not_found",
    );
    assert_problem(
        &vault.post(&token, &ask("0".into()), &json!({})).await,
        404,
        "not_found",
    );
    assert_problem(
        &vault
            .post(&token, &ask("99999999".into()), &json!({}))
            .await,
        404,
        "not_found",
    );
    let (status, _) = vault.post(&token, &ask("-1".into()), &json!({})).await;
    assert_eq!(status, 400);
    assert!(drain(&sdk).await.is_empty(), "nothing was sent");

    let (status, body) = vault.post(&token, &ask(read.to_string()), &json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_problem(
        &vault.post(&token, &ask(read.to_string()), &json!({})).await,
        409,
        "conflict",
    );
    let events = drain(&sdk).await;
    assert_eq!(
        events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        [EventKind::ErasureRequested {
            grant: g.id,
            read: Some(read),
            categories: vec![DEBTS.into()]
        }]
    );
    assert!(
        drain(&teams[1].0.client(&vault)).await.is_empty(),
        "only the team that read"
    );
    sdk.confirm_erasure(&events[0]).await.unwrap();

    let (_, history) = vault.get(&token, "/v1/me/audit").await;
    let stories: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["summary_nl"].as_str())
        .collect();
    assert!(
        stories
            .iter()
            .any(|s| s.contains("gevraagd deze gegevens te wissen")),
        "{stories:?}"
    );
    assert!(
        stories
            .iter()
            .any(|s| s.contains("heeft deze gegevens gewist")),
        "{stories:?}"
    );
    let asked = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == read)
        .expect("the read is listed");
    assert!(asked["erasure"]["asked_at"].is_string(), "{asked}");
    assert!(asked["erasure"]["confirmed_at"].is_string(), "{asked}");
}
