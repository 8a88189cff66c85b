//! Consent over the wire: departments, access requests, grants and reads.
//!
//! Departments send [`NewAccessRequest`] and [`ReadRequest`] and receive
//! [`DepartmentRequestStatus`], [`DepartmentGrant`] and [`ReadResponse`]; residents see
//! [`RequestView`] and [`GrantView`], which carry the plain-language explanation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The HTTP header that carries a department's client assertion on every call.
pub const CLIENT_ASSERTION_HEADER: &str = "Client-Assertion";

/// The legal basis (*grondslag*) of a processing activity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalBasis {
    /// The law, such as `Participatiewet`.
    pub law: String,
    /// The article, such as `artikel 17`.
    pub article: String,
    /// Whether this law makes the data necessary: without it the department cannot finish
    /// its work (the resident then must hear what happens if they say no).
    #[serde(default)]
    pub necessary: bool,
}

/// A processing activity from a department's register (GDPR art. 30), as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingActivity {
    /// Its id within the department, such as `schuldhulp-traject`.
    pub id: String,
    /// Its version: a changed activity gets a new version; grants keep the old one.
    #[serde(default)]
    pub version: u32,
    /// A short name, in Dutch.
    pub name: String,
    /// What the department does with the data, in plain Dutch (B1), at most 15 words.
    pub purpose: String,
    /// A longer explanation of the purpose, shown folded under "Meer uitleg".
    #[serde(default)]
    pub explanation: String,
    /// What happens if the resident says no, in plain Dutch. Required when the legal
    /// basis makes the data necessary.
    #[serde(default)]
    pub if_no: String,
    /// How the resident reaches a person about this: a phone number, a desk.
    #[serde(default)]
    pub contact: String,
    /// What the department does next after a yes, in plain Dutch.
    #[serde(default)]
    pub next_step: String,
    /// The law that allows the processing.
    pub legal_basis: LegalBasis,
    /// The categories it may ever need.
    pub categories: Vec<String>,
    /// Of those, the ones the department fills in for the resident (categories the
    /// catalogue marks `written_by: department`); a grant under this activity lets it write
    /// them, and the resident is told so before deciding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
    /// How long the department keeps data it read, in days.
    pub retention_days: u32,
    /// To whom the department passes on what it reads, in plain Dutch ("Niemand" when
    /// nobody): GDPR art. 13(1)(e), shown on every request and share screen. Required at
    /// registration; empty only in activities registered before it was asked.
    #[serde(default)]
    pub recipients: String,
}

/// What the operator registers for a department (`kluis department add --file`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentSpec {
    /// The department id: 2 to 64 lowercase letters, digits or dashes.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its public keys: a JWKS with at least one ES256 signing key.
    pub jwks: serde_json::Value,
    /// Its processing activities (the `version` field is ignored here; the vault numbers).
    pub processing_activities: Vec<ProcessingActivity>,
    /// How residents reach its data protection officer (functionaris
    /// gegevensbescherming): an e-mail address or phone number (GDPR art. 13(1)(b)).
    /// Required at registration.
    #[serde(default)]
    pub privacy_officer: String,
    /// Where the vault pushes the department's events (RFC 8935), if anywhere: an https
    /// URL of the department's own system. Without it, the department polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_endpoint: Option<String>,
}

/// A department as the vault lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepartmentInfo {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Whether the operator disabled it (no calls, no reads).
    pub disabled: bool,
    /// How residents reach its data protection officer (empty for registrations from
    /// before it was asked).
    #[serde(default)]
    pub privacy_officer: String,
    /// The current version of each activity that is not retired.
    pub processing_activities: Vec<ProcessingActivity>,
}

/// How a department names the resident it asks about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidentIdentifier {
    /// The pairwise reference from an earlier grant (the grant's `sub`).
    Reference(String),
    /// A national identifier the department already holds lawfully. Only its keyed hash is
    /// compared; the identifier itself is never stored.
    NationalId {
        /// Only `bsn` for now.
        scheme: String,
        /// The number.
        value: String,
    },
}

/// A department's request for access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccessRequest {
    /// Whom it is about.
    pub resident: ResidentIdentifier,
    /// One of the department's processing activities (its current version is used).
    pub processing_activity: String,
    /// The categories asked for: a subset of the activity's categories.
    pub categories: Vec<String>,
    /// For how long, in days (1 to 730).
    pub duration_days: u32,
}

/// The state of an access request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for the resident.
    Pending,
    /// Approved (wholly or in part): a grant exists.
    Approved,
    /// Declined by the resident.
    Declined,
}

/// The state of a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// Reads are allowed within its scope.
    Active,
    /// Withdrawn by the resident.
    Revoked,
    /// Past its end.
    Expired,
    /// Starts later.
    NotYetValid,
    /// Paused by the resident (GDPR art. 18): reads are refused until they let it go on.
    Paused,
}

/// Why a resident paused a grant: the grounds of GDPR art. 18(1), and their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// The data is not correct; the department should wait until it is checked (18(1)(a)).
    DataIncorrect,
    /// The resident thinks the department may not use the data at all (18(1)(b)).
    UseDisputed,
    /// The resident needs the data kept for an objection or a court case (18(1)(c)).
    NeededForClaim,
    /// The resident objected and waits for the answer (18(1)(d)).
    ObjectionMade,
    /// Another reason of the resident's own.
    Other,
}

impl PauseReason {
    /// Every reason, in the order a resident is shown them.
    pub const ALL: [PauseReason; 5] = [
        PauseReason::DataIncorrect,
        PauseReason::UseDisputed,
        PauseReason::NeededForClaim,
        PauseReason::ObjectionMade,
        PauseReason::Other,
    ];

    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::DataIncorrect => "data_incorrect",
            PauseReason::UseDisputed => "use_disputed",
            PauseReason::NeededForClaim => "needed_for_claim",
            PauseReason::ObjectionMade => "objection_made",
            PauseReason::Other => "other",
        }
    }

    /// The reason named `name` (its wire name).
    pub fn parse(name: &str) -> Option<PauseReason> {
        PauseReason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// A grant's pause: since when, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantPause {
    /// When the resident paused it.
    pub since: DateTime<Utc>,
    /// Why.
    pub reason: PauseReason,
}

/// The body of a pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Why the resident pauses the grant.
    pub reason: PauseReason,
}

/// The activity a grant or request is under, by id and version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRef {
    /// The activity id.
    pub id: String,
    /// Its version.
    pub version: u32,
}

/// A grant as its department sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentGrant {
    /// The grant id (the JWT's `jti`).
    pub id: Uuid,
    /// The signed grant (a JWT): portable proof of the resident's decision, and the token
    /// presented on reads.
    pub token: String,
    /// The resident's pairwise reference for this department.
    pub resident: String,
    /// The granted categories.
    pub categories: Vec<String>,
    /// The activity it was granted under.
    pub processing_activity: ActivityRef,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it starts.
    pub not_before: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// Its state now.
    pub state: GrantState,
}

/// An access request as its department sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentRequestStatus {
    /// The request id.
    pub id: Uuid,
    /// Its state.
    pub state: RequestState,
    /// The categories asked for.
    pub categories: Vec<String>,
    /// When it was made.
    pub requested_at: DateTime<Utc>,
    /// When the resident decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The grant, once approved.
    pub grant: Option<DepartmentGrant>,
}

/// The body of a read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The resident the department means to read (the grant's pairwise reference): a
    /// grant for anyone else is refused.
    pub resident: String,
    /// The categories to read: each must lie inside the grant. A set: a category named
    /// twice is read once.
    pub categories: std::collections::BTreeSet<String>,
}

/// One record in a read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadRecord {
    /// The category.
    pub category: String,
    /// Its current version.
    pub version: u32,
    /// When that version was stored.
    pub updated_at: DateTime<Utc>,
    /// The record.
    pub data: serde_json::Value,
}

/// The answer to a read: exactly the categories asked for, and the grant that allowed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadResponse {
    /// The grant that allowed the read.
    pub grant_id: Uuid,
    /// The resident's pairwise reference.
    pub resident: String,
    /// The activity the read falls under.
    pub processing_activity: ActivityRef,
    /// The records of the asked categories that the resident has filled in.
    pub records: Vec<ReadRecord>,
    /// Asked categories the resident has not filled in.
    pub not_filled_in: Vec<String>,
}

/// A category as shown to a resident in a request or grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryLabel {
    /// Its id.
    pub id: String,
    /// Dutch label.
    pub label_nl: String,
    /// English label.
    pub label_en: String,
    /// Special category of personal data (health and the like).
    pub special_category: bool,
}

/// A department as shown to a resident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// How to reach its data protection officer, where the view needs it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub privacy_officer: String,
}

/// An access request as the resident sees it, with everything needed to decide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    /// The request id.
    pub id: Uuid,
    /// Who asks.
    pub department: DepartmentRef,
    /// Under which processing activity: purpose, legal basis, retention.
    pub processing_activity: ProcessingActivity,
    /// What is asked for.
    pub categories: Vec<CategoryLabel>,
    /// For how long, in days.
    pub duration_days: u32,
    /// When it was asked.
    pub requested_at: DateTime<Utc>,
    /// Its state.
    pub state: RequestState,
    /// The whole request in plain Dutch (B1), for reading aloud or showing as is.
    pub summary_nl: String,
}

/// A resident's decision on a request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Approve only these categories (a non-empty subset of the request); all if absent.
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// Approve for fewer days than asked; as asked if absent.
    #[serde(default)]
    pub duration_days: Option<u32>,
}

/// A grant the resident makes on their own initiative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnInitiativeGrant {
    /// The department.
    pub department: String,
    /// One of its processing activities.
    pub processing_activity: String,
    /// The categories, inside the activity's.
    pub categories: Vec<String>,
    /// For how long, in days (1 to 730).
    pub duration_days: u32,
}

/// A grant as the resident sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantView {
    /// The grant id.
    pub id: Uuid,
    /// Who may read.
    pub department: DepartmentRef,
    /// Under which processing activity.
    pub processing_activity: ProcessingActivity,
    /// What may be read.
    pub categories: Vec<CategoryLabel>,
    /// When it was given.
    pub issued_at: DateTime<Utc>,
    /// Until when.
    pub expires_at: DateTime<Utc>,
    /// Its state now.
    pub state: GrantState,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Its pause, while the resident has paused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<GrantPause>,
}
