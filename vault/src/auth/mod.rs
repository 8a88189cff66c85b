//! Who is calling: sessions for logged-in people, and the logins that create them.
//!
//! `auth` answers "who is this?" with a [`Principal`]; it never decides what that
//! principal may see (that is `consent`). A login, of whatever kind, ends in
//! [`Sessions::create`]: a random token whose SHA-256 keys a server-side session, so the
//! store never holds a usable token. A session is of one [`SessionKind`]: a browser's token
//! travels only in the `kluis_session` cookie (the portal), an API client's only as a bearer
//! token, and neither is accepted in the other's place, so a stolen cookie is no API key and
//! a leaked API token opens no portal.
//!
//! - [`departments`]: department authentication by client assertion.
//! - [`officers`]: operator-issued privacy-officer credentials.
//! - [`coaches`]: the operator's list of coaches, matched to staff logins.
//! - [`oidc`]: logins through OpenID Providers (residents and staff).
//! - [`dev_login`]: the clearly marked development login of `kluis dev`.

pub mod coaches;
pub mod departments;
pub mod dev_login;
pub mod officers;
pub mod oidc;

use crate::clock::Clock;
use crate::crypto::{random_token, sha256};
use crate::residents::ResidentId;
pub use crate::store::SessionKind;
use crate::store::{SessionRow, SessionStore, SessionSubject};
use crate::{Error, Result};
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::time::Duration;

/// The name of the session cookie: distinct, because cookies ignore ports and a test
/// machine runs several services on one host.
pub const SESSION_COOKIE: &str = "kluis_session";

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A logged-in resident.
    Resident(ResidentId),
    /// A privacy officer (operator-issued credential, or a staff login).
    Officer(officers::OfficerPrincipal),
    /// A coach (a staff login on the operator's list).
    Coach(coaches::CoachPrincipal),
}

/// Sessions one person holds at most: a new one past it ends their oldest, so that logins
/// and API tokens minted from them cannot grow the store without bound.
pub const MAX_SESSIONS_PER_PERSON: usize = 20;

/// A live session, as resolved from a token.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who is logged in.
    pub principal: Principal,
    /// The digest that keys the session in the store.
    pub token_hash: [u8; 32],
    /// The session's CSRF token, for forms.
    pub csrf_token: String,
    /// How the login happened (`dev`, `oidc:<provider>`).
    pub login_method: String,
    /// The login it belongs to.
    pub login_id: String,
    /// Where its token is accepted.
    pub kind: SessionKind,
}

/// A freshly created session: the token is shown to the client once, here.
pub struct NewSession {
    /// The bearer token / cookie value.
    pub token: String,
    /// When it expires at the latest.
    pub expires_at: DateTime<Utc>,
    /// The login it belongs to (more sessions can join it, such as an API token).
    pub login_id: String,
}

/// Creates, resolves and ends sessions, enforcing idle and absolute timeouts.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    clock: Clock,
    idle: TimeDelta,
    absolute: TimeDelta,
}

impl Sessions {
    /// A session service with the given timeouts.
    pub fn new(
        store: Arc<dyn SessionStore>,
        clock: Clock,
        idle: Duration,
        absolute: Duration,
    ) -> Sessions {
        let delta = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::hours(1));
        Sessions {
            store,
            clock,
            idle: delta(idle),
            absolute: delta(absolute),
        }
    }

    /// Starts a session of `kind` for `principal`: a new login, or one more session of an
    /// existing login (`login_id`), which ends with it.
    pub async fn create(
        &self,
        principal: &Principal,
        kind: SessionKind,
        login_method: &str,
        login_id: Option<&str>,
    ) -> Result<NewSession> {
        let token = random_token()?;
        let now = self.clock.now();
        let subject: SessionSubject = match principal {
            Principal::Resident(id) => SessionSubject::Resident { id: *id },
            Principal::Officer(officer) => SessionSubject::Officer {
                id: officer.id.clone(),
                name: officer.name.clone(),
            },
            Principal::Coach(coach) => SessionSubject::Coach {
                id: coach.id.clone(),
                name: coach.name.clone(),
                department: coach.department.clone(),
            },
        };
        let login_id = match login_id {
            Some(id) => id.to_owned(),
            None => random_token()?,
        };
        let row = SessionRow {
            subject,
            created_at: now,
            last_seen: now,
            csrf_token: random_token()?,
            login_method: login_method.to_owned(),
            kind: Some(kind),
            login_id: login_id.clone(),
        };
        let token_hash = sha256(token.as_bytes());
        self.store.put_session(&token_hash, &row).await?;
        let held = self.store.sessions_of(&row.subject.key()).await?;
        for (oldest, _) in held
            .iter()
            .filter(|(hash, _)| *hash != token_hash)
            .take(held.len().saturating_sub(MAX_SESSIONS_PER_PERSON))
        {
            self.store.delete_session(oldest).await?;
        }
        Ok(NewSession {
            token,
            expires_at: now + self.absolute,
            login_id,
        })
    }

    /// The live session of `kind` behind `token`, or `Unauthenticated`; a session of the
    /// other kind is refused with the same answer as an unknown one. Uses count as activity.
    pub async fn resolve(&self, token: &str, kind: SessionKind) -> Result<Session> {
        if token.is_empty() || token.len() > 128 {
            return Err(Error::Unauthenticated("the session token is malformed"));
        }
        let token_hash = sha256(token.as_bytes());
        let row = self
            .store
            .session(&token_hash)
            .await?
            .filter(|row| row.kind() == kind)
            .ok_or(Error::Unauthenticated(
                "the session does not exist or has ended; log in again",
            ))?;
        let now = self.clock.now();
        if now - row.created_at >= self.absolute || now - row.last_seen >= self.idle {
            self.store.delete_session(&token_hash).await?;
            return Err(Error::Unauthenticated(
                "the session has expired; log in again",
            ));
        }
        // Touch at most once a minute: a read-mostly portal should not write on every hit.
        if now - row.last_seen >= TimeDelta::minutes(1) {
            self.store.touch_session(&token_hash, now).await?;
        }
        let principal = match row.subject {
            SessionSubject::Resident { id } => Principal::Resident(id),
            SessionSubject::Officer { id, name } => {
                Principal::Officer(officers::OfficerPrincipal { id, name })
            }
            SessionSubject::Coach {
                id,
                name,
                department,
            } => Principal::Coach(coaches::CoachPrincipal {
                id,
                name,
                department,
            }),
        };
        Ok(Session {
            principal,
            token_hash,
            csrf_token: row.csrf_token,
            kind,
            login_method: row.login_method,
            login_id: row.login_id,
        })
    }

    /// Forgets sessions that ended by their idle or absolute timeout but were never
    /// presented again (which would have removed them); returns how many.
    pub async fn purge_expired(&self) -> Result<usize> {
        let now = self.clock.now();
        Ok(self
            .store
            .purge_sessions(now - self.idle, now - self.absolute)
            .await?)
    }

    /// How many sessions are held (those that timed out are purged once a minute).
    pub async fn count(&self) -> Result<usize> {
        Ok(self.store.session_count().await?)
    }

    /// Ends the session (logout), and every other session of the same login. Their tokens
    /// are worthless afterwards.
    pub async fn end(&self, session: &Session) -> Result<()> {
        self.store.delete_session(&session.token_hash).await?;
        if !session.login_id.is_empty() {
            self.store.delete_login(&session.login_id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
