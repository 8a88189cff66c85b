//! The sled writes of batches of reads, held back, and the transaction that commits them
//! together (with a batch's record changes when one comes). A batch that
//! changes nothing (reads) is durable once its records are synced in the audit files
//! (`audit_file`), so its index postings, its token ids and the log's new length need not
//! reach sled at once: they wait here, up to [`MOST_BATCHES`] batches or [`MOST_ENTRIES`]
//! entries, and the batch that would pass either limit commits them with its own in one
//! transaction. A sled transaction rewrites sled's log buffer twice, so one per batch of
//! reads was most of what a read wrote. The transaction is here too: every audit batch's
//! sled writes go through it, record changes included.
//!
//! What waits is committed with the next batch that changes records (in its transaction),
//! before the audit index seals a block, before every flush the store waits for
//! (`SledStore::durable`: every write method, a snapshot, a checkpoint: the vault's last
//! one when it stops), when the limits are reached, and by the store's last handle when
//! it drops (best effort). A crash loses nothing acknowledged: the batches' records past sled's
//! committed length are the log's tail, taken up at open with their index keys and token
//! ids (`audit_file`, `audit::tail`). sled's length never goes back: the batches wait
//! here in the order they were appended, and one lock covers waiting and committing.

use super::audit_file::TokenId;
use super::audit_index::batch_pair;
use super::cases::by_resident;
use super::{AUDIT_LEN, AUDIT_LOG_BYTES, SledStore, encode_json, map_tx_err};
use crate::store::{CaseStatusRow, EventRow, StoreError, StoreResult};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most batches whose sled writes wait.
const MOST_BATCHES: usize = 32;
/// The most entries whose sled writes wait (a few milliseconds of reads).
const MOST_ENTRIES: usize = 2048;

/// The fixed trees an audit transaction writes (before the block trees of its postings).
const TREES: usize = 7;

/// Index postings by block and index key: the positions, ascending.
pub(super) type Postings = BTreeMap<(u64, Vec<u8>), Vec<u64>>;

/// The sled writes of the batches appended since sled's last audit commit.
#[derive(Clone, Default)]
pub(super) struct Deferred {
    /// The first position they cover (`None`: nothing waits).
    pub(super) first: Option<u64>,
    pub(super) postings: Postings,
    pub(super) token_ids: Vec<TokenId>,
    /// The log's length after the last batch.
    pub(super) len: u64,
    /// `audit.log`'s committed size after the last batch.
    pub(super) log_bytes: u64,
    batches: usize,
    entries: usize,
}

impl Deferred {
    /// Adds a batch of `entries` entries from position `first` (`None` when it has
    /// none), after which the log holds `len` entries in `log_bytes` bytes.
    pub(super) fn add(
        &mut self,
        first: Option<u64>,
        entries: usize,
        postings: Postings,
        token_ids: &[TokenId],
        (len, log_bytes): (u64, u64),
    ) {
        // An empty batch (a readiness probe) changes nothing and does not count.
        if entries == 0 {
            return;
        }
        if self.first.is_none() {
            self.first = first;
        }
        for (key, seqs) in postings {
            self.postings.entry(key).or_default().extend(seqs);
        }
        self.token_ids.extend_from_slice(token_ids);
        (self.len, self.log_bytes) = (len, log_bytes);
        self.batches += 1;
        self.entries += entries;
    }

    /// Whether one more batch of `entries` entries would pass a limit (and so commits
    /// what waits with its own). An empty batch passes none.
    pub(super) fn full_with(&self, entries: usize) -> bool {
        entries > 0 && (self.batches + 1 > MOST_BATCHES || self.entries + entries > MOST_ENTRIES)
    }
}

impl SledStore {
    /// The writes that wait, locked (held through a commit, so sled's length never goes
    /// back).
    pub(super) fn deferred(&self) -> std::sync::MutexGuard<'_, Deferred> {
        self.deferred.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether writes of batches of reads wait for a sled transaction.
    pub(super) fn writes_deferred(&self) -> bool {
        self.deferred().first.is_some()
    }

    /// Commits the writes that wait, if any; a failure stops appends until the store opens
    /// again.
    pub(super) fn commit_deferred(&self) -> StoreResult<()> {
        let mut deferred = self.deferred();
        if deferred.first.is_none() {
            return Ok(());
        }
        if let Err(e) = self.commit_writes(&deferred, &RecordWrites::default()) {
            self.audit.stop_appends();
            return Err(e);
        }
        *deferred = Deferred::default();
        Ok(())
    }

    /// Writes `writes`' postings, token ids and log length (what waited, with the batch
    /// that commits it) and `changes` in one sled transaction.
    pub(super) fn commit_writes(
        &self,
        writes: &Deferred,
        changes: &RecordWrites,
    ) -> StoreResult<()> {
        // The position that keys the transaction's pairs (with no entry, there are none).
        let first = writes.first.unwrap_or(writes.len);
        // One key per block and transaction lists its entries under each index key (see
        // `audit_index`), in the tree of the block they belong to.
        let mut tails: Vec<(u64, sled::Tree)> = Vec::new();
        for &(block, _) in writes.postings.keys() {
            if tails.last().is_none_or(|(b, _)| *b != block) {
                tails.push((block, self.index_tail(block)?));
            }
        }
        let mut batch_pairs: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::with_capacity(tails.len());
        for (tree, (block, _)) in tails.iter().enumerate() {
            let in_block: Vec<(&[u8], &[u64])> = writes
                .postings
                .range((*block, Vec::new())..)
                .take_while(|((b, _), _)| b == block)
                .map(|((_, key), seqs)| (key.as_slice(), seqs.as_slice()))
                .collect();
            let (key, value) = batch_pair(first.max(*block), &in_block)?;
            batch_pairs.push((TREES + tree, key, value));
        }
        // The fixed trees, then the block trees of the postings, then the token ids'
        // buckets, held (not dropped by a purge) until the transaction is done.
        let mut trees: Vec<&sled::Tree> = vec![
            &self.meta,
            &self.records,
            &self.residents,
            &self.case_statuses,
            &self.case_statuses_by_resident,
            &self.events,
            &self.events_pending,
        ];
        trees.extend(tails.iter().map(|(_, tree)| tree));
        let id_trees = trees.len();
        let held_ids = self.replay.batch_pairs(first, &writes.token_ids);
        trees.extend(held_ids.pairs.iter().map(|(tree, _, _)| tree));
        let (len, log_bytes) = (writes.len, writes.log_bytes);
        trees
            .as_slice()
            .transaction(|trees| {
                let (meta, records, residents) = (&trees[0], &trees[1], &trees[2]);
                let (cases, cases_by_resident) = (&trees[3], &trees[4]);
                let (queued, pending) = (&trees[5], &trees[6]);
                for (tree, key, value) in &batch_pairs {
                    trees[*tree].insert(key.as_slice(), value.as_slice())?;
                }
                for (n, (_, key, value)) in held_ids.pairs.iter().enumerate() {
                    trees[id_trees + n].insert(&key[..], value.as_slice())?;
                }
                for (key, value) in &changes.records {
                    match value {
                        Some(value) => records.insert(key.as_slice(), value.as_slice())?,
                        None => records.remove(key.as_slice())?,
                    };
                }
                for row in &changes.statuses {
                    // A resident erased meanwhile gets no status (the erasure sweeps
                    // statuses again after removing the resident).
                    if residents.get(row.resident.as_bytes())?.is_some() {
                        cases.insert(row.id.as_bytes(), encode_json(*row))?;
                        cases_by_resident.insert(by_resident(row.resident, row.id), &[])?;
                    }
                }
                for (key, row) in &changes.events {
                    // One event per id: an event queued again is kept as it was.
                    if queued.get(row.id.as_bytes())?.is_none() {
                        queued.insert(row.id.as_bytes(), encode_json(*row))?;
                        pending.insert(key.as_slice(), row.id.as_bytes())?;
                    }
                }
                // The commit point: the entries are in the files already.
                meta.insert(AUDIT_LEN, &len.to_be_bytes())?;
                meta.insert(AUDIT_LOG_BYTES, &log_bytes.to_be_bytes())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| map_tx_err(e, "committing the audit log's sled writes"))
    }
}

/// The record changes of one batch, their keys computed.
#[derive(Default)]
pub(super) struct RecordWrites<'a> {
    /// Record keys with their new value (`None`: removed).
    pub(super) records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub(super) statuses: Vec<&'a CaseStatusRow>,
    /// Queue keys with their event.
    pub(super) events: Vec<(Vec<u8>, &'a EventRow)>,
}

impl Drop for SledStore {
    /// The last handle commits what waits (sled flushes when its last handle goes). Best
    /// effort: two handles dropped at once may both see the other; the vault's final
    /// checkpoint on stopping commits anyway, and a tail left is taken up at the next open.
    fn drop(&mut self) {
        if Arc::strong_count(&self.deferred) == 1
            && let Err(e) = self.commit_deferred()
        {
            tracing::warn!(error = %e, "the sled writes of the last audit batches were not committed; the next open takes them up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::reopen;
    use super::super::{AUDIT_LEN, meta_u64};
    use super::*;
    use crate::store::contract::append;
    use crate::store::{AuditStore, Durability, RecordChange, ReplayStore};

    /// The log's length sled holds.
    fn sled_len(store: &SledStore) -> u64 {
        meta_u64(&store.meta, AUDIT_LEN).unwrap()
    }

    /// Appends batches of reads of `size` entries from position `from` until `to`.
    async fn reads(store: &SledStore, from: u64, to: u64, size: u64) {
        for first in (from..to).step_by(size as usize) {
            let batch: Vec<_> = (first..(first + size).min(to))
                .map(|seq| append(seq, None))
                .collect();
            store.append_audit(&batch).await.unwrap();
        }
    }

    /// A one-time id a read brings, far from expiring.
    async fn read_id(store: &SledStore, key: [u8; 32]) -> bool {
        let expiry = chrono::DateTime::from_timestamp(4_000_000_000, 0).unwrap();
        store
            .first_use(&key, expiry, Durability::WithNextWrite)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_wait_and_a_crash_that_loses_their_writes_leaves_a_tail_taken_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        assert!(read_id(&store, [7; 32]).await);
        reads(&store, 0, 6, 2).await;
        assert_eq!(sled_len(&store), 0, "nothing in sled yet");
        assert_eq!(store.audit.len(), 6, "readers see the entries");
        let found = store.audit_index(b"rtest", 0, 100).await.unwrap();
        assert_eq!(found, (0..6).collect::<Vec<_>>());
        // A crash: the writes that waited never reach sled.
        *store.deferred() = Deferred::default();
        drop(store);
        let store = reopen(dir.path()).await;
        assert_eq!(sled_len(&store), 0);
        assert_eq!(store.audit_tail_len(), 6, "the synced records are the tail");
        let mut tail = store.audit_tail().await.unwrap();
        for append in &mut tail {
            append.index_keys = vec![b"rtest".to_vec()];
        }
        store.take_up_audit_tail(&tail).await.unwrap();
        assert_eq!(sled_len(&store), 6);
        let found = store.audit_index(b"rtest", 0, 100).await.unwrap();
        assert_eq!(found, (0..6).collect::<Vec<_>>());
        assert!(!read_id(&store, [7; 32]).await, "the read's id is refused");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_changes_records_commits_the_reads_before_it_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        assert!(read_id(&store, [7; 32]).await);
        reads(&store, 0, 4, 2).await;
        assert!(read_id(&store, [8; 32]).await);
        reads(&store, 4, 6, 2).await;
        assert_eq!(sled_len(&store), 0);
        let change = RecordChange::Delete {
            resident: uuid::Uuid::nil(),
            category: "income".into(),
            versions: Vec::new(),
        };
        store
            .append_audit(&[append(6, Some(change))])
            .await
            .unwrap();
        assert_eq!(sled_len(&store), 7);
        let index = store
            .db
            .open_tree(format!("audit_index_{:020}", 0))
            .unwrap();
        assert_eq!(index.len(), 1, "one key for the transaction's postings");
        assert_eq!(store.row_counts().unwrap()["replay"], 2, "both reads' ids");
        drop((index, store));
        let store = reopen(dir.path()).await;
        assert_eq!(store.audit_tail_len(), 0);
        let found = store.audit_index(b"rtest", 0, 100).await.unwrap();
        assert_eq!(found, (0..7).collect::<Vec<_>>());
        assert!(!read_id(&store, [8; 32]).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_are_committed_at_the_limit_by_a_flush_and_by_the_last_handle() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        let most = MOST_BATCHES as u64;
        reads(&store, 0, most, 1).await;
        store.append_audit(&[]).await.unwrap();
        assert_eq!(sled_len(&store), 0, "as many as the limit allows wait");
        reads(&store, most, most + 1, 1).await;
        assert_eq!(
            sled_len(&store),
            most + 1,
            "the batch past the limit commits"
        );
        reads(&store, most + 1, most + 3, 1).await;
        assert_eq!(sled_len(&store), most + 1);
        store.sync().await.unwrap();
        assert_eq!(sled_len(&store), most + 3, "a flush commits what waits");
        reads(&store, most + 3, most + 5, 1).await;
        let clone = store.clone();
        drop(store);
        assert!(
            clone.writes_deferred(),
            "a handle is left: nothing committed yet"
        );
        drop(clone);
        let store = reopen(dir.path()).await;
        assert_eq!((sled_len(&store), store.audit_tail_len()), (most + 5, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_seal_commits_what_waits_before_it_reads_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        store.set_audit_index_block(8).unwrap();
        // Five batches of four: the appends start a seal of blocks 0 and 8 in the
        // background; the call below waits for it and seals what is left.
        reads(&store, 0, 20, 4).await;
        store.seal_audit_index().await.unwrap();
        assert_eq!(store.sealed_blocks().1.len(), 2);
        assert!(sled_len(&store) >= 16, "sled covers every sealed block");
        let found = store.audit_index(b"rtest", 0, 100).await.unwrap();
        assert_eq!(found, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn batches_add_up_in_order_until_a_limit() {
        let mut deferred = Deferred::default();
        let postings = |seqs: &[u64]| Postings::from([((0, b"d".to_vec()), seqs.to_vec())]);
        for _ in 0..MOST_BATCHES {
            deferred.add(None, 0, Postings::new(), &[], (5, 50));
        }
        assert_eq!(deferred.first, None, "empty batches start nothing");
        assert!(!deferred.full_with(1), "and do not count");
        deferred.add(Some(5), 2, postings(&[5, 6]), &[([1; 32], 9)], (7, 70));
        deferred.add(Some(7), 1, postings(&[7]), &[], (8, 80));
        assert_eq!(deferred.first, Some(5));
        assert_eq!(deferred.postings[&(0, b"d".to_vec())], [5, 6, 7]);
        assert_eq!(deferred.token_ids, [([1; 32], 9)]);
        assert_eq!((deferred.len, deferred.log_bytes), (8, 80));
        assert!(!deferred.full_with(MOST_ENTRIES - 3));
        assert!(deferred.full_with(MOST_ENTRIES - 2), "entries");
        let mut many = Deferred::default();
        for seq in 0..MOST_BATCHES as u64 {
            assert!(!many.full_with(1));
            many.add(Some(seq), 1, Postings::new(), &[], (seq + 1, seq + 1));
        }
        assert!(many.full_with(1), "batches");
        assert!(!many.full_with(0), "an empty batch passes no limit");
    }
}
