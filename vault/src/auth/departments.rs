//! Department authentication: a `private_key_jwt` client assertion (RFC 7523) on every
//! call but a read (where it is optional: a read's DPoP proof authenticates it, see
//! `consent::proof`), signed with a key the operator registered for the department.
//!
//! The order matters: the assertion's form and claims are checked first (nothing looked
//! up yet), then the department it names is looked up and its signature verified, then its
//! `jti` is recorded so it can never be used again, and only then is a disabled department
//! told so. An unauthenticated caller learns nothing about which departments exist.
//!
//! A department's registered keys are parsed once and kept: every call still reads the
//! department's row (so a disabled department or a key change counts at once), but the
//! keys are parsed again only when the row's key set differs from the one parsed.

use crate::clock::Clock;
use crate::jose::keys::KeySet;
use crate::jose::{ClientAssertion, MAX_SKEW_SECS};
use crate::store::{DepartmentRow, DepartmentStore, Durability, ReplayStore};
use crate::throttle::Throttle;
use crate::{Error, Result};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An authenticated department (by its client assertion, or by a read's DPoP proof).
#[derive(Clone, Debug)]
pub struct DepartmentPrincipal {
    /// Its registration.
    pub row: DepartmentRow,
    /// Its registered public keys, parsed.
    pub keys: Arc<KeySet>,
}

impl DepartmentPrincipal {
    /// The department id.
    pub fn id(&self) -> &str {
        &self.row.id
    }
}

/// A department's key set as registered (JSON) and as parsed.
struct ParsedKeys {
    jwks: serde_json::Value,
    keys: Arc<KeySet>,
}

/// One-time token ids remembered at most. Past it, calls that bring a new id are refused
/// (503, try again) until expired ids are purged: a replay must never pass because the store
/// of ids was full. The rate limits keep it far from this in normal use.
pub const MAX_REPLAY_IDS: usize = 1_000_000;

/// How long after its token is refused as too old an id is still remembered: longer than
/// a call takes from the check of the token's age to the record of its id, and than the
/// clocks of nodes sharing one database differ. (An id recorded after its token expired is
/// refused anyway, see [`DepartmentAuth::first_use`].)
pub const REPLAY_MARGIN_SECS: i64 = 10;

/// Authenticates departments, and remembers one-time token ids.
#[derive(Clone)]
pub struct DepartmentAuth {
    departments: Arc<dyn DepartmentStore>,
    replays: Arc<dyn ReplayStore>,
    clock: Clock,
    issuer: String,
    parsed: Arc<Mutex<HashMap<String, ParsedKeys>>>,
    throttle: Arc<Throttle>,
    /// Token ids remembered now (counted at each purge, and up with each new one).
    remembered: Arc<std::sync::atomic::AtomicUsize>,
    replay_cap: usize,
}

impl DepartmentAuth {
    /// Authentication for the vault `issuer` (the assertions' audience); every department
    /// it authenticates is held to its rate in `throttle`.
    pub fn new(
        departments: Arc<dyn DepartmentStore>,
        replays: Arc<dyn ReplayStore>,
        clock: Clock,
        issuer: String,
        throttle: Arc<Throttle>,
    ) -> DepartmentAuth {
        DepartmentAuth {
            departments,
            replays,
            clock,
            issuer,
            parsed: Arc::default(),
            throttle,
            remembered: Arc::default(),
            replay_cap: MAX_REPLAY_IDS,
        }
    }

    /// The same, with another cap on remembered token ids (for tests of the cap).
    pub fn with_replay_cap(mut self, cap: usize) -> DepartmentAuth {
        self.replay_cap = cap;
        self
    }

    /// Forgets token ids that expired [`REPLAY_MARGIN_SECS`] or more before `now` and
    /// counts those left; returns how many were forgotten.
    pub async fn purge_replays(&self, now: DateTime<Utc>) -> Result<usize> {
        let before = now - TimeDelta::seconds(REPLAY_MARGIN_SECS);
        let purged = self.replays.purge_replays(before).await?;
        let left = self.replays.replay_count().await?;
        self.remembered
            .store(left, std::sync::atomic::Ordering::SeqCst);
        Ok(purged)
    }

    /// Takes one request of the authenticated department `id`, or refuses it as over the
    /// department's rate (`rate_limited`, with when to try again).
    pub fn admit(&self, id: &str) -> Result<()> {
        self.throttle.department(id)
    }

    /// The parsed keys of `row`: from the cache while its key set is unchanged.
    pub fn keys_of(&self, row: &DepartmentRow) -> Result<Arc<KeySet>> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = parsed.get(&row.id)
            && cached.jwks == row.jwks
        {
            return Ok(cached.keys.clone());
        }
        let keys = Arc::new(
            KeySet::from_jwks(&row.jwks).map_err(|e| Error::InvalidClient(e.to_string()))?,
        );
        parsed.insert(
            row.id.clone(),
            ParsedKeys {
                jwks: row.jwks.clone(),
                keys: keys.clone(),
            },
        );
        Ok(keys)
    }

    /// Forgets the parsed keys of department `id` (it was registered anew).
    pub fn forget(&self, id: &str) {
        self.parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Records a token id of `kind` from `issuer` for one-time use until `until` (from
    /// when its token is refused as too old), durable as `durability` says; false if it
    /// was seen before, or if `until` passed before it was recorded (a replay could have
    /// found the first use forgotten).
    pub async fn first_use(
        &self,
        kind: &str,
        issuer: &str,
        jti: &str,
        until: DateTime<Utc>,
        durability: Durability,
    ) -> Result<bool> {
        let key = crate::crypto::sha256_of_parts(&[
            kind.as_bytes(),
            &[0],
            issuer.as_bytes(),
            &[0],
            jti.as_bytes(),
        ]);
        use std::sync::atomic::Ordering;
        if self.remembered.load(Ordering::SeqCst) >= self.replay_cap {
            tracing::warn!("the store of one-time token ids is full; calls wait for the purge");
            return Err(Error::Overloaded);
        }
        let first = self.replays.first_use(&key, until, durability).await?;
        if first {
            self.remembered.fetch_add(1, Ordering::SeqCst);
        }
        Ok(first && self.clock.now() < until)
    }

    /// Authenticates the department behind `assertion`.
    pub async fn authenticate(&self, assertion: Option<&str>) -> Result<DepartmentPrincipal> {
        let assertion = assertion.ok_or_else(|| {
            Error::InvalidClient(
                "send a client assertion (private_key_jwt) in the Client-Assertion header".into(),
            )
        })?;
        let now = self.clock.now();
        let unverified = ClientAssertion::parse(assertion, &self.issuer, now)
            .map_err(|e| Error::InvalidClient(e.to_string()))?;
        let row = self
            .departments
            .department(&unverified.department)
            .await?
            .ok_or_else(|| Error::InvalidClient("the assertion cannot be verified".into()))?;
        let keys = self.keys_of(&row)?;
        let verified = unverified
            .verify(&keys)
            .map_err(|e| Error::InvalidClient(e.to_string()))?;
        let until = verified.exp + TimeDelta::seconds(MAX_SKEW_SECS);
        if !self
            .first_use(
                "client-assertion",
                &verified.department,
                &verified.jti,
                until,
                // Most department calls write nothing durable themselves: the id must not
                // be forgotten in a crash, or the assertion could be replayed after it.
                Durability::Now,
            )
            .await?
        {
            return Err(Error::InvalidClient(
                "this assertion was used before; make a new one for every call".into(),
            ));
        }
        if row.disabled {
            return Err(Error::DepartmentDisabled);
        }
        self.admit(&row.id)?;
        Ok(DepartmentPrincipal { row, keys })
    }
}
