//! Sessions' rules, against the in-memory store: tokens are looked up by digest, idle and
//! absolute timeouts end them, and a logout ends every session of its login.

use super::{Principal, Sessions};
use crate::Error;
use crate::testing::Services;
use chrono::TimeDelta;

fn is_unauthenticated<T: std::fmt::Debug>(result: crate::Result<T>) -> bool {
    matches!(result, Err(Error::Unauthenticated(_)))
}

#[tokio::test]
async fn a_session_lives_by_use_and_ends_at_its_limits() {
    let s = Services::start().await;
    let sessions: &Sessions = &s.sessions;
    let henk = Principal::Resident(s.resident("henk").await);
    let login = sessions.create(&henk, "test", None).await.unwrap();
    let session = sessions.resolve(&login.token).await.unwrap();
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
        assert!(is_unauthenticated(sessions.resolve(bad).await), "{bad:?}");
    }

    // Used every 29 minutes, it lives on until the absolute limit of 12 hours.
    for _ in 0..24 {
        s.clock.advance(TimeDelta::minutes(29));
        assert!(sessions.resolve(&login.token).await.is_ok());
    }
    s.clock.advance(TimeDelta::minutes(29));
    assert!(is_unauthenticated(sessions.resolve(&login.token).await));

    // Unused for 30 minutes, it ends.
    let idle = sessions.create(&henk, "test", None).await.unwrap();
    s.clock.advance(TimeDelta::minutes(30));
    assert!(is_unauthenticated(sessions.resolve(&idle.token).await));
}

#[tokio::test]
async fn a_logout_ends_every_session_of_its_login() {
    let s = Services::start().await;
    let henk = Principal::Resident(s.resident("henk").await);
    let browser = s.sessions.create(&henk, "test", None).await.unwrap();
    let api = s
        .sessions
        .create(&henk, "test:api-token", Some(&browser.login_id))
        .await
        .unwrap();
    let elsewhere = s.sessions.create(&henk, "test", None).await.unwrap();
    let session = s.sessions.resolve(&api.token).await.unwrap();
    s.sessions.end(&session).await.unwrap();
    assert!(is_unauthenticated(s.sessions.resolve(&browser.token).await));
    assert!(is_unauthenticated(s.sessions.resolve(&api.token).await));
    assert!(
        s.sessions.resolve(&elsewhere.token).await.is_ok(),
        "another login goes on"
    );
}
