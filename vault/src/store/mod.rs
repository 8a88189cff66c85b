//! The storage port: what the vault needs from a database, as traits, and the adapters.
//!
//! Domain modules talk to `Arc<dyn Store>` and never see a database type. The port is
//! split by area (one trait each, in this file) so that an adapter can be read one area at
//! a time. The embedded default is [`sled`](self::sled) (one binary, one data directory);
//! a PostgreSQL adapter implements the same traits for deployments that outgrow one machine.
//!
//! Contract every adapter keeps:
//! - **Durable on return.** A write method returns only after the write is durable; an
//!   adapter shares one flush between concurrent writers (group commit).
//! - **Opaque sealed bytes.** Records arrive already encrypted; the store never sees
//!   plaintext and cannot tell a record's contents.
//! - **Versioned values.** Every stored value starts with a format version byte, so a
//!   future layout can be read next to the old one, and an unknown one is refused.

pub mod sled;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What can go wrong in storage. Messages name keys and operations, never contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or written (I/O error, failed flush, full disk).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored value cannot be decoded: corruption or an unknown format version.
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// The database was created by an incompatible version of Kluis, or is not a Kluis
    /// database at all.
    #[error("{0}")]
    Incompatible(String),
}

/// Shorthand for results of the storage port.
pub type StoreResult<T> = Result<T, StoreError>;

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
    /// The login this session belongs to: a logout ends every session of the login
    /// (the browser's cookie and API tokens made from it).
    #[serde(default)]
    pub login_id: String,
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
    /// The law.
    pub law: String,
    /// The article.
    pub article: String,
    /// The categories it may need.
    pub categories: Vec<String>,
    /// Retention in days.
    pub retention_days: u32,
    /// When this version was registered.
    pub registered_at: DateTime<Utc>,
    /// A retired activity takes no new requests or grants; its grants live on.
    pub retired: bool,
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
    /// Disabled by the operator: every call is refused.
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

/// Where an access request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for the resident.
    Pending,
    /// Approved; the grant id is set.
    Approved,
    /// Declined.
    Declined,
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
    pub categories: Vec<String>,
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
}

/// Residents and their wrapped data keys.
#[async_trait]
pub trait ResidentStore: Send + Sync {
    /// The resident whose login identity has keyed hash `identity`.
    async fn resident_by_identity(&self, identity: &str) -> StoreResult<Option<ResidentRow>>;
    /// The resident with internal id `id`.
    async fn resident(&self, id: Uuid) -> StoreResult<Option<ResidentRow>>;
    /// Inserts `row` unless a resident with the same identity exists; returns the row that
    /// is stored afterwards (so two concurrent first logins end with one vault).
    async fn insert_resident(&self, row: &ResidentRow) -> StoreResult<ResidentRow>;
    /// Up to `limit` residents with an id greater than `after`, in id order (for rotation).
    async fn residents_after(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<ResidentRow>>;
    /// Replaces the wrapped key of `id` if it still equals `expected` (a rotation step that
    /// must not resurrect a vault erased meanwhile). Returns whether it was replaced.
    async fn replace_wrapped_key(&self, id: Uuid, expected: &[u8], new: &[u8])
    -> StoreResult<bool>;
    /// Records the keyed hash of the resident's national identifier (replacing any other).
    async fn set_national_id(&self, id: Uuid, hash: &str) -> StoreResult<()>;
    /// The resident with this national-identifier hash.
    async fn resident_by_national_id(&self, hash: &str) -> StoreResult<Option<ResidentRow>>;
    /// Erases a vault: the resident row with its wrapped data key, its identity and
    /// national-id index entries, every record and record counter, its pairwise
    /// references, and its sessions. Grants and requests are the caller's to end first.
    /// Durable on return. Old copies may remain in the database's files until the next
    /// key rotation destroys the key that wrapped the data key.
    async fn erase_resident(&self, id: Uuid) -> StoreResult<()>;
    /// When a key rotation is due because a vault was erased (none if not due).
    async fn rotation_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Sets (`Some`) or clears (`None`) the time a rotation is due. Durable on return.
    async fn set_rotation_due(&self, at: Option<DateTime<Utc>>) -> StoreResult<()>;
}

/// Registered departments.
#[async_trait]
pub trait DepartmentStore: Send + Sync {
    /// Inserts or replaces a department. Durable on return.
    async fn put_department(&self, row: &DepartmentRow) -> StoreResult<()>;
    /// One department.
    async fn department(&self, id: &str) -> StoreResult<Option<DepartmentRow>>;
    /// Every department, by id.
    async fn departments(&self) -> StoreResult<Vec<DepartmentRow>>;
}

/// Access requests, grants and pairwise references.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Stores a new request. Durable on return.
    async fn insert_request(&self, row: &RequestRow) -> StoreResult<()>;
    /// One request.
    async fn request(&self, id: Uuid) -> StoreResult<Option<RequestRow>>;
    /// Every request about any of `subjects`, oldest first.
    async fn requests_about(&self, subjects: &[RequestSubject]) -> StoreResult<Vec<RequestRow>>;
    /// Replaces a request that is still pending with `decided`, and stores `grant` with it,
    /// atomically. Returns false (changing nothing) if the request is no longer pending.
    async fn decide_request(
        &self,
        decided: &RequestRow,
        grant: Option<&GrantRow>,
    ) -> StoreResult<bool>;
    /// Stores a grant made without a request. Durable on return.
    async fn insert_grant(&self, row: &GrantRow) -> StoreResult<()>;
    /// One grant.
    async fn grant(&self, id: Uuid) -> StoreResult<Option<GrantRow>>;
    /// Every grant of a resident.
    async fn grants_of_resident(&self, resident: Uuid) -> StoreResult<Vec<GrantRow>>;
    /// Every grant to a department.
    async fn grants_of_department(&self, department: &str) -> StoreResult<Vec<GrantRow>>;
    /// Marks a grant revoked at `at` unless it already is; returns the stored row
    /// afterwards. Durable on return: the next read sees it.
    async fn revoke_grant(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<Option<GrantRow>>;
    /// The resident behind a department's pairwise reference.
    async fn resident_by_reference(
        &self,
        department: &str,
        reference: &str,
    ) -> StoreResult<Option<Uuid>>;
}

/// One entry to append to the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditAppend {
    /// Its position.
    pub seq: u64,
    /// Its canonical bytes (the Merkle leaf).
    pub entry: Vec<u8>,
    /// The perfect subtree hashes it completes: `(level, index, hash)`, its own leaf first.
    pub nodes: Vec<(u8, u64, [u8; 32])>,
    /// Its index keys.
    pub index_keys: Vec<Vec<u8>>,
}

/// The audit log's storage: entries by sequence number, the perfect subtree hashes of its
/// Merkle tree, and secondary indexes. The Merkle rules live in `audit`; this only stores.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Stores a batch of consecutive entries with their nodes and index keys, all or
    /// nothing. Not durable on return: call [`AuditStore::sync`].
    async fn append_audit(&self, batch: &[AuditAppend]) -> StoreResult<()>;
    /// Makes everything written so far durable.
    async fn sync(&self) -> StoreResult<()>;
    /// How many entries the log holds.
    async fn audit_len(&self) -> StoreResult<u64>;
    /// Entries `[from, to)`, in order.
    async fn audit_entries(&self, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>>;
    /// The hashes of perfect subtrees `(level, index)`, in the order asked.
    async fn audit_nodes(&self, nodes: &[(u8, u64)]) -> StoreResult<Vec<Option<[u8; 32]>>>;
    /// Sequence numbers under index `key`, from `from_seq` on, at most `limit`.
    async fn audit_index(&self, key: &[u8], from_seq: u64, limit: usize) -> StoreResult<Vec<u64>>;
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

/// Officer credentials.
#[async_trait]
pub trait OfficerStore: Send + Sync {
    /// Stores (or replaces) an officer. Durable on return.
    async fn put_officer(&self, row: &OfficerRow) -> StoreResult<()>;
    /// The officer whose credential has this hash.
    async fn officer_by_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<OfficerRow>>;
    /// Every officer.
    async fn officers(&self) -> StoreResult<Vec<OfficerRow>>;
}

/// One-time use of token ids (client assertion and DPoP `jti`s).
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records `key` until `expires_at`; false if it was already recorded (a replay).
    async fn first_use(&self, key: &[u8; 32], expires_at: DateTime<Utc>) -> StoreResult<bool>;
    /// Forgets keys that expired before `now`; returns how many.
    async fn purge_replays(&self, now: DateTime<Utc>) -> StoreResult<usize>;
}

/// Versioned, sealed records per resident and category.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Reserves the next version number of (`resident`, `category`). Numbers are never
    /// handed out twice, even after the category is deleted.
    async fn reserve_record_version(&self, resident: Uuid, category: &str) -> StoreResult<u32>;
    /// Stores one version. Durable on return.
    async fn put_record(
        &self,
        resident: Uuid,
        category: &str,
        record: &StoredRecord,
    ) -> StoreResult<()>;
    /// One version, or the current (highest) one with `version: None`.
    async fn record(
        &self,
        resident: Uuid,
        category: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<StoredRecord>>;
    /// Every stored version, oldest first.
    async fn record_versions(&self, resident: Uuid, category: &str)
    -> StoreResult<Vec<RecordMeta>>;
    /// The current version of every category the resident has, by category id.
    async fn record_summaries(&self, resident: Uuid) -> StoreResult<Vec<(String, RecordMeta)>>;
    /// Deletes every version of a category; returns how many there were. Durable on return.
    async fn delete_category(&self, resident: Uuid, category: &str) -> StoreResult<u32>;
}

/// Server-side sessions, keyed by the SHA-256 of their token.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session. Durable on return.
    async fn put_session(&self, token_hash: &[u8; 32], row: &SessionRow) -> StoreResult<()>;
    /// The session, if it exists.
    async fn session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRow>>;
    /// Records use of a session. Not flushed on its own: losing a touch in a crash only
    /// makes a session end a little sooner.
    async fn touch_session(&self, token_hash: &[u8; 32], at: DateTime<Utc>) -> StoreResult<()>;
    /// Ends a session. Durable on return.
    async fn delete_session(&self, token_hash: &[u8; 32]) -> StoreResult<()>;
    /// Ends every session of a login; returns how many. Durable on return.
    async fn delete_login(&self, login_id: &str) -> StoreResult<usize>;
    /// Stores a login in progress under the SHA-256 of its `state`. Durable on return.
    async fn put_pending_login(
        &self,
        state_hash: &[u8; 32],
        row: &PendingLoginRow,
    ) -> StoreResult<()>;
    /// Removes and returns the login in progress with this `state` hash: it can be used
    /// once only.
    async fn take_pending_login(
        &self,
        state_hash: &[u8; 32],
    ) -> StoreResult<Option<PendingLoginRow>>;
}

/// The whole storage port.
#[async_trait]
pub trait Store:
    ResidentStore
    + RecordStore
    + SessionStore
    + DepartmentStore
    + ConsentStore
    + ReplayStore
    + AuditStore
    + OfficerStore
    + Send
    + Sync
    + 'static
{
    /// Whether the store can serve: open, and its last flush succeeded.
    async fn check(&self) -> StoreResult<()>;
    /// Whether the database held no vault data when it was opened.
    fn was_fresh(&self) -> bool;
}
