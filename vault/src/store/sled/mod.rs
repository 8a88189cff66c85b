// Long: the byte layout of every tree and the opening that checks it, one place to read the database contract.
//! The sled adapter: the embedded default store, a single data directory.
//!
//! Byte layout (every value starts with a format byte, [`FORMAT_V1`]):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `format` | `[8]` (the layout, see below) |
//! | `meta` | `audit_len` | the audit log's committed length (u64 BE) |
//! | `meta` | `audit_log_bytes` | the committed size of `audit.log` (u64 BE) |
//! | `residents` | resident id (16) | `[1]` + JSON [`ResidentRow`] |
//! | `identities` | identity pseudonym | resident id (16) |
//! | `records` | resident (16), category length (1), category, version (u32 BE) | `[1]`, created (i64 µs BE), sealed bytes |
//! | `record_counters` | resident (16), category | last version handed out (u32 BE) |
//! | `sessions` | SHA-256 of the token (32) | `[1]` + JSON [`SessionRow`] |
//! | `session_logins` | login id, `0x00`, SHA-256 of the token (32) | empty |
//! | `session_subjects` | subject key (`resident:<id>`, ...), `0x00`, SHA-256 of the token (32) | created (i64 µs BE) |
//! | `pending_logins` | SHA-256 of the OIDC `state` (32) | `[1]` + JSON `PendingLoginRow` |
//! | `national_ids` | national-id keyed hash | resident id (16) |
//! | `departments` | department id | `[1]` + JSON `DepartmentRow` |
//! | `requests` | request id (16) | `[1]` + JSON `RequestRow` |
//! | `requests_by_subject` | `r` + resident id, or `n` + national-id hash; `0x00`; request id (16) | empty |
//! | `grants` | grant id (16) | `[1]` + JSON `GrantRow` |
//! | `grants_by_resident` | resident id (16), grant id (16) | empty |
//! | `grants_by_department` | department id, `0x00`, grant id (16) | empty |
//! | `pairwise` | department id, `0x00`, reference | resident id (16) |
//! | `replay_<end of ten seconds, Unix seconds, 20 digits>` | the first position of the audit transaction that wrote them (u64 BE); or SHA-256 of kind, issuer and jti (32) | per id its SHA-256 (32) and expiry (i64 µs BE); or the one id's expiry; one tree per ten seconds of expiry ([`replay`]) |
//! | `meta` | `audit_index_block`, `audit_index_sealed`, `audit_index_legacy_end` | positions per index block, the sealed end, where layout 3's index tree ends (u64 BE each) |
//! | `audit_index_<first position, 20 digits>` | `0xff`, the first position in the block of the transaction that wrote them (u64 BE); or (layout 6) index key, `0x00`, seq of the batch's first entry under it (u64 BE) | each index key (u16 BE length, key) with the transaction's positions under it (u32 BE count, u64 BE each); or (layout 6) seqs of the later entries under the key (u64 BE each), or empty; one tree per block of positions not sealed yet ([`audit_index`]) |
//! | `officers` | SHA-256 of the credential (32) | `[1]` + JSON `OfficerRow` |
//! | `case_statuses` | status id (16) | `[1]` + JSON `CaseStatusRow` |
//! | `case_statuses_by_resident` | resident id (16), status id (16) | empty |
//! | `coaches` | coach id | `[1]` + JSON `CoachRow` |
//! | `coach_codes` | SHA-256 of the code (32) | `[1]` + JSON `CoachCodeRow` |
//! | `look_alongs` | look-along id (16) | `[1]` + JSON `LookAlongRow` |
//! | `look_alongs_by_resident` | resident id (16), `0x00`, look-along id (16) | empty |
//! | `look_alongs_by_coach` | coach id, `0x00`, look-along id (16) | empty |
//! | `proposals` | proposal id (16) | `[1]` + JSON `ProposalRow` |
//! | `proposals_by_resident` | resident id (16), `0x00`, proposal id (16) | empty |
//! | `witnesses` | statement id (16) | `[1]` + JSON `WitnessRow` |
//! | `witnesses_by_resident` | resident id (16), `0x00`, statement id (16) | empty |
//!
//! The audit log's entries and tree nodes are not in sled but in two append-only files in
//! the same directory ([`audit_file`]): sled keeps a page table of every key in memory, and
//! the log is most of the keys a vault would ever have. The files hold each entry in its
//! stored form (`audit::stored`: compact, or canonical JSON), opaque here. Layout 1 kept the
//! entries in the trees `audit_entries` and `audit_nodes`, layout 2 stored every entry as
//! JSON, layout 3 kept every index posting in one tree (`audit_index`), layout 4 kept every
//! one-time token id in one tree (`replay`), layout 5 made every audit batch wait for
//! sled's flush, layout 6 wrote one index key per key and batch, layout 7 one token id
//! per key, layout 8 synced the audit index file with every batch; all move to layout 9
//! when they open
//! ([`upgrade`], [`replay`]). The index's older postings are sealed into immutable
//! blocks in `audit_index/` ([`audit_blocks`]), so sled holds those of the newest entries
//! only.
//!
//! sled loses acknowledged writes on a crash unless it is flushed, so every write method
//! waits for [`group_commit`] before it returns. sled is dormant upstream: this adapter
//! refuses to open a directory that is not a Kluis database rather than creating a new,
//! empty one over it.

mod audit;
mod audit_blocks;
mod audit_file;
mod audit_index;
mod cases;
mod coaches;
mod consent;
mod deferred;
mod departments;
mod events;
mod group_commit;
mod officers;
mod records;
mod replay;
mod residents;
mod sessions;
mod snapshot;
mod upgrade;

use super::{Health, SessionRow, StoreError, StoreResult};
use async_trait::async_trait;
use audit_file::AuditFiles;
use group_commit::GroupCommit;
use std::path::Path;
use std::sync::Arc;

pub use crate::store::encoding::FORMAT_V1;
use crate::store::encoding::{decode_json, encode_json};
pub(in crate::store) use audit_index::posting_seqs;

/// The sled-backed store.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    residents: sled::Tree,
    identities: sled::Tree,
    records: sled::Tree,
    record_counters: sled::Tree,
    sessions: sled::Tree,
    session_logins: sled::Tree,
    session_subjects: sled::Tree,
    pending_logins: sled::Tree,
    national_ids: sled::Tree,
    departments: sled::Tree,
    requests: sled::Tree,
    requests_by_subject: sled::Tree,
    grants: sled::Tree,
    grants_by_resident: sled::Tree,
    grants_by_department: sled::Tree,
    pairwise: sled::Tree,
    replay: Arc<replay::ReplayBuckets>,
    meta: sled::Tree,
    audit: Arc<AuditFiles>,
    /// The audit index's sealed blocks: read by a lookup, written while postings move.
    sealed: Arc<std::sync::RwLock<audit_index::Sealed>>,
    sealer: Arc<audit_index::Sealer>,
    officers: sled::Tree,
    case_statuses: sled::Tree,
    case_statuses_by_resident: sled::Tree,
    coaches: sled::Tree,
    coach_codes: sled::Tree,
    look_alongs: sled::Tree,
    look_alongs_by_resident: sled::Tree,
    look_alongs_by_coach: sled::Tree,
    proposals: sled::Tree,
    proposals_by_resident: sled::Tree,
    witnesses: sled::Tree,
    witnesses_by_resident: sled::Tree,
    events: sled::Tree,
    events_pending: sled::Tree,
    cosignatures: sled::Tree,
    commit: Arc<GroupCommit>,
    /// The sled writes of batches of reads that wait for a transaction (see `deferred`).
    deferred: Arc<std::sync::Mutex<deferred::Deferred>>,
    /// Audit batches appended that are durable only once sled has flushed, and how many of
    /// them a flush has covered (see `audit`).
    flushes_owed: Arc<std::sync::atomic::AtomicU64>,
    flushes_paid: Arc<std::sync::atomic::AtomicU64>,
    /// The log's length at the last flush that batches of reads asked for.
    flushed_len: Arc<std::sync::atomic::AtomicU64>,
    /// Held (shared) by every write method while it changes the trees, and (exclusive) by
    /// [`SledStore::snapshot_into`]: so a backup copies a state no write is half-way through.
    writes: Arc<tokio::sync::RwLock<()>>,
    /// The next queue position of a department's event (one writer appends).
    event_positions: Arc<std::sync::atomic::AtomicU64>,
    fresh: bool,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens the database in `dir` (creating it only if `dir` is absent or empty), with a
    /// page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> StoreResult<SledStore> {
        let fresh = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", dir.display()))),
        };
        if !fresh && !dir.join("db").exists() {
            return Err(StoreError::Incompatible(format!(
                "{} is not empty and holds no Kluis database; point data_dir at the vault's database or an empty directory",
                dir.display()
            )));
        }
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| map_err(e, "opening the database"))?;
        #[cfg(unix)]
        {
            // The database holds only sealed records, but its metadata (which categories a
            // vault has) is still nobody else's business.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| StoreError::Unavailable(format!("securing {}: {e}", dir.display())))?;
        }
        let meta = db
            .open_tree("meta")
            .map_err(|e| map_err(e, "opening meta"))?;
        match meta
            .get("format")
            .map_err(|e| map_err(e, "reading the format"))?
        {
            Some(v) if v.as_ref() == [LAYOUT] => {}
            Some(v) if v.as_ref() == [upgrade::LAYOUT_AUDIT_IN_TREES] => {
                upgrade::move_audit_into_files(&db, &meta, dir)?;
            }
            Some(v)
                if v.len() == 1
                    && [
                        upgrade::LAYOUT_JSON_ENTRIES,
                        upgrade::LAYOUT_UNSEALED_INDEX,
                        upgrade::LAYOUT_ONE_REPLAY_TREE,
                        upgrade::LAYOUT_FLUSHED_BATCHES,
                        upgrade::LAYOUT_POSTINGS_PER_KEY,
                        upgrade::LAYOUT_IDS_PER_KEY,
                        upgrade::LAYOUT_INDEX_SYNCED_EACH_BATCH,
                    ]
                    .contains(&v[0]) =>
            {
                upgrade::mark_layout(&db, &meta)?;
            }
            Some(v) => {
                return Err(StoreError::Incompatible(format!(
                    "{} has database format {:?}; this build reads format {LAYOUT} (and upgrades {} to {})",
                    dir.display(),
                    v.as_ref(),
                    upgrade::LAYOUT_AUDIT_IN_TREES,
                    upgrade::LAYOUT_INDEX_SYNCED_EACH_BATCH,
                )));
            }
            None if fresh => {
                let mut batch = sled::Batch::default();
                batch.insert("format", &[LAYOUT]);
                batch.insert(AUDIT_LEN, &0u64.to_be_bytes());
                batch.insert(AUDIT_LOG_BYTES, &0u64.to_be_bytes());
                meta.apply_batch(batch)
                    .map_err(|e| map_err(e, "writing the format"))?;
                db.flush().map_err(|e| map_err(e, "flushing"))?;
            }
            None => {
                return Err(StoreError::Incompatible(format!(
                    "{} holds a sled database without a Kluis format marker; refusing to use it",
                    dir.display()
                )));
            }
        }
        let audit = Arc::new(AuditFiles::open(
            dir,
            meta_u64(&meta, AUDIT_LEN)?,
            meta_u64(&meta, AUDIT_LOG_BYTES)?,
        )?);
        // The old audit trees, if an upgrade stopped after it committed but before it
        // removed them (only once the files it wrote have opened).
        upgrade::drop_audit_trees(&db)?;
        let (sealed, sealer) = audit_index::open(&db, &meta, dir, audit.len())?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| map_err(e, "opening a tree"));
        let events_pending = tree("events_pending")?;
        let event_positions = Arc::new(std::sync::atomic::AtomicU64::new(
            events::first_free_position(&events_pending)?,
        ));
        Ok(SledStore {
            residents: tree("residents")?,
            identities: tree("identities")?,
            records: tree("records")?,
            record_counters: tree("record_counters")?,
            sessions: tree("sessions")?,
            session_logins: tree("session_logins")?,
            session_subjects: tree("session_subjects")?,
            pending_logins: tree("pending_logins")?,
            national_ids: tree("national_ids")?,
            departments: tree("departments")?,
            requests: tree("requests")?,
            requests_by_subject: tree("requests_by_subject")?,
            grants: tree("grants")?,
            grants_by_resident: tree("grants_by_resident")?,
            grants_by_department: tree("grants_by_department")?,
            pairwise: tree("pairwise")?,
            replay: Arc::new(replay::ReplayBuckets::open(&db)?),
            meta,
            audit,
            sealed: Arc::new(std::sync::RwLock::new(sealed)),
            sealer: Arc::new(sealer),
            officers: tree("officers")?,
            case_statuses: tree("case_statuses")?,
            case_statuses_by_resident: tree("case_statuses_by_resident")?,
            coaches: tree("coaches")?,
            coach_codes: tree("coach_codes")?,
            look_alongs: tree("look_alongs")?,
            look_alongs_by_resident: tree("look_alongs_by_resident")?,
            look_alongs_by_coach: tree("look_alongs_by_coach")?,
            proposals: tree("proposals")?,
            proposals_by_resident: tree("proposals_by_resident")?,
            witnesses: tree("witnesses")?,
            witnesses_by_resident: tree("witnesses_by_resident")?,
            events: tree("events")?,
            events_pending,
            cosignatures: tree("cosignatures")?,
            commit: Arc::new(GroupCommit::start(db.clone())),
            deferred: Arc::default(),
            flushes_owed: Arc::default(),
            flushes_paid: Arc::default(),
            flushed_len: Arc::default(),
            writes: Arc::default(),
            event_positions,
            db,
            fresh,
        })
    }

    /// Waits until everything written so far is on disk (shared with concurrent writers),
    /// the sled writes of batches of reads that wait included.
    pub async fn durable(&self) -> StoreResult<()> {
        if self.writes_deferred() {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.commit_deferred())
                .await
                .map_err(|e| StoreError::Unavailable(format!("committing audit writes: {e}")))??;
        }
        self.commit.durable().await
    }

    /// The tree `name`, raw (for `kluis migrate`, which copies every tree elsewhere).
    pub(in crate::store) fn raw_tree(&self, name: &str) -> StoreResult<sled::Tree> {
        self.db
            .open_tree(name)
            .map_err(|e| map_err(e, "opening a tree"))
    }

    /// Taken by every write method before it changes a tree; waits while a snapshot runs.
    async fn write_gate(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.writes.read().await
    }

    /// How many flushes the store has made (for the group-commit benchmark and tests).
    pub fn flush_count(&self) -> u64 {
        self.commit.flush_count()
    }
}

#[async_trait]
impl Health for SledStore {
    async fn check(&self) -> StoreResult<()> {
        self.commit.healthy()?;
        // A read of a known key proves the tree is open and readable.
        self.db
            .open_tree("meta")
            .and_then(|m| m.get("format"))
            .map_err(|e| map_err(e, "reading the format"))?;
        Ok(())
    }

    fn was_fresh(&self) -> bool {
        self.fresh
    }
}

/// The layout this build writes: the audit log in files next to the trees, its entries in
/// their compact form (which builds of layout 2 would take for a rewritten log), the
/// index's older postings in sealed blocks (which builds of layout 3 would not read), the
/// one-time token ids in a tree per ten seconds (which builds of layout 4 would not see,
/// and so accept a replay), audit records marked durable by their own sync and carrying
/// token ids (which builds of layout 5 would take for damage), and the newest postings one
/// key per batch (which builds of layout 6 would not find), and the one-time token ids of
/// reads one key per batch (which builds of layout 7 would not find, and so accept a
/// replay), and an audit index file synced every few thousand entries (whose last offsets
/// after a crash builds of layout 8 would take for damage).
const LAYOUT: u8 = 9;

/// The key in `meta` of the audit log's committed length.
const AUDIT_LEN: &str = "audit_len";
/// The key in `meta` of the audit log file's committed size.
const AUDIT_LOG_BYTES: &str = "audit_log_bytes";

/// The number under `key` in `meta`.
fn meta_u64(meta: &sled::Tree, key: &str) -> StoreResult<u64> {
    let value = meta
        .get(key)
        .map_err(|e| map_err(e, "reading the audit log's length"))?
        .ok_or_else(|| StoreError::Corrupt(format!("{key} is missing from meta")))?;
    <[u8; 8]>::try_from(value.as_ref())
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("{key} in meta")))
}

/// Maps a sled error to the port's error, naming the operation.
fn map_err(e: sled::Error, action: &str) -> StoreError {
    match e {
        sled::Error::Corruption { .. } => StoreError::Corrupt(format!("{action}: {e}")),
        sled::Error::Unsupported(_) | sled::Error::ReportableBug(_) => {
            StoreError::Unavailable(format!("{action}: {e}"))
        }
        _ => StoreError::Unavailable(format!("{action}: {e}")),
    }
}

fn map_tx_err(e: sled::transaction::TransactionError<StoreError>, action: &str) -> StoreError {
    match e {
        sled::transaction::TransactionError::Abort(inner) => inner,
        sled::transaction::TransactionError::Storage(e) => map_err(e, action),
    }
}

fn decode_session(bytes: &[u8]) -> StoreResult<SessionRow> {
    decode_json(bytes, "session")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::{SessionStore, SessionSubject};
    use uuid::Uuid;

    /// Opens `dir` again once sled's own background thread of the dropped handle has let go
    /// of the file lock (it does so shortly after the last handle drops, not at once).
    pub(super) async fn reopen(dir: &std::path::Path) -> SledStore {
        for _ in 0..100 {
            match SledStore::open(dir, 64 << 20) {
                Ok(store) => return store,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
        SledStore::open(dir, 64 << 20).expect("the database opens again")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn passes_the_store_contract_and_keeps_it_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 64 << 20).unwrap();
        let kept = crate::store::contract::check(std::sync::Arc::new(store.clone())).await;
        drop(store);
        let reopened = reopen(dir.path()).await;
        assert!(!reopened.was_fresh());
        crate::store::contract::check_kept(&reopened, &kept).await;
        // A snapshot is a sled database of its own that keeps the contract too.
        let copy = tempfile::tempdir().unwrap();
        let copied =
            crate::store::contract::check_snapshot(&reopened, &kept, &copy.path().join("db")).await;
        // sled lets go of the copy's lock in the background: `reopen` waits for it.
        let restored = reopen(&copy.path().join("db")).await;
        assert_eq!(restored.row_counts().unwrap(), copied);
        crate::store::contract::check_kept(&restored, &kept).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_share_flushes_and_all_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 64 << 20).unwrap();
        let before = store.flush_count();
        let writes: u64 = 256;
        let row = |i: u64| SessionRow {
            subject: SessionSubject::Resident { id: Uuid::nil() },
            created_at: chrono::DateTime::UNIX_EPOCH,
            last_seen: chrono::DateTime::UNIX_EPOCH,
            csrf_token: format!("csrf-{i}"),
            login_method: "test".into(),
            kind: Some(crate::store::SessionKind::Browser),
            login_id: String::new(),
        };
        let key = |i: u64| crate::crypto::sha256(&i.to_be_bytes());
        let tasks: Vec<_> = (0..writes)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.put_session(&key(i), &row(i)).await.unwrap() })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let flushes = store.flush_count() - before;
        // Without group commit every write takes a flush of its own; with it, writers that
        // arrive during a flush share the next one (on a loaded machine fewer arrive
        // together, so the bound leaves room: half of one flush each is still sharing).
        assert!(
            flushes * 2 <= writes,
            "{writes} concurrent writes took {flushes} flushes: they did not share flushes"
        );
        drop(store);
        let reopened = reopen(dir.path()).await;
        for i in 0..writes {
            assert_eq!(reopened.session(&key(i)).await.unwrap(), Some(row(i)));
        }
    }

    #[test]
    fn a_directory_that_is_not_a_kluis_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a database").unwrap();
        let err = SledStore::open(dir.path(), 64 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds no Kluis database"), "{err}");
        assert!(
            !dir.path().join("db").exists(),
            "nothing was created over it"
        );

        // A sled database without the Kluis marker is refused too.
        let foreign = tempfile::tempdir().unwrap();
        {
            let db = sled::Config::new()
                .path(foreign.path())
                .flush_every_ms(None)
                .open()
                .unwrap();
            db.flush().unwrap();
        }
        // sled's own threads may hold the directory's lock a moment after the drop.
        let mut tries = 0;
        let err = loop {
            match SledStore::open(foreign.path(), 64 << 20) {
                Err(StoreError::Unavailable(_)) if tries < 100 => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    tries += 1;
                }
                opened => break opened.unwrap_err().to_string(),
            }
        };
        assert!(err.contains("without a Kluis format marker"), "{err}");
    }
}
