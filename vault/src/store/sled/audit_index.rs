// Long: lookups, sealing and the crash cases between them, with their tests, in one place.
//! The audit index on sled: the postings of the newest entries in the `audit_index` tree
//! (written with the entries, in their transaction), older ones in sealed blocks
//! ([`audit_blocks`]). When the log has grown a block past the sealed end, a background
//! thread writes the block's postings to a file and then removes them from the tree.
//!
//! Only entries sled has flushed are sealed. The sealed end is recorded in `meta` once the
//! blocks are on disk, and at open the blocks must reach it (a missing last block or
//! directory is refused, not read as "nothing sealed"). A crash before the tree is trimmed
//! leaves postings in the tree that a block also holds: lookups read the tree from the
//! sealed end on only, and the next seal removes them.

use super::audit_blocks::{self, Block};
use super::{SledStore, map_err};
use crate::store::{StoreError, StoreResult};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLockReadGuard};

/// Positions per sealed block: the tree holds at most about two blocks of postings.
pub(super) const BLOCK_ENTRIES: u64 = 65_536;
/// The most blocks one scan of the tree fills (their postings are in memory meanwhile).
const BLOCKS_PER_SCAN: u64 = 16;
/// Entries appended after a failed seal before sealing is tried again.
const RETRY_AFTER: u64 = 4096;
/// The key in `meta` of the sealed end: the blocks must reach at least this far.
pub(super) const SEALED_END: &str = "audit_index_sealed";

/// The sealed blocks, in order from position 0.
pub(super) struct Sealed {
    pub(super) dir: PathBuf,
    pub(super) blocks: Vec<Block>,
}

impl Sealed {
    /// The first position whose postings are still in the tree.
    pub(super) fn end(&self) -> u64 {
        self.blocks.last().map_or(0, Block::end)
    }
}

/// The background sealing: one run at a time.
#[derive(Default)]
pub(super) struct Sealer {
    running: AtomicBool,
    /// Positions per block (a test may make blocks small).
    every: AtomicU64,
    /// After a failure: the log's length before which sealing is not tried again.
    retry_at: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Sealer {
    pub(super) fn new() -> Sealer {
        Sealer {
            every: AtomicU64::new(BLOCK_ENTRIES),
            ..Sealer::default()
        }
    }
}

/// The key suffix and value of a posting: the first entry's position, then the later ones
/// (u64 BE each; empty when the batch had one entry under the key, as every key had before
/// postings).
pub(super) fn posting(seqs: &[u64]) -> ([u8; 8], Vec<u8>) {
    let first = seqs.first().copied().unwrap_or_default().to_be_bytes();
    let rest = seqs.iter().skip(1).flat_map(|s| s.to_be_bytes()).collect();
    (first, rest)
}

/// The positions a posting lists, from its key suffix and value.
pub(in crate::store) fn posting_seqs(suffix: &[u8], value: &[u8]) -> StoreResult<Vec<u64>> {
    let corrupt = || StoreError::Corrupt("audit index".into());
    let first = <[u8; 8]>::try_from(suffix).map_err(|_| corrupt())?;
    if !value.len().is_multiple_of(8) {
        return Err(corrupt());
    }
    Ok(std::iter::once(u64::from_be_bytes(first))
        .chain(
            value
                .chunks_exact(8)
                .map(|s| u64::from_be_bytes(s.try_into().unwrap_or_default())),
        )
        .collect())
}

/// A posting's index key and positions, from a pair of the tree (the index key may hold
/// 0x00 itself: the position is the last 8 bytes, after one 0x00).
fn split_posting(key: &[u8], value: &[u8]) -> StoreResult<(Vec<u8>, Vec<u64>)> {
    let at = key
        .len()
        .checked_sub(9)
        .filter(|at| key[*at] == 0)
        .ok_or_else(|| StoreError::Corrupt("audit index".into()))?;
    Ok((key[..at].to_vec(), posting_seqs(&key[at + 1..], value)?))
}

/// The tree's pair for `key` with `seqs` (at least one).
fn posting_pair(key: &[u8], seqs: &[u64]) -> (Vec<u8>, Vec<u8>) {
    let (first, rest) = posting(seqs);
    ([key, &[0][..], &first].concat(), rest)
}

impl SledStore {
    fn sealed(&self) -> RwLockReadGuard<'_, Sealed> {
        self.sealed.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Positions under index `key`, from `from_seq` on, at most `limit`: the sealed blocks'
    /// first, then the tree's.
    pub(super) fn index_lookup(
        &self,
        key: &[u8],
        from_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<u64>> {
        let sealed = self.sealed();
        let mut out = Vec::new();
        for block in sealed.blocks.iter().filter(|b| b.end() > from_seq) {
            for seq in audit_blocks::lookup(&sealed.dir, block.first, key)? {
                if seq >= from_seq {
                    if out.len() >= limit {
                        return Ok(out);
                    }
                    out.push(seq);
                }
            }
        }
        let from_seq = from_seq.max(sealed.end());
        let read = |e| map_err(e, "reading an audit index");
        let prefix = [key, &[0]].concat();
        let start = [prefix.as_slice(), &from_seq.to_be_bytes()].concat();
        // A posting that starts before `from_seq` may list later entries: begin with it.
        let begin = match self
            .audit_index
            .range(prefix.clone()..=start.clone())
            .next_back()
        {
            Some(item) => item.map_err(read)?.0.to_vec(),
            None => start,
        };
        for item in self.audit_index.range(begin..) {
            let (k, v) = item.map_err(read)?;
            if !k.starts_with(&prefix) {
                break;
            }
            // A longer key that starts with this one and 0x00 (another index key).
            if k.len() != prefix.len() + 8 {
                continue;
            }
            for seq in posting_seqs(&k[prefix.len()..], &v)? {
                if out.len() >= limit {
                    return Ok(out);
                }
                if seq >= from_seq {
                    out.push(seq);
                }
            }
        }
        Ok(out)
    }

    /// Starts sealing in the background if the log has grown a block past the sealed end
    /// and no sealing runs.
    pub(super) fn seal_when_due(&self) {
        if !self.sealing_due() || self.sealer.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        let spawned = std::thread::Builder::new()
            .name("kluis-seal-index".into())
            .spawn(move || {
                loop {
                    let sealed = store.seal_due_blocks();
                    if let Err(e) = sealed {
                        let retry_at = store.audit.len().saturating_add(RETRY_AFTER);
                        store.sealer.retry_at.store(retry_at, Ordering::Relaxed);
                        store.sealer.running.store(false, Ordering::Release);
                        tracing::warn!(error = %e, "sealing the audit index failed; it is tried again after {RETRY_AFTER} more entries");
                        return;
                    }
                    store.sealer.running.store(false, Ordering::Release);
                    // An append that committed meanwhile may have found this run going.
                    if !store.sealing_due() || store.sealer.running.swap(true, Ordering::AcqRel) {
                        return;
                    }
                }
            });
        match spawned {
            Ok(handle) => {
                let mut thread = self.sealer.thread.lock().unwrap_or_else(|p| p.into_inner());
                // The previous run is done sealing (`running` was clear); its thread may
                // still be ending, which needs no waiting for.
                *thread = Some(handle);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the audit index sealing thread did not start");
                self.sealer.running.store(false, Ordering::Release);
            }
        }
    }

    /// Whether the log has grown a whole block past the sealed end.
    fn sealing_due(&self) -> bool {
        let every = self.sealer.every.load(Ordering::Relaxed);
        let len = self.audit.len();
        len >= self.sealed().end().saturating_add(every)
            && len >= self.sealer.retry_at.load(Ordering::Relaxed)
    }

    /// Seals every complete block past the sealed end; returns how many it sealed. One scan
    /// of the tree fills up to [`BLOCKS_PER_SCAN`] blocks (a long log of layout 3 seals in
    /// a few scans, not one per block).
    pub(super) fn seal_due_blocks(&self) -> StoreResult<u64> {
        let every = self.sealer.every.load(Ordering::Relaxed);
        let mut sealed = 0;
        loop {
            // Only durable entries are sealed: a block never covers positions that a crash
            // could take from the log.
            self.db
                .flush()
                .map_err(|e| map_err(e, "flushing before sealing the audit index"))?;
            let (dir, first) = {
                let state = self.sealed();
                (state.dir.clone(), state.end())
            };
            let due = (self.audit.len().saturating_sub(first) / every).min(BLOCKS_PER_SCAN);
            if due == 0 {
                return Ok(sealed);
            }
            let stop = first + due * every;
            // The tree holds the postings of committed entries only, and appends add keys
            // of later positions: a scan sees every posting of the blocks.
            let mut blocks: Vec<BTreeMap<Vec<u8>, Vec<u64>>> = vec![BTreeMap::new(); due as usize];
            let (mut removed, mut remainders) = (Vec::new(), Vec::new());
            for item in self.audit_index.iter() {
                let (k, v) = item.map_err(|e| map_err(e, "reading the audit index"))?;
                let (key, seqs) = split_posting(&k, &v)?;
                if seqs.first().is_none_or(|s| *s >= stop) {
                    continue;
                }
                // Positions before `first` are in sealed blocks already (a crash's leftover).
                for seq in seqs.iter().filter(|s| (first..stop).contains(*s)) {
                    let block = ((seq - first) / every) as usize;
                    blocks[block].entry(key.clone()).or_default().push(*seq);
                }
                let after: Vec<u64> = seqs.iter().filter(|s| **s >= stop).copied().collect();
                if !after.is_empty() {
                    remainders.push(posting_pair(&key, &after));
                }
                removed.push(k);
            }
            let mut written = Vec::with_capacity(blocks.len());
            for (n, mut postings) in blocks.into_iter().enumerate() {
                for seqs in postings.values_mut() {
                    seqs.sort_unstable();
                    seqs.dedup();
                }
                let block = Block {
                    first: first + n as u64 * every,
                    entries: every,
                };
                audit_blocks::write(&dir, block, &postings)?;
                written.push(block);
            }
            {
                // A snapshot sees the blocks with the sealed end that names them, or
                // neither; a lookup from here on reads them (and the tree from `stop`).
                let _gate = self.writes.blocking_read();
                self.meta
                    .insert(SEALED_END, &stop.to_be_bytes())
                    .map_err(|e| map_err(e, "recording the sealed end"))?;
                let mut state = self.sealed.write().unwrap_or_else(|p| p.into_inner());
                state.blocks.extend_from_slice(&written);
            }
            // The tree's postings of the sealed blocks: no lookup reads them any more.
            let mut batch = sled::Batch::default();
            for key in removed {
                batch.remove(key);
            }
            for (key, value) in remainders {
                batch.insert(key, value);
            }
            self.audit_index
                .apply_batch(batch)
                .map_err(|e| map_err(e, "trimming the audit index"))?;
            sealed += due;
            tracing::info!(
                first,
                end = stop,
                blocks = due,
                "sealed the audit index up to a position"
            );
        }
    }

    /// The blocks sealed so far.
    pub(super) fn sealed_blocks(&self) -> (PathBuf, Vec<Block>) {
        let state = self.sealed();
        (state.dir.clone(), state.blocks.clone())
    }

    /// Every posting of the index, the sealed blocks' first, as pairs of the tree (what
    /// `kluis migrate` copies), a block in memory at a time. Read while no seal runs (a
    /// snapshot holds the write gate; migrate and restore read a store no vault serves):
    /// a seal between reading the blocks and the tree would hide a block's postings.
    pub(super) fn index_pairs(&self) -> super::audit::Pairs {
        let (dir, blocks) = self.sealed_blocks();
        let end = blocks.last().map_or(0, Block::end);
        let sealed = blocks.into_iter().flat_map(move |block| {
            let pairs: Vec<StoreResult<(Vec<u8>, Vec<u8>)>> =
                match audit_blocks::postings(&dir, block.first) {
                    Ok(postings) => postings
                        .into_iter()
                        .map(|(key, seqs)| Ok(posting_pair(&key, &seqs)))
                        .collect(),
                    Err(e) => vec![Err(e)],
                };
            pairs
        });
        let tree = self.audit_index.iter().filter_map(move |item| {
            let (k, v) = match item {
                Ok(pair) => pair,
                Err(e) => return Some(Err(map_err(e, "reading the audit index"))),
            };
            match split_posting(&k, &v) {
                Ok((key, seqs)) => {
                    let newer: Vec<u64> = seqs.into_iter().filter(|s| *s >= end).collect();
                    (!newer.is_empty()).then(|| Ok(posting_pair(&key, &newer)))
                }
                Err(e) => Some(Err(e)),
            }
        });
        Box::new(sealed.chain(tree))
    }

    /// How many postings the index holds (one per key and entry, as PostgreSQL has them).
    pub(super) fn index_rows(&self) -> StoreResult<u64> {
        let mut rows = 0;
        for pair in self.index_pairs() {
            let (_, value) = pair?;
            rows += 1 + value.len() as u64 / 8;
        }
        Ok(rows)
    }
}

#[cfg(any(test, feature = "test-support"))]
impl SledStore {
    /// Makes blocks of `entries` positions (tests fill several blocks quickly) and seals
    /// what is due now, waiting for a background run first. Returns the blocks sealed.
    pub async fn seal_audit_index(&self, entries: u64) -> StoreResult<u64> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let running = store
                .sealer
                .thread
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(thread) = running {
                let _ = thread.join();
            }
            store.sealer.every.store(entries, Ordering::Relaxed);
            store.seal_due_blocks()
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("sealing the audit index: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditAppend, AuditStore};

    /// Entry `seq` is indexed under a department shared by all, a resident of seven, and a
    /// key that ends in 0x00 and starts like another (`r1` + 0x00 + `x`).
    fn append(seq: u64) -> AuditAppend {
        let mut append = crate::store::contract::append(seq, None);
        append.index_keys = vec![b"dgemeente".to_vec(), format!("r{}", seq % 7).into_bytes()];
        if seq.is_multiple_of(5) {
            append.index_keys.push(b"r1\0x".to_vec());
        }
        append
    }

    async fn all(store: &SledStore, key: &[u8]) -> Vec<u64> {
        store.audit_index(key, 0, usize::MAX).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sealed_blocks_answer_every_lookup_as_the_tree_did_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::tests::reopen(dir.path()).await;
        // Batches of 7 straddle the blocks' edges (blocks of 16).
        let mut seq = 0;
        while seq < 100 {
            let batch: Vec<_> = (seq..seq + 7).map(append).collect();
            store.append_audit(&batch).await.unwrap();
            seq += 7;
        }
        let keys: [&[u8]; 4] = [b"dgemeente", b"r1", b"r1\0x", b"r6"];
        let mut before = Vec::new();
        for key in keys {
            before.push(all(&store, key).await);
        }
        assert_eq!(before[0], (0..105).collect::<Vec<_>>());
        let pairs_before: Vec<_> = store.index_pairs().collect::<StoreResult<_>>().unwrap();
        let rows_before = store.index_rows().unwrap();

        assert_eq!(store.seal_audit_index(16).await.unwrap(), 6);
        assert_eq!(store.sealed_blocks().1.last().map(Block::end), Some(96));
        for (key, expected) in keys.iter().zip(&before) {
            assert_eq!(&all(&store, key).await, expected, "{key:?}");
            // Every start and limit, across the blocks' edges and into the tree.
            for from in [0, 15, 16, 17, 95, 96, 97, 104] {
                let tail: Vec<u64> = expected.iter().copied().filter(|s| *s >= from).collect();
                for limit in [1, 3, 100] {
                    let got = store.audit_index(key, from, limit).await.unwrap();
                    assert_eq!(got, tail[..limit.min(tail.len())], "{key:?} {from} {limit}");
                }
            }
        }
        for pair in store.audit_index.iter() {
            let (k, v) = pair.unwrap();
            let (key, seqs) = split_posting(&k, &v).unwrap();
            assert!(
                seqs.iter().all(|s| *s >= 96),
                "{key:?} {seqs:?} stayed in the tree"
            );
        }
        assert_eq!(store.index_rows().unwrap(), rows_before);
        let flatten = |pairs: Vec<(Vec<u8>, Vec<u8>)>| {
            let mut postings: Vec<(Vec<u8>, u64)> = pairs
                .into_iter()
                .flat_map(|(k, v)| {
                    let (key, seqs) = split_posting(&k, &v).unwrap();
                    seqs.into_iter().map(move |s| (key.clone(), s))
                })
                .collect();
            postings.sort();
            postings
        };
        let pairs_after: Vec<_> = store.index_pairs().collect::<StoreResult<_>>().unwrap();
        assert_eq!(flatten(pairs_after), flatten(pairs_before));

        // A snapshot takes the blocks along, and counts postings as before.
        let copy = tempfile::tempdir().unwrap();
        let counts = store.snapshot_into(&copy.path().join("db")).await.unwrap();
        assert_eq!(counts["audit_index"], rows_before);
        let copied = super::super::tests::reopen(&copy.path().join("db")).await;
        assert_eq!(copied.row_counts().unwrap(), counts);

        store.sync().await.unwrap();
        drop(store);
        let store = super::super::tests::reopen(dir.path()).await;
        for (key, expected) in keys.iter().zip(&before) {
            assert_eq!(
                &all(&store, key).await,
                expected,
                "after reopening: {key:?}"
            );
            assert_eq!(
                &all(&copied, key).await,
                expected,
                "in the snapshot: {key:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_seal_due_blocks_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::tests::reopen(dir.path()).await;
        store.sealer.every.store(16, Ordering::Relaxed);
        for first in (0..70).step_by(10) {
            let batch: Vec<_> = (first..first + 10).map(append).collect();
            store.append_audit(&batch).await.unwrap();
        }
        let mut waited = 0;
        while store.sealed_blocks().1.len() < 4 && waited < 100 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            waited += 1;
        }
        assert_eq!(store.sealed_blocks().1.last().map(Block::end), Some(64));
        assert_eq!(all(&store, b"dgemeente").await, (0..70).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postings_left_in_the_tree_by_a_crash_are_read_once_and_trimmed_by_the_next_seal() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::tests::reopen(dir.path()).await;
        let batch: Vec<_> = (0..40).map(append).collect();
        store.append_audit(&batch).await.unwrap();
        // A crash after the block was written but before the tree was trimmed.
        let postings: Vec<_> = store.index_pairs().collect::<StoreResult<_>>().unwrap();
        let mut block: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
        for (k, v) in postings {
            let (key, seqs) = split_posting(&k, &v).unwrap();
            block
                .entry(key)
                .or_default()
                .extend(seqs.into_iter().filter(|s| *s < 16));
        }
        block.retain(|_, seqs| !seqs.is_empty());
        let first = Block {
            first: 0,
            entries: 16,
        };
        audit_blocks::write(dir.path(), first, &block).unwrap();
        store.sync().await.unwrap();
        drop(store);
        let store = super::super::tests::reopen(dir.path()).await;
        assert_eq!(store.sealed_blocks().1, [first]);
        assert_eq!(all(&store, b"dgemeente").await, (0..40).collect::<Vec<_>>());
        assert_eq!(store.index_rows().unwrap(), 40 * 2 + 8);
        assert_eq!(store.seal_audit_index(16).await.unwrap(), 1);
        assert_eq!(all(&store, b"dgemeente").await, (0..40).collect::<Vec<_>>());
        assert_eq!(all(&store, b"r1\0x").await, [0, 5, 10, 15, 20, 25, 30, 35]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_block_past_the_log_or_a_missing_block_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::tests::reopen(dir.path()).await;
        let batch: Vec<_> = (0..40).map(append).collect();
        store.append_audit(&batch).await.unwrap();
        assert_eq!(store.seal_audit_index(16).await.unwrap(), 2);
        store.sync().await.unwrap();
        drop(store);
        let past = Block {
            first: 32,
            entries: 16,
        };
        audit_blocks::write(dir.path(), past, &BTreeMap::new()).unwrap();
        let open = |dir: &std::path::Path| loop {
            match SledStore::open(dir, 8 << 20) {
                Err(StoreError::Unavailable(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                other => break other.map(|_| ()).map_err(|e| e.to_string()),
            }
        };
        let err = open(dir.path()).unwrap_err();
        assert!(
            err.contains("sealed up to position 48, past the log's 40"),
            "{err}"
        );
        std::fs::remove_file(audit_blocks::path(dir.path(), 32)).unwrap();
        std::fs::remove_file(audit_blocks::path(dir.path(), 0)).unwrap();
        let err = open(dir.path()).unwrap_err();
        assert!(err.contains("block at 0: the file is missing"), "{err}");
        // Without any block, the database still knows how far they reached.
        std::fs::remove_dir_all(dir.path().join(audit_blocks::DIR)).unwrap();
        let err = open(dir.path()).unwrap_err();
        assert!(
            err.contains("end at position 0, but the database sealed them up to 32"),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_seal_changes_nothing_and_is_tried_again_later() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::tests::reopen(dir.path()).await;
        store.sealer.every.store(16, Ordering::Relaxed);
        // The blocks' directory cannot be created: a file has its name.
        std::fs::write(dir.path().join(audit_blocks::DIR), b"in the way").unwrap();
        let batch: Vec<_> = (0..40).map(append).collect();
        store.append_audit(&batch).await.unwrap();
        let mut waited = 0;
        while store.sealer.retry_at.load(Ordering::Relaxed) == 0 && waited < 100 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            waited += 1;
        }
        assert_eq!(
            store.sealer.retry_at.load(Ordering::Relaxed),
            40 + RETRY_AFTER
        );
        assert!(store.sealed_blocks().1.is_empty());
        assert_eq!(all(&store, b"dgemeente").await, (0..40).collect::<Vec<_>>());
        std::fs::remove_file(dir.path().join(audit_blocks::DIR)).unwrap();
        let batch: Vec<_> = (40..50).map(append).collect();
        store.append_audit(&batch).await.unwrap();
        assert!(
            !store.sealing_due(),
            "not before {RETRY_AFTER} more entries"
        );
        let batch: Vec<_> = (50..40 + RETRY_AFTER).map(append).collect();
        store.append_audit(&batch).await.unwrap();
        // Sealed in the background, or here (waiting for the background first).
        store.seal_audit_index(16).await.unwrap();
        let end = store.sealed_blocks().1.last().map(Block::end);
        assert_eq!(end, Some((40 + RETRY_AFTER) / 16 * 16));
        assert_eq!(
            all(&store, b"dgemeente").await,
            (0..40 + RETRY_AFTER).collect::<Vec<_>>()
        );
    }
}
