//! Offers to share on the resident's own initiative: what sharing with one department's
//! activity would mean (who, why, under which law, what it would see, for how long),
//! shown before the resident shares, and the grant that accepting one makes. Life events
//! ("Wie kan u helpen?") and scheme applications both share this way.

use super::Consent;
use crate::Result;
use crate::audit::Context;
use crate::residents::ResidentId;
use kluis_proto::consent::{
    CategoryLabel, DepartmentRef, GrantView, OwnInitiativeGrant, ProcessingActivity,
};

/// What sharing with one department would mean.
#[derive(Clone, Debug)]
pub struct ShareOffer {
    /// The department.
    pub department: DepartmentRef,
    /// Its processing activity (purpose, law, retention).
    pub activity: ProcessingActivity,
    /// What it would see.
    pub categories: Vec<CategoryLabel>,
    /// How long it may look.
    pub duration_days: u32,
}

impl Consent {
    /// The offer to share the categories of `wanted` that activity `activity` of
    /// `department` covers, for `duration_days`. `None` when the department is not
    /// registered or is disabled, has no such current activity, or covers none of `wanted`.
    pub async fn share_offer(
        &self,
        department: &str,
        activity: &str,
        wanted: &[String],
        duration_days: u32,
    ) -> Result<Option<ShareOffer>> {
        let departments = self.departments().await?;
        let Some(found) = departments
            .iter()
            .find(|d| d.id == department && !d.disabled)
        else {
            return Ok(None);
        };
        let Some(current) = found
            .processing_activities
            .iter()
            .find(|a| a.id == activity)
        else {
            return Ok(None);
        };
        let covered: Vec<&String> = wanted
            .iter()
            .filter(|c| current.categories.contains(c))
            .collect();
        if covered.is_empty() {
            return Ok(None);
        }
        Ok(Some(ShareOffer {
            department: DepartmentRef {
                id: found.id.clone(),
                name: found.name.clone(),
                privacy_officer: found.privacy_officer.clone(),
            },
            activity: current.clone(),
            categories: self.labels(covered),
            duration_days,
        }))
    }

    /// Shares as `offer` says: one grant on the resident's own initiative.
    pub async fn accept_offer(
        &self,
        context: &Context,
        resident: ResidentId,
        offer: &ShareOffer,
    ) -> Result<GrantView> {
        let grant = OwnInitiativeGrant {
            department: offer.department.id.clone(),
            processing_activity: offer.activity.id.clone(),
            categories: offer.categories.iter().map(|c| c.id.clone()).collect(),
            duration_days: offer.duration_days,
        };
        self.grant_own_initiative(context, resident, &grant).await
    }
}
