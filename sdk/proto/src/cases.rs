//! Where a resident's case stands: the status updates a department posts under a grant it
//! holds (`POST /v1/dept/grants/{id}/status`). A status is a kind from a fixed list, with
//! its few facts; the resident reads each in plain words from the vault's own sentences,
//! never a department's free text.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a department says about a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CaseStatus {
    /// The department received the case and is working on it.
    Received,
    /// An appointment is planned.
    AppointmentPlanned {
        /// The day (`YYYY-MM-DD`).
        date: NaiveDate,
        /// The time of day (`HH:MM`), if set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<String>,
        /// Where: an address or "by phone" (at most 100 characters).
        place: String,
    },
    /// The department needs more information: these categories (catalogue ids).
    MoreInformationNeeded {
        /// What to fill in or bring up to date.
        categories: Vec<String>,
    },
    /// A decision is expected by this day.
    DecisionExpected {
        /// The day (`YYYY-MM-DD`).
        by: NaiveDate,
    },
    /// The decision is made (the resident gets it by letter).
    DecisionMade,
}

impl CaseStatus {
    /// The kind's name, as in the API.
    pub fn kind(&self) -> &'static str {
        match self {
            CaseStatus::Received => "received",
            CaseStatus::AppointmentPlanned { .. } => "appointment_planned",
            CaseStatus::MoreInformationNeeded { .. } => "more_information_needed",
            CaseStatus::DecisionExpected { .. } => "decision_expected",
            CaseStatus::DecisionMade => "decision_made",
        }
    }
}

/// How the resident reaches the department about this case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// A phone number (digits, spaces, `+`, `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A desk or contact person (at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk: Option<String>,
}

/// The body of `POST /v1/dept/grants/{id}/status`:
/// `{"status": {"kind": "appointment_planned", "date": "2026-12-08", "place": "Stadskantoor"},
/// "contact": {"phone": "14 078"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCaseStatus {
    /// The status.
    pub status: CaseStatus,
    /// How to reach the department, if it wants to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
}

/// A posted status, as the vault keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseStatusView {
    /// Its id.
    pub id: Uuid,
    /// The grant it was posted under.
    pub grant: Uuid,
    /// The department.
    pub department: String,
    /// The status.
    pub status: CaseStatus,
    /// The contact line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    /// When it was posted.
    pub posted_at: DateTime<Utc>,
}

/// Grants residents gave on their own initiative, after a cursor
/// (`GET /v1/dept/shares?after=...`): how a department's system learns of a share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharesPage {
    /// The grants, oldest first.
    pub grants: Vec<crate::consent::DepartmentGrant>,
    /// Pass this as `after` next time (unchanged when there was nothing new).
    pub cursor: String,
}
