//! What GDPR art. 13 says a resident must be told before they share: who is responsible,
//! to whom the department passes the data on, and how to reach its data protection officer
//! (`privacy_facts.html`, per department), and, once per page, their rights and where to
//! complain (`privacy_rights.html`). Purpose, law, categories and how long the department
//! keeps the data are on each screen already.

use crate::language::Texts;
use crate::state::AppState;
use kluis_proto::consent::{DepartmentRef, ProcessingActivity};

/// The facts of one department's notice, in the resident's language.
pub struct PrivacyNotice {
    /// "Gemeente Voorbeeld, Schuldhulpverlening".
    pub controller: String,
    /// To whom it passes the data on; empty for registrations from before it was asked.
    pub recipients: String,
    /// How to reach its data protection officer; empty likewise.
    pub officer: String,
}

/// The notice for `activity` of `department`.
pub fn notice(
    state: &AppState,
    department: &DepartmentRef,
    activity: &ProcessingActivity,
    t: Texts,
) -> PrivacyNotice {
    PrivacyNotice {
        controller: t.fill(
            "privacy.controller",
            &[
                ("municipality", &state.site.municipality.name),
                ("department", &department.name),
            ],
        ),
        recipients: activity.recipients.clone(),
        officer: department.privacy_officer.clone(),
    }
}
