//! The audit log on the wire: its entries, and what the privacy officer's API answers.
//!
//! An entry is metadata of one event, never contents or national identifiers. Its
//! canonical bytes (compact JSON with fields in the order below) are the Merkle leaf of the
//! vault's log. Optional fields are left out when empty, so an entry says only what applies.

use crate::consent::ActivityRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A department read (or tried to read) a resident's records.
    Read,
    /// A department asked a resident for access.
    AccessRequest,
    /// A resident decided on a request.
    RequestDecision,
    /// A grant was issued.
    Grant,
    /// A grant was revoked.
    Revocation,
    /// A resident stored a record.
    RecordWrite,
    /// A resident deleted a category.
    RecordDelete,
    /// A resident downloaded their vault.
    Export,
    /// A resident erased their vault.
    Erasure,
    /// The operator registered, changed, disabled or enabled a department.
    DepartmentChange,
    /// The operator rotated the key-encryption key.
    KeyRotation,
    /// The operator issued or withdrew an officer credential.
    OfficerChange,
    /// A privacy officer queried or exported the log.
    OfficerQuery,
    /// A department told the resident where their case stands.
    CaseStatus,
    /// A resident's schemes were evaluated in their vault (a receipt: ids only).
    SchemeCheck,
    /// A resident applied for a scheme by sharing with its department.
    SchemeApplication,
    /// The operator registered or removed a coach.
    CoachChange,
    /// A resident let a coach look along, asked them for help, or ended it (`details.change`).
    LookAlong,
    /// A coach looked (or tried to look) at a part of a resident's vault.
    CoachView,
    /// A coach proposed a change; the resident confirmed or declined it.
    Proposal,
    /// A coach approved a request on the resident's behalf with a witness statement; the
    /// resident confirmed or disputed it.
    WitnessStatement,
    /// A resident paused a grant or let it go on (`details.change`: `paused` or `resumed`;
    /// `details.reason` with a pause).
    Pause,
    /// The vault queued an event for a department (`details.event`: its kind,
    /// `details.event_id`; `details.read` with an erasure request about one read).
    Notice,
    /// A department confirmed it deleted what an erasure request asked it to
    /// (`details.event_id`: the request).
    ErasureConfirmed,
    /// The operator took a backup (`details.audit_entries`: the entries it holds), or a
    /// vault was restored from one (`details.restored_from`: when that backup was taken).
    Backup,
}

impl Action {
    /// Every action, for parsing filters. The vault stores an entry's action as its place
    /// here: add new ones at the end.
    pub const ALL: [Action; 25] = [
        Action::Read,
        Action::AccessRequest,
        Action::RequestDecision,
        Action::Grant,
        Action::Revocation,
        Action::RecordWrite,
        Action::RecordDelete,
        Action::Export,
        Action::Erasure,
        Action::DepartmentChange,
        Action::KeyRotation,
        Action::OfficerChange,
        Action::OfficerQuery,
        Action::CaseStatus,
        Action::SchemeCheck,
        Action::SchemeApplication,
        Action::CoachChange,
        Action::LookAlong,
        Action::CoachView,
        Action::Proposal,
        Action::WitnessStatement,
        Action::Pause,
        Action::Notice,
        Action::ErasureConfirmed,
        Action::Backup,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::AccessRequest => "access_request",
            Action::RequestDecision => "request_decision",
            Action::Grant => "grant",
            Action::Revocation => "revocation",
            Action::RecordWrite => "record_write",
            Action::RecordDelete => "record_delete",
            Action::Export => "export",
            Action::Erasure => "erasure",
            Action::DepartmentChange => "department_change",
            Action::KeyRotation => "key_rotation",
            Action::OfficerChange => "officer_change",
            Action::OfficerQuery => "officer_query",
            Action::CaseStatus => "case_status",
            Action::SchemeCheck => "scheme_check",
            Action::SchemeApplication => "scheme_application",
            Action::CoachChange => "coach_change",
            Action::LookAlong => "look_along",
            Action::CoachView => "coach_view",
            Action::Proposal => "proposal",
            Action::WitnessStatement => "witness_statement",
            Action::Pause => "pause",
            Action::Notice => "notice",
            Action::ErasureConfirmed => "erasure_confirmed",
            Action::Backup => "backup",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An access decision that allowed.
    Allowed,
    /// An access decision that refused (see `reason`).
    Refused,
    /// A request the resident approved.
    Approved,
    /// A request the resident declined.
    Declined,
    /// Any other event that took place.
    Done,
}

impl Outcome {
    /// Every outcome. The vault stores an entry's outcome as its place here: add new ones
    /// at the end.
    pub const ALL: [Outcome; 5] = [
        Outcome::Allowed,
        Outcome::Refused,
        Outcome::Approved,
        Outcome::Declined,
        Outcome::Done,
    ];
}

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A resident (by their audit reference).
    Resident {
        /// The resident's audit reference.
        reference: String,
    },
    /// A department.
    Department {
        /// Its id.
        id: String,
    },
    /// A privacy officer.
    Officer {
        /// Their id.
        id: String,
    },
    /// A coach: a staff member looking along with a resident who let them.
    Coach {
        /// Their coach id.
        id: String,
        /// The department under whose responsibility they look.
        department: String,
        /// Their staff login: provider name and subject.
        staff: String,
    },
    /// The operator (CLI, admin socket).
    Operator,
    /// The vault itself (`kluis dev` seeding, maintenance).
    System,
    /// A caller that could not be authenticated.
    Unknown,
}

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log (the Merkle leaf index).
    pub seq: u64,
    /// When it was logged (the end of the processing).
    pub time: DateTime<Utc>,
    /// When the request that caused it began.
    pub started: DateTime<Utc>,
    /// What happened.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// For refusals: the error code that says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who did it.
    pub actor: Actor,
    /// Whose data it concerns: the resident's audit reference (a pseudonym).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident: Option<String>,
    /// The department involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The grant involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Uuid>,
    /// The access request involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Uuid>,
    /// The categories involved (ids only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// The processing activity (id and version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_activity: Option<ActivityRef>,
    /// Its purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Its legal basis (law and article).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// For grants: valid from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    /// For grants: valid until (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    /// For access decisions: the policy that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Further metadata (officer query filters, department changes): ids and counts only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// W3C trace id (from the caller's `traceparent`, or new).
    pub trace_id: String,
    /// The span of this processing.
    pub span_id: String,
    /// The caller's span, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
}

impl Entry {
    /// An entry with only the action, outcome and actor set; `Audit::record` fills in the
    /// position, times and trace.
    pub fn new(action: Action, outcome: Outcome, actor: Actor) -> Entry {
        Entry {
            seq: 0,
            time: DateTime::<Utc>::UNIX_EPOCH,
            started: DateTime::<Utc>::UNIX_EPOCH,
            action,
            outcome,
            reason: None,
            actor,
            resident: None,
            department: None,
            grant: None,
            request: None,
            categories: Vec::new(),
            processing_activity: None,
            purpose: None,
            legal_basis: None,
            valid_from: None,
            valid_until: None,
            policy: None,
            details: BTreeMap::new(),
            trace_id: String::new(),
            span_id: String::new(),
            parent_span_id: None,
        }
    }

    /// The canonical bytes: what the Merkle tree hashes. The vault stores entries compactly
    /// and rebuilds these bytes when it reads them, so this output is frozen: a changed
    /// field name, order or format would make every stored entry fail its leaf hash.
    pub fn canonical(&self) -> Vec<u8> {
        // Serialising this struct (strings, integers, UUIDs, times, string maps) cannot fail.
        serde_json::to_vec(self).expect("an audit entry serialises")
    }
}

/// A page of the log, as `GET /v1/officer/audit` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries that match, oldest first.
    pub entries: Vec<Entry>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<u64>,
    /// How many entries the log held when the page was read.
    pub tree_size: u64,
}

/// A signed checkpoint of the log (`GET /v1/officer/checkpoint`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointView {
    /// The signed checkpoint (a JWS the vault's published keys verify).
    pub checkpoint: String,
    /// How many entries it covers.
    pub tree_size: u64,
    /// The Merkle root of those entries (base64url).
    pub root_hash: String,
    /// The same checkpoint as a C2SP signed note (tlog-checkpoint), with the cosignatures
    /// witnesses gave it.
    #[serde(default)]
    pub note: String,
    /// The key that verifies the vault's notes: `<origin>+<key id>+<base64 key>`.
    #[serde(default)]
    pub note_key: String,
}

/// An inclusion proof of one entry (`GET /v1/officer/proofs/inclusion`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The entry's position.
    pub seq: u64,
    /// The size of the log the proof is for.
    pub size: u64,
    /// The entry's leaf hash (base64url).
    pub leaf_hash: String,
    /// The root of the first `size` entries (base64url).
    pub root_hash: String,
    /// The audit path, leaf to root (base64url hashes).
    pub proof: Vec<String>,
}

/// A consistency proof between two sizes of the log (`GET /v1/officer/proofs/consistency`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The older size.
    pub old: u64,
    /// The newer size.
    pub new: u64,
    /// The root at the older size (base64url).
    pub old_root: String,
    /// The root at the newer size (base64url).
    pub new_root: String,
    /// The proof (base64url hashes).
    pub proof: Vec<String>,
}

/// The answer to one report (`GET /v1/officer/reports/{name}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportAnswer {
    /// The report's name.
    pub report: String,
    /// The first entry of the range.
    pub from_seq: u64,
    /// The end of the range (exclusive).
    pub to_seq: u64,
    /// The signed checkpoint of the log's first `to_seq` entries: export them, verify
    /// them, and recompute the same answer offline.
    pub checkpoint: String,
    /// The report's result (its shape depends on the report).
    pub result: serde_json::Value,
}

/// The audit reference of the resident a department knows by a pairwise reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentLookup {
    /// The resident's audit reference.
    pub resident: String,
}

/// One erasure request the vault sent a department, and whether the department confirmed
/// it deleted what was asked: the officer's answer to "who still holds data of an erased
/// vault", from the log alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRequestStatus {
    /// The request's event id.
    pub event: Uuid,
    /// The department asked.
    pub department: String,
    /// The resident's audit reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident: Option<String>,
    /// The grant it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Uuid>,
    /// The read it is limited to (its position in the log), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<u64>,
    /// When it was asked (the notice's time).
    pub requested_at: DateTime<Utc>,
    /// When the department confirmed it; none while it has not.
    pub confirmed_at: Option<DateTime<Utc>>,
}
