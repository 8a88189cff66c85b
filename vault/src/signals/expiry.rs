//! Expiry notices: a grant that ran out is told to its department once (`grant-expired`).
//! A sweep every ten minutes looks at the grants that ended in the last 30 days (a vault
//! that was down longer tells only those). Each notice's event id is derived from the
//! grant, so a sweep that runs again, or on another node, finds it queued already and the
//! store keeps one event per id.

use super::{Notice, Signals};
use crate::Result;
use crate::audit::Context;
use crate::audit::entry::Actor;
use chrono::TimeDelta;
use kluis_proto::events::EventKind;
use uuid::Uuid;

/// How far back a sweep looks for grants that ran out.
pub const WINDOW: TimeDelta = TimeDelta::days(30);

/// The id of the expiry event of `grant`: the same on every node and every sweep.
pub fn expiry_event_id(grant: Uuid) -> Uuid {
    let digest = crate::crypto::sha256_of_parts(&[b"kluis grant-expired", grant.as_bytes()]);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

impl Signals {
    /// Queues `grant-expired` for every grant that ran out in the last [`WINDOW`], was not
    /// withdrawn, and was not told yet; returns how many it queued.
    pub async fn expiry_round(&self, context: &Context) -> Result<usize> {
        let now = self.clock.now();
        let mut notices = Vec::new();
        for department in self.store.departments().await? {
            for grant in self.store.grants_of_department(&department.id).await? {
                let ran_out = grant.expires_at <= now && grant.expires_at > now - WINDOW;
                if grant.revoked_at.is_some() || !ran_out {
                    continue;
                }
                let id = expiry_event_id(grant.id);
                if self.store.event(id).await?.is_some() {
                    continue;
                }
                let notice = Notice {
                    department: &grant.department,
                    subject: Some(&grant.reference),
                    resident: None,
                    kind: EventKind::GrantExpired { grant: grant.id },
                };
                notices.push(self.notice_with_id(Actor::System, notice, id)?);
            }
        }
        let queued = notices.len();
        self.audit.record_all(context, notices).await?;
        Ok(queued)
    }
}
