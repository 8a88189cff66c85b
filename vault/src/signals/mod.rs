//! Signals: what the vault tells a department's system about a resident's decisions, so
//! that a revoke, a pause, a correction or an erasure reaches the systems that hold copies,
//! not only the vault (GDPR art. 17(2), 18, 19).
//!
//! Each event is a Security Event Token (RFC 8417) signed with the vault's key, for one
//! department (`aud`), about the resident's pairwise reference for that department (never
//! a national identifier), carrying ids, categories and versions, never a record's value.
//! An event is queued in the same store transaction as the audit entry that reports it
//! ([`Action::Notice`]), which the caller appends together with the entry of the action
//! itself: when the action is acknowledged, its events are durable.
//!
//! - this file: the service and how a notice (event plus entry) is made.
//! - [`delivery`]: the department's poll (RFC 8936): acknowledge, fetch in order; and its
//!   confirmation that it erased what an erasure request asked.
//! - [`expiry`]: telling a department once that a grant ran out.
//! - [`push`]: delivery by push (RFC 8935) to departments that registered an endpoint.
//! - [`rectification`]: which departments read an older version of a corrected record.

pub mod delivery;
pub mod expiry;
pub mod push;
pub mod rectification;

use crate::audit::Audit;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::clock::Clock;
use crate::jose::SecurityEvent;
use crate::jose::keys::VaultKeys;
use crate::store::{ActivityRow, EventRow, GrantRow, RecordChange, SignalStorage};
use crate::{Error, Result};
use chrono::{DateTime, TimeDelta, Utc};
use kluis_proto::events::EventKind;
use std::sync::Arc;
use uuid::Uuid;

/// The signals service.
#[derive(Clone)]
pub struct Signals {
    store: Arc<dyn SignalStorage>,
    audit: Arc<Audit>,
    vault_keys: Arc<VaultKeys>,
    issuer: String,
    clock: Clock,
    /// Whether a push endpoint may be plain `http` (development only).
    allow_http_endpoints: bool,
    pusher: push::Pusher,
    /// Held while a check-then-log runs (an erasure request for one read, a
    /// confirmation), so that two at once on this node log once.
    serial: Arc<tokio::sync::Mutex<()>>,
}

/// One event to queue: for whom, about whom, what.
#[derive(Clone, Debug)]
pub struct Notice<'a> {
    /// The department it is for.
    pub department: &'a str,
    /// The resident's pairwise reference for that department, if it is about a resident.
    pub subject: Option<&'a str>,
    /// The resident's audit reference, if it is about a resident.
    pub resident: Option<&'a str>,
    /// What happened.
    pub kind: EventKind,
}

impl<'a> Notice<'a> {
    /// An event about `grant` for its department.
    pub fn about_grant(grant: &'a GrantRow, resident: &'a str, kind: EventKind) -> Notice<'a> {
        Notice {
            department: &grant.department,
            subject: Some(&grant.reference),
            resident: Some(resident),
            kind,
        }
    }
}

/// Whether a department may still hold what it read under `grant`: the grant has not
/// ended, or ended less than the activity's retention ago.
pub fn may_still_hold(grant: &GrantRow, activity: &ActivityRow, now: DateTime<Utc>) -> bool {
    let ended = grant
        .revoked_at
        .map_or(grant.expires_at, |r| r.min(grant.expires_at));
    ended + TimeDelta::days(i64::from(activity.retention_days)) > now
}

impl Signals {
    /// A service over `store`, signing with `vault_keys` as `issuer`; push endpoints may
    /// be plain `http` only if `allow_http_endpoints` (development).
    pub fn new(
        store: Arc<dyn SignalStorage>,
        audit: Arc<Audit>,
        vault_keys: Arc<VaultKeys>,
        (issuer, allow_http_endpoints): (String, bool),
        clock: Clock,
    ) -> Signals {
        Signals {
            store,
            audit,
            vault_keys,
            issuer,
            clock,
            allow_http_endpoints,
            pusher: push::Pusher::default(),
            serial: Arc::default(),
        }
    }

    /// Waits until no other check-then-log runs on this node; holds it until dropped.
    pub async fn one_at_a_time(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.serial.lock().await
    }

    /// The signed event and the audit entry that reports it (by `actor`, who caused it),
    /// to append together with the entry of the action: [`Audit::record_all`].
    pub fn notice(
        &self,
        actor: Actor,
        notice: Notice<'_>,
    ) -> Result<(Entry, Option<RecordChange>)> {
        self.notice_with_id(actor, notice, Uuid::new_v4())
    }

    /// [`Signals::notice`] with event id `id` (one derived from what it is about, so that
    /// it is queued once however often it is made).
    pub fn notice_with_id(
        &self,
        actor: Actor,
        notice: Notice<'_>,
        id: Uuid,
    ) -> Result<(Entry, Option<RecordChange>)> {
        let now = self.clock.now();
        let token = SecurityEvent {
            iss: self.issuer.clone(),
            aud: notice.department.to_owned(),
            jti: id.to_string(),
            iat: now.timestamp(),
            subject: notice.subject.map(str::to_owned),
            event_type: notice.kind.type_uri(),
            fields: notice.kind.fields(),
        }
        .sign(&self.vault_keys.current())
        .map_err(|e| Error::Internal(format!("signing an event: {e}")))?;
        let mut entry = Entry::new(Action::Notice, Outcome::Done, actor);
        entry.department = Some(notice.department.to_owned());
        entry.resident = notice.resident.map(str::to_owned);
        entry.grant = notice.kind.grant();
        entry
            .details
            .insert("event".into(), notice.kind.name().into());
        entry.details.insert("event_id".into(), id.to_string());
        match &notice.kind {
            EventKind::ErasureRequested {
                read, categories, ..
            } => {
                entry.categories = categories.clone();
                if let Some(read) = read {
                    entry.details.insert("read".into(), read.to_string());
                }
            }
            EventKind::RecordRectified {
                category, version, ..
            } => {
                entry.categories = vec![category.clone()];
                entry.details.insert("version".into(), version.to_string());
            }
            _ => {}
        }
        let row = EventRow {
            id,
            department: notice.department.to_owned(),
            kind: notice.kind.name().to_owned(),
            grant: notice.kind.grant(),
            resident: notice.resident.map(str::to_owned),
            token,
            queued_at: now,
            acknowledged_at: None,
        };
        Ok((entry, Some(RecordChange::QueueEvent(row))))
    }
}
