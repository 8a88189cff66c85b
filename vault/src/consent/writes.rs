//! Departments writing what they know better than the resident: the categories the
//! catalogue marks `written_by: department` (the step of debt counselling, self-reliance
//! scores). A department writes one only under an active grant of its own that covers that
//! category, given under an activity that declares it `writes` it, so the resident was told
//! before deciding; the resident sees every version and
//! who wrote it in their history, and cannot change it themselves.

use super::{Consent, access, activity_version, with_activity};
use crate::audit::Context;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::auth::departments::DepartmentPrincipal;
use crate::{Error, Result};
use kluis_proto::consent::GrantState;
use kluis_proto::records::RecordWritten;
use uuid::Uuid;

impl Consent {
    /// Stores a new version of `category` for the resident of grant `id`, written by
    /// `department`.
    pub async fn department_write(
        &self,
        context: &Context,
        department: &DepartmentPrincipal,
        id: Uuid,
        category: &str,
        data: &serde_json::Value,
    ) -> Result<RecordWritten> {
        let grant = self.held_grant(department, id).await?;
        match access::state(&grant, self.clock.now()) {
            GrantState::Active => {}
            GrantState::Revoked => return Err(Error::GrantRevoked),
            GrantState::Expired => return Err(Error::GrantExpired),
            GrantState::NotYetValid => return Err(Error::GrantNotYetValid),
        }
        if !grant.categories.contains(category) {
            return Err(Error::OutOfScope(format!(
                "{category} lies outside this grant; ask the resident for it"
            )));
        }
        // The resident was told the department fills it in: the activity version the grant
        // was given under says so.
        let activity =
            activity_version(&department.row, &grant.activity_id, grant.activity_version)?;
        if !activity.writes.iter().any(|c| c == category) {
            return Err(Error::OutOfScope(format!(
                "activity {} v{} does not fill in {category}; register it under `writes` and ask the resident again",
                activity.id, activity.version
            )));
        }
        let actor = Actor::Department {
            id: department.id().to_owned(),
        };
        let mut entry = with_activity(
            Entry::new(Action::RecordWrite, Outcome::Done, actor),
            department.id(),
            activity,
        );
        entry.department = Some(department.id().to_owned());
        entry.grant = Some(grant.id);
        entry.resident = Some(self.residents.audit_reference(grant.resident));
        entry.categories = vec![category.to_owned()];
        self.residents
            .write_for_department(context, grant.resident, category, data, entry)
            .await
    }
}
