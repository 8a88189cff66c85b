//! A consistent copy of the sled database for `kluis backup`: every write waits (the
//! store's write gate) while the trees are copied into a new database and the audit files
//! and the audit index's sealed blocks next to it.

use super::audit_blocks;
use super::audit_file::node_count;
use super::audit_index::{BLOCK_SIZE, LEGACY_END, SEALED_END, is_index_tree};
use super::replay::{bucket_of, ids_of_pair};
use super::{AUDIT_LEN, AUDIT_LOG_BYTES, SledStore, map_err};
use crate::store::{Snapshot, StoreError, StoreResult};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::Path;

impl SledStore {
    /// Copies the whole database as it stands into a new sled database in `dir` (absent or
    /// empty), holding every write back meanwhile (reads go on), and flushes the copy.
    /// Returns the rows copied per tree. Writes wait for the copy; none fails.
    pub async fn snapshot_into(&self, dir: &Path) -> StoreResult<BTreeMap<String, u64>> {
        let _all = self.writes.write().await;
        self.durable().await?;
        let (store, dir) = (self.clone(), dir.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut counts = copy_database(&store.db, &dir)?;
            store.audit.copy_into(&dir)?;
            let (from, blocks) = store.sealed_blocks();
            audit_blocks::copy(&from, &dir, &blocks)?;
            counts.extend(audit_counts(store.audit.len()));
            counts.insert("audit_index".into(), store.index_rows()?);
            Ok(counts)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("copying the database: {e}")))?
    }

    /// Rows per tree, and entries and nodes of the audit files (for comparing a restored
    /// copy with its backup's manifest).
    pub fn row_counts(&self) -> StoreResult<BTreeMap<String, u64>> {
        self.commit_deferred()?;
        let mut counts = BTreeMap::new();
        for name in self.db.tree_names() {
            if is_index_tree(&name) {
                continue;
            }
            let tree = self
                .db
                .open_tree(&name)
                .map_err(|e| map_err(e, "opening a tree"))?;
            let rows = if name.as_ref() == b"meta" || bucket_of(&name).is_some() {
                let mut rows = 0u64;
                for pair in tree.iter() {
                    let (key, value) = pair.map_err(|e| map_err(e, "counting rows"))?;
                    rows += rows_in(&name, &key, &value)?;
                }
                rows
            } else {
                tree.len() as u64
            };
            *counts.entry(tree_name(&name)).or_default() += rows;
        }
        counts.extend(audit_counts(self.audit.len()));
        counts.insert("audit_index".into(), self.index_rows()?);
        Ok(counts)
    }
}

/// The audit files' entries and nodes, named as the trees that held them in layout 1 (and
/// as PostgreSQL's tables).
fn audit_counts(len: u64) -> [(String, u64); 2] {
    [
        ("audit_entries".into(), len),
        ("audit_nodes".into(), node_count(len)),
    ]
}

#[async_trait]
impl Snapshot for SledStore {
    async fn snapshot_into(&self, dir: &Path) -> StoreResult<BTreeMap<String, u64>> {
        SledStore::snapshot_into(self, dir).await
    }
}

/// The rows a pair of tree `name` stands for: the audit files' length and size and the
/// index's state in `meta` none (so the counts of a database of layout 1, in an old backup's manifest, still hold
/// after its upgrade); a pair of token ids one per id (as PostgreSQL's table counts
/// them); any other pair one. (The audit index is counted by its postings, the sealed
/// blocks' included: `index_rows`.)
fn rows_in(name: &[u8], key: &[u8], value: &[u8]) -> StoreResult<u64> {
    if bucket_of(name).is_some() {
        return Ok(ids_of_pair(key, value)?.len() as u64);
    }
    Ok(match name {
        b"meta"
            if [
                AUDIT_LEN,
                AUDIT_LOG_BYTES,
                SEALED_END,
                BLOCK_SIZE,
                LEGACY_END,
            ]
            .iter()
            .any(|k| k.as_bytes() == key) =>
        {
            0
        }
        _ => 1,
    })
}

/// A tree's name as counted: as text (sled's own default tree included), the token ids'
/// buckets together as `replay` (as PostgreSQL's table, and the one tree of layout 4).
fn tree_name(raw: &[u8]) -> String {
    match bucket_of(raw) {
        Some(_) => "replay".into(),
        None => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// Copies every tree of `db` into a new database in `dir`, in batches, and flushes it.
fn copy_database(db: &sled::Db, dir: &Path) -> StoreResult<BTreeMap<String, u64>> {
    const BATCH: usize = 1000;
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(StoreError::Unavailable(format!(
            "{} is not empty; a snapshot goes into a new directory",
            dir.display()
        )));
    }
    let copy = sled::Config::new()
        .path(dir)
        .open()
        .map_err(|e| map_err(e, "creating the copy"))?;
    let mut counts = BTreeMap::new();
    for name in db.tree_names() {
        let from = db
            .open_tree(&name)
            .map_err(|e| map_err(e, "opening a tree"))?;
        let to = copy
            .open_tree(&name)
            .map_err(|e| map_err(e, "creating a tree in the copy"))?;
        let (mut batch, mut pending, mut rows) = (sled::Batch::default(), 0, 0u64);
        for item in from.iter() {
            let (key, value) = item.map_err(|e| map_err(e, "reading a tree"))?;
            rows += rows_in(&name, &key, &value)?;
            batch.insert(key, value);
            pending += 1;
            if pending == BATCH {
                to.apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| map_err(e, "writing the copy"))?;
                pending = 0;
            }
        }
        to.apply_batch(batch)
            .map_err(|e| map_err(e, "writing the copy"))?;
        if !is_index_tree(&name) {
            *counts.entry(tree_name(&name)).or_default() += rows;
        }
    }
    copy.flush().map_err(|e| map_err(e, "flushing the copy"))?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ReplayStore;

    #[tokio::test]
    async fn a_snapshot_copies_every_row_of_every_tree_and_opens_as_a_store() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SledStore::open(&dir.path().join("db"), 8 << 20).expect("the store opens");
        let pairwise = store.raw_tree("pairwise").expect("the tree");
        for n in 0u32..2500 {
            pairwise
                .insert(n.to_be_bytes(), &[1u8][..])
                .expect("an insert");
        }
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        for n in 0u8..30 {
            let expiry = now + chrono::TimeDelta::seconds(i64::from(n));
            let later = crate::store::Durability::WithNextWrite;
            let first = store.first_use(&[n; 32], expiry, later).await;
            assert!(first.expect("a token id"));
        }
        // The batch that writes them (under one key per bucket).
        let batch = [crate::store::contract::append(0, None)];
        crate::store::AuditStore::append_audit(&store, &batch)
            .await
            .expect("a batch");
        let copied = store
            .snapshot_into(&dir.path().join("copy"))
            .await
            .expect("the snapshot");
        assert_eq!(copied["pairwise"], 2500, "more rows than one batch");
        assert_eq!(
            copied["replay"], 30,
            "the token ids of every bucket, counted as one"
        );
        assert_eq!(copied["audit_entries"], 1);
        assert_eq!(
            copied["meta"], 1,
            "the format marker (the log's length and size are not rows)"
        );
        assert_eq!(copied, store.row_counts().expect("counts"));
        // sled lets go of the copy's lock in the background: wait for it.
        let copy = super::super::tests::reopen(&dir.path().join("copy")).await;
        assert_eq!(copy.row_counts().expect("counts"), copied);
        drop(copy);
        assert!(
            store.snapshot_into(&dir.path().join("copy")).await.is_err(),
            "a snapshot refuses a directory that holds a database"
        );
    }
}
