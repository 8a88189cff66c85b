//! Sessions' rules, against the in-memory store: tokens are looked up by digest, idle and
//! absolute timeouts end them, and a logout ends every session of its login.

use super::{Principal, SessionKind, Sessions};
use crate::Error;
use crate::testing::Services;
use SessionKind::{Api, Browser};
use chrono::TimeDelta;

fn is_unauthenticated<T: std::fmt::Debug>(result: crate::Result<T>) -> bool {
    matches!(result, Err(Error::Unauthenticated(_)))
}

#[tokio::test]
async fn a_session_lives_by_use_and_ends_at_its_limits() {
    let s = Services::start().await;
    let sessions: &Sessions = &s.sessions;
    let henk = Principal::Resident(s.resident("henk").await);
    let login = sessions.create(&henk, Browser, "test", None).await.unwrap();
    let session = sessions.resolve(&login.token, Browser).await.unwrap();
    assert_eq!(session.principal, henk);
    assert!(
        s.store
            .session(&crate::crypto::sha256(login.token.as_bytes()))
            .await
            .unwrap()
            .is_some(),
        "the store keys it by the token's digest"
    );
    for bad in ["", "x", &"a".repeat(129)] {
        assert!(
            is_unauthenticated(sessions.resolve(bad, Browser).await),
            "{bad:?}"
        );
    }

    // Used every 29 minutes, it lives on until the absolute limit of 12 hours.
    for _ in 0..24 {
        s.clock.advance(TimeDelta::minutes(29));
        assert!(sessions.resolve(&login.token, Browser).await.is_ok());
    }
    s.clock.advance(TimeDelta::minutes(29));
    assert!(is_unauthenticated(
        sessions.resolve(&login.token, Browser).await
    ));

    // Unused for 30 minutes, it ends.
    let idle = sessions.create(&henk, Browser, "test", None).await.unwrap();
    s.clock.advance(TimeDelta::minutes(30));
    assert!(is_unauthenticated(
        sessions.resolve(&idle.token, Browser).await
    ));
}

#[tokio::test]
async fn a_logout_ends_every_session_of_its_login() {
    let s = Services::start().await;
    let henk = Principal::Resident(s.resident("henk").await);
    let browser = s
        .sessions
        .create(&henk, Browser, "test", None)
        .await
        .unwrap();
    let api = s
        .sessions
        .create(&henk, Api, "test:api-token", Some(&browser.login_id))
        .await
        .unwrap();
    let elsewhere = s
        .sessions
        .create(&henk, Browser, "test", None)
        .await
        .unwrap();
    let session = s.sessions.resolve(&api.token, Api).await.unwrap();
    s.sessions.end(&session).await.unwrap();
    assert!(is_unauthenticated(
        s.sessions.resolve(&browser.token, Browser).await
    ));
    assert!(is_unauthenticated(
        s.sessions.resolve(&api.token, Api).await
    ));
    assert!(
        s.sessions.resolve(&elsewhere.token, Browser).await.is_ok(),
        "another login goes on"
    );
}

#[tokio::test]
async fn a_cookie_is_no_bearer_token_and_a_bearer_token_no_cookie() {
    let s = Services::start().await;
    let henk = Principal::Resident(s.resident("henk").await);
    let browser = s
        .sessions
        .create(&henk, Browser, "test", None)
        .await
        .unwrap();
    let api = s
        .sessions
        .create(&henk, Api, "test:api-token", Some(&browser.login_id))
        .await
        .unwrap();
    assert!(is_unauthenticated(
        s.sessions.resolve(&browser.token, Api).await
    ));
    assert!(is_unauthenticated(
        s.sessions.resolve(&api.token, Browser).await
    ));
    assert_eq!(
        s.sessions
            .resolve(&browser.token, Browser)
            .await
            .unwrap()
            .kind,
        Browser
    );
    assert_eq!(s.sessions.resolve(&api.token, Api).await.unwrap().kind, Api);
}

#[test]
fn a_session_stored_before_kinds_existed_keeps_the_place_it_was_made_for() {
    let old = |method: &str| -> crate::store::SessionRow {
        serde_json::from_value(serde_json::json!({
            "subject": {"kind": "resident", "id": uuid::Uuid::nil()},
            "created_at": "2026-11-01T00:00:00Z",
            "last_seen": "2026-11-01T00:00:00Z",
            "csrf_token": "c",
            "login_method": method,
            "login_id": "l",
        }))
        .unwrap()
    };
    assert_eq!(old("oidc:residents:api-token").kind(), Api);
    assert_eq!(old("oidc:residents").kind(), Browser);
    assert_eq!(old("dev").kind(), Browser);
}

#[tokio::test]
async fn a_person_holds_at_most_the_cap_of_sessions_and_a_new_one_ends_the_oldest() {
    let s = Services::start().await;
    let henk = Principal::Resident(s.resident("henk").await);
    let anna = Principal::Resident(s.resident("anna").await);
    let annas = s
        .sessions
        .create(&anna, Browser, "test", None)
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for _ in 0..super::MAX_SESSIONS_PER_PERSON + 3 {
        s.clock.advance(TimeDelta::seconds(1));
        tokens.push(
            s.sessions
                .create(&henk, Api, "test", None)
                .await
                .unwrap()
                .token,
        );
    }
    let (ended, kept) = tokens.split_at(3);
    for token in ended {
        assert!(
            is_unauthenticated(s.sessions.resolve(token, Api).await),
            "the oldest ended"
        );
    }
    for token in kept {
        assert!(
            s.sessions.resolve(token, Api).await.is_ok(),
            "the newest stay"
        );
    }
    assert!(
        s.sessions.resolve(&annas.token, Browser).await.is_ok(),
        "another person's stays"
    );
}

/// Department authentication on the services' store and clock.
fn department_auth(s: &Services) -> crate::auth::departments::DepartmentAuth {
    let throttle = std::sync::Arc::new(crate::throttle::Throttle::new(
        &crate::config::Limits::default(),
    ));
    crate::auth::departments::DepartmentAuth::new(
        s.store.clone(),
        s.store.clone(),
        s.clock.clone(),
        "https://kluis.test".into(),
        throttle,
    )
}

#[tokio::test]
async fn a_token_id_is_remembered_past_its_end_by_the_margin_and_refused_once_its_end_passed() {
    let s = Services::start().await;
    let auth = department_auth(&s);
    let durable = crate::store::Durability::WithNextWrite;
    let until = s.clock.now() + TimeDelta::seconds(61);
    assert!(
        auth.first_use("dpop", "k", "1", until, durable)
            .await
            .unwrap()
    );
    // A purge within the margin after its end: a slow call, or a node whose clock runs
    // behind, could still be checking a replay of it.
    let margin = crate::auth::departments::REPLAY_MARGIN_SECS;
    s.clock.advance(TimeDelta::seconds(61 + margin - 1));
    auth.purge_replays(s.clock.now()).await.unwrap();
    assert!(
        !auth
            .first_use("dpop", "k", "1", until, durable)
            .await
            .unwrap(),
        "still remembered within the margin"
    );
    assert!(
        !auth
            .first_use("dpop", "k", "2", until, durable)
            .await
            .unwrap(),
        "an id recorded after its token's end is refused: its first use may be forgotten"
    );
}

#[tokio::test]
async fn a_full_store_of_token_ids_refuses_new_ones_until_the_purge() {
    let s = Services::start().await;
    let auth = department_auth(&s).with_replay_cap(2);
    let until = s.clock.now() + TimeDelta::minutes(1);
    let durable = crate::store::Durability::WithNextWrite;
    assert!(
        auth.first_use("dpop", "k", "1", until, durable)
            .await
            .unwrap()
    );
    assert!(
        auth.first_use("dpop", "k", "2", until, durable)
            .await
            .unwrap()
    );
    assert!(
        matches!(
            auth.first_use("dpop", "k", "3", until, durable).await,
            Err(Error::Overloaded)
        ),
        "full: refused, never taken without a record"
    );
    s.clock.advance(TimeDelta::minutes(2));
    assert_eq!(auth.purge_replays(s.clock.now()).await.unwrap(), 2);
    assert!(
        auth.first_use("dpop", "k", "3", until + TimeDelta::minutes(5), durable)
            .await
            .unwrap()
    );
}
