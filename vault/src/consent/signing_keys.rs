//! Rotating the grant-signing key while the vault serves: a new key is published in the
//! JWKS at once and signs after a lead time (departments' JWKS caches catch up); the key
//! it replaces stays published until the last grant it signed has ended. The keys and
//! their schedule are `jose::vault_keys`; this module decides the times and logs.

use super::Consent;
use crate::audit::Context;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::{Error, Result};
use chrono::{DateTime, TimeDelta, Utc};

/// How long after a key stopped signing its retirement is worked out: every node has
/// followed the switch by then (they reread the key directory every minute).
const SETTLED: TimeDelta = TimeDelta::minutes(2);

/// How long a replaced key stays published at least, for the events and consent receipts
/// it signed last.
const KEPT_AT_LEAST: TimeDelta = TimeDelta::days(1);

/// The longest lead an operator may give a new key.
pub const MAX_LEAD: TimeDelta = TimeDelta::days(7);

impl Consent {
    /// Stages a new grant-signing key: in the JWKS at once, signing from `lead` on. One
    /// `key_rotation` audit entry. Returns the new key's id and when it starts signing.
    pub async fn rotate_signing_key(
        &self,
        context: &Context,
        lead: TimeDelta,
    ) -> Result<(String, DateTime<Utc>)> {
        if lead < TimeDelta::zero() || lead > MAX_LEAD {
            return Err(Error::InvalidParameter(format!(
                "the lead time must be 0 to {} seconds",
                MAX_LEAD.num_seconds()
            )));
        }
        let _one_rotation_at_a_time = self.residents.hold_rotations().await;
        let (kid, signs_from) = self
            .vault_keys
            .stage(self.residents.keyring(), lead)
            .map_err(|e| Error::Internal(format!("staging a signing key: {e}")))?;
        let mut entry = Entry::new(Action::KeyRotation, Outcome::Done, Actor::Operator);
        entry.details.insert("key".into(), "grant_signing".into());
        entry.details.insert("kid".into(), kid.clone());
        entry
            .details
            .insert("signs_from".into(), signs_from.to_rfc3339());
        self.audit.record(context, entry).await?;
        tracing::info!(%kid, %signs_from, "grant-signing key staged");
        Ok((kid, signs_from))
    }

    /// Upkeep: reads the signing keys again (a rotation on another node), and for each key
    /// a newer one replaced sets when it leaves the JWKS: when the last grant it signed
    /// ends (revoked grants end at their revocation), and not before a day after it
    /// stopped signing.
    pub async fn settle_signing_keys(&self) -> Result<()> {
        // Not while this node rotates a key; the next upkeep settles.
        let Some(_no_rotation) = self.residents.try_hold_rotations() else {
            return Ok(());
        };
        let keyring = self.residents.keyring();
        self.vault_keys
            .reload(keyring)
            .map_err(|e| Error::Internal(format!("reading the signing keys: {e}")))?;
        for retiring in self.vault_keys.retiring(SETTLED) {
            let last_grant_end = self.last_grant_end_signed_by(&retiring.kid).await?;
            let floor = retiring.signed_until + KEPT_AT_LEAST;
            let from = last_grant_end.map_or(floor, |end| end.max(floor));
            self.vault_keys
                .retire(keyring, retiring.number, from)
                .map_err(|e| Error::Internal(format!("retiring a signing key: {e}")))?;
            tracing::info!(kid = %retiring.kid, retired_from = %from, "a replaced grant-signing key leaves the JWKS when its last grant has ended");
        }
        Ok(())
    }

    /// When the last grant signed by key `kid` ends, if it signed any.
    async fn last_grant_end_signed_by(&self, kid: &str) -> Result<Option<DateTime<Utc>>> {
        let mut last = None;
        for department in self.store.departments().await? {
            for grant in self.store.grants_of_department(&department.id).await? {
                let signed_by = crate::jose::compact::parse(&grant.token)
                    .ok()
                    .and_then(|t| {
                        t.header
                            .get("kid")
                            .and_then(|k| k.as_str())
                            .map(str::to_owned)
                    });
                if signed_by.as_deref() == Some(kid) {
                    let end = grant
                        .revoked_at
                        .map_or(grant.expires_at, |at| at.min(grant.expires_at));
                    last = last.max(Some(end));
                }
            }
        }
        Ok(last)
    }
}
