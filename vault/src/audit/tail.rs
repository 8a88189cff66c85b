//! The entries a crash left after the log's committed end. A store may make a batch durable
//! before it commits it (sled, for batches of reads): at open, each such entry is checked
//! against the tree (its leaf and the nodes it completes), given its index keys and taken
//! up. The first that does not check out (a batch cut short by the crash) ends the log,
//! with everything after it: none of that was acknowledged (the store keeps a copy).
//! Checked, not authenticated: see the threat model.

use super::entry::Entry;
use super::merkle::{self, Frontier};
use super::{stored, writer};
use crate::store::{AuditStore, StoreError};

/// Takes up the tail of `store`'s log after `frontier`, the tree of its committed entries;
/// returns the tree of the log as it is now.
pub(super) async fn take_up(
    store: &dyn AuditStore,
    mut frontier: Frontier,
) -> Result<Frontier, StoreError> {
    let tail = store.audit_tail().await?;
    if tail.is_empty() {
        return Ok(frontier);
    }
    let found = tail.len();
    let mut taken = Vec::with_capacity(found);
    for mut append in tail {
        let Ok(opened) = stored::open(&append.entry) else {
            break;
        };
        let entry = match opened.entry {
            Some(entry) => entry,
            None => match serde_json::from_slice::<Entry>(&opened.canonical) {
                Ok(entry) => entry,
                Err(_) => break,
            },
        };
        let mut next = frontier.clone();
        if entry.seq != append.seq
            || append.seq != next.size()
            || next.push(merkle::leaf_hash(&opened.canonical)) != append.nodes
        {
            break;
        }
        frontier = next;
        append.index_keys = writer::index_keys(&entry);
        taken.push(append);
    }
    store.take_up_audit_tail(&taken).await?;
    tracing::warn!(
        taken = taken.len(),
        dropped = found - taken.len(),
        size = frontier.size(),
        "took up the audit entries a crash left after the log's committed end"
    );
    Ok(frontier)
}
