//! A store that fails on command: wraps any adapter (sled in the end-to-end tests, memory
//! in unit tests) so tests can prove the vault fails closed. Switches are off until a test
//! turns them on; nothing in the vault's own code can reach them.

use super::*;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// The switches of a [`FaultyStore`].
#[derive(Debug, Default)]
pub struct Faults {
    audit_append: AtomicBool,
    sync: AtomicBool,
    disk_full: AtomicBool,
    sealed_reads: AtomicBool,
}

impl Faults {
    /// Audit appends fail (and store nothing), as if the log's disk refused the write.
    pub fn fail_audit_appends(&self, on: bool) {
        self.audit_append.store(on, Ordering::SeqCst);
    }

    /// Flushes fail: audit entries written are not made durable, and readiness says so.
    pub fn fail_flushes(&self, on: bool) {
        self.sync.store(on, Ordering::SeqCst);
    }

    /// Every write fails, as on a full disk; reads still work.
    pub fn fill_disk(&self, on: bool) {
        self.disk_full.store(on, Ordering::SeqCst);
    }

    /// Reading a sealed record fails: whatever still works decrypts no record. (Reading
    /// current records fails even for a resident who has none.)
    pub fn refuse_sealed_reads(&self, on: bool) {
        self.sealed_reads.store(on, Ordering::SeqCst);
    }

    fn check(&self, switch: &AtomicBool, what: &str) -> StoreResult<()> {
        if switch.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(format!("injected fault: {what}")))
        } else {
            Ok(())
        }
    }

    fn write(&self) -> StoreResult<()> {
        self.check(&self.disk_full, "no space left on device")
    }
}

/// Any store, with [`Faults`] in front of it.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    /// Wraps `inner`; returns the store and its switches.
    pub fn wrap(inner: Arc<dyn Store>) -> (Arc<FaultyStore>, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        let store = Arc::new(FaultyStore {
            inner,
            faults: faults.clone(),
        });
        (store, faults)
    }
}

/// Implements a port by forwarding every method to the wrapped store; `write` methods
/// fail first while the disk is "full".
macro_rules! forward {
    ($port:ident { $( $kind:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )* }) => {
        #[async_trait::async_trait]
        impl $port for FaultyStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    forward!(@$kind self);
                    self.inner.$name($($arg),*).await
                }
            )*
        }
    };
    (@write $self:ident) => { $self.faults.write()?; };
    (@read $self:ident) => {};
    (@sealed $self:ident) => {
        $self.faults.check(&$self.faults.sealed_reads, "sealed records may not be read")?;
    };
}

forward!(ResidentStore {
    read resident_by_identity(identity: &str) -> Option<ResidentRow>;
    read resident(id: Uuid) -> Option<ResidentRow>;
    write insert_resident(row: &ResidentRow, kek_version: u32) -> ResidentRow;
    write announce_kek(version: u32) -> ();
    read residents_after(after: Option<Uuid>, limit: usize) -> Vec<ResidentRow>;
    write replace_wrapped_key(id: Uuid, expected: &[u8], new: &[u8]) -> bool;
    write set_national_id(id: Uuid, hash: &str) -> ();
    read resident_by_national_id(hash: &str) -> Option<ResidentRow>;
    write erase_resident(id: Uuid) -> ();
    read rotation_due() -> Option<DateTime<Utc>>;
    write set_rotation_due(at: Option<DateTime<Utc>>) -> ();
    write replace_rotation_due(expected: Option<DateTime<Utc>>, new: Option<DateTime<Utc>>) -> bool;
});

forward!(RecordStore {
    write reserve_record_version(resident: Uuid, category: &str) -> u32;
    sealed record(resident: Uuid, category: &str, version: Option<u32>) -> Option<StoredRecord>;
    read record_versions(resident: Uuid, category: &str) -> Vec<RecordMeta>;
    read record_summaries(resident: Uuid) -> Vec<(String, RecordMeta)>;
    sealed resident_with_current(resident: Uuid, categories: &[String]) -> Option<(ResidentRow, Vec<(String, StoredRecord)>)>;
});

forward!(SessionStore {
    write put_session(token_hash: &[u8; 32], row: &SessionRow) -> ();
    read session(token_hash: &[u8; 32]) -> Option<SessionRow>;
    write touch_session(token_hash: &[u8; 32], at: DateTime<Utc>) -> ();
    write delete_session(token_hash: &[u8; 32]) -> ();
    write delete_login(login_id: &str) -> usize;
    write put_pending_login(state_hash: &[u8; 32], row: &PendingLoginRow) -> ();
    write take_pending_login(state_hash: &[u8; 32]) -> Option<PendingLoginRow>;
    write purge_pending_logins(started_before: DateTime<Utc>) -> usize;
    write purge_sessions(idle_before: DateTime<Utc>, created_before: DateTime<Utc>) -> usize;
    read sessions_of(subject: &str) -> Vec<([u8; 32], DateTime<Utc>)>;
    read pending_login_count() -> usize;
    read session_count() -> usize;
});

forward!(DepartmentStore {
    write put_department(row: &DepartmentRow) -> ();
    read department(id: &str) -> Option<DepartmentRow>;
    read departments() -> Vec<DepartmentRow>;
});

forward!(ConsentStore {
    write insert_request(row: &RequestRow) -> ();
    read request(id: Uuid) -> Option<RequestRow>;
    read requests_about(subjects: &[RequestSubject]) -> Vec<RequestRow>;
    write decide_request(decided: &RequestRow, grant: Option<&GrantRow>) -> bool;
    write insert_grant(row: &GrantRow) -> ();
    read grant(id: Uuid) -> Option<GrantRow>;
    read grant_with_department(id: Uuid) -> Option<(GrantRow, Option<DepartmentRow>)>;
    read grants_of_resident(resident: Uuid) -> Vec<GrantRow>;
    read grants_of_department(department: &str) -> Vec<GrantRow>;
    write revoke_grant(id: Uuid, at: DateTime<Utc>) -> Option<(GrantRow, bool)>;
    write set_grant_pause(id: Uuid, from: Option<GrantPause>, to: Option<GrantPause>) -> Option<(GrantRow, bool)>;
    read resident_by_reference(department: &str, reference: &str) -> Option<Uuid>;
});

forward!(ReplayStore {
    write first_use(key: &[u8; 32], expires_at: DateTime<Utc>, durability: Durability) -> bool;
    write purge_replays(now: DateTime<Utc>) -> usize;
    read replay_count() -> usize;
});

forward!(CaseStore {
    read case_statuses_of_resident(resident: Uuid) -> Vec<CaseStatusRow>;
    write mark_case_statuses_seen(resident: Uuid, shown: DateTime<Utc>, at: DateTime<Utc>) -> usize;
});

forward!(CoachStore {
    write put_coach(row: &CoachRow) -> ();
    read coach(id: &str) -> Option<CoachRow>;
    read coaches() -> Vec<CoachRow>;
    write put_coach_code(code_hash: &[u8; 32], row: &CoachCodeRow) -> ();
    read coach_code(code_hash: &[u8; 32]) -> Option<CoachCodeRow>;
    write take_coach_code(code_hash: &[u8; 32]) -> Option<CoachCodeRow>;
    write put_look_along(row: &LookAlongRow) -> ();
    write change_look_along(id: Uuid, change: &LookAlongChange) -> Option<LookAlongRow>;
    read look_along(id: Uuid) -> Option<LookAlongRow>;
    read look_alongs_of_resident(resident: Uuid) -> Vec<LookAlongRow>;
    read look_alongs_of_coach(coach: &str) -> Vec<LookAlongRow>;
    write put_proposal(row: &ProposalRow) -> ();
    read proposal(id: Uuid) -> Option<ProposalRow>;
    read proposals_of_resident(resident: Uuid) -> Vec<ProposalRow>;
    write purge_coaching(now: DateTime<Utc>) -> usize;
    write put_witness(row: &WitnessRow) -> ();
    read witness(id: Uuid) -> Option<WitnessRow>;
    read witnesses_of_resident(resident: Uuid) -> Vec<WitnessRow>;
});

forward!(EventStore {
    read pending_events(department: &str, limit: usize) -> Vec<EventRow>;
    read event(id: Uuid) -> Option<EventRow>;
    write acknowledge_events(department: &str, ids: &[Uuid], at: DateTime<Utc>) -> usize;
});

forward!(OfficerStore {
    write put_officer(row: &OfficerRow) -> ();
    read officer_by_token(token_hash: &[u8; 32]) -> Option<OfficerRow>;
    read officers() -> Vec<OfficerRow>;
});

#[async_trait::async_trait]
impl AuditStore for FaultyStore {
    async fn append_audit(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        self.faults.write()?;
        self.faults
            .check(&self.faults.audit_append, "the audit log cannot be written")?;
        self.inner.append_audit(batch).await
    }

    async fn hold_audit(&self) -> StoreResult<()> {
        self.inner.hold_audit().await
    }

    async fn release_audit(&self) -> StoreResult<()> {
        self.inner.release_audit().await
    }

    async fn sync(&self) -> StoreResult<()> {
        self.faults.check(&self.faults.sync, "the flush failed")?;
        self.inner.sync().await
    }

    async fn sync_appends(&self) -> StoreResult<()> {
        self.faults.check(&self.faults.sync, "the flush failed")?;
        self.inner.sync_appends().await
    }

    async fn audit_tail(&self) -> StoreResult<Vec<AuditAppend>> {
        self.inner.audit_tail().await
    }

    async fn take_up_audit_tail(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        self.faults.write()?;
        self.inner.take_up_audit_tail(batch).await
    }

    async fn audit_len(&self) -> StoreResult<u64> {
        self.inner.audit_len().await
    }

    async fn audit_entries(&self, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>> {
        self.inner.audit_entries(from, to).await
    }

    async fn audit_nodes(&self, nodes: &[(u8, u64)]) -> StoreResult<Vec<Option<[u8; 32]>>> {
        self.inner.audit_nodes(nodes).await
    }

    async fn audit_index(&self, key: &[u8], from_seq: u64, limit: usize) -> StoreResult<Vec<u64>> {
        self.inner.audit_index(key, from_seq, limit).await
    }

    async fn put_cosignature(&self, size: u64, witness: &str, line: &str) -> StoreResult<()> {
        self.faults.write()?;
        self.inner.put_cosignature(size, witness, line).await
    }

    async fn cosignatures(&self, size: u64) -> StoreResult<Vec<String>> {
        self.inner.cosignatures(size).await
    }
}

#[async_trait::async_trait]
impl super::Snapshot for FaultyStore {
    async fn snapshot_into(
        &self,
        dir: &std::path::Path,
    ) -> StoreResult<std::collections::BTreeMap<String, u64>> {
        self.inner.snapshot_into(dir).await
    }
}

#[async_trait::async_trait]
impl Health for FaultyStore {
    async fn check(&self) -> StoreResult<()> {
        self.faults
            .check(&self.faults.sync, "the last flush failed")?;
        self.inner.check().await
    }

    fn was_fresh(&self) -> bool {
        self.inner.was_fresh()
    }
}
