//! Codes, starting and ending a look-along, and help signals.

use super::{CODE_LIFETIME, CONVERSATION, Coaching, MAX_DAYS};
use crate::audit::Context;
use crate::audit::entry::{Action, Outcome};
use crate::auth::coaches::CoachPrincipal;
use crate::crypto::{random_bytes, sha256};
use crate::residents::ResidentId;
use crate::store::{CoachCodeRow, CoachRow, HelpReason, HelpSignal, LookAlongChange, LookAlongRow};
use crate::{Error, Result};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use std::collections::BTreeSet;
use uuid::Uuid;

/// How the resident names the coach.
#[derive(Clone, Debug)]
pub enum Via {
    /// The code the coach showed them.
    Code(String),
    /// A coach who looked along before (by id).
    Earlier(String),
}

/// How long the coach may look along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// This conversation: two hours.
    Conversation,
    /// Until the end of this day (Dutch time), at most 90 days ahead.
    Until(NaiveDate),
}

/// What the resident chose.
#[derive(Clone, Debug)]
pub struct Choice {
    /// The coach.
    pub via: Via,
    /// The parts the coach may see (special categories only when listed).
    pub categories: Vec<String>,
    /// How long.
    pub length: Length,
    /// Whether the coach may propose changes.
    pub may_propose: bool,
    /// Whether the coach may see the resident's scheme suggestions.
    pub may_see_schemes: bool,
}

/// The hash a code is kept under ("K7QM-3XPA", as [`crate::ids::parse_spoken_code`] gives).
fn code_hash(code: &str) -> [u8; 32] {
    sha256(format!("kluis/coach-code/v1\0{code}").as_bytes())
}

/// The end of `date` in Dutch time.
fn end_of(date: NaiveDate) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let next = date.succ_opt()?.and_hms_opt(0, 0, 0)?;
    chrono_tz::Europe::Amsterdam
        .from_local_datetime(&next)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

impl Coaching {
    /// A new one-time code for `coach` to show a resident: "K7QM-3XPA", working once,
    /// for ten minutes.
    pub async fn issue_code(&self, coach: &CoachPrincipal) -> Result<(String, DateTime<Utc>)> {
        let row = self.coaches.current(&coach.id).await?;
        let mut bytes = [0u8; 5];
        random_bytes(&mut bytes)?;
        let compact = data_encoding::BASE32_NOPAD.encode(&bytes);
        let code = format!("{}-{}", &compact[..4], &compact[4..]);
        let expires_at = self.clock.now() + CODE_LIFETIME;
        let stored = CoachCodeRow {
            coach: row.id,
            expires_at,
        };
        self.store
            .put_coach_code(&code_hash(&code), &stored)
            .await?;
        Ok((code, expires_at))
    }

    /// The coach behind a typed code, without using it up; `None` when the code is
    /// malformed, unknown, used or expired (one answer for all, so a code cannot be probed).
    pub async fn coach_of_code(&self, typed: &str) -> Result<Option<CoachRow>> {
        let Some(code) = crate::ids::parse_spoken_code(typed) else {
            return Ok(None);
        };
        match self.store.coach_code(&code_hash(&code)).await? {
            Some(row) if self.clock.now() < row.expires_at => self.active_coach(&row.coach).await,
            _ => Ok(None),
        }
    }

    /// The coaches who looked along with `resident` before and are still coaches, by
    /// name.
    pub async fn earlier_coaches(&self, resident: ResidentId) -> Result<Vec<CoachRow>> {
        let ids: BTreeSet<String> = self
            .store
            .look_alongs_of_resident(resident)
            .await?
            .into_iter()
            .map(|l| l.coach)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(row) = self.active_coach(&id).await? {
                out.push(row);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Coach `id` while on the list; `None` once removed (a store failure is an error).
    async fn active_coach(&self, id: &str) -> Result<Option<CoachRow>> {
        Ok(self
            .coaches
            .get(id)
            .await?
            .filter(|c| c.removed_at.is_none()))
    }

    /// The resident lets a coach look along.
    pub async fn start(
        &self,
        context: &Context,
        resident: ResidentId,
        choice: &Choice,
    ) -> Result<LookAlongRow> {
        let now = self.clock.now();
        let categories = self.check_categories(&choice.categories)?;
        let ends_at = match choice.length {
            Length::Conversation => now + CONVERSATION,
            Length::Until(date) => {
                let end = end_of(date)
                    .ok_or(Error::InvalidParameter("the end date is not a date".into()))?;
                if end <= now {
                    return Err(Error::InvalidParameter(
                        "the end date has passed; choose today or a later day".into(),
                    ));
                }
                if end > now + TimeDelta::days(MAX_DAYS) + TimeDelta::days(1) {
                    return Err(Error::InvalidParameter(format!(
                        "a coach may look along for at most {MAX_DAYS} days"
                    )));
                }
                end
            }
        };
        let coach = match &choice.via {
            Via::Code(typed) => self.redeem(typed).await?,
            Via::Earlier(id) => {
                let earlier = self.earlier_coaches(resident).await?;
                earlier
                    .into_iter()
                    .find(|c| &c.id == id)
                    .ok_or(Error::Forbidden(
                        "this coach did not look along with you before; ask them for a code",
                    ))?
            }
        };
        // A resident gets a vault on first login; make sure this one exists (and is not
        // erased) before anyone is let in.
        self.residents.resident(resident).await?;
        let row = LookAlongRow {
            id: Uuid::new_v4(),
            resident,
            coach: coach.id.clone(),
            categories,
            may_propose: choice.may_propose,
            may_see_schemes: choice.may_see_schemes,
            started_at: now,
            ends_at,
            ended_at: None,
            help: None,
        };
        self.store.put_look_along(&row).await?;
        let mut entry = self.entry(
            Action::LookAlong,
            Outcome::Done,
            self.resident_actor(resident),
            resident,
            &coach,
        );
        entry.categories = row.categories.clone();
        entry.valid_from = Some(row.started_at);
        entry.valid_until = Some(row.ends_at);
        entry.details.insert("change".into(), "started".into());
        entry
            .details
            .insert("look_along".into(), row.id.to_string());
        entry
            .details
            .insert("may_propose".into(), row.may_propose.to_string());
        entry
            .details
            .insert("may_see_schemes".into(), row.may_see_schemes.to_string());
        self.log(context, entry).await?;
        Ok(row)
    }

    /// Uses up a code: the coach it belongs to, or `Forbidden` (unknown, used, expired).
    async fn redeem(&self, typed: &str) -> Result<CoachRow> {
        let refused = Error::Forbidden(
            "this code does not work: it is wrong, used or older than ten minutes; ask the coach for a new one",
        );
        let code = crate::ids::parse_spoken_code(typed).ok_or(Error::InvalidParameter(
            "a code is eight letters and digits, such as K7QM-3XPA".into(),
        ))?;
        match self.store.take_coach_code(&code_hash(&code)).await? {
            Some(row) if self.clock.now() < row.expires_at => {
                self.coaches.current(&row.coach).await.map_err(|_| refused)
            }
            _ => Err(refused),
        }
    }

    fn check_categories(&self, wanted: &[String]) -> Result<Vec<String>> {
        let catalogue = self.residents.catalogue();
        let mut out = BTreeSet::new();
        for id in wanted {
            catalogue.get(id)?;
            out.insert(id.clone());
        }
        if out.is_empty() {
            return Err(Error::InvalidParameter(
                "choose at least one part the coach may see".into(),
            ));
        }
        Ok(out.into_iter().collect())
    }

    /// The resident's look-alongs in force now.
    pub async fn of_resident(&self, resident: ResidentId) -> Result<Vec<LookAlongRow>> {
        let mut rows = self.store.look_alongs_of_resident(resident).await?;
        rows.retain(|r| self.in_force(r));
        Ok(rows)
    }

    /// The coach's look-alongs in force now; those with a help signal first.
    pub async fn of_coach(&self, coach: &CoachPrincipal) -> Result<Vec<LookAlongRow>> {
        self.coaches.current(&coach.id).await?;
        let mut rows = self.store.look_alongs_of_coach(&coach.id).await?;
        rows.retain(|r| self.in_force(r));
        rows.sort_by_key(|r| (r.help.is_none(), std::cmp::Reverse(r.started_at)));
        Ok(rows)
    }

    /// The resident ends a look-along at once.
    pub async fn end(&self, context: &Context, resident: ResidentId, id: Uuid) -> Result<()> {
        let row = self.own(resident, id).await?;
        if !self.in_force(&row) {
            return Ok(());
        }
        self.store
            .change_look_along(row.id, &LookAlongChange::End(self.clock.now()))
            .await?;
        let coach = self.coach_row(&row.coach).await?;
        let mut entry = self.entry(
            Action::LookAlong,
            Outcome::Done,
            self.resident_actor(resident),
            resident,
            &coach,
        );
        entry.details.insert("change".into(), "ended".into());
        entry
            .details
            .insert("look_along".into(), row.id.to_string());
        self.log(context, entry).await
    }

    /// The resident asks the coaches who look along now for help.
    pub async fn ask_help(
        &self,
        context: &Context,
        resident: ResidentId,
        reason: HelpReason,
    ) -> Result<usize> {
        let rows = self.of_resident(resident).await?;
        if rows.is_empty() {
            return Err(Error::Conflict(
                "no coach looks along with you now; let one look along first",
            ));
        }
        let signal = LookAlongChange::Help(HelpSignal {
            reason,
            at: self.clock.now(),
        });
        for row in &rows {
            self.store.change_look_along(row.id, &signal).await?;
            let coach = self.coach_row(&row.coach).await?;
            let mut entry = self.entry(
                Action::LookAlong,
                Outcome::Done,
                self.resident_actor(resident),
                resident,
                &coach,
            );
            entry.details.insert("change".into(), "help asked".into());
            entry
                .details
                .insert("look_along".into(), row.id.to_string());
            self.log(context, entry).await?;
        }
        Ok(rows.len())
    }

    /// The operator removes coach `id`: they can no longer log in, and every look-along
    /// of theirs ends now (each logged about its resident).
    pub async fn remove_coach(&self, context: &Context, id: &str) -> Result<CoachRow> {
        let coach = self.coaches.remove(id).await?;
        let now = self.clock.now();
        for row in self.store.look_alongs_of_coach(id).await? {
            if !self.in_force(&row) {
                continue;
            }
            self.store
                .change_look_along(row.id, &LookAlongChange::End(now))
                .await?;
            let mut entry = self.entry(
                Action::LookAlong,
                Outcome::Done,
                crate::audit::entry::Actor::Operator,
                row.resident,
                &coach,
            );
            entry
                .details
                .insert("change".into(), "ended: coach removed".into());
            entry
                .details
                .insert("look_along".into(), row.id.to_string());
            self.log(context, entry).await?;
        }
        Ok(coach)
    }

    /// One of the resident's own look-alongs (any state); another's is `NotFound`.
    async fn own(&self, resident: ResidentId, id: Uuid) -> Result<LookAlongRow> {
        match self.store.look_along(id).await? {
            Some(row) if row.resident == resident => Ok(row),
            _ => Err(Error::NotFound("look-along")),
        }
    }

    pub(super) async fn coach_row(&self, id: &str) -> Result<CoachRow> {
        self.coaches.get(id).await?.ok_or(Error::NotFound("coach"))
    }
}
