//! Privacy officers' credentials, issued by the operator.
//!
//! Until officers log in through the municipality's identity provider, the operator
//! issues each officer a credential (`kluis officer add`): a random bearer token, shown
//! once, stored only as its SHA-256, valid for a set number of days and withdrawable.
//! Officer credentials and resident sessions live in different tables: a resident's token
//! opens nothing of an officer's, and the other way round. Issuing and withdrawing a
//! credential is logged (fail closed: a change that cannot be logged is not reported done).

use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::audit::{Audit, Context};
use crate::clock::Clock;
use crate::crypto::{random_token, sha256};
use crate::store::{OfficerRow, OfficerStore};
use crate::{Error, Result};
use chrono::TimeDelta;
use std::sync::Arc;

/// An authenticated privacy officer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficerPrincipal {
    /// Their id.
    pub id: String,
    /// Their name.
    pub name: String,
}

/// Officer credentials: issuing, withdrawing, checking.
#[derive(Clone)]
pub struct Officers {
    store: Arc<dyn OfficerStore>,
    audit: Arc<Audit>,
    clock: Clock,
}

impl Officers {
    /// The credential service over `store`, logging to `audit`.
    pub fn new(store: Arc<dyn OfficerStore>, audit: Arc<Audit>, clock: Clock) -> Officers {
        Officers {
            store,
            audit,
            clock,
        }
    }

    /// Every officer credential.
    pub async fn list(&self) -> Result<Vec<OfficerRow>> {
        Ok(self.store.officers().await?)
    }

    /// Issues (or re-issues, replacing the old one) a credential for officer `id`, valid
    /// for `days`. Returns the row and the token, which is never shown again.
    pub async fn issue(&self, id: &str, name: &str, days: u32) -> Result<(OfficerRow, String)> {
        if !crate::ids::is_id(id) {
            return Err(Error::InvalidParameter(
                "an officer id is 2 to 64 lowercase letters, digits or dashes".into(),
            ));
        }
        if name.trim().is_empty() || name.len() > 200 {
            return Err(Error::InvalidParameter(
                "an officer name is 1 to 200 characters".into(),
            ));
        }
        if !(1..=366).contains(&days) {
            return Err(Error::InvalidParameter(
                "a credential is valid for 1 to 366 days".into(),
            ));
        }
        let token = random_token()?;
        let now = self.clock.now();
        let row = OfficerRow {
            id: id.to_owned(),
            name: name.trim().to_owned(),
            token_hash: sha256(token.as_bytes()),
            created_at: now,
            expires_at: now + TimeDelta::days(i64::from(days)),
            revoked: false,
        };
        self.store.put_officer(&row).await?;
        self.record_change(&row.id, "credential issued").await?;
        Ok((row, token))
    }

    /// Withdraws officer `id`'s credential.
    pub async fn revoke(&self, id: &str) -> Result<OfficerRow> {
        let mut row = self
            .store
            .officers()
            .await?
            .into_iter()
            .find(|o| o.id == id)
            .ok_or(Error::NotFound("officer"))?;
        row.revoked = true;
        self.store.put_officer(&row).await?;
        self.record_change(&row.id, "credential withdrawn").await?;
        Ok(row)
    }

    async fn record_change(&self, id: &str, change: &str) -> Result<()> {
        let mut entry = Entry::new(Action::OfficerChange, Outcome::Done, Actor::Operator);
        entry.details.insert("officer".into(), id.to_owned());
        entry.details.insert("change".into(), change.to_owned());
        let context = Context::new(&self.clock);
        self.audit.record(&context, entry).await.map(|_| ())
    }

    /// The officer behind a bearer `token`, or `Unauthenticated`.
    pub async fn authenticate(&self, token: &str) -> Result<OfficerPrincipal> {
        if token.is_empty() || token.len() > 128 {
            return Err(Error::Unauthenticated(
                "the officer credential is malformed",
            ));
        }
        let row = self
            .store
            .officer_by_token(&sha256(token.as_bytes()))
            .await?
            .ok_or(Error::Unauthenticated(
                "this is not a valid officer credential",
            ))?;
        if row.revoked || self.clock.now() >= row.expires_at {
            return Err(Error::Unauthenticated(
                "this officer credential has expired or was withdrawn; ask the operator for a new one",
            ));
        }
        Ok(OfficerPrincipal {
            id: row.id,
            name: row.name,
        })
    }
}
