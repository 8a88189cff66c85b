// Long: every row the store keeps, one type after another; split, they would only point at each other.
//! The rows the storage port stores: ids, keyed hashes, wrapped keys, sealed bytes and
//! metadata. No row holds a plaintext record or a national identifier.

use chrono::{DateTime, Utc};
pub use kluis_proto::consent::{GrantPause, RequestState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// A resident's vault, as stored: no personal data, only ids and the wrapped data key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentRow {
    /// The resident's internal id (random; never shown to departments).
    pub id: Uuid,
    /// Keyed hash of the login identity (issuer, subject).
    pub identity: String,
    /// The resident's data key, wrapped under a KEK (see `crypto`).
    pub wrapped_key: Vec<u8>,
    /// When the vault was created.
    pub created_at: DateTime<Utc>,
    /// Keyed hash of the resident's national identifier (BSN), if known.
    #[serde(default)]
    pub national_id: Option<String>,
}

/// One stored version of a record: sealed bytes plus the metadata needed to list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The version number (unique per resident and category, never reused).
    pub version: u32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The sealed record (see `crypto::record_aad` for what it is bound to).
    pub sealed: Vec<u8>,
}

/// A record version without its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    /// The version number.
    pub version: u32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// Where a session's token is accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// The portal's `kluis_session` cookie, never a bearer token.
    #[default]
    Browser,
    /// An API client's bearer token, never a cookie.
    Api,
}

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionSubject {
    /// A resident, by internal id.
    Resident {
        /// The resident.
        id: Uuid,
    },
    /// A privacy officer who logged in through the staff provider.
    Officer {
        /// Their officer id.
        id: String,
        /// Their name.
        name: String,
    },
    /// A coach who logged in through the staff provider.
    Coach {
        /// Their coach id.
        id: String,
        /// Their name.
        name: String,
        /// Their department.
        department: String,
    },
}

impl SessionSubject {
    /// Who this is, as one key (`resident:<id>`, `officer:<id>`, `coach:<id>`): sessions are
    /// counted per person by it.
    pub fn key(&self) -> String {
        match self {
            SessionSubject::Resident { id } => format!("resident:{id}"),
            SessionSubject::Officer { id, .. } => format!("officer:{id}"),
            SessionSubject::Coach { id, .. } => format!("coach:{id}"),
        }
    }
}

/// A server-side session; the cookie or bearer token is only a random key to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// Who is logged in.
    pub subject: SessionSubject,
    /// When the login happened (for the absolute timeout).
    pub created_at: DateTime<Utc>,
    /// Last use (for the idle timeout).
    pub last_seen: DateTime<Utc>,
    /// The CSRF token bound to this session, for the portal's forms.
    pub csrf_token: String,
    /// How the session was made (`dev`, `oidc:<provider>`), for the log and page.
    pub login_method: String,
    /// Whether the token is a browser's cookie or an API client's bearer token: each is
    /// accepted only in its own place. `None` on rows from before kinds existed (see
    /// [`SessionRow::kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SessionKind>,
    /// The login this session belongs to: a logout ends every session of the login
    /// (the browser's cookie and API tokens made from it).
    #[serde(default)]
    pub login_id: String,
}

impl SessionRow {
    /// Where the session's token is accepted. A row from before kinds existed is an API
    /// token if it was made as one (`…:api-token`), else a browser's.
    pub fn kind(&self) -> SessionKind {
        self.kind
            .unwrap_or(if self.login_method.ends_with(":api-token") {
                SessionKind::Api
            } else {
                SessionKind::Browser
            })
    }
}

/// A login in progress: what the callback needs, for at most ten minutes, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLoginRow {
    /// The provider's name.
    pub provider: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// SHA-256 of the value in the browser's `kluis_login` cookie.
    pub binding_hash: [u8; 32],
    /// When the login began.
    pub created_at: DateTime<Utc>,
}

/// One version of a processing activity in a department's register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRow {
    /// The activity id within the department.
    pub id: String,
    /// Its version (1, 2, ...).
    pub version: u32,
    /// Its name (Dutch).
    pub name: String,
    /// Its purpose in plain Dutch.
    pub purpose: String,
    /// The longer explanation of the purpose.
    #[serde(default)]
    pub explanation: String,
    /// What happens if the resident says no.
    #[serde(default)]
    pub if_no: String,
    /// How to reach a person.
    #[serde(default)]
    pub contact: String,
    /// What the department does next.
    #[serde(default)]
    pub next_step: String,
    /// The law.
    pub law: String,
    /// The article.
    pub article: String,
    /// Whether the law makes the data necessary.
    #[serde(default)]
    pub necessary: bool,
    /// The categories it may need.
    pub categories: Vec<String>,
    /// Of those, the ones it fills in for the resident.
    #[serde(default)]
    pub writes: Vec<String>,
    /// Retention in days.
    pub retention_days: u32,
    /// To whom the department passes on what it reads (empty for versions registered
    /// before it was asked).
    #[serde(default)]
    pub recipients: String,
    /// When this version was registered.
    pub registered_at: DateTime<Utc>,
    /// A retired activity takes no new requests or grants; its grants live on.
    pub retired: bool,
}

impl GrantRow {
    /// Marks it revoked at `at` unless it already is; whether that changed it.
    pub fn revoke(&mut self, at: DateTime<Utc>) -> bool {
        let change = self.revoked_at.is_none();
        if change {
            self.revoked_at = Some(at);
        }
        change
    }

    /// Changes its pause from `from` to `to` unless it is revoked or its pause is not
    /// `from`; whether that changed it.
    pub fn change_pause(&mut self, from: Option<GrantPause>, to: Option<GrantPause>) -> bool {
        let change = self.revoked_at.is_none() && self.paused == from;
        if change {
            self.paused = to;
        }
        change
    }
}

/// A registered department.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentRow {
    /// The department id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its public keys (JWKS), as registered.
    pub jwks: serde_json::Value,
    /// Every version of every activity, oldest first.
    pub activities: Vec<ActivityRow>,
    /// How residents reach its data protection officer (empty for registrations from
    /// before it was asked).
    #[serde(default)]
    pub privacy_officer: String,
    /// Disabled by the operator: every call is refused.
    /// Where its events are pushed, if anywhere (rows from before push have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_endpoint: Option<String>,
    pub disabled: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Whom an access request is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestSubject {
    /// A known resident.
    Resident {
        /// The resident.
        id: Uuid,
    },
    /// Whoever has this keyed hash of a national identifier (possibly nobody yet).
    NationalId {
        /// The keyed hash.
        hash: String,
    },
}

/// A department's access request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRow {
    /// The request id.
    pub id: Uuid,
    /// The asking department.
    pub department: String,
    /// The activity id.
    pub activity_id: String,
    /// The activity version at the time of asking.
    pub activity_version: u32,
    /// The categories asked for.
    pub categories: Vec<String>,
    /// The duration asked for, in days.
    pub duration_days: u32,
    /// Whom it is about.
    pub subject: RequestSubject,
    /// Where it stands.
    pub state: RequestState,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When the resident decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The grant it produced.
    pub grant_id: Option<Uuid>,
}

/// A grant: the vault's authoritative record of a resident's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRow {
    /// The grant id (JWT `jti`).
    pub id: Uuid,
    /// The department that may read.
    pub department: String,
    /// The resident.
    pub resident: Uuid,
    /// The resident's pairwise reference for that department (JWT `sub`).
    pub reference: String,
    /// The activity id.
    pub activity_id: String,
    /// The activity version.
    pub activity_version: u32,
    /// The granted categories.
    pub categories: BTreeSet<String>,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Valid from.
    pub not_before: DateTime<Utc>,
    /// Valid until (exclusive).
    pub expires_at: DateTime<Utc>,
    /// Thumbprint of the department key the grant is bound to (`cnf.jkt`).
    pub jkt: String,
    /// The signed JWT.
    pub token: String,
    /// The request it answers, if any (none for a grant on the resident's own initiative).
    pub request_id: Option<Uuid>,
    /// When the resident revoked it.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The resident's pause, while it lasts (rows stored before pauses existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<GrantPause>,
}

/// One entry to append to the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditAppend {
    /// Its position.
    pub seq: u64,
    /// Its stored form (`audit::stored`: compact, or its canonical JSON), opaque here.
    pub entry: Vec<u8>,
    /// The perfect subtree hashes it completes: `(level, index, hash)`, its own leaf first.
    pub nodes: Vec<(u8, u64, [u8; 32])>,
    /// Its index keys.
    pub index_keys: Vec<Vec<u8>>,
    /// The change to a resident's records this entry reports, made in the same
    /// transaction: both are stored, or neither.
    pub change: Option<RecordChange>,
}

/// A change stored together with the audit entry that reports it: to a resident's data
/// (records, case statuses), or an event queued for a department.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordChange {
    /// Store one new version.
    Put {
        /// The resident.
        resident: Uuid,
        /// The category.
        category: String,
        /// The sealed version.
        record: StoredRecord,
    },
    /// Remove these versions of a category.
    Delete {
        /// The resident.
        resident: Uuid,
        /// The category.
        category: String,
        /// The versions to remove.
        versions: Vec<u32>,
    },
    /// Add a department's status update on the resident's case. Dropped when the resident
    /// is gone (erased meanwhile), so a status never outlives an erasure.
    AddCaseStatus(CaseStatusRow),
    /// Queue an event for a department (kept, unlike a case status, when the resident is
    /// erased: an erasure request must still reach the department).
    QueueEvent(EventRow),
}

/// An event for a department: a signed Security Event Token, queued with the audit entry
/// that reports it and delivered until the department acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// Its id (the SET's `jti`).
    pub id: Uuid,
    /// The department it is for.
    pub department: String,
    /// Its kind (`grant-revoked`, ...).
    pub kind: String,
    /// The grant it is about, if any.
    pub grant: Option<Uuid>,
    /// The resident's audit reference, if it is about one (to log a confirmation about
    /// the same resident).
    pub resident: Option<String>,
    /// The signed SET, exactly as delivered.
    pub token: String,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When the department acknowledged it (by poll or push); none while it waits.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// A privacy officer's credential, issued by the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerRow {
    /// The officer's id (lowercase letters, digits, dashes).
    pub id: String,
    /// Display name.
    pub name: String,
    /// SHA-256 of the credential token.
    pub token_hash: [u8; 32],
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Withdrawn by the operator.
    pub revoked: bool,
}

/// A department's status update on a resident's case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseStatusRow {
    /// Its id.
    pub id: Uuid,
    /// The grant it was posted under.
    pub grant: Uuid,
    /// The department.
    pub department: String,
    /// The resident.
    pub resident: Uuid,
    /// The status (a fixed kind with its facts, never free text).
    pub status: kluis_proto::cases::CaseStatus,
    /// How to reach the department.
    pub contact: Option<kluis_proto::cases::Contact>,
    /// When it was posted.
    pub posted_at: DateTime<Utc>,
    /// When the resident first saw it.
    pub seen_at: Option<DateTime<Utc>>,
}

/// A coach: a staff member who may look along with residents who let them, registered
/// by the operator and matched to their staff login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoachRow {
    /// The coach's id (lowercase letters, digits, dashes).
    pub id: String,
    /// Their name, as residents see it.
    pub name: String,
    /// The department under whose responsibility they look along.
    pub department: String,
    /// The staff OpenID Provider they log in with (its name in `kluis.toml`).
    pub provider: String,
    /// Their subject (`sub`) at that provider.
    pub subject: String,
    /// When the operator registered them.
    pub created_at: DateTime<Utc>,
    /// When the operator removed them (they can no longer log in or look along).
    pub removed_at: Option<DateTime<Utc>>,
}

/// A short one-time code a coach shows a resident, kept under its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoachCodeRow {
    /// The coach who asked for it.
    pub coach: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Why a resident asks their coach for help (a fixed list: no free text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HelpReason {
    /// They do not understand a question or a letter.
    Understand,
    /// They cannot fill something in.
    FillIn,
    /// A department asked for information.
    Request,
    /// Money worries that cannot wait.
    Urgent,
    /// Something else: please call.
    Call,
}

/// A resident's "help me" signal to the coaches who look along.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpSignal {
    /// Why.
    pub reason: HelpReason,
    /// When they asked.
    pub at: DateTime<Utc>,
}

/// One change to a look-along, applied atomically by the store (so that a help signal and
/// the resident's "stop" at the same moment both hold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookAlongChange {
    /// It ends at this time (unless it ended already).
    End(DateTime<Utc>),
    /// The resident asks for help (unless it ended).
    Help(HelpSignal),
}

impl LookAlongChange {
    /// `row` with this change made.
    pub fn apply(&self, mut row: LookAlongRow) -> LookAlongRow {
        match self {
            LookAlongChange::End(at) => {
                row.ended_at = row.ended_at.or(Some(*at));
            }
            LookAlongChange::Help(signal) if row.ended_at.is_none() => {
                row.help = Some(signal.clone());
            }
            LookAlongChange::Help(_) => {}
        }
        row
    }
}

/// A resident lets a coach look along: which parts, how long, and what else the coach
/// may do. A grant to a person: ended by the resident or by time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookAlongRow {
    /// Its id.
    pub id: Uuid,
    /// The resident.
    pub resident: Uuid,
    /// The coach.
    pub coach: String,
    /// The categories the coach may see (special categories only when ticked).
    pub categories: Vec<String>,
    /// Whether the coach may propose changes to those categories.
    pub may_propose: bool,
    /// Whether the coach may see the resident's scheme suggestions.
    pub may_see_schemes: bool,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ends by itself (exclusive).
    pub ends_at: DateTime<Utc>,
    /// When the resident ended it.
    pub ended_at: Option<DateTime<Utc>>,
    /// The resident's latest "help me" signal, while it is open.
    pub help: Option<HelpSignal>,
}

/// What became of a coach's proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    /// Waiting for the resident.
    Open,
    /// The resident confirmed it: it is stored as their own version.
    Confirmed,
    /// The resident declined it.
    Declined,
    /// Nobody answered within 14 days; its sealed values are gone.
    Lapsed,
}

/// A change a coach proposes to a resident's record; the values are sealed under the
/// resident's data key, like a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRow {
    /// Its id.
    pub id: Uuid,
    /// The look-along it was made under.
    pub look_along: Uuid,
    /// The resident.
    pub resident: Uuid,
    /// The coach who proposed it.
    pub coach: String,
    /// The category.
    pub category: String,
    /// The version it changes (0: the category was empty).
    pub base_version: u32,
    /// The whole proposed record, sealed (see `crypto::proposal_aad`).
    pub sealed: Vec<u8>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it lapses unanswered.
    pub expires_at: DateTime<Utc>,
    /// Its state.
    pub state: ProposalState,
    /// When the resident decided.
    pub decided_at: Option<DateTime<Utc>>,
}

/// What the resident said about a witness statement afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WitnessAnswer {
    /// "Dit klopt".
    Confirmed,
    /// "Dit klopt niet": the grant was revoked and the statement flagged.
    Disputed,
}

/// A coach's statement that the resident said yes to a request, on which the coach
/// approved it on the resident's behalf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRow {
    /// Its id.
    pub id: Uuid,
    /// The look-along it was made under.
    pub look_along: Uuid,
    /// The resident.
    pub resident: Uuid,
    /// The coach who made it.
    pub coach: String,
    /// The request approved.
    pub request: Uuid,
    /// The grant that followed (none until it is issued).
    pub grant: Option<Uuid>,
    /// The department that asked.
    pub department: String,
    /// The categories of the request, as it was approved.
    pub categories: Vec<String>,
    /// How the resident said yes.
    pub channel: kluis_proto::coaching::Channel,
    /// When the coach recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The resident's answer, once given.
    pub answer: Option<WitnessAnswer>,
    /// When the resident answered.
    pub answered_at: Option<DateTime<Utc>>,
}
