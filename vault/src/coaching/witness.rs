//! Deciding on the resident's behalf, only with a witness statement: the resident says
//! "yes, share it" to their coach (on the phone, at the desk, in a video call); the coach
//! records who, when, which channel and the exact request, and approves it. The resident
//! sees it at once and can say "Dit klopt niet": the grant is revoked and the statement
//! flagged for the privacy officer. Special-category data is never shared this way.

use super::Coaching;
use crate::audit::Context;
use crate::audit::entry::{Action, Outcome};
use crate::auth::coaches::{CoachPrincipal, actor};
use crate::residents::ResidentId;
use crate::store::{WitnessAnswer, WitnessRow};
use crate::{Error, Result};
use kluis_proto::coaching::Channel;
use uuid::Uuid;

/// Why a witness approval of special-category data is refused.
pub const ONLY_THE_RESIDENT: &str =
    "a request for special-category data can only be answered by the resident";

impl Coaching {
    /// Coach `coach` approves request `request` of the resident of look-along `id` on their
    /// behalf, on a witness statement made through `channel`. Only a request within the
    /// parts the resident lets the coach see, still pending, and touching no
    /// special-category data (refused and logged otherwise).
    pub async fn approve_as_witness(
        &self,
        context: &Context,
        coach: &CoachPrincipal,
        (id, request): (Uuid, Uuid),
        channel: Channel,
    ) -> Result<WitnessRow> {
        let (look_along, me, view) = self.look_at_request(context, coach, (id, request)).await?;
        let resident = look_along.resident;
        if view.state != kluis_proto::consent::RequestState::Pending {
            return Err(Error::Conflict("this request has already been decided"));
        }
        let categories: Vec<String> = view.categories.iter().map(|c| c.id.clone()).collect();
        // From the catalogue itself: a category it does not know counts as special.
        let catalogue = self.residents.catalogue();
        let special = categories
            .iter()
            .any(|c| catalogue.get(c).map_or(true, |c| c.info.special_category));
        if special {
            let mut entry = self.entry(
                Action::WitnessStatement,
                Outcome::Refused,
                actor(&me),
                resident,
                &me,
            );
            entry.reason = Some("special_category".into());
            entry.request = Some(request);
            entry.categories = categories;
            self.log(context, entry).await?;
            return Err(Error::Forbidden(ONLY_THE_RESIDENT));
        }
        let mut row = WitnessRow {
            id: Uuid::new_v4(),
            look_along: look_along.id,
            resident,
            coach: me.id.clone(),
            request,
            grant: None,
            department: view.department.id.clone(),
            categories,
            channel,
            recorded_at: self.clock.now(),
            answer: None,
            answered_at: None,
        };
        // The statement is kept before the grant exists: no grant without its statement.
        // Until the grant is issued it shows nowhere (it may never be, if the request was
        // decided meanwhile).
        self.store.put_witness(&row).await?;
        let grant = self
            .consent
            .approve_witnessed(context, resident, request, (actor(&me), row.id))
            .await?;
        row.grant = Some(grant.id);
        self.store.put_witness(&row).await?;
        let mut entry = self.entry(
            Action::WitnessStatement,
            Outcome::Done,
            actor(&me),
            resident,
            &me,
        );
        entry.request = Some(request);
        entry.grant = row.grant;
        entry.categories = row.categories.clone();
        entry.details.insert("statement".into(), row.id.to_string());
        entry
            .details
            .insert("for_department".into(), row.department.clone());
        entry.details.insert(
            "channel".into(),
            serde_json::to_value(channel)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        );
        self.log(context, entry).await?;
        Ok(row)
    }

    /// The statements made on the resident's behalf that they have not answered yet.
    pub async fn open_statements(&self, resident: ResidentId) -> Result<Vec<WitnessRow>> {
        let mut rows = self.store.witnesses_of_resident(resident).await?;
        rows.retain(|w| w.answer.is_none() && w.grant.is_some());
        Ok(rows)
    }

    /// The resident answers a statement: "Dit klopt" (`correct`), or "Dit klopt niet":
    /// the grant is revoked at once and the statement flagged for the privacy officer.
    pub async fn answer_statement(
        &self,
        context: &Context,
        resident: ResidentId,
        id: Uuid,
        correct: bool,
    ) -> Result<()> {
        let mut row = match self.store.witness(id).await? {
            Some(row) if row.resident == resident && row.answer.is_none() => row,
            _ => return Err(Error::NotFound("witness statement")),
        };
        let grant = row.grant.ok_or(Error::NotFound("witness statement"))?;
        if !correct {
            self.consent.revoke(context, resident, grant).await?;
        }
        row.answer = Some(if correct {
            WitnessAnswer::Confirmed
        } else {
            WitnessAnswer::Disputed
        });
        row.answered_at = Some(self.clock.now());
        self.store.put_witness(&row).await?;
        let coach = self.coach_row(&row.coach).await?;
        let mut entry = self.entry(
            Action::WitnessStatement,
            if correct {
                Outcome::Approved
            } else {
                Outcome::Declined
            },
            self.resident_actor(resident),
            resident,
            &coach,
        );
        entry.grant = Some(grant);
        entry.request = Some(row.request);
        entry.categories = row.categories.clone();
        entry.details.insert("statement".into(), row.id.to_string());
        entry.details.insert(
            "change".into(),
            if correct { "confirmed" } else { "disputed" }.into(),
        );
        self.log(context, entry).await
    }
}
