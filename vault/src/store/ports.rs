// Long: every storage port in one file, the one contract both adapters keep.
//! The storage port, one trait per area, and the bundles each service holds.

use super::rows::*;
use super::{StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Residents and their wrapped data keys.
#[async_trait]
pub trait ResidentStore: Send + Sync {
    /// The resident whose login identity has keyed hash `identity`.
    async fn resident_by_identity(&self, identity: &str) -> StoreResult<Option<ResidentRow>>;
    /// The resident with internal id `id`.
    async fn resident(&self, id: Uuid) -> StoreResult<Option<ResidentRow>>;
    /// Inserts `row`, whose data key is wrapped under KEK `kek_version`, unless a resident
    /// with the same identity exists; returns the row that is stored afterwards (so two
    /// concurrent first logins end with one vault). Refuses, storing nothing, with
    /// [`StoreError::KekReplaced`](super::StoreError::KekReplaced) when a newer KEK was
    /// announced ([`ResidentStore::announce_kek`]): a rotation that would destroy the
    /// older KEK without seeing this vault is under way.
    async fn insert_resident(
        &self,
        row: &ResidentRow,
        kek_version: u32,
    ) -> StoreResult<ResidentRow>;
    /// Announces that KEK `version` replaces the older ones (a rotation begins). From its
    /// return on no vault under an older KEK is stored, and every vault stored before is
    /// seen by [`ResidentStore::residents_after`]. Never lowers the version. Durable.
    async fn announce_kek(&self, version: u32) -> StoreResult<()>;
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
    /// references, its sessions, the case statuses departments posted about it, and its
    /// look-alongs, coaches' proposals and witness statements. Grants and requests are the caller's to end first.
    /// Durable on return. Old copies may remain in the database's files until the next
    /// key rotation destroys the key that wrapped the data key.
    async fn erase_resident(&self, id: Uuid) -> StoreResult<()>;
    /// When a key rotation is due because a vault was erased (none if not due).
    async fn rotation_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Sets (`Some`) or clears (`None`) the time a rotation is due. Durable on return.
    async fn set_rotation_due(&self, at: Option<DateTime<Utc>>) -> StoreResult<()>;
    /// Sets the time a rotation is due to `new` only if it is still `expected`; returns
    /// whether it did. Durable on return. (Several nodes: one claims a due rotation, and
    /// clears it afterwards only if no erasure set it again meanwhile.)
    async fn replace_rotation_due(
        &self,
        expected: Option<DateTime<Utc>>,
        new: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
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
    /// One grant with the department it was given to, in one lookup (a read's first). The
    /// department is `None` only if it is not registered.
    async fn grant_with_department(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<(GrantRow, Option<DepartmentRow>)>>;
    /// Every grant of a resident.
    async fn grants_of_resident(&self, resident: Uuid) -> StoreResult<Vec<GrantRow>>;
    /// Every grant to a department.
    async fn grants_of_department(&self, department: &str) -> StoreResult<Vec<GrantRow>>;
    /// Marks a grant revoked at `at` unless it already is; returns the stored row
    /// afterwards and whether this call revoked it (of two at once, one did). Durable on
    /// return: the next read sees it.
    async fn revoke_grant(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(GrantRow, bool)>>;
    /// Changes a grant's pause from `from` to `to` (`Some`: paused, `None`: not), unless
    /// it is revoked or its pause is not `from` (someone changed it meanwhile); returns the
    /// stored row afterwards and whether this call changed it. Durable on return: the next
    /// read sees it.
    async fn set_grant_pause(
        &self,
        id: Uuid,
        from: Option<GrantPause>,
        to: Option<GrantPause>,
    ) -> StoreResult<Option<(GrantRow, bool)>>;
    /// The resident behind a department's pairwise reference.
    async fn resident_by_reference(
        &self,
        department: &str,
        reference: &str,
    ) -> StoreResult<Option<Uuid>>;
}

/// The audit log's storage: entries by sequence number, the perfect subtree hashes of its
/// Merkle tree, and secondary indexes. The Merkle rules live in `audit`; this only stores.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Stores a batch of consecutive entries with their nodes, index keys and record
    /// changes, all or nothing. Not durable on return: call [`AuditStore::sync_appends`]. When
    /// several nodes share the database and another one appended first (the batch's first
    /// position is no longer the log's end), stores nothing and returns
    /// [`StoreError::AuditMoved`](super::StoreError::AuditMoved) with the log's length;
    /// it may then keep the log held (see [`AuditStore::hold_audit`]) for the next append.
    async fn append_audit(&self, batch: &[AuditAppend]) -> StoreResult<()>;
    /// Keeps every other node from appending until this node's next append is stored or
    /// [`AuditStore::release_audit`], so that a node whose tree fell behind reloads it and
    /// appends without being overtaken again. A store that one process uses alone has
    /// nothing to hold.
    async fn hold_audit(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Lets the other nodes append again.
    async fn release_audit(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Makes everything written so far durable.
    async fn sync(&self) -> StoreResult<()>;
    /// Makes every batch appended so far durable (what the log's writer calls after each
    /// append); a store may have made some durable in the append already.
    async fn sync_appends(&self) -> StoreResult<()>;
    /// The entries a crash left after the log's end, which the store may take up: their
    /// positions, stored forms and nodes (no index keys), in order. Empty but for a store
    /// whose batches can be durable before they are committed (sled: see its audit files).
    async fn audit_tail(&self) -> StoreResult<Vec<AuditAppend>> {
        Ok(Vec::new())
    }
    /// Takes up the first `batch.len()` entries of [`AuditStore::audit_tail`] (checked by
    /// the caller against the tree, with their index keys) and drops the rest: the log ends
    /// after them, durably. Nothing is appended before this, if the tail is not empty.
    async fn take_up_audit_tail(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        match batch {
            [] => Ok(()),
            _ => Err(StoreError::Corrupt(
                "the audit log has no tail to take up".into(),
            )),
        }
    }
    /// How many entries the log holds.
    async fn audit_len(&self) -> StoreResult<u64>;
    /// Entries `[from, to)`, in order.
    async fn audit_entries(&self, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>>;
    /// The hashes of perfect subtrees `(level, index)`, in the order asked.
    async fn audit_nodes(&self, nodes: &[(u8, u64)]) -> StoreResult<Vec<Option<[u8; 32]>>>;
    /// Sequence numbers under index `key`, from `from_seq` on, at most `limit`.
    async fn audit_index(&self, key: &[u8], from_seq: u64, limit: usize) -> StoreResult<Vec<u64>>;
    /// Stores witness `witness`'s cosignature line of the checkpoint of `size`, replacing
    /// its earlier one for that size. Durable on return.
    async fn put_cosignature(&self, size: u64, witness: &str, line: &str) -> StoreResult<()>;
    /// The cosignature lines stored for the checkpoint of `size`, by witness name.
    async fn cosignatures(&self, size: u64) -> StoreResult<Vec<String>>;
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

/// Coaches, the codes they show residents, the residents who let them look along, the
/// changes they propose, and their witness statements.
#[async_trait]
pub trait CoachStore: Send + Sync {
    /// Stores (or replaces) a coach by id. Durable on return.
    async fn put_coach(&self, row: &CoachRow) -> StoreResult<()>;
    /// One coach.
    async fn coach(&self, id: &str) -> StoreResult<Option<CoachRow>>;
    /// Every coach, by id.
    async fn coaches(&self) -> StoreResult<Vec<CoachRow>>;
    /// Stores a coach's one-time code under its hash. Durable on return.
    async fn put_coach_code(&self, code_hash: &[u8; 32], row: &CoachCodeRow) -> StoreResult<()>;
    /// The code with this hash, left in place (to show the resident whose it is).
    async fn coach_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<CoachCodeRow>>;
    /// Removes and returns the code with this hash: a code works once only. Durable on
    /// return.
    async fn take_coach_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<CoachCodeRow>>;
    /// Stores a new look-along. Durable on return.
    async fn put_look_along(&self, row: &LookAlongRow) -> StoreResult<()>;
    /// Makes `change` to look-along `id` atomically; returns the row afterwards (none if
    /// there is no such look-along). Durable on return.
    async fn change_look_along(
        &self,
        id: Uuid,
        change: &LookAlongChange,
    ) -> StoreResult<Option<LookAlongRow>>;
    /// One look-along.
    async fn look_along(&self, id: Uuid) -> StoreResult<Option<LookAlongRow>>;
    /// Every look-along of a resident, oldest first.
    async fn look_alongs_of_resident(&self, resident: Uuid) -> StoreResult<Vec<LookAlongRow>>;
    /// Every look-along with a coach, oldest first.
    async fn look_alongs_of_coach(&self, coach: &str) -> StoreResult<Vec<LookAlongRow>>;
    /// Stores (or replaces) a proposal by id. Durable on return.
    async fn put_proposal(&self, row: &ProposalRow) -> StoreResult<()>;
    /// One proposal.
    async fn proposal(&self, id: Uuid) -> StoreResult<Option<ProposalRow>>;
    /// Every proposal to a resident, oldest first.
    async fn proposals_of_resident(&self, resident: Uuid) -> StoreResult<Vec<ProposalRow>>;
    /// Forgets codes that expired before `now`, and marks proposals that lapsed before
    /// `now` unanswered as lapsed, dropping their sealed values; returns how many.
    async fn purge_coaching(&self, now: DateTime<Utc>) -> StoreResult<usize>;
    /// Stores (or replaces) a witness statement by id. Durable on return.
    async fn put_witness(&self, row: &WitnessRow) -> StoreResult<()>;
    /// One witness statement.
    async fn witness(&self, id: Uuid) -> StoreResult<Option<WitnessRow>>;
    /// Every witness statement about a resident, oldest first.
    async fn witnesses_of_resident(&self, resident: Uuid) -> StoreResult<Vec<WitnessRow>>;
}

/// When a one-time token id must be durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// With the caller's next durable write (a read's audit entry): a crash before it loses
    /// the id together with everything the call did, so a replay finds nothing done.
    WithNextWrite,
    /// Before `first_use` returns: for calls that write nothing durable themselves (a
    /// department listing its grants), whose token must stay used after a crash.
    Now,
}

/// One-time use of token ids (client assertion and DPoP `jti`s).
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records `key` until `expires_at`, durable as `durability` says; false if it was
    /// already recorded (a replay).
    async fn first_use(
        &self,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
        durability: Durability,
    ) -> StoreResult<bool>;
    /// Forgets keys that expired before `now`; returns how many.
    async fn purge_replays(&self, now: DateTime<Utc>) -> StoreResult<usize>;
    /// How many token ids are remembered.
    async fn replay_count(&self) -> StoreResult<usize>;
}

/// Versioned, sealed records per resident and category. Versions are stored and removed
/// only together with the audit entry that reports them ([`AuditStore::append_audit`]).
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Reserves the next version number of (`resident`, `category`). Numbers are never
    /// handed out twice, even after the category is deleted.
    async fn reserve_record_version(&self, resident: Uuid, category: &str) -> StoreResult<u32>;
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
    /// The resident's row and the current version of each category of `categories` they
    /// have (by category id, each once, in no set order): what a read of current records
    /// opens, in one round trip where the database allows. `None` when there is no such
    /// resident.
    async fn resident_with_current(
        &self,
        resident: Uuid,
        categories: &[String],
    ) -> StoreResult<Option<(ResidentRow, Vec<(String, StoredRecord)>)>>;
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
    /// The sessions of one person (by [`SessionSubject::key`]): token digest and when each
    /// was made, oldest first.
    async fn sessions_of(&self, subject: &str) -> StoreResult<Vec<([u8; 32], DateTime<Utc>)>>;
    /// Forgets sessions last used before `idle_before` or made before `created_before`
    /// (ended by their timeouts, but never presented again); returns how many.
    async fn purge_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<usize>;
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
    /// Forgets logins in progress started before `started_before` (never finished);
    /// returns how many.
    async fn purge_pending_logins(&self, started_before: DateTime<Utc>) -> StoreResult<usize>;
    /// How many logins are in progress.
    async fn pending_login_count(&self) -> StoreResult<usize>;
    /// How many sessions are stored (ended ones not yet purged included).
    async fn session_count(&self) -> StoreResult<usize>;
}

/// Departments' status updates on residents' cases.
#[async_trait]
pub trait CaseStore: Send + Sync {
    /// Every status about a resident, oldest first. (A new status is stored with its audit
    /// entry: [`RecordChange::AddCaseStatus`].)
    async fn case_statuses_of_resident(&self, resident: Uuid) -> StoreResult<Vec<CaseStatusRow>>;
    /// Marks the statuses about a resident posted up to `shown` (the newest the resident
    /// was shown) and not seen yet as seen at `at`; returns how many.
    async fn mark_case_statuses_seen(
        &self,
        resident: Uuid,
        shown: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<usize>;
}

/// Events queued for departments (stored by [`AuditStore::append_audit`] with the entries
/// that report them: [`RecordChange::QueueEvent`]; one event per id, an id queued again
/// is kept as it was), until each is acknowledged.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Up to `limit` events for `department` not acknowledged yet, in the order they were
    /// queued.
    async fn pending_events(&self, department: &str, limit: usize) -> StoreResult<Vec<EventRow>>;
    /// One event, acknowledged or not.
    async fn event(&self, id: Uuid) -> StoreResult<Option<EventRow>>;
    /// Marks those of `ids` that are events for `department` and still wait as
    /// acknowledged at `at`; returns how many it marked. Durable on return: an
    /// acknowledged event is never delivered again.
    async fn acknowledge_events(
        &self,
        department: &str,
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> StoreResult<usize>;
}

/// Whether the database can serve.
#[async_trait]
pub trait Health: Send + Sync {
    /// Whether the store can serve: open, and its last flush succeeded.
    async fn check(&self) -> StoreResult<()>;
    /// Whether the database held no vault data when it was opened.
    fn was_fresh(&self) -> bool;
}

/// A consistent copy of the whole database, for `kluis backup`.
#[async_trait]
pub trait Snapshot: Send + Sync {
    /// Copies the database as it stands, at one moment, into `dir` (absent or empty);
    /// returns the rows copied per table. sled copies its trees into a new sled database
    /// while every write waits; PostgreSQL copies its tables with `COPY` in one
    /// REPEATABLE READ transaction. The in-memory store refuses.
    async fn snapshot_into(&self, dir: &std::path::Path) -> StoreResult<BTreeMap<String, u64>> {
        let _ = dir;
        Err(StoreError::Incompatible(
            "this store cannot copy itself: back it up with its database's own tools".into(),
        ))
    }
}

/// What the record service (`residents`) holds: vaults and their records.
pub trait VaultStore: ResidentStore + RecordStore {}
impl<T: ResidentStore + RecordStore + ?Sized> VaultStore for T {}

/// What the consent service holds: departments, requests and grants, one-time token ids.
pub trait ConsentStorage: DepartmentStore + ConsentStore + ReplayStore {}
impl<T: DepartmentStore + ConsentStore + ReplayStore + ?Sized> ConsentStorage for T {}

/// What the signals service holds: events, and the grants and departments they are about.
pub trait SignalStorage: EventStore + ConsentStore + DepartmentStore {}
impl<T: EventStore + ConsentStore + DepartmentStore + ?Sized> SignalStorage for T {}

/// The whole storage port: what an adapter implements. The vault's composition root
/// hands each service only its part (upcast to [`VaultStore`], [`ConsentStorage`],
/// [`CaseStore`], [`SessionStore`], [`AuditStore`], [`OfficerStore`], [`CoachStore`],
/// [`EventStore`], [`Health`]).
pub trait Store:
    VaultStore
    + ConsentStorage
    + CaseStore
    + SessionStore
    + AuditStore
    + OfficerStore
    + CoachStore
    + EventStore
    + SignalStorage
    + Health
    + Snapshot
    + Send
    + Sync
    + 'static
{
}
impl<T> Store for T where
    T: VaultStore
        + ConsentStorage
        + CaseStore
        + SessionStore
        + AuditStore
        + OfficerStore
        + CoachStore
        + EventStore
        + SignalStorage
        + Health
        + Snapshot
        + 'static
{
}
