//! The audit log's entries, Merkle nodes and indexes.

use super::cases::by_resident;
use super::events::pending_key;
use super::records::{encode_record, record_key};
use super::{SledStore, encode_json, map_err, map_tx_err};
use crate::store::{AuditAppend, AuditStore, RecordChange, StoreError, StoreResult};
use async_trait::async_trait;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

/// The key of a cosignature: the checkpoint's size, then the witness's name.
pub(super) fn cosignature_key(size: u64, witness: &str) -> Vec<u8> {
    [&size.to_be_bytes()[..], witness.as_bytes()].concat()
}

fn node_key(level: u8, index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = level;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

#[async_trait]
impl AuditStore for SledStore {
    async fn append_audit(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        let _gate = self.write_gate().await;
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
        let stored = (
            &self.audit_entries,
            &self.audit_nodes,
            &self.audit_index,
            &self.records,
            &self.residents,
            &self.case_statuses,
            &self.case_statuses_by_resident,
            &self.events,
            &self.events_pending,
        )
            .transaction(
                |(
                    entries,
                    tree_nodes,
                    index,
                    records,
                    residents,
                    cases,
                    cases_by_resident,
                    queued,
                    pending,
                )| {
                    // The batch must start at the log's end: not on a taken position, not
                    // beyond a gap.
                    if let Some(first) = batch.first().map(|a| a.seq)
                        && (entries.get(first.to_be_bytes())?.is_some()
                            || (first > 0 && entries.get((first - 1).to_be_bytes())?.is_none()))
                    {
                        return Err(ConflictableTransactionError::Abort(StoreError::AuditMoved(
                            0,
                        )));
                    }
                    for append in batch {
                        let seq = append.seq;
                        if entries
                            .insert(&seq.to_be_bytes(), append.entry.as_slice())?
                            .is_some()
                        {
                            return Err(ConflictableTransactionError::Abort(StoreError::Corrupt(
                                format!("audit entry {seq} exists already"),
                            )));
                        }
                        for (level, at, hash) in &append.nodes {
                            tree_nodes.insert(&node_key(*level, *at), &hash[..])?;
                        }
                        for key in &append.index_keys {
                            index
                                .insert([key.as_slice(), &[0], &seq.to_be_bytes()].concat(), &[])?;
                        }
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
                    Ok(())
                },
            )
            .map_err(|e| map_tx_err(e, "appending to the audit log"));
        match stored {
            // Say where the log's end is.
            Err(StoreError::AuditMoved(_)) => Err(StoreError::AuditMoved(self.audit_len().await?)),
            other => other,
        }
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

    async fn audit_len(&self) -> StoreResult<u64> {
        match self
            .audit_entries
            .last()
            .map_err(|e| map_err(e, "reading the audit log"))?
        {
            None => Ok(0),
            Some((key, _)) => {
                let seq: [u8; 8] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("audit key".into()))?;
                Ok(u64::from_be_bytes(seq) + 1)
            }
        }
    }

    async fn audit_entries(&self, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let range = self
            .audit_entries
            .range(from.to_be_bytes()..to.to_be_bytes());
        for (expected, item) in (from..).zip(range) {
            let (key, value) = item.map_err(|e| map_err(e, "reading the audit log"))?;
            if key.as_ref() != expected.to_be_bytes() {
                return Err(StoreError::Corrupt(format!(
                    "audit entry {expected} is missing"
                )));
            }
            out.push(value.to_vec());
        }
        Ok(out)
    }

    async fn audit_nodes(&self, nodes: &[(u8, u64)]) -> StoreResult<Vec<Option<[u8; 32]>>> {
        nodes
            .iter()
            .map(|(level, index)| {
                self.audit_nodes
                    .get(node_key(*level, *index))
                    .map_err(|e| map_err(e, "reading the audit tree"))?
                    .map(|v| {
                        <[u8; 32]>::try_from(v.as_ref())
                            .map_err(|_| StoreError::Corrupt("audit node".into()))
                    })
                    .transpose()
            })
            .collect()
    }

    async fn audit_index(&self, key: &[u8], from_seq: u64, limit: usize) -> StoreResult<Vec<u64>> {
        let prefix = [key, &[0]].concat();
        let start = [prefix.as_slice(), &from_seq.to_be_bytes()].concat();
        let mut out = Vec::new();
        for item in self.audit_index.range(start..) {
            let (k, _) = item.map_err(|e| map_err(e, "reading an audit index"))?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let seq: [u8; 8] = k[prefix.len()..]
                .try_into()
                .map_err(|_| StoreError::Corrupt("audit index".into()))?;
            out.push(u64::from_be_bytes(seq));
        }
        Ok(out)
    }
}
