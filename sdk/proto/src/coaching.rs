//! Looking along: what the resident's API and the coach's API exchange. A look-along is
//! a grant to a person (a coach); a proposal is a change a coach suggests; a witness
//! statement records how a resident said yes to a request through their coach.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A coach, as residents see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoachRef {
    /// The coach's id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// The department under whose responsibility they look along.
    pub department: String,
}

/// A resident lets a coach look along (`POST /v1/me/look-alongs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLookAlong {
    /// The code the coach showed ("K7QM-3XPA"); or give `coach`.
    #[serde(default)]
    pub code: Option<String>,
    /// A coach who looked along before (their id); or give `code`.
    #[serde(default)]
    pub coach: Option<String>,
    /// The categories the coach may see (special categories only when listed).
    pub categories: Vec<String>,
    /// Until the end of this day (Dutch time), at most 90 days ahead; absent: this
    /// conversation (two hours).
    #[serde(default)]
    pub until: Option<NaiveDate>,
    /// Whether the coach may propose changes.
    #[serde(default)]
    pub may_propose: bool,
    /// Whether the coach may see the resident's scheme suggestions.
    #[serde(default)]
    pub may_see_schemes: bool,
}

/// A look-along.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookAlongView {
    /// Its id.
    pub id: Uuid,
    /// The coach (in the coach's own API: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coach: Option<CoachRef>,
    /// The categories the coach may see.
    pub categories: Vec<String>,
    /// Whether the coach may propose changes.
    pub may_propose: bool,
    /// Whether the coach may see scheme suggestions.
    pub may_see_schemes: bool,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ends by itself.
    pub ends_at: DateTime<Utc>,
    /// The resident's "help me" reason, if they asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// A one-time code for a coach to show a resident (`POST /v1/coach/codes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeView {
    /// The code: eight characters, "K7QM-3XPA".
    pub code: String,
    /// When it stops working (ten minutes; it works once).
    pub expires_at: DateTime<Utc>,
}

/// A coach proposes a change (`POST /v1/coach/residents/{id}/proposals`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProposal {
    /// The category.
    pub category: String,
    /// The version it changes (0: the category is empty).
    pub base_version: u32,
    /// The whole new record, valid against the category's schema.
    pub data: serde_json::Value,
}

/// A proposal, as the resident sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalView {
    /// Its id.
    pub id: Uuid,
    /// Who proposed it.
    pub coach: CoachRef,
    /// The category.
    pub category: String,
    /// The version it changes (0: empty).
    pub base_version: u32,
    /// The record as it is now (null when empty).
    pub current: serde_json::Value,
    /// The record as proposed.
    pub proposed: serde_json::Value,
    /// When it lapses unanswered.
    pub expires_at: DateTime<Utc>,
}

/// A proposal, as the coach who made it sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalMade {
    /// Its id.
    pub id: Uuid,
    /// The category.
    pub category: String,
    /// When it lapses unanswered.
    pub expires_at: DateTime<Utc>,
}

/// How a resident said yes to their coach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// On the phone.
    Phone,
    /// At the desk.
    Desk,
    /// In a video call.
    Video,
}

/// A coach approves a request on the resident's behalf
/// (`POST /v1/coach/residents/{id}/requests/{request}/approve`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessApproval {
    /// How the resident said yes.
    pub channel: Channel,
    /// Must be true: the coach read the request aloud and the resident said yes.
    pub resident_said_yes: bool,
}

/// A witness statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementView {
    /// Its id.
    pub id: Uuid,
    /// The coach who made it.
    pub coach: String,
    /// The request approved.
    pub request: Uuid,
    /// The grant that followed.
    pub grant: Option<Uuid>,
    /// The department that asked.
    pub department: String,
    /// The categories shared.
    pub categories: Vec<String>,
    /// How the resident said yes.
    pub channel: Channel,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}
