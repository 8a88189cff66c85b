//! One read attempt, one audit entry (issue 9, must-show 3): whatever happens to a
//! department's read (allowed, or refused for any reason), the log grows by exactly one
//! entry, and that entry says how it ended and why, in the same words the department was
//! told. An attempt in which nothing verified (no grant the vault issued, no department that
//! proved itself) is counted instead, in one entry per source and minute (issue 16).

use crate::support::{TestVault, status_and_json};
use kluis::audit::entry::{Action, Actor, Outcome};
use kluis_proto::consent::CLIENT_ASSERTION_HEADER;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Request headers by name, each value sent as given.
type Headers = Vec<(&'static str, String)>;

/// Runs one attempt and checks the log grew by exactly one entry that matches the answer.
pub(crate) async fn one_entry(
    vault: &TestVault,
    what: &str,
    attempt: impl std::future::Future<Output = (StatusCode, Value)>,
) -> (StatusCode, Value) {
    let audit = vault.app.audit();
    let before = audit.size().await;
    let (status, body) = attempt.await;
    let after = audit.size().await;
    assert_eq!(
        after,
        before + 1,
        "{what}: the attempt wrote {} entries",
        after - before
    );
    let entry = audit.entries(before, after).await.unwrap().remove(0);
    assert_eq!(entry.action, Action::Read, "{what}");
    if status == StatusCode::OK {
        assert_eq!(entry.outcome, Outcome::Allowed, "{what}");
        assert_eq!(entry.reason, None, "{what}");
    } else {
        assert_eq!(entry.outcome, Outcome::Refused, "{what}");
        assert_eq!(
            entry.reason.as_deref(),
            body["code"].as_str(),
            "{what}: the entry's reason is the code the department got"
        );
    }
    (status, body)
}

/// A read request with raw headers: each given header is sent as given (repeated for more
/// than one value).
pub(crate) async fn raw_read(
    vault: &TestVault,
    headers: &[(&str, &str)],
    body: reqwest::Body,
) -> (StatusCode, Value) {
    let mut request = vault
        .http
        .post(format!("{}/v1/dept/read", vault.url))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    status_and_json(request.send().await.unwrap()).await
}

#[tokio::test]
async fn every_read_attempt_writes_exactly_one_entry() {
    let crate::refusals::World {
        vault,
        debts,
        work,
        henk: g,
        anna,
        henk_token,
        henk_id: henk,
    } = crate::refusals::world().await;
    let categories = ["schulden.overzicht"];
    let body = |categories: &[&str]| json!({"resident": g.resident, "categories": categories});
    let proof = || debts.dpop_with(&vault, &g.token, json!({}));
    let assertion = || debts.assertion(&vault);
    let authorization = format!("DPoP {}", g.token);

    // Allowed.
    let (status, _) = one_entry(&vault, "allowed", debts.read(&vault, &g, &categories)).await;
    assert_eq!(status, 200);
    let entry = vault
        .app
        .audit()
        .entries(0, vault.app.audit().size().await)
        .await
        .unwrap();
    let allowed = entry.last().unwrap();
    assert_eq!(
        allowed.resident,
        Some(vault.app.residents().audit_reference(henk))
    );
    assert_eq!(allowed.grant, Some(g.id));

    // Not authenticated: no assertion, a garbage one, one sent twice; or none, with Henk's
    // genuine grant (then the attempt is in Henk's history all the same).
    let cases: Vec<(&str, Headers)> = vec![
        ("no client assertion", vec![]),
        (
            "no client assertion, with a stolen grant",
            vec![("authorization", authorization.clone())],
        ),
        (
            "a garbage client assertion",
            vec![(CLIENT_ASSERTION_HEADER, "not.a.token".into())],
        ),
        (
            "the client assertion twice",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                (CLIENT_ASSERTION_HEADER, assertion()),
            ],
        ),
    ];
    let mut counted = 0;
    for (what, headers) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let stolen = what.ends_with("stolen grant");
        if !stolen {
            let before = vault.app.audit().size().await;
            let (status, answer) =
                raw_read(&vault, &headers, body(&categories).to_string().into()).await;
            assert!(status.is_client_error(), "{what}: {status} {answer}");
            assert_eq!(
                vault.app.audit().size().await,
                before,
                "{what}: counted, not logged on its own"
            );
            counted += 1;
            continue;
        }
        let (status, _) = one_entry(
            &vault,
            what,
            raw_read(&vault, &headers, body(&categories).to_string().into()),
        )
        .await;
        assert!(status.is_client_error(), "{what}: {status}");
        let log = vault.app.audit();
        let last = log
            .entries(log.size().await - 1, log.size().await)
            .await
            .unwrap();
        assert_eq!(last[0].actor, Actor::Unknown, "{what}");
        assert_eq!(last[0].department, None, "{what}");
        assert!(last[0].resident.is_some(), "{what}: in Henk's history");
    }
    // The attempts nothing verified in: one entry for this source once the minute is over.
    let tally = crate::support::counted_refusals(&vault, 0).await;
    assert_eq!(
        (
            tally.action,
            tally.outcome,
            &tally.actor,
            tally.resident.as_ref()
        ),
        (Action::Read, Outcome::Refused, &Actor::Unknown, None)
    );
    assert_eq!(tally.details["count"], counted.to_string());
    assert_eq!(tally.details["source"], "127.0.0.1");

    // Authenticated, but the rest is malformed or missing.
    let proof_now = proof();
    let malformed: Vec<(&str, Headers, String)> = vec![
        (
            "a body that is not JSON",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", authorization.clone()),
                ("dpop", proof()),
            ],
            "{not json".into(),
        ),
        (
            "no grant",
            vec![(CLIENT_ASSERTION_HEADER, assertion()), ("dpop", proof())],
            body(&categories).to_string(),
        ),
        (
            "the grant as a bearer token",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", format!("Bearer {}", g.token)),
                ("dpop", proof()),
            ],
            body(&categories).to_string(),
        ),
        (
            "a forged grant",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", "DPoP eyJhbGciOiJFUzI1NiJ9.e30.AAAA".into()),
                ("dpop", proof()),
            ],
            body(&categories).to_string(),
        ),
        (
            "no DPoP proof",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", authorization.clone()),
            ],
            body(&categories).to_string(),
        ),
        (
            "a proof by another key",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", authorization.clone()),
                ("dpop", work.dpop_with(&vault, &g.token, json!({}))),
            ],
            body(&categories).to_string(),
        ),
        (
            "a proof used for an allowed read first",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", authorization.clone()),
                ("dpop", proof_now.clone()),
            ],
            body(&categories).to_string(),
        ),
        (
            "the same proof again",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", authorization.clone()),
                ("dpop", proof_now.clone()),
            ],
            body(&categories).to_string(),
        ),
        (
            "another resident's grant",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", format!("DPoP {}", anna.token)),
                ("dpop", debts.dpop_with(&vault, &anna.token, json!({}))),
            ],
            body(&categories).to_string(),
        ),
        (
            "a category outside the grant",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", authorization.clone()),
                ("dpop", proof()),
            ],
            body(&["schulden.overzicht", "inkomen.bronnen"]).to_string(),
        ),
        (
            "nothing asked",
            vec![
                (CLIENT_ASSERTION_HEADER, assertion()),
                ("authorization", authorization.clone()),
                ("dpop", proof()),
            ],
            body(&[]).to_string(),
        ),
        (
            "another department presenting the grant",
            vec![
                (CLIENT_ASSERTION_HEADER, work.assertion(&vault)),
                ("authorization", authorization.clone()),
                ("dpop", work.dpop_with(&vault, &g.token, json!({}))),
            ],
            body(&categories).to_string(),
        ),
    ];
    let mut codes = Vec::new();
    let henk_reference = vault.app.residents().audit_reference(henk);
    for (what, headers, body) in malformed {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let presents_henks_grant = headers
            .iter()
            .any(|(name, value)| *name == "authorization" && *value == authorization);
        let (status, answer) =
            one_entry(&vault, what, raw_read(&vault, &headers, body.into())).await;
        // Every attempt with Henk's genuine grant is in his history, whoever made it and
        // whatever was wrong with it; no other attempt is.
        let size = vault.app.audit().size().await;
        let entry = vault
            .app
            .audit()
            .entries(size - 1, size)
            .await
            .unwrap()
            .remove(0);
        if presents_henks_grant {
            assert_eq!(entry.resident.as_ref(), Some(&henk_reference), "{what}");
            assert_eq!(entry.grant, Some(g.id), "{what}");
        } else {
            assert_ne!(entry.resident.as_ref(), Some(&henk_reference), "{what}");
        }
        codes.push((what, status, answer["code"].clone()));
    }
    let expected = [
        ("a body that is not JSON", 400, "invalid_json"),
        ("no grant", 401, "invalid_grant"),
        ("the grant as a bearer token", 401, "invalid_grant"),
        ("a forged grant", 401, "invalid_grant"),
        ("no DPoP proof", 401, "invalid_dpop_proof"),
        ("a proof by another key", 401, "invalid_dpop_proof"),
        ("a proof used for an allowed read first", 200, "null"),
        ("the same proof again", 401, "invalid_dpop_proof"),
        ("another resident's grant", 401, "invalid_grant"),
        ("a category outside the grant", 403, "out_of_scope"),
        ("nothing asked", 400, "invalid_parameter"),
        (
            "another department presenting the grant",
            401,
            "invalid_grant",
        ),
    ];
    for ((what, status, code), (want_what, want_status, want_code)) in codes.iter().zip(expected) {
        assert_eq!(*what, want_what);
        assert_eq!(status.as_u16(), want_status, "{what}: {code}");
        assert_eq!(code.to_string().trim_matches('"'), want_code, "{what}");
    }

    // Time and the resident's decision: not yet valid, expired, revoked, and a disabled
    // department.
    let read = || debts.read(&vault, &g, &categories);
    vault.app.clock().advance(chrono::TimeDelta::hours(-1));
    assert_eq!(
        one_entry(&vault, "not yet valid", read()).await.1["code"],
        "grant_not_yet_valid"
    );
    vault
        .app
        .clock()
        .advance(chrono::TimeDelta::hours(1) + chrono::TimeDelta::days(91));
    assert_eq!(
        one_entry(&vault, "expired", read()).await.1["code"],
        "grant_expired"
    );
    vault.app.clock().advance(-chrono::TimeDelta::days(91));
    let (status, _) = vault
        .post(
            &henk_token,
            &format!("/v1/me/grants/{}/revoke", g.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, revoked) = one_entry(&vault, "revoked", read()).await;
    assert_eq!(revoked["code"], "grant_revoked");
    vault
        .app
        .consent()
        .set_department_disabled(
            &crate::support::ctx(),
            Actor::Operator,
            "schuldhulpverlening",
            true,
        )
        .await
        .unwrap();
    let (_, disabled) = one_entry(&vault, "disabled department", read()).await;
    assert_eq!(disabled["code"], "department_disabled");
}
