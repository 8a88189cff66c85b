//! The audit port on sled: entries and Merkle nodes in the audit files, index keys and
//! the log's committed length in sled, written in one transaction with the changes the
//! entries report. A batch that changes nothing (reads) is durable once its records are
//! synced, and its sled writes wait to be committed with later ones (`deferred`); one that
//! changes records once sled has flushed its transaction (which commits what waits too),
//! and batches after it wait for the same flush (see `audit_file` for the tail a crash
//! leaves).

use super::audit_file::{Durable, TokenId};
use super::deferred::{Deferred, Postings, RecordWrites};
use super::events::pending_key;
use super::records::{encode_record, record_key};
use super::{SledStore, map_err};
use crate::store::{AuditAppend, AuditStore, RecordChange, StoreError, StoreResult};
use async_trait::async_trait;
use std::sync::atomic::Ordering;

/// The key of a cosignature: the checkpoint's size, then the witness's name.
pub(super) fn cosignature_key(size: u64, witness: &str) -> Vec<u8> {
    [&size.to_be_bytes()[..], witness.as_bytes()].concat()
}

/// The most entries appended between two flushes of sled.
const FLUSH_EVERY_ENTRIES: u64 = 65_536;

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
        let reads_only = !by_sled;
        let stored = self.store_batch(batch, &ids, reads_only, |commit| {
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
        self.store_batch(batch, &ids, false, |commit| {
            self.audit.take_up(batch.len(), commit)
        })?;
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| map_err(e, "taking up the audit log's tail"))
    }

    /// Stores `batch`'s index keys, record changes and the token ids `ids` in sled, which
    /// `files` does (with the new length and log size) once the records are in the files:
    /// in one transaction with the writes that wait (`deferred`), or, for a batch of
    /// reads when `deferrable`, by adding its writes to them.
    fn store_batch(
        &self,
        batch: &[AuditAppend],
        ids: &[TokenId],
        deferrable: bool,
        files: impl FnOnce(&mut dyn FnMut(u64, u64) -> StoreResult<()>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        // Keys of record changes are computed before the transaction, which may run again.
        let mut changes = RecordWrites::default();
        for append in batch {
            match &append.change {
                None => {}
                Some(RecordChange::Put {
                    resident,
                    category,
                    record,
                }) => changes.records.push((
                    record_key(*resident, category, record.version)?,
                    Some(encode_record(record)),
                )),
                Some(RecordChange::Delete {
                    resident,
                    category,
                    versions,
                }) => {
                    for version in versions {
                        changes
                            .records
                            .push((record_key(*resident, category, *version)?, None));
                    }
                }
                Some(RecordChange::AddCaseStatus(row)) => changes.statuses.push(row),
                // Queue positions are handed out in batch order (one writer appends).
                Some(RecordChange::QueueEvent(row)) => {
                    let position = self
                        .event_positions
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    changes
                        .events
                        .push((pending_key(&row.department, position), row));
                }
            }
        }
        let first = batch.first().map(|a| a.seq);
        if batch
            .iter()
            .zip(first.unwrap_or_default()..)
            .any(|(a, seq)| a.seq != seq)
        {
            return Err(StoreError::Corrupt(
                "an audit batch whose positions do not follow each other".into(),
            ));
        }
        // The batch's postings, by the block their entries belong to (see `audit_index`).
        let every = self.index_block();
        let mut postings = Postings::new();
        for append in batch {
            for key in &append.index_keys {
                let block = append.seq / every * every;
                postings
                    .entry((block, key.clone()))
                    .or_default()
                    .push(append.seq);
            }
        }
        let mut commit = |len: u64, log_bytes: u64| {
            let mut deferred = self.deferred();
            // Lookups see the postings before the log's length covers them.
            let newest = |postings: &Postings| {
                self.add_newest(
                    postings
                        .iter()
                        .map(|((_, k), s)| (k.as_slice(), s.as_slice())),
                );
            };
            if deferrable && !deferred.full_with(batch.len()) {
                newest(&postings);
                let postings = std::mem::take(&mut postings);
                deferred.add(first, batch.len(), postings, ids, (len, log_bytes));
                return Ok(());
            }
            // On a copy: if the transaction fails, what waited still waits without this
            // batch (which was not appended).
            let mut all = deferred.clone();
            all.add(first, batch.len(), postings.clone(), ids, (len, log_bytes));
            self.commit_writes(&all, &changes)?;
            *deferred = Deferred::default();
            newest(&postings);
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
        // sled flushes on its own twice a second, and what batches of reads wait to write
        // is committed with the next write, checkpoint or limit (`deferred`); one flush per
        // so many entries keeps the tail a crash can leave short even if sled does not.
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
        self.commit_deferred()?;
        self.audit.rewrite_entry(seq, bytes)?;
        self.meta
            .insert(
                super::AUDIT_LOG_BYTES,
                &self.audit.log_bytes().to_be_bytes(),
            )
            .and_then(|_| self.db.flush())
            .map(|_| ())
            .map_err(|e| map_err(e, "rewriting the log's size"))
    }
}
