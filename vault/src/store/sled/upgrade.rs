//! Opening a database of an earlier layout. Layout 1 kept the audit log in sled's trees
//! (`audit_entries`, `audit_nodes`): its entries and nodes move into the audit files once,
//! then the trees go. Layout 2 stored every entry as JSON, layout 3 kept every index
//! posting in the tree, layout 4 every one-time token id in one tree, layout 5 made
//! every audit batch wait for sled's flush, and layout 6 wrote the newest postings one key
//! per index key and batch: nothing of the log moves at open (JSON entries
//! stay readable, and the tree's postings are sealed into blocks while the vault serves;
//! the token ids move into their buckets, see `replay`; unmarked records are never a tail
//! to take up; a block tree's postings of either kind are read), the new mark only keeps
//! builds of layout 2 to 6 from misreading the compact
//! entries, sealed blocks, token id buckets, marked records and batch postings that follow.
//!
//! The move commits in one sled batch (the log's length and this build's layout together). An upgrade
//! interrupted before that starts over at the next open; one interrupted after it only has
//! the old trees left to drop, which every open does.

use super::audit_file::{AuditFiles, Durable, INDEX_FILE, LOG_FILE, NodeHash, completing_entry};
use super::{AUDIT_LEN, AUDIT_LOG_BYTES, LAYOUT, map_err};
use crate::store::{StoreError, StoreResult};
use std::path::Path;

/// The layout that kept the audit log in sled's trees.
pub(super) const LAYOUT_AUDIT_IN_TREES: u8 = 1;
/// The layout that kept the audit log in files, every entry as JSON.
pub(super) const LAYOUT_JSON_ENTRIES: u8 = 2;
/// The layout that kept every posting of the audit index in sled's tree.
pub(super) const LAYOUT_UNSEALED_INDEX: u8 = 3;
/// The layout that kept every one-time token id in one tree.
pub(super) const LAYOUT_ONE_REPLAY_TREE: u8 = 4;
/// The layout whose every audit batch waited for sled's flush (its records are unmarked:
/// what a crash left beyond the committed log is cut off, as before).
pub(super) const LAYOUT_FLUSHED_BATCHES: u8 = 5;
/// The layout that wrote the newest postings of the index one sled key per index key and
/// batch (still read: see `audit_index`).
pub(super) const LAYOUT_POSTINGS_PER_KEY: u8 = 6;
/// The layout that wrote every one-time token id of a read under its own key (still read:
/// see `replay`).
pub(super) const LAYOUT_IDS_PER_KEY: u8 = 7;
/// The layout that synced the audit index file with every batch (its offsets are all
/// there: nothing to do).
pub(super) const LAYOUT_INDEX_SYNCED_EACH_BATCH: u8 = 8;

/// Marks a layout 2 to 8 database as this build's layout.
pub(super) fn mark_layout(db: &sled::Db, meta: &sled::Tree) -> StoreResult<()> {
    meta.insert("format", &[LAYOUT])
        .and_then(|_| db.flush())
        .map_err(|e| map_err(e, "marking the layout"))?;
    tracing::info!(
        "the database has layout {LAYOUT}: new audit entries are stored compactly, the audit index is sealed into blocks, one-time token ids are kept per ten seconds, a batch of reads is durable without sled's flush, each batch writes its postings and token ids under one key, and the audit index file is synced every few thousand entries"
    );
    Ok(())
}

/// Entries moved per write.
const BATCH: usize = 4096;

/// The key of node `(level, index)` in layout 1's `audit_nodes` tree.
fn node_key(level: u8, index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = level;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Moves layout 1's audit trees into the audit files in `dir` and commits this build's
/// layout.
pub(super) fn move_audit_into_files(
    db: &sled::Db,
    meta: &sled::Tree,
    dir: &Path,
) -> StoreResult<()> {
    let tree = |name: &str| db.open_tree(name).map_err(|e| map_err(e, "opening a tree"));
    let (entries, nodes) = (tree("audit_entries")?, tree("audit_nodes")?);
    // Files of an upgrade that did not commit are started over.
    for name in [LOG_FILE, INDEX_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Unavailable(format!(
                    "removing an unfinished {name}: {e}"
                )));
            }
            _ => {}
        }
    }
    let files = AuditFiles::open(dir, 0, 0)?;
    tracing::info!("moving the audit log out of sled's trees into {LOG_FILE}");
    let mut batch: Vec<(Vec<u8>, Vec<NodeHash>)> = Vec::with_capacity(BATCH);
    let write = |batch: &mut Vec<(Vec<u8>, Vec<NodeHash>)>| {
        files.append(
            None,
            batch.iter().map(|(e, n)| (e.as_slice(), n.as_slice())),
            Durable::BySled,
            |_, _| Ok(()),
        )?;
        batch.clear();
        let moved = files.len();
        if moved % (64 * BATCH as u64) == 0 {
            tracing::info!(moved, "moving the audit log");
        }
        StoreResult::Ok(())
    };
    for item in entries.iter() {
        let (key, entry) = item.map_err(|e| map_err(e, "reading the audit log"))?;
        let seq = <[u8; 8]>::try_from(key.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("an audit key".into()))?;
        let expected = files.len() + batch.len() as u64;
        if seq != expected {
            return Err(StoreError::Corrupt(format!(
                "audit entry {expected} is missing"
            )));
        }
        let mut completed = Vec::new();
        for level in 0u8..64 {
            let index = seq >> level;
            if completing_entry(level, index) != Some(seq) {
                break;
            }
            let hash = nodes
                .get(node_key(level, index))
                .map_err(|e| map_err(e, "reading the audit tree"))?
                .and_then(|h| <[u8; 32]>::try_from(h.as_ref()).ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("audit node ({level}, {index}) is missing"))
                })?;
            completed.push((level, index, hash));
        }
        batch.push((entry.to_vec(), completed));
        if batch.len() == BATCH {
            write(&mut batch)?;
        }
    }
    write(&mut batch)?;
    let moved = files.len();
    let mut commit = sled::Batch::default();
    commit.insert(AUDIT_LEN, &moved.to_be_bytes());
    commit.insert(AUDIT_LOG_BYTES, &files.log_bytes().to_be_bytes());
    commit.insert("format", &[LAYOUT]);
    meta.apply_batch(commit)
        .and_then(|_| db.flush())
        .map_err(|e| map_err(e, "committing the upgraded layout"))?;
    drop_audit_trees(db)?;
    tracing::info!(
        entries = moved,
        "the audit log moved into {LOG_FILE}; the database has layout {LAYOUT}"
    );
    Ok(())
}

/// Drops layout 1's audit trees, if there are any.
pub(super) fn drop_audit_trees(db: &sled::Db) -> StoreResult<()> {
    for name in ["audit_entries", "audit_nodes"] {
        if db
            .drop_tree(name)
            .map_err(|e| map_err(e, "dropping an old audit tree"))?
        {
            db.flush().map_err(|e| map_err(e, "flushing"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::SledStore;
    use super::*;
    use crate::store::AuditStore;
    use std::collections::BTreeMap;

    /// A database of layout 1 with a log of `len` entries (but entry `gap`), in `dir`;
    /// returns its rows per tree, as a backup's manifest of that layout counted them.
    fn layout_one(dir: &Path, len: u64, gap: Option<u64>) -> BTreeMap<String, u64> {
        let db = sled::Config::new().path(dir).open().unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("format", &[LAYOUT_AUDIT_IN_TREES])
            .unwrap();
        let (entries, nodes) = (
            db.open_tree("audit_entries").unwrap(),
            db.open_tree("audit_nodes").unwrap(),
        );
        for seq in (0..len).filter(|seq| Some(*seq) != gap) {
            entries
                .insert(seq.to_be_bytes(), format!("entry {seq}").as_bytes())
                .unwrap();
            for level in 0u8..64 {
                let index = seq >> level;
                if completing_entry(level, index) != Some(seq) {
                    break;
                }
                nodes
                    .insert(node_key(level, index), &[level + 1; 32])
                    .unwrap();
            }
        }
        db.open_tree("audit_index")
            .unwrap()
            .insert(b"dx\x00\x00\x00\x00\x00\x00\x00\x00\x03", &[])
            .unwrap();
        db.flush().unwrap();
        db.tree_names()
            .iter()
            .map(|name| {
                let rows = db.open_tree(name).unwrap().len() as u64;
                (String::from_utf8_lossy(name).into_owned(), rows)
            })
            .collect()
    }

    #[tokio::test]
    async fn a_layout_one_database_moves_its_log_into_the_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let len = 2 * BATCH as u64 + 5;
        let counted = layout_one(dir.path(), len, None);
        let store = super::super::tests::reopen(dir.path()).await;
        let mut counts = store.row_counts().unwrap();
        // The trees a vault makes when it opens (this hand-made database has none).
        counts.retain(|tree, rows| *rows > 0 || counted.contains_key(tree));
        assert_eq!(
            counts, counted,
            "an old backup's manifest still matches its restored, upgraded copy"
        );
        assert_eq!(store.audit_len().await.unwrap(), len);
        let entries = store.audit_entries(len - 2, len).await.unwrap();
        assert_eq!(entries, [b"entry 8195".to_vec(), b"entry 8196".to_vec()]);
        let nodes = store
            .audit_nodes(&[(0, 17), (3, 1), (13, 0), (13, 1)])
            .await
            .unwrap();
        assert_eq!(nodes, [Some([1; 32]), Some([4; 32]), Some([14; 32]), None]);
        assert_eq!(store.audit_index(b"dx", 0, 10).await.unwrap(), [3]);
        assert!(
            !store
                .db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == b"audit_entries" || n.as_ref() == b"audit_nodes"),
            "the old trees are gone"
        );
        drop(store);
        let reopened = super::super::tests::reopen(dir.path()).await;
        assert_eq!(reopened.audit_len().await.unwrap(), len);
        assert_eq!(
            reopened.audit_entries(0, 1).await.unwrap(),
            [b"entry 0".to_vec()]
        );
    }

    /// Sets the layout mark of the sled database in `dir`.
    fn mark(dir: &Path, layout: u8) {
        // sled lets go of a closed database's lock in the background: wait for it.
        let mut tries = 0;
        let db = loop {
            match sled::Config::new().path(dir).open() {
                Err(_) if tries < 100 => std::thread::sleep(std::time::Duration::from_millis(50)),
                opened => break opened.unwrap(),
            }
            tries += 1;
        };
        db.open_tree("meta")
            .unwrap()
            .insert("format", &[layout])
            .unwrap();
        db.flush().unwrap();
    }

    #[tokio::test]
    async fn a_layout_two_to_eight_database_keeps_its_log_and_index_and_takes_the_new_mark() {
        for layout in [
            LAYOUT_JSON_ENTRIES,
            LAYOUT_UNSEALED_INDEX,
            LAYOUT_ONE_REPLAY_TREE,
            LAYOUT_FLUSHED_BATCHES,
            LAYOUT_POSTINGS_PER_KEY,
            LAYOUT_IDS_PER_KEY,
            LAYOUT_INDEX_SYNCED_EACH_BATCH,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let store = super::super::tests::reopen(dir.path()).await;
            let batch: Vec<_> = (0..3)
                .map(|seq| crate::store::contract::append(seq, None))
                .collect();
            store.append_audit(&batch).await.unwrap();
            store.sync().await.unwrap();
            let before = store.audit_entries(0, 3).await.unwrap();
            drop(store);
            mark(dir.path(), layout);
            let store = super::super::tests::reopen(dir.path()).await;
            assert_eq!(store.audit_entries(0, 3).await.unwrap(), before);
            assert_eq!(store.audit_index(b"rtest", 0, 10).await.unwrap(), [0, 1, 2]);
            let format = store.db.open_tree("meta").unwrap().get("format").unwrap();
            assert_eq!(
                format.as_deref(),
                Some(&[LAYOUT][..]),
                "from layout {layout}"
            );
        }
    }

    #[test]
    fn an_unknown_layout_is_refused_naming_the_ones_this_build_reads() {
        let dir = tempfile::tempdir().unwrap();
        mark(dir.path(), LAYOUT + 1);
        // sled lets go of the marked database's lock in the background: wait for it.
        let mut tries = 0;
        let err = loop {
            let err = SledStore::open(dir.path(), 8 << 20)
                .err()
                .unwrap()
                .to_string();
            if err.contains("format") || tries == 100 {
                break err;
            }
            tries += 1;
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(
            err.contains(&format!("format [{}]", LAYOUT + 1))
                && err.contains(&format!("reads format {LAYOUT}")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_layout_one_log_with_a_gap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        layout_one(dir.path(), 4, Some(2));
        let err = loop {
            match SledStore::open(dir.path(), 8 << 20) {
                Err(StoreError::Unavailable(_)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(e) => break e.to_string(),
                Ok(_) => panic!("a log with a gap opened"),
            }
        };
        assert!(err.contains("audit entry 2 is missing"), "{err}");
    }
}
