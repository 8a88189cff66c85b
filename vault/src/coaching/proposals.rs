//! A coach proposes a change to a part they may see; the resident confirms or declines.

use super::{Coaching, PROPOSAL_LIFETIME};
use crate::audit::Context;
use crate::audit::entry::{Action, Outcome};
use crate::auth::coaches::{CoachPrincipal, actor};
use crate::residents::ResidentId;
use crate::store::{CoachRow, ProposalRow, ProposalState};
use crate::{Error, Result};
use kluis_proto::records::Record;
use uuid::Uuid;

/// An open proposal as the resident sees it.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// The stored proposal.
    pub row: ProposalRow,
    /// The coach who made it.
    pub coach: CoachRow,
    /// The proposed record.
    pub proposed: serde_json::Value,
    /// The record as it is now, if any.
    pub current: Option<Record>,
}

impl Coaching {
    /// Coach `coach` proposes `data` as the new record of `category` under look-along `id`,
    /// made from version `base_version` (0: empty). Refused unless the look-along is in
    /// force, lets the coach propose and names the category, and `data` passes the
    /// category's schema.
    pub async fn propose(
        &self,
        context: &Context,
        coach: &CoachPrincipal,
        id: Uuid,
        category: &str,
        base_version: u32,
        data: &serde_json::Value,
    ) -> Result<ProposalRow> {
        let (look_along, me) = self.open(context, coach, id).await?;
        self.residents.catalogue().get(category)?;
        let refusal = if !look_along.categories.iter().any(|c| c == category) {
            Some((
                "category_not_allowed",
                "the resident did not let you see this part",
            ))
        } else if !look_along.may_propose {
            Some((
                "proposals_not_allowed",
                "the resident did not let you propose changes",
            ))
        } else {
            None
        };
        if let Some((reason, why)) = refusal {
            self.refusal(context, &me, &look_along, Some(category), reason)
                .await?;
            return Err(Error::Forbidden(why));
        }
        let current = self.current_version(look_along.resident, category).await?;
        if current != base_version {
            return Err(Error::Conflict(
                "the resident changed this part meanwhile; open it again and propose anew",
            ));
        }
        let now = self.clock.now();
        let proposal_id = Uuid::new_v4();
        let sealed = self
            .residents
            .seal_proposal(look_along.resident, proposal_id, category, data)
            .await?;
        let row = ProposalRow {
            id: proposal_id,
            look_along: look_along.id,
            resident: look_along.resident,
            coach: me.id.clone(),
            category: category.to_owned(),
            base_version,
            sealed,
            created_at: now,
            expires_at: now + PROPOSAL_LIFETIME,
            state: ProposalState::Open,
            decided_at: None,
        };
        self.store.put_proposal(&row).await?;
        let mut entry = self.entry(
            Action::Proposal,
            Outcome::Done,
            actor(&me),
            look_along.resident,
            &me,
        );
        entry.categories = vec![category.to_owned()];
        entry.details.insert("change".into(), "proposed".into());
        entry.details.insert("proposal".into(), row.id.to_string());
        entry
            .details
            .insert("look_along".into(), look_along.id.to_string());
        self.log(context, entry).await?;
        Ok(row)
    }

    async fn current_version(&self, resident: ResidentId, category: &str) -> Result<u32> {
        match self.residents.versions(resident, category).await {
            Ok(versions) => Ok(versions.last().map_or(0, |v| v.version)),
            Err(Error::NotFound(_)) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// The resident's open proposals, oldest first.
    pub async fn open_proposals(&self, resident: ResidentId) -> Result<Vec<ProposalRow>> {
        let now = self.clock.now();
        let mut rows = self.store.proposals_of_resident(resident).await?;
        rows.retain(|p| p.state == ProposalState::Open && now < p.expires_at);
        Ok(rows)
    }

    /// One open proposal to the resident, opened. Another resident's, a decided or a
    /// lapsed one is `NotFound`.
    pub async fn proposal(&self, resident: ResidentId, id: Uuid) -> Result<Proposal> {
        let row = match self.store.proposal(id).await? {
            Some(row)
                if row.resident == resident
                    && row.state == ProposalState::Open
                    && self.clock.now() < row.expires_at =>
            {
                row
            }
            _ => return Err(Error::NotFound("proposal")),
        };
        let proposed = self
            .residents
            .open_proposal(resident, row.id, &row.category, &row.sealed)
            .await?;
        let current = match self.residents.read(resident, &row.category, None).await {
            Ok(record) => Some(record),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let coach = self.coach_row(&row.coach).await?;
        Ok(Proposal {
            row,
            coach,
            proposed,
            current,
        })
    }

    /// The resident confirms a proposal: it is stored as their own new version (the
    /// audit entry names the coach), unless the part changed since it was made.
    pub async fn confirm(&self, context: &Context, resident: ResidentId, id: Uuid) -> Result<()> {
        let proposal = self.proposal(resident, id).await?;
        let now_version = proposal.current.as_ref().map_or(0, |r| r.version);
        if now_version != proposal.row.base_version {
            return Err(Error::Conflict(
                "this part changed after the coach made the proposal; decline it and ask again",
            ));
        }
        self.residents
            .write_proposed(
                context,
                resident,
                &proposal.row.category,
                &proposal.proposed,
                (&proposal.coach.id, proposal.row.id),
            )
            .await?;
        self.decided(context, proposal, ProposalState::Confirmed)
            .await
    }

    /// The resident declines a proposal: nothing is stored.
    pub async fn decline(&self, context: &Context, resident: ResidentId, id: Uuid) -> Result<()> {
        let proposal = self.proposal(resident, id).await?;
        self.decided(context, proposal, ProposalState::Declined)
            .await
    }

    async fn decided(
        &self,
        context: &Context,
        proposal: Proposal,
        state: ProposalState,
    ) -> Result<()> {
        let row = ProposalRow {
            state,
            decided_at: Some(self.clock.now()),
            sealed: Vec::new(),
            ..proposal.row
        };
        self.store.put_proposal(&row).await?;
        let (outcome, change) = match state {
            ProposalState::Confirmed => (Outcome::Approved, "confirmed"),
            _ => (Outcome::Declined, "declined"),
        };
        let mut entry = self.entry(
            Action::Proposal,
            outcome,
            self.resident_actor(row.resident),
            row.resident,
            &proposal.coach,
        );
        entry.categories = vec![row.category.clone()];
        entry.details.insert("change".into(), change.into());
        entry.details.insert("proposal".into(), row.id.to_string());
        self.log(context, entry).await
    }
}
