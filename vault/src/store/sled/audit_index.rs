// Long: lookups, sealing and the crash cases between them, with their tests, in one place.
//! The audit index on sled. The postings of the newest entries are in one sled tree per
//! block of positions (`audit_index_<first position>`), written in the transaction that
//! commits the entries (several batches of reads at once, see `deferred`) under one key
//! per transaction and block, and looked up in memory (read from the trees at
//! open); older ones are in sealed blocks ([`audit_blocks`]). When the log has grown a
//! block past the sealed end, a background thread writes the block's postings to a file,
//! records the new sealed end, and drops the block's tree: dropping a tree costs sled a
//! few writes, where removing its keys one by one would cost as much as writing them.
//!
//! One key per transaction, not per index key and batch (layout 6, still read): a batch of reads
//! about many residents cost sled an insert per resident, and those inserts were most of
//! an audit append's work.
//!
//! Only entries sled has flushed are sealed. The sealed end is recorded in `meta` once the
//! blocks are on disk, and at open the blocks must reach it (a missing last block or
//! directory is refused, not read as "nothing sealed"); block trees the sealed end has
//! passed (a crash before they were dropped) are dropped at open. Layout 3 kept every
//! posting in one tree, `audit_index`: it is read (from the sealed end on) and sealed from
//! like the block trees, and dropped once the blocks reach the log's length at the upgrade.

use super::audit_blocks::{self, Block};
use super::{SledStore, map_err, meta_u64};
use crate::store::{StoreError, StoreResult};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLockReadGuard};

/// Positions per sealed block (and per tree of newest postings).
pub(super) const BLOCK_ENTRIES: u64 = 65_536;
/// The most blocks one pass fills (their postings are in memory meanwhile: about 20 MB a
/// block when each entry is about another resident).
const BLOCKS_PER_SCAN: u64 = 4;
/// Entries appended after a failed seal before sealing is tried again.
const RETRY_AFTER: u64 = 4096;
/// The key in `meta` of the sealed end: the blocks must reach at least this far.
pub(super) const SEALED_END: &str = "audit_index_sealed";
/// The key in `meta` of the positions per block (fixed when the database gets layout 4).
pub(super) const BLOCK_SIZE: &str = "audit_index_block";
/// The key in `meta` of the log's length when layout 3's tree stopped growing.
pub(super) const LEGACY_END: &str = "audit_index_legacy_end";
/// Layout 3's tree of every posting.
const LEGACY_TREE: &str = "audit_index";
/// The prefix of a block's tree of newest postings.
const TAIL_PREFIX: &str = "audit_index_";
/// The first byte of a batch's key in a block tree (an index key starts with a letter).
const BATCH_MARK: u8 = 0xff;

/// The newest postings (those not sealed yet): positions by index key, ascending.
pub(super) type Newest = BTreeMap<Vec<u8>, Vec<u64>>;

/// The name of the tree of newest postings for the block starting at `first`.
fn tail_name(first: u64) -> String {
    format!("{TAIL_PREFIX}{first:020}")
}

/// The block a tree of newest postings is for, from its name.
fn tail_first(name: &[u8]) -> Option<u64> {
    std::str::from_utf8(name.strip_prefix(TAIL_PREFIX.as_bytes())?)
        .ok()?
        .parse()
        .ok()
}

/// Whether sled tree `name` holds index postings (counted as the index, not as a tree).
pub(super) fn is_index_tree(name: &[u8]) -> bool {
    name == LEGACY_TREE.as_bytes() || tail_first(name).is_some()
}

/// The sealed blocks, and the trees whose postings are not sealed yet.
pub(super) struct Sealed {
    pub(super) dir: PathBuf,
    pub(super) blocks: Vec<Block>,
    /// Layout 3's tree, until the blocks reach `legacy_end`.
    legacy: Option<(sled::Tree, u64)>,
}

impl Sealed {
    /// The first position whose postings are still in trees.
    pub(super) fn end(&self) -> u64 {
        self.blocks.last().map_or(0, Block::end)
    }
}

/// The trees of newest postings by block, and the background sealing (one run at a time).
#[derive(Default)]
pub(super) struct Sealer {
    tails: Mutex<BTreeMap<u64, sled::Tree>>,
    /// The trees' postings, for lookups and sealing. Changed by appends (before the log's
    /// length covers them) and by a seal (holding `Sealed` for writing).
    newest: Mutex<Newest>,
    /// Positions per block (fixed per database).
    every: AtomicU64,
    /// The sealed end, for appends and the check whether a seal is due (which must not
    /// wait for lookups holding `Sealed`).
    end: AtomicU64,
    running: AtomicBool,
    /// After a failure: the log's length before which sealing is not tried again.
    retry_at: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Opens the index of the database in `dir` whose log holds `len` entries: checks the
/// blocks against the log and the sealed end, fixes the block size, finds layout 3's tree
/// and the block trees, and drops trees the blocks already hold.
pub(super) fn open(
    db: &sled::Db,
    meta: &sled::Tree,
    dir: &Path,
    len: u64,
) -> StoreResult<(Sealed, Sealer)> {
    let blocks = audit_blocks::list(dir)?;
    let blocks_end = blocks.last().map_or(0, Block::end);
    if blocks_end > len {
        return Err(StoreError::Corrupt(format!(
            "the audit index is sealed up to position {blocks_end}, past the log's {len} entries"
        )));
    }
    let stored = |key: &str| -> StoreResult<Option<u64>> {
        match meta.get(key) {
            Ok(None) => Ok(None),
            Ok(Some(_)) => meta_u64(meta, key).map(Some),
            Err(e) => Err(map_err(e, "reading the audit index's state")),
        }
    };
    let sealed_end = stored(SEALED_END)?.unwrap_or(0);
    if blocks_end < sealed_end {
        return Err(StoreError::Corrupt(format!(
            "the audit index's blocks in {}/ end at position {blocks_end}, but the database sealed them up to {sealed_end}: restore the whole data directory",
            audit_blocks::DIR
        )));
    }
    let every = match stored(BLOCK_SIZE)? {
        Some(0) => return Err(StoreError::Corrupt("an audit index block size of 0".into())),
        Some(every) => every,
        None => {
            meta.insert(BLOCK_SIZE, &BLOCK_ENTRIES.to_be_bytes())
                .map_err(|e| map_err(e, "recording the audit index's block size"))?;
            BLOCK_ENTRIES
        }
    };
    if blocks_end > sealed_end {
        // Blocks a crash left unrecorded: vouched for before the trees they replace go.
        meta.insert(SEALED_END, &blocks_end.to_be_bytes())
            .and_then(|_| db.flush())
            .map_err(|e| map_err(e, "recording the sealed end"))?;
    }
    let names = db.tree_names();
    let legacy = if names.iter().any(|n| n.as_ref() == LEGACY_TREE.as_bytes()) {
        let end = match stored(LEGACY_END)? {
            Some(end) => end,
            None => {
                meta.insert(LEGACY_END, &len.to_be_bytes())
                    .map_err(|e| map_err(e, "recording where layout 3's index ends"))?;
                len
            }
        };
        let tree = db
            .open_tree(LEGACY_TREE)
            .map_err(|e| map_err(e, "opening the audit index"))?;
        Some((tree, end))
    } else {
        None
    };
    let mut tails = BTreeMap::new();
    let mut newest = Newest::new();
    for name in &names {
        let Some(first) = tail_first(name) else {
            continue;
        };
        if first < blocks_end {
            db.drop_tree(name)
                .map_err(|e| map_err(e, "dropping a sealed block's tree"))?;
        } else {
            let tree = db
                .open_tree(name)
                .map_err(|e| map_err(e, "opening the audit index"))?;
            // A position outside the tree's block or past the log is damage: refused, so
            // lookups and seals never work from a list out of order.
            let inside = first..first.saturating_add(every).min(len);
            for item in tree.iter() {
                let (k, v) = item.map_err(|e| map_err(e, "reading the audit index"))?;
                for (key, seqs) in tree_postings(&k, &v)? {
                    if let Some(outside) = seqs.iter().find(|s| !inside.contains(*s)) {
                        return Err(StoreError::Corrupt(format!(
                            "the audit index's tree for the block at position {first} lists position {outside}, outside the block or past the log's {len} entries: restore the whole data directory"
                        )));
                    }
                    newest.entry(key).or_default().extend(seqs);
                }
            }
            tails.insert(first, tree);
        }
    }
    for seqs in newest.values_mut() {
        seqs.sort_unstable();
        seqs.dedup();
    }
    let mut sealed = Sealed {
        dir: dir.to_owned(),
        blocks,
        legacy,
    };
    if sealed
        .legacy
        .as_ref()
        .is_some_and(|(_, end)| *end <= blocks_end)
    {
        sealed.legacy = None;
        drop_legacy(db)?;
    }
    let sealer = Sealer {
        tails: Mutex::new(tails),
        newest: Mutex::new(newest),
        every: AtomicU64::new(every),
        end: AtomicU64::new(blocks_end),
        ..Sealer::default()
    };
    Ok((sealed, sealer))
}

/// Drops layout 3's tree, whose postings the blocks hold (no lookup reads it any more).
fn drop_legacy(db: &sled::Db) -> StoreResult<()> {
    db.drop_tree(LEGACY_TREE)
        .map_err(|e| map_err(e, "dropping layout 3's audit index"))?;
    tracing::info!("layout 3's audit index is sealed into blocks and dropped");
    Ok(())
}

/// The key suffix and value of a posting: the first entry's position, then the later ones
/// (u64 BE each; empty when the batch had one entry under the key, as every key had before
/// postings).
fn posting(seqs: &[u64]) -> ([u8; 8], Vec<u8>) {
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

/// A posting's index key and positions, from a pair of a tree (the index key may hold
/// 0x00 itself: the position is the last 8 bytes, after one 0x00).
fn split_posting(key: &[u8], value: &[u8]) -> StoreResult<(Vec<u8>, Vec<u64>)> {
    let at = key
        .len()
        .checked_sub(9)
        .filter(|at| key[*at] == 0)
        .ok_or_else(|| StoreError::Corrupt("audit index".into()))?;
    Ok((key[..at].to_vec(), posting_seqs(&key[at + 1..], value)?))
}

/// A tree's pair for `key` with `seqs` (at least one).
pub(super) fn posting_pair(key: &[u8], seqs: &[u64]) -> (Vec<u8>, Vec<u8>) {
    let (first, rest) = posting(seqs);
    ([key, &[0][..], &first].concat(), rest)
}

/// A block tree's pair for one transaction's `postings` in the block, the first at `first`: the
/// key is the mark and that position; the value lists each index key (u16 BE length, the
/// key) with its positions (u32 BE count, u64 BE each).
pub(super) fn batch_pair(
    first: u64,
    postings: &[(&[u8], &[u64])],
) -> StoreResult<(Vec<u8>, Vec<u8>)> {
    let mut value = Vec::new();
    for (key, seqs) in postings {
        let too_long = || StoreError::Corrupt("an audit index key or posting too long".into());
        value.extend_from_slice(
            &u16::try_from(key.len())
                .map_err(|_| too_long())?
                .to_be_bytes(),
        );
        value.extend_from_slice(key);
        value.extend_from_slice(
            &u32::try_from(seqs.len())
                .map_err(|_| too_long())?
                .to_be_bytes(),
        );
        for seq in *seqs {
            value.extend_from_slice(&seq.to_be_bytes());
        }
    }
    Ok(([&[BATCH_MARK][..], &first.to_be_bytes()].concat(), value))
}

/// The postings of a block tree's pair: one batch's (this layout) or one index key's
/// (layout 6).
fn tree_postings(key: &[u8], value: &[u8]) -> StoreResult<Vec<(Vec<u8>, Vec<u64>)>> {
    if key.len() != 9 || key[0] != BATCH_MARK {
        return Ok(vec![split_posting(key, value)?]);
    }
    let corrupt = || StoreError::Corrupt("audit index".into());
    fn split(bytes: &[u8], n: usize) -> StoreResult<(&[u8], &[u8])> {
        bytes
            .split_at_checked(n)
            .ok_or_else(|| StoreError::Corrupt("audit index".into()))
    }
    let mut postings = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let (len, after) = split(rest, 2)?;
        let (key, after) = split(after, usize::from(u16::from_be_bytes([len[0], len[1]])))?;
        let (count, after) = split(after, 4)?;
        let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]) as usize;
        let (seqs, after) = split(after, count.checked_mul(8).ok_or_else(corrupt)?)?;
        let seqs = seqs
            .chunks_exact(8)
            .map(|s| u64::from_be_bytes(s.try_into().unwrap_or_default()))
            .collect();
        postings.push((key.to_vec(), seqs));
        rest = after;
    }
    Ok(postings)
}

/// Positions under `key` in `tree`, from `from_seq` on, until `out` holds `limit`.
fn tree_lookup(
    tree: &sled::Tree,
    key: &[u8],
    from_seq: u64,
    limit: usize,
    out: &mut Vec<u64>,
) -> StoreResult<()> {
    let read = |e| map_err(e, "reading an audit index");
    let prefix = [key, &[0]].concat();
    let start = [prefix.as_slice(), &from_seq.to_be_bytes()].concat();
    // A posting that starts before `from_seq` may list later entries: begin with it.
    let begin = match tree.range(prefix.clone()..=start.clone()).next_back() {
        Some(item) => item.map_err(read)?.0.to_vec(),
        None => start,
    };
    for item in tree.range(begin..) {
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
                return Ok(());
            }
            if seq >= from_seq {
                out.push(seq);
            }
        }
    }
    Ok(())
}

impl SledStore {
    fn sealed(&self) -> RwLockReadGuard<'_, Sealed> {
        self.sealed.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The positions per block.
    pub(super) fn index_block(&self) -> u64 {
        self.sealer.every.load(Ordering::Relaxed)
    }

    /// The sealed end (no wait for lookups).
    pub(super) fn index_sealed_end(&self) -> u64 {
        self.sealer.end.load(Ordering::Acquire)
    }

    /// The tree of newest postings for the block starting at `first`, opened if new.
    pub(super) fn index_tail(&self, first: u64) -> StoreResult<sled::Tree> {
        let mut tails = self.sealer.tails.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tree) = tails.get(&first) {
            return Ok(tree.clone());
        }
        let tree = self
            .db
            .open_tree(tail_name(first))
            .map_err(|e| map_err(e, "opening the audit index"))?;
        tails.insert(first, tree.clone());
        Ok(tree)
    }

    /// The trees of newest postings for blocks from `first` on, in order.
    fn tails_from(&self, first: u64) -> Vec<(u64, sled::Tree)> {
        let tails = self.sealer.tails.lock().unwrap_or_else(|p| p.into_inner());
        tails.range(first..).map(|(f, t)| (*f, t.clone())).collect()
    }

    fn newest(&self) -> std::sync::MutexGuard<'_, Newest> {
        self.sealer.newest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an appended batch's postings to the newest (before the log's length covers
    /// them, so a seal finds every posting below the length it read; a seal commits those
    /// whose sled writes wait before it reads them).
    pub(super) fn add_newest<'a>(&self, postings: impl Iterator<Item = (&'a [u8], &'a [u64])>) {
        let mut newest = self.newest();
        for (key, seqs) in postings {
            match newest.get_mut(key) {
                Some(known) => {
                    let in_order = known.last() < seqs.first();
                    known.extend_from_slice(seqs);
                    // Appends come in position order; anything else is kept in order too.
                    if !in_order {
                        known.sort_unstable();
                        known.dedup();
                    }
                }
                None => {
                    newest.insert(key.to_vec(), seqs.to_vec());
                }
            }
        }
    }

    /// The newest postings in `[from, to)` (a copy), by index key.
    fn newest_between(&self, from: u64, to: u64) -> Vec<(Vec<u8>, Vec<u64>)> {
        self.newest()
            .iter()
            .filter_map(|(key, seqs)| {
                let start = seqs.partition_point(|s| *s < from);
                let between = &seqs[start..start + seqs[start..].partition_point(|s| *s < to)];
                (!between.is_empty()).then(|| (key.clone(), between.to_vec()))
            })
            .collect()
    }

    /// Positions under index `key`, from `from_seq` on, at most `limit`: the sealed blocks'
    /// first, then layout 3's tree's, then the newest.
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
        if let Some((legacy, _)) = &sealed.legacy {
            tree_lookup(legacy, key, from_seq, limit, &mut out)?;
        }
        if let Some(seqs) = self.newest().get(key) {
            let later = &seqs[seqs.partition_point(|s| *s < from_seq)..];
            out.extend(later.iter().take(limit.saturating_sub(out.len())));
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
        let len = self.audit.len();
        let (end, every) = (self.index_sealed_end(), self.index_block());
        len >= end.saturating_add(every) && len >= self.sealer.retry_at.load(Ordering::Relaxed)
    }

    /// Seals every complete block past the sealed end; returns how many it sealed. One pass
    /// fills up to [`BLOCKS_PER_SCAN`] blocks (a long log of layout 3 seals in a few scans
    /// of its tree, not one per block).
    pub(super) fn seal_due_blocks(&self) -> StoreResult<u64> {
        let mut sealed = 0;
        let every = self.index_block();
        loop {
            // Only durable entries are sealed: a block never covers positions that a crash
            // could take from the log (the length is read before the flush).
            // (What batches of reads below it wait to write is committed first.)
            let len = self.audit.len();
            self.commit_deferred()?;
            self.db
                .flush()
                .map_err(|e| map_err(e, "flushing before sealing the audit index"))?;
            let (dir, first, legacy) = {
                let state = self.sealed();
                let legacy = state.legacy.as_ref().map(|(tree, _)| tree.clone());
                (state.dir.clone(), state.end(), legacy)
            };
            let due = (len.saturating_sub(first) / every).min(BLOCKS_PER_SCAN);
            if due == 0 {
                return Ok(sealed);
            }
            let stop = first + due * every;
            // Appended postings only are in the trees and the newest, and appends add
            // later positions: their postings below `stop` are every posting of the blocks.
            let mut blocks: Vec<BTreeMap<Vec<u8>, Vec<u64>>> = vec![BTreeMap::new(); due as usize];
            let tails: Vec<(u64, sled::Tree)> = self
                .tails_from(first)
                .into_iter()
                .filter(|(f, _)| *f < stop)
                .collect();
            let mut add = |key: &[u8], seqs: &[u64]| {
                for seq in seqs.iter().filter(|s| (first..stop).contains(*s)) {
                    let block = ((seq - first) / every) as usize;
                    blocks[block].entry(key.to_vec()).or_default().push(*seq);
                }
            };
            if let Some(tree) = &legacy {
                for item in tree.iter() {
                    let (k, v) = item.map_err(|e| map_err(e, "reading the audit index"))?;
                    let (key, seqs) = split_posting(&k, &v)?;
                    add(&key, &seqs);
                }
            }
            for (key, seqs) in self.newest_between(first, stop) {
                add(&key, &seqs);
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
                // neither; a lookup from here on reads them (and the trees from `stop`).
                let _gate = self.writes.blocking_read();
                self.meta
                    .insert(SEALED_END, &stop.to_be_bytes())
                    .map_err(|e| map_err(e, "recording the sealed end"))?;
                let mut state = self.sealed.write().unwrap_or_else(|p| p.into_inner());
                state.blocks.extend_from_slice(&written);
                self.sealer.end.store(stop, Ordering::Release);
                self.newest().retain(|_, seqs| {
                    seqs.drain(..seqs.partition_point(|s| *s < stop));
                    !seqs.is_empty()
                });
            }
            // The sealed end is durable before the trees it replaces go.
            self.db
                .flush()
                .map_err(|e| map_err(e, "recording the sealed end"))?;
            let legacy_done = {
                let mut state = self.sealed.write().unwrap_or_else(|p| p.into_inner());
                let done = state.legacy.as_ref().is_some_and(|(_, end)| *end <= stop);
                if done {
                    state.legacy = None;
                }
                done
            };
            // Dropped while no snapshot copies the trees; no lookup reads them any more.
            let _gate = self.writes.blocking_read();
            if legacy_done {
                drop_legacy(&self.db)?;
            }
            for (first, _) in tails {
                self.sealer
                    .tails
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&first);
                self.db
                    .drop_tree(tail_name(first))
                    .map_err(|e| map_err(e, "dropping a sealed block's tree"))?;
            }
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

    /// Every posting of the index, the sealed blocks' first, as pairs of layout 3's tree
    /// (what `kluis migrate` copies), a block in memory at a time. Read while no seal
    /// commits (a snapshot holds the write gate, which a seal takes to record its blocks
    /// and to drop trees; migrate and restore read a store no vault serves): a seal between
    /// reading the blocks and the trees would hide a block's postings.
    pub(super) fn index_pairs(&self) -> super::audit::Pairs {
        let (dir, blocks, end, legacy, newest) = {
            let state = self.sealed();
            let legacy = state.legacy.as_ref().map(|(tree, _)| tree.clone());
            let newest = self.newest_between(state.end(), u64::MAX);
            (
                state.dir.clone(),
                state.blocks.clone(),
                state.end(),
                legacy,
                newest,
            )
        };
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
        let newest = newest
            .into_iter()
            .map(|(key, seqs)| Ok(posting_pair(&key, &seqs)));
        let unsealed = legacy
            .into_iter()
            .flat_map(|tree| tree.iter())
            .filter_map(move |item| {
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
        Box::new(sealed.chain(unsealed).chain(newest))
    }

    /// How many postings the index holds (one per key and entry, as PostgreSQL has them):
    /// the blocks' counts from their headers, the trees' by reading them.
    pub(super) fn index_rows(&self) -> StoreResult<u64> {
        let (dir, blocks, end, legacy, mut rows) = {
            let state = self.sealed();
            let legacy = state.legacy.as_ref().map(|(tree, _)| tree.clone());
            let end = state.end();
            let newest: u64 = self
                .newest()
                .values()
                .map(|seqs| {
                    seqs.len()
                        .saturating_sub(seqs.partition_point(|s| *s < end))
                        as u64
                })
                .sum();
            (state.dir.clone(), state.blocks.clone(), end, legacy, newest)
        };
        for block in blocks {
            rows += audit_blocks::posting_count(&dir, block.first)?;
        }
        if let Some(tree) = legacy {
            for item in tree.iter() {
                let (k, v) = item.map_err(|e| map_err(e, "counting the audit index"))?;
                let (_, seqs) = split_posting(&k, &v)?;
                rows += seqs.iter().filter(|s| **s >= end).count() as u64;
            }
        }
        Ok(rows)
    }
}

#[cfg(any(test, feature = "test-support"))]
impl SledStore {
    /// Makes blocks of `entries` positions, on a store whose log is empty (tests fill
    /// several blocks quickly).
    pub fn set_audit_index_block(&self, entries: u64) -> StoreResult<()> {
        if self.audit.len() > 0 || entries == 0 {
            return Err(StoreError::Unavailable(
                "the block size changes only on an empty log".into(),
            ));
        }
        self.meta
            .insert(BLOCK_SIZE, &entries.to_be_bytes())
            .map_err(|e| map_err(e, "recording the audit index's block size"))?;
        self.sealer.every.store(entries, Ordering::Relaxed);
        Ok(())
    }

    /// Seals what is due now, waiting for a background run first. Returns the blocks
    /// sealed here.
    pub async fn seal_audit_index(&self) -> StoreResult<u64> {
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
            // One seal at a time: claim the run as an append would.
            while store.sealer.running.swap(true, Ordering::AcqRel) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let sealed = store.seal_due_blocks();
            store.sealer.running.store(false, Ordering::Release);
            sealed
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("sealing the audit index: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditAppend, AuditStore};

    /// Entry `seq`'s index keys: a department shared by all, a resident of seven, and a key
    /// that ends in 0x00 and starts like another (`r1` + 0x00 + `x`).
    fn keys_of(seq: u64) -> Vec<Vec<u8>> {
        let mut keys = vec![b"dgemeente".to_vec(), format!("r{}", seq % 7).into_bytes()];
        if seq.is_multiple_of(5) {
            keys.push(b"r1\0x".to_vec());
        }
        keys
    }

    fn append(seq: u64) -> AuditAppend {
        let mut append = crate::store::contract::append(seq, None);
        append.index_keys = keys_of(seq);
        append
    }

    /// What a lookup of `key` over a log of `len` entries must answer.
    fn expected(key: &[u8], len: u64) -> Vec<u64> {
        (0..len)
            .filter(|s| keys_of(*s).iter().any(|k| k == key))
            .collect()
    }

    const KEYS: [&[u8]; 5] = [b"dgemeente", b"r1", b"r1\0x", b"r6", b"r"];

    async fn all(store: &SledStore, key: &[u8]) -> Vec<u64> {
        store.audit_index(key, 0, usize::MAX).await.unwrap()
    }

    /// A store at `dir` with blocks of 16 positions and entries `[0, len)` appended in
    /// batches of `batch` and committed to sled, once the sealing those appends started in
    /// the background is done (a test that rewrites the block trees must not race it).
    async fn filled(dir: &Path, len: u64, batch: u64) -> SledStore {
        let store = super::super::tests::reopen(dir).await;
        store.set_audit_index_block(16).unwrap();
        add(&store, 0, len, batch).await;
        store.sync().await.unwrap();
        let running = store.sealer.thread.lock().unwrap().take();
        if let Some(thread) = running {
            tokio::task::spawn_blocking(move || thread.join().unwrap())
                .await
                .unwrap();
        }
        store
    }

    async fn add(store: &SledStore, from: u64, to: u64, batch: u64) {
        let mut seq = from;
        while seq < to {
            let appends: Vec<_> = (seq..(seq + batch).min(to)).map(append).collect();
            store.append_audit(&appends).await.unwrap();
            seq += batch;
        }
    }

    /// Every lookup of every key, from every start near the blocks' edges, with limits.
    async fn check_lookups(store: &SledStore, len: u64) {
        for key in KEYS {
            let expected = expected(key, len);
            assert_eq!(all(store, key).await, expected, "{key:?}");
            for from in [0, 15, 16, 17, 31, 32, 95, 96, 97, len - 1] {
                let tail: Vec<u64> = expected.iter().copied().filter(|s| *s >= from).collect();
                for limit in [1, 3, 100] {
                    let got = store.audit_index(key, from, limit).await.unwrap();
                    assert_eq!(got, tail[..limit.min(tail.len())], "{key:?} {from} {limit}");
                }
            }
        }
    }

    fn flatten(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, u64)> {
        let mut postings: Vec<(Vec<u8>, u64)> = pairs
            .into_iter()
            .flat_map(|(k, v)| {
                let (key, seqs) = split_posting(&k, &v).unwrap();
                seqs.into_iter().map(move |s| (key.clone(), s))
            })
            .collect();
        postings.sort();
        postings
    }

    fn every_posting(len: u64) -> Vec<(Vec<u8>, u64)> {
        let mut postings: Vec<(Vec<u8>, u64)> = (0..len)
            .flat_map(|s| keys_of(s).into_iter().map(move |k| (k, s)))
            .collect();
        postings.sort();
        postings
    }

    fn tree_names(store: &SledStore) -> Vec<String> {
        let names = store.db.tree_names();
        names
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .filter(|n| n.starts_with(LEGACY_TREE))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sealed_blocks_answer_every_lookup_and_survive_a_reopen_and_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        // Batches of 7 straddle the blocks' edges (blocks of 16).
        let store = filled(dir.path(), 105, 7).await;
        store.seal_audit_index().await.unwrap();
        assert_eq!(store.sealed_blocks().1.last().map(Block::end), Some(96));
        check_lookups(&store, 105).await;
        // Only the newest block's tree is left.
        assert_eq!(tree_names(&store), [tail_name(96)]);
        let pairs: Vec<_> = store.index_pairs().collect::<StoreResult<_>>().unwrap();
        assert_eq!(flatten(pairs), every_posting(105));
        assert_eq!(store.index_rows().unwrap(), every_posting(105).len() as u64);

        // A snapshot takes the blocks along, and counts postings as PostgreSQL would.
        let copy = tempfile::tempdir().unwrap();
        let counts = store.snapshot_into(&copy.path().join("db")).await.unwrap();
        assert_eq!(counts["audit_index"], every_posting(105).len() as u64);
        let copied = super::super::tests::reopen(&copy.path().join("db")).await;
        assert_eq!(copied.row_counts().unwrap(), counts);
        check_lookups(&copied, 105).await;

        store.sync().await.unwrap();
        drop(store);
        let store = super::super::tests::reopen(dir.path()).await;
        check_lookups(&store, 105).await;
        // The block size is the database's: appends after the reopen still fill blocks of 16.
        add(&store, 105, 130, 5).await;
        store.seal_audit_index().await.unwrap();
        assert_eq!(store.sealed_blocks().1.last().map(Block::end), Some(128));
        check_lookups(&store, 130).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_seal_due_blocks_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path(), 70, 10).await;
        assert_eq!(store.sealed_blocks().1.last().map(Block::end), Some(64));
        assert_eq!(all(&store, b"dgemeente").await, (0..70).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_block_tree_left_by_a_crash_is_dropped_at_open_and_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path(), 40, 40).await;
        store.seal_audit_index().await.unwrap();
        // A crash after the sealed end was recorded, before block 0's tree was dropped
        // (here with a posting the block does not have, to show it is never read).
        let stale = store.db.open_tree(tail_name(0)).unwrap();
        let (key, value) = posting_pair(b"dgemeente", &[3, 99]);
        stale.insert(key, value).unwrap();
        // ... and before the sealed end was recorded: the blocks on disk are vouched for.
        store.meta.remove(SEALED_END).unwrap();
        store.sync().await.unwrap();
        drop((stale, store));
        let store = super::super::tests::reopen(dir.path()).await;
        assert_eq!(meta_u64(&store.meta, SEALED_END).unwrap(), 32);
        assert_eq!(tree_names(&store), [tail_name(32)]);
        check_lookups(&store, 40).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn layout_six_postings_per_key_are_read_sealed_and_then_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path(), 40, 6).await;
        // As layout 6 wrote them: one key per index key and batch in the block trees.
        let mut keys = 0;
        for (_, tree) in store.tails_from(0) {
            for pair in tree.iter() {
                let (k, v) = pair.unwrap();
                assert_eq!((k.len(), k[0]), (9, BATCH_MARK), "one key per transaction");
                tree.remove(&k).unwrap();
                for (key, seqs) in tree_postings(&k, &v).unwrap() {
                    let (k, v) = posting_pair(&key, &seqs);
                    tree.insert(k, v).unwrap();
                    keys += 1;
                }
            }
        }
        assert!(keys > 7, "the batches listed several index keys each");
        store.sync().await.unwrap();
        drop(store);
        let store = super::super::tests::reopen(dir.path()).await;
        check_lookups(&store, 40).await;
        // Appends of this layout go on in the same block trees.
        grow_to_fifty_and_seal(&store).await;
        assert_eq!(store.index_rows().unwrap(), every_posting(50).len() as u64);
    }

    /// Appends entries 40 to 49 to a log of 40, seals block 32, and checks every lookup,
    /// the one tree left and the postings migrate copies.
    async fn grow_to_fifty_and_seal(store: &SledStore) {
        add(store, 40, 50, 4).await;
        check_lookups(store, 50).await;
        store.seal_audit_index().await.unwrap();
        assert_eq!(tree_names(store), [tail_name(48)]);
        check_lookups(store, 50).await;
        let pairs: Vec<_> = store.index_pairs().collect::<StoreResult<_>>().unwrap();
        assert_eq!(flatten(pairs), every_posting(50));
    }

    #[test]
    fn a_batch_pair_reads_back_and_a_damaged_one_is_refused() {
        let postings: [(&[u8], &[u64]); 3] =
            [(b"dgemeente", &[7, 8, 9]), (b"r1\0x", &[8]), (b"", &[])];
        let (key, value) = batch_pair(7, &postings).unwrap();
        let read = tree_postings(&key, &value).unwrap();
        let expected: Vec<(Vec<u8>, Vec<u64>)> = postings
            .iter()
            .map(|(k, s)| (k.to_vec(), s.to_vec()))
            .collect();
        assert_eq!(read, expected);
        for cut in [1, 2, 5, value.len() - 1] {
            assert!(
                matches!(
                    tree_postings(&key, &value[..cut]),
                    Err(StoreError::Corrupt(_))
                ),
                "cut at {cut}"
            );
        }
        let mut huge = value.clone();
        huge.splice(11..15, u32::MAX.to_be_bytes());
        assert!(matches!(
            tree_postings(&key, &huge),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn layout_three_postings_are_read_sealed_and_then_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path(), 40, 9).await;
        // As layout 3 kept them: every posting in one tree, no block trees.
        let legacy = store.db.open_tree(LEGACY_TREE).unwrap();
        for (first, tree) in store.tails_from(0) {
            for pair in tree.iter() {
                let (k, v) = pair.unwrap();
                for (key, seqs) in tree_postings(&k, &v).unwrap() {
                    let (k, v) = posting_pair(&key, &seqs);
                    legacy.insert(k, v).unwrap();
                }
            }
            store.db.drop_tree(tail_name(first)).unwrap();
        }
        store.sync().await.unwrap();
        drop((legacy, store));
        let store = super::super::tests::reopen(dir.path()).await;
        check_lookups(&store, 40).await;
        store.seal_audit_index().await.unwrap();
        assert_eq!(store.sealed_blocks().1.last().map(Block::end), Some(32));
        // Positions 32..40 are still only in layout 3's tree.
        assert_eq!(tree_names(&store), [LEGACY_TREE]);
        check_lookups(&store, 40).await;
        grow_to_fifty_and_seal(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_block_past_the_log_or_a_missing_block_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path(), 40, 40).await;
        store.seal_audit_index().await.unwrap();
        assert_eq!(store.sealed_blocks().1.len(), 2);
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
    async fn a_batch_posting_outside_its_block_or_past_the_log_is_refused_at_open() {
        // Blocks 0 and 16 are sealed; block 32's tree holds positions 32 to 39.
        for (tree_first, position) in [(32, 31), (32, 40), (32, 48)] {
            let dir = tempfile::tempdir().unwrap();
            let store = filled(dir.path(), 40, 40).await;
            store.seal_audit_index().await.unwrap();
            let tree = store.index_tail(tree_first).unwrap();
            let (key, value) = batch_pair(position, &[(b"rdamaged", &[position])]).unwrap();
            tree.insert(key, value).unwrap();
            store.sync().await.unwrap();
            drop((tree, store));
            let err = loop {
                match SledStore::open(dir.path(), 8 << 20) {
                    Err(StoreError::Unavailable(_)) => {
                        std::thread::sleep(std::time::Duration::from_millis(50))
                    }
                    other => break other.map(|_| ()).unwrap_err().to_string(),
                }
            };
            assert!(
                err.contains(&format!(
                    "block at position {tree_first} lists position {position}"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn postings_added_out_of_order_are_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        let postings: [(&[u8], &[u64]); 1] = [(b"rx", &[5, 6])];
        store.add_newest(postings.into_iter());
        let again: [(&[u8], &[u64]); 2] = [(b"rx", &[3, 6]), (b"ry", &[9])];
        store.add_newest(again.into_iter());
        assert_eq!(store.newest()[&b"rx"[..]], [3, 5, 6]);
        assert_eq!(store.newest_between(4, 6), [(b"rx".to_vec(), vec![5])]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_seal_changes_nothing_and_is_tried_again_later() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::tests::reopen(dir.path()).await;
        store.set_audit_index_block(16).unwrap();
        // The blocks' directory cannot be created: a file has its name.
        std::fs::write(dir.path().join(audit_blocks::DIR), b"in the way").unwrap();
        add(&store, 0, 40, 40).await;
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
        check_lookups(&store, 40).await;
        std::fs::remove_file(dir.path().join(audit_blocks::DIR)).unwrap();
        add(&store, 40, 50, 10).await;
        assert!(
            !store.sealing_due(),
            "not before {RETRY_AFTER} more entries"
        );
        add(&store, 50, 40 + RETRY_AFTER, 1000).await;
        // Sealed in the background, or here (waiting for the background first).
        store.seal_audit_index().await.unwrap();
        let end = store.sealed_blocks().1.last().map(Block::end);
        assert_eq!(end, Some((40 + RETRY_AFTER) / 16 * 16));
        check_lookups(&store, 40 + RETRY_AFTER).await;
    }

    #[tokio::test]
    async fn the_block_size_changes_only_on_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(dir.path(), 3, 3).await;
        assert!(store.set_audit_index_block(32).is_err());
        assert_eq!(store.index_block(), 16);
    }
}
