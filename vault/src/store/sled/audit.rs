//! The audit port on sled: entries and Merkle nodes in the audit files, index keys and
//! the log's committed length in sled, written in one transaction with the changes the
//! entries report. A batch that changes nothing (reads) is durable once its records are
//! synced; one that changes records once sled has flushed that transaction, and batches
//! after it wait for the same flush (see `audit_file` for the tail a crash leaves).

use super::audit_file::{Durable, TokenId};
use super::audit_index::batch_pair;
use super::cases::by_resident;
use super::events::pending_key;
use super::records::{encode_record, record_key};
use super::{AUDIT_LEN, AUDIT_LOG_BYTES, SledStore, encode_json, map_err, map_tx_err};
use crate::store::{AuditAppend, AuditStore, RecordChange, StoreError, StoreResult};
use async_trait::async_trait;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::sync::atomic::Ordering;

/// The key of a cosignature: the checkpoint's size, then the witness's name.
pub(super) fn cosignature_key(size: u64, witness: &str) -> Vec<u8> {
    [&size.to_be_bytes()[..], witness.as_bytes()].concat()
}

/// The most entries appended between two flushes of sled.
const FLUSH_EVERY_ENTRIES: u64 = 65_536;

/// The fixed trees an append writes (before the block trees of its postings).
const TREES: usize = 7;

impl SledStore {
    /// Appends `batch` (see [`AuditStore::append_audit`]); blocks on the files' syncs and
    /// sled's transaction. The caller holds the write gate.
    fn append_blocking(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        // A batch below the log's end is stale (another append came first): refused by
        // the files below, and it must not open trees for blocks sealed meanwhile.
        if batch.first().is_some_and(|a| a.seq < self.audit.len()) {
            return Err(StoreError::AuditMoved(self.audit.len()));
        }
        // The token ids recorded since the last batch go into its first record: every read
        // that recorded one has its entry in this batch or a later one. (An empty batch, a
        // readiness probe, has no record to carry them.)
        let ids = match batch {
            [] => Vec::new(),
            _ => self.replay.take_pending(),
        };
        let by_sled = batch.iter().any(|a| a.change.is_some()) || ids.len() > usize::from(u16::MAX);
        let durable = if by_sled {
            Durable::BySled
        } else {
            Durable::Alone(&ids)
        };
        let first = batch.first().map(|a| a.seq);
        let stored = self.store_batch(batch, &ids, |commit| {
            self.audit.append(
                first,
                batch
                    .iter()
                    .map(|a| (a.entry.as_slice(), a.nodes.as_slice())),
                durable,
                commit,
            )
        });
        match &stored {
            Err(_) => self.replay.restore_pending(ids),
            Ok(()) if by_sled => {
                self.flushes_owed.fetch_add(1, Ordering::SeqCst);
            }
            Ok(()) => {}
        }
        stored
    }

    /// Takes up the first `batch.len()` entries of the tail a crash left (see
    /// [`AuditStore::take_up_audit_tail`]). The caller holds the write gate.
    fn take_up_blocking(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        let (tail, len) = (self.audit.tail(), self.audit.len());
        if batch.len() > tail.len()
            || batch.iter().zip(&tail).zip(len..).any(|((a, r), seq)| {
                a.seq != seq || a.entry != r.entry || a.nodes != r.nodes || a.change.is_some()
            })
        {
            return Err(StoreError::Corrupt(
                "the audit entries to take up are not the log's tail".into(),
            ));
        }
        // Their token ids are remembered again, and written with the length that takes
        // them up.
        let ids = self.remember_again(tail[..batch.len()].iter().flat_map(|r| &r.token_ids))?;
        self.store_batch(batch, &ids, |commit| {
            self.audit.take_up(batch.len(), commit)
        })?;
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| map_err(e, "taking up the audit log's tail"))
    }

    /// Stores `batch`'s index keys, record changes and the token ids `ids` in one sled
    /// transaction, which `files` runs (with the new length and log size) once the records
    /// are in the files.
    fn store_batch(
        &self,
        batch: &[AuditAppend],
        ids: &[TokenId],
        files: impl FnOnce(&mut dyn FnMut(u64, u64) -> StoreResult<()>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        // Keys of record changes are computed before the transaction, which may run again.
        let mut changes = Vec::new();
        let mut statuses = Vec::new();
        let mut events = Vec::new();
        for append in batch {
            match &append.change {
                None => {}
                Some(RecordChange::Put {
                    resident,
                    category,
                    record,
                }) => changes.push((
                    record_key(*resident, category, record.version)?,
                    Some(encode_record(record)),
                )),
                Some(RecordChange::Delete {
                    resident,
                    category,
                    versions,
                }) => {
                    for version in versions {
                        changes.push((record_key(*resident, category, *version)?, None));
                    }
                }
                Some(RecordChange::AddCaseStatus(row)) => statuses.push(row),
                // Queue positions are handed out in batch order (one writer appends).
                Some(RecordChange::QueueEvent(row)) => {
                    let position = self
                        .event_positions
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    events.push((pending_key(&row.department, position), row));
                }
            }
        }
        // One sled key per block and batch lists the batch's entries under each index key
        // (see `audit_index`), in the tree of the block they belong to.
        let every = self.index_block();
        let mut postings: std::collections::BTreeMap<(u64, &[u8]), Vec<u64>> = Default::default();
        for append in batch {
            for key in &append.index_keys {
                let block = append.seq / every * every;
                postings
                    .entry((block, key.as_slice()))
                    .or_default()
                    .push(append.seq);
            }
        }
        let mut tails: Vec<(u64, sled::Tree)> = Vec::new();
        for &(block, _) in postings.keys() {
            if tails.last().is_none_or(|(b, _)| *b != block) {
                tails.push((block, self.index_tail(block)?));
            }
        }
        let first = batch.first().map(|a| a.seq);
        let mut batch_pairs: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::with_capacity(tails.len());
        for (tree, (block, _)) in tails.iter().enumerate() {
            let in_block: Vec<(&[u8], &[u64])> = postings
                .range((*block, &[][..])..)
                .take_while(|((b, _), _)| b == block)
                .map(|((_, key), seqs)| (*key, seqs.as_slice()))
                .collect();
            let from = first.unwrap_or_default().max(*block);
            let (key, value) = batch_pair(from, &in_block)?;
            batch_pairs.push((TREES + tree, key, value));
        }
        if batch
            .iter()
            .zip(first.unwrap_or_default()..)
            .any(|(a, seq)| a.seq != seq)
        {
            return Err(StoreError::Corrupt(
                "an audit batch whose positions do not follow each other".into(),
            ));
        }
        // The fixed trees, then the block trees of the batch's postings (then, in the
        // transaction, the token ids' buckets).
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
        let mut commit = |len: u64, log_bytes: u64| {
            // The token ids under one key per bucket, their buckets held (not dropped by a
            // purge) until the transaction is done.
            let held_ids = self.replay.batch_pairs(first.unwrap_or_default(), ids);
            let mut trees = trees.clone();
            trees.extend(held_ids.pairs.iter().map(|(tree, _, _)| tree));
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
                    for (key, value) in &changes {
                        match value {
                            Some(value) => records.insert(key.as_slice(), value.as_slice())?,
                            None => records.remove(key.as_slice())?,
                        };
                    }
                    for row in &statuses {
                        // A resident erased meanwhile gets no status (the erasure sweeps
                        // statuses again after removing the resident).
                        if residents.get(row.resident.as_bytes())?.is_some() {
                            cases.insert(row.id.as_bytes(), encode_json(row))?;
                            cases_by_resident.insert(by_resident(row.resident, row.id), &[])?;
                        }
                    }
                    for (key, row) in &events {
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
                .map_err(|e| map_tx_err(e, "appending to the audit log"))?;
            self.add_newest(
                postings
                    .iter()
                    .map(|((_, key), seqs)| (*key, seqs.as_slice())),
            );
            Ok(())
        };
        files(&mut commit)
    }
}

#[async_trait]
impl AuditStore for SledStore {
    async fn append_audit(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        // The files' syncs and sled's transaction block: they run off the async workers,
        // holding the write gate until they are done (even if the caller goes away).
        let gate = self.writes.clone().read_owned().await;
        let (store, batch) = (self.clone(), batch.to_vec());
        tokio::task::spawn_blocking(move || {
            let appended = store.append_blocking(&batch);
            drop(gate);
            if appended.is_ok() {
                store.seal_when_due();
            }
            appended
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("appending to the audit log: {e}")))?
    }

    async fn put_cosignature(&self, size: u64, witness: &str, line: &str) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.cosignatures
            .insert(cosignature_key(size, witness), line.as_bytes())
            .map_err(|e| map_err(e, "storing a cosignature"))?;
        self.durable().await
    }

    async fn cosignatures(&self, size: u64) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        for item in self.cosignatures.scan_prefix(size.to_be_bytes()) {
            let (_, line) = item.map_err(|e| map_err(e, "reading cosignatures"))?;
            out.push(
                String::from_utf8(line.to_vec())
                    .map_err(|_| StoreError::Corrupt("a cosignature".into()))?,
            );
        }
        Ok(out)
    }

    async fn sync(&self) -> StoreResult<()> {
        self.durable().await
    }

    async fn sync_appends(&self) -> StoreResult<()> {
        // Batches of entries alone are durable already; a batch that changed records (and
        // every batch after it) once sled has flushed.
        // sled flushes on its own twice a second; one flush per so many entries keeps the
        // tail a crash can leave short even if it does not.
        let owed = self.flushes_owed.load(Ordering::SeqCst);
        let len = self.audit.len();
        if owed > self.flushes_paid.load(Ordering::SeqCst)
            || len >= self.flushed_len.load(Ordering::SeqCst) + FLUSH_EVERY_ENTRIES
        {
            self.durable().await?;
            self.flushes_paid.fetch_max(owed, Ordering::SeqCst);
            self.flushed_len.fetch_max(len, Ordering::SeqCst);
        }
        Ok(())
    }

    async fn audit_tail(&self) -> StoreResult<Vec<AuditAppend>> {
        let len = self.audit.len();
        Ok(self
            .audit
            .tail()
            .into_iter()
            .zip(len..)
            .map(|(record, seq)| AuditAppend {
                seq,
                entry: record.entry,
                nodes: record.nodes,
                index_keys: Vec::new(),
                change: None,
            })
            .collect())
    }

    async fn take_up_audit_tail(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        let gate = self.writes.clone().read_owned().await;
        let (store, batch) = (self.clone(), batch.to_vec());
        tokio::task::spawn_blocking(move || {
            let taken = store.take_up_blocking(&batch);
            drop(gate);
            taken
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("taking up the audit log's tail: {e}")))?
    }

    async fn audit_len(&self) -> StoreResult<u64> {
        Ok(self.audit.len())
    }

    async fn audit_entries(&self, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>> {
        Ok(self
            .audit
            .records(from, to)?
            .into_iter()
            .map(|r| r.entry)
            .collect())
    }

    async fn audit_nodes(&self, nodes: &[(u8, u64)]) -> StoreResult<Vec<Option<[u8; 32]>>> {
        // The leaves of a range of entries (how the log is read back): one read.
        if let Some(&(0, first)) = nodes.first()
            && nodes.iter().zip(first..).all(|(n, at)| *n == (0, at))
        {
            let to = first.saturating_add(nodes.len() as u64);
            let mut leaves: Vec<Option<[u8; 32]>> = self
                .audit
                .records(first, to)?
                .into_iter()
                .map(|r| r.nodes.first().filter(|n| n.0 == 0).map(|n| n.2))
                .collect();
            leaves.resize(nodes.len(), None);
            return Ok(leaves);
        }
        nodes
            .iter()
            .map(|(level, index)| self.audit.node(*level, *index))
            .collect()
    }

    async fn audit_index(&self, key: &[u8], from_seq: u64, limit: usize) -> StoreResult<Vec<u64>> {
        // The sealed blocks are files read with blocking calls: off the async workers.
        let (store, key) = (self.clone(), key.to_vec());
        tokio::task::spawn_blocking(move || store.index_lookup(&key, from_seq, limit))
            .await
            .map_err(|e| StoreError::Unavailable(format!("reading an audit index: {e}")))?
    }
}

impl SledStore {
    /// How many audit entries a crash left after the committed log, not taken up yet (the
    /// vault takes them up when it starts).
    pub fn audit_tail_len(&self) -> usize {
        self.audit.tail_len()
    }
}

/// Keys and values, read a chunk at a time.
pub(in crate::store) type Pairs = Box<dyn Iterator<Item = StoreResult<(Vec<u8>, Vec<u8>)>>>;

impl SledStore {
    /// The audit files' entries (`tree` is `audit_entries`) or nodes (`audit_nodes`) as
    /// key and value of layout 1's trees, or the whole index (`audit_index`) as pairs of
    /// its tree, a chunk in memory at a time: what `kluis migrate` copies. `None` for any
    /// other tree.
    pub(in crate::store) fn audit_pairs(&self, tree: &str) -> Option<Pairs> {
        const CHUNK: u64 = 4096;
        let nodes = match tree {
            "audit_entries" => false,
            "audit_nodes" => true,
            "audit_index" => return Some(self.index_pairs()),
            _ => return None,
        };
        let files = self.audit.clone();
        let chunks = (0..files.len()).step_by(CHUNK as usize).map(move |from| {
            files
                .records(from, from + CHUNK)
                .map(|records| (from, records))
        });
        Some(Box::new(chunks.flat_map(move |chunk| {
            let pairs: Vec<StoreResult<(Vec<u8>, Vec<u8>)>> = match chunk {
                Err(e) => vec![Err(e)],
                Ok((_, records)) if nodes => records
                    .into_iter()
                    .flat_map(|r| r.nodes)
                    .map(|(level, index, hash)| {
                        Ok(([&[level][..], &index.to_be_bytes()].concat(), hash.to_vec()))
                    })
                    .collect(),
                Ok((from, records)) => records
                    .into_iter()
                    .zip(from..)
                    .map(|(r, seq)| Ok((seq.to_be_bytes().to_vec(), r.entry)))
                    .collect(),
            };
            pairs
        })))
    }
}

#[cfg(any(test, feature = "test-support"))]
impl SledStore {
    /// Replaces audit entry `seq`'s bytes (of a stopped vault), as an attacker with write
    /// access to the data directory could: for tests that prove the change is caught.
    pub fn rewrite_audit_entry(&self, seq: u64, bytes: Vec<u8>) -> StoreResult<()> {
        self.audit.rewrite_entry(seq, bytes)?;
        self.meta
            .insert(AUDIT_LOG_BYTES, &self.audit.log_bytes().to_be_bytes())
            .and_then(|_| self.db.flush())
            .map(|_| ())
            .map_err(|e| map_err(e, "rewriting the log's size"))
    }
}
