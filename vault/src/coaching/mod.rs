//! Looking along: a resident lets a coach (a named staff member) see chosen parts of
//! their vault for as long as they choose, and everything the coach does is on the
//! resident's own timeline.
//!
//! The rules, and nothing of HTTP:
//! - A coach shows the resident a one-time code (eight characters, ten minutes, once);
//!   the resident redeems it, or picks a coach who looked along before, and chooses the
//!   parts (special categories only when ticked one by one), how long ("this
//!   conversation": two hours; or until a date, at most 90 days), and whether the coach may
//!   propose changes and see scheme suggestions. That is a look-along: a grant to a
//!   person, ended by the resident at once or by time.
//! - A coach sees a part only while a look-along of theirs with that resident is in force
//!   and names it; every look, and every refused try, is an audit entry with the coach's id,
//!   department and staff login, about the resident.
//! - A coach may propose a change to an allowed part; the resident confirms it (stored
//!   as the resident's own version, the coach named as proposer) or declines it; it lapses
//!   after 14 days.
//!
//! - A coach may approve a pending request on the resident's behalf only with a witness
//!   statement (who, when, which channel, the exact request); the resident sees it at once
//!   and can say it is wrong, which revokes the grant and flags the statement. Never for
//!   special-category data.
//!
//! - `look_along`: codes, starting, ending, help signals.
//! - `looks`: what a coach may open, each look and refusal logged.
//! - `proposals`: proposing, confirming and declining changes.
//! - `witness`: approving on the resident's behalf, and the resident's answer.

mod look_along;
mod looks;
mod proposals;
mod witness;

pub use look_along::{Choice, Length, Via};
pub use proposals::Proposal;
pub use witness::ONLY_THE_RESIDENT;

use crate::Result;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::audit::{Audit, Context};
use crate::auth::coaches::Coaches;
use crate::clock::Clock;
use crate::consent::Consent;
use crate::residents::{ResidentId, Residents};
use crate::store::{CoachRow, CoachStore, LookAlongRow};
use chrono::TimeDelta;
use std::sync::Arc;

/// How long a coach's code works.
pub const CODE_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// "This conversation".
pub const CONVERSATION: TimeDelta = TimeDelta::hours(2);
/// The longest a look-along may run.
pub const MAX_DAYS: i64 = 90;
/// How long a proposal waits for the resident.
pub const PROPOSAL_LIFETIME: TimeDelta = TimeDelta::days(14);

/// The look-along service.
#[derive(Clone)]
pub struct Coaching {
    store: Arc<dyn CoachStore>,
    coaches: Coaches,
    residents: Residents,
    consent: Consent,
    audit: Arc<Audit>,
    clock: Clock,
}

impl Coaching {
    /// The service over `store`, with the coach register, the residents' vaults, their
    /// requests and grants, and the log.
    pub fn new(
        store: Arc<dyn CoachStore>,
        coaches: Coaches,
        (residents, consent): (Residents, Consent),
        audit: Arc<Audit>,
        clock: Clock,
    ) -> Coaching {
        Coaching {
            store,
            coaches,
            residents,
            consent,
            audit,
            clock,
        }
    }

    /// The coach register.
    pub fn coaches(&self) -> &Coaches {
        &self.coaches
    }

    /// Whether `row` is in force now.
    pub fn in_force(&self, row: &LookAlongRow) -> bool {
        row.ended_at.is_none() && self.clock.now() < row.ends_at
    }

    /// An entry about `resident`, done by `actor`, in the coach's department.
    fn entry(
        &self,
        action: Action,
        outcome: Outcome,
        actor: Actor,
        resident: ResidentId,
        coach: &CoachRow,
    ) -> Entry {
        let mut entry = Entry::new(action, outcome, actor);
        entry.resident = Some(self.residents.audit_reference(resident));
        entry.department = Some(coach.department.clone());
        entry.details.insert("coach".into(), coach.id.clone());
        entry
    }

    /// The resident as the log's actor.
    fn resident_actor(&self, resident: ResidentId) -> Actor {
        Actor::Resident {
            reference: self.residents.audit_reference(resident),
        }
    }

    async fn log(&self, context: &Context, entry: Entry) -> Result<()> {
        self.audit.record(context, entry).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests;
