//! Pausing a grant (GDPR art. 18, restriction of processing): the resident stops a
//! department's reads for a while, with a reason from a fixed list, and lets them go on with
//! one action. A paused grant stays the same grant: resuming needs no new request.
//!
//! The pause is stored on the grant row and checked on every read like a revocation
//! ([`access::state`]), so the next read is refused with `grant_paused`. A revocation ends
//! a grant for good, paused or not; a pause that loses a race with it changes nothing and
//! says so. Both are logged, so the log explains whatever order they came in.

use super::{Consent, access, activity_version};
use crate::audit::Context;
use crate::audit::entry::{Action, Outcome};
use crate::residents::ResidentId;
use crate::store::{GrantPause, GrantRow};
use crate::{Error, Result};
use kluis_proto::consent::{GrantState, GrantView, PauseReason};
use kluis_proto::events::EventKind;
use uuid::Uuid;

impl Consent {
    /// Pauses one of the resident's grants for `reason`. Durable before it returns: the
    /// next read under it is refused.
    pub async fn pause(
        &self,
        context: &Context,
        resident: ResidentId,
        id: Uuid,
        reason: PauseReason,
    ) -> Result<GrantView> {
        let before = self.own_grant(resident, id).await?;
        match access::state(&before, self.clock.now()) {
            GrantState::Active | GrantState::NotYetValid => {}
            GrantState::Paused => return Err(Error::Conflict("the grant is paused already")),
            GrantState::Revoked | GrantState::Expired => {
                return Err(Error::Conflict(
                    "the grant has ended; there is nothing to pause",
                ));
            }
        }
        let pause = GrantPause {
            since: self.clock.now(),
            reason,
        };
        let (after, changed) = self.store_pause(id, None, Some(pause)).await?;
        if !changed {
            // Revoked or paused between the check and the write: that change stands.
            return Err(Error::Conflict(
                "the grant was withdrawn or paused meanwhile; nothing was changed",
            ));
        }
        self.record_pause(context, &after, "paused", Some(reason))
            .await?;
        self.grant_view(&after).await
    }

    /// Lets a paused grant go on. Durable before it returns: the next read may succeed.
    pub async fn resume(
        &self,
        context: &Context,
        resident: ResidentId,
        id: Uuid,
    ) -> Result<GrantView> {
        let before = self.own_grant(resident, id).await?;
        if access::state(&before, self.clock.now()) != GrantState::Paused {
            return Err(Error::Conflict("the grant is not paused"));
        }
        let (after, changed) = self.store_pause(id, before.paused, None).await?;
        if !changed {
            return Err(Error::Conflict(
                "the grant was withdrawn or resumed meanwhile; nothing was changed",
            ));
        }
        self.record_pause(context, &after, "resumed", None).await?;
        self.grant_view(&after).await
    }

    async fn store_pause(
        &self,
        id: Uuid,
        from: Option<GrantPause>,
        to: Option<GrantPause>,
    ) -> Result<(GrantRow, bool)> {
        self.store
            .set_grant_pause(id, from, to)
            .await?
            .ok_or(Error::NotFound("grant"))
    }

    async fn record_pause(
        &self,
        context: &Context,
        grant: &GrantRow,
        change: &str,
        reason: Option<PauseReason>,
    ) -> Result<()> {
        let department = self.department_row(&grant.department).await?;
        let activity = activity_version(&department, &grant.activity_id, grant.activity_version)?;
        let mut entry = self.grant_entry(
            Action::Pause,
            Outcome::Done,
            self.resident_actor(grant.resident),
            grant,
            activity,
        );
        entry.valid_from = None;
        entry.valid_until = None;
        entry.details.insert("change".into(), change.into());
        let kind = match reason {
            Some(reason) => {
                entry
                    .details
                    .insert("reason".into(), reason.as_str().into());
                EventKind::GrantPaused {
                    grant: grant.id,
                    reason,
                }
            }
            None => EventKind::GrantResumed { grant: grant.id },
        };
        let notice = self.grant_notice(grant, kind)?;
        self.audit
            .record_all(context, vec![(entry, None), notice])
            .await?;
        Ok(())
    }
}
