//! The one writer of the log: a task that takes every entry waiting, gives them
//! consecutive positions, appends them (with the record changes they report) in one store
//! transaction, and lets each caller go once a flush covering them is done. The next batch
//! is collected while that flush runs, so under load many appends share one transaction
//! and one flush.

use super::context::Context;
use super::entry::{Action, Entry};
use super::integrity::AuditHealth;
use super::merkle::{self, Frontier};
use crate::clock::Clock;
use crate::store::{AuditAppend, AuditStore, RecordChange};
use crate::{Error, Result};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot};

/// The most appends (single entries or groups) in one store transaction.
pub(super) const MAX_BATCH: usize = 1024;

/// Entries waiting to be appended together (one, or a group that must be stored all or
/// none), with the record changes they report, and who to tell when they are durable.
pub(super) struct Pending {
    pub(super) context: Context,
    pub(super) entries: Vec<(Entry, Option<RecordChange>)>,
    pub(super) done: oneshot::Sender<Result<Vec<u64>>>,
}

/// The tree as appended so far; only the writer changes it.
pub(super) type SharedFrontier = Arc<Mutex<Frontier>>;

pub(super) fn lock(frontier: &Mutex<Frontier>) -> MutexGuard<'_, Frontier> {
    frontier
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The index keys of an entry (for queries by resident, department, coach, grant, action).
/// Reads, most of the log, are not indexed by their action: a query for reads finds them
/// densely by scanning, and the index would cost every read an insert.
pub(super) fn index_keys(entry: &Entry) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(4);
    if indexed_action(entry.action) {
        keys.push(index_key(b'a', entry.action.as_str().as_bytes()));
    }
    if let Some(r) = &entry.resident {
        keys.push(index_key(b'r', r.as_bytes()));
    }
    if let Some(d) = &entry.department {
        keys.push(index_key(b'd', d.as_bytes()));
    }
    if let Some(c) = entry.details.get("coach") {
        keys.push(index_key(b'c', c.as_bytes()));
    }
    if let Some(g) = &entry.grant {
        keys.push(index_key(b'g', g.as_bytes()));
    }
    keys
}

/// Whether entries of `action` are indexed by their action.
pub(super) fn indexed_action(action: Action) -> bool {
    action != Action::Read
}

/// The index key of kind `kind` (`a`ction, `r`esident, `d`epartment, `c`oach, `g`rant) for
/// `value`.
pub(super) fn index_key(kind: u8, value: &[u8]) -> Vec<u8> {
    [&[kind], value].concat()
}

/// Runs until every sender of `queue` is gone.
pub(super) async fn run(
    store: Arc<dyn AuditStore>,
    clock: Clock,
    frontier: SharedFrontier,
    mut queue: mpsc::Receiver<Pending>,
    health: AuditHealth,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let mut next = lock(&frontier).clone();
        let now = clock.now();
        let mut appends: Vec<AuditAppend> = Vec::new();
        for p in &mut batch {
            for (entry, change) in &mut p.entries {
                entry.seq = next.size();
                entry.time = now;
                entry.started = p.context.started.min(now);
                entry.trace_id = p.context.trace_id.clone();
                entry.span_id = p.context.span_id.clone();
                entry.parent_span_id = p.context.parent_span_id.clone();
                let bytes = entry.canonical();
                let nodes = next.push(merkle::leaf_hash(&bytes));
                appends.push(AuditAppend {
                    seq: entry.seq,
                    entry: bytes,
                    nodes,
                    index_keys: index_keys(entry),
                    change: change.take(),
                });
            }
        }
        if let Err(e) = store.append_audit(&appends).await {
            tracing::error!(error = %e, entries = appends.len(), "audit entries could not be written");
            health.appended(false);
            for p in batch {
                let _ = p.done.send(Err(Error::AuditUnavailable));
            }
            continue;
        }
        *lock(&frontier) = next;
        let (store, health) = (store.clone(), health.clone());
        tokio::spawn(async move {
            let synced = store.sync().await;
            health.appended(synced.is_ok());
            if let Err(e) = &synced {
                tracing::error!(error = %e, "audit entries could not be made durable");
            }
            for p in batch {
                let _ = p.done.send(
                    synced
                        .as_ref()
                        .map(|_| p.entries.iter().map(|(entry, _)| entry.seq).collect())
                        .map_err(|_| Error::AuditUnavailable),
                );
            }
        });
    }
}
