//! The one writer of the log: a task that takes every entry waiting, gives them
//! consecutive positions, appends them (with the record changes they report) in one store
//! transaction, and lets each caller go once a flush covering them is done. The next batch
//! is collected while that flush runs, so under load many appends share one transaction
//! and one flush.
//!
//! Several nodes on one PostgreSQL database each run a writer. The store appends one batch
//! at a time across nodes and refuses a batch placed behind the log's end
//! ([`StoreError::AuditMoved`]); the writer then holds the log (no other node appends
//! until its batch is stored; PostgreSQL keeps the lock the refused append took), loads
//! the tree as the other nodes left it and places the batch again, so the nodes build one
//! gapless log and one tree, and no node is overtaken twice.

use super::context::Context;
use super::entry::{Action, Entry};
use super::integrity::AuditHealth;
use super::merkle::{self, Frontier};
use crate::clock::Clock;
use crate::store::{AuditAppend, AuditStore, RecordChange, StoreError};
use crate::telemetry::Metrics;
use crate::{Error, Result};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
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

/// Gives the batch's entries consecutive positions after `next` (which it advances): each
/// entry's sequence number, stored form and the tree nodes it completes.
fn place(batch: &mut [Pending], appends: &mut [AuditAppend], next: &mut Frontier) {
    let entries = batch.iter_mut().flat_map(|p| p.entries.iter_mut());
    for ((entry, _), append) in entries.zip(appends.iter_mut()) {
        entry.seq = next.size();
        let canonical = entry.canonical();
        append.nodes = next.push(merkle::leaf_hash(&canonical));
        append.seq = entry.seq;
        append.entry = super::stored::encode(entry, &canonical);
    }
}

/// The tree of the log's first `len` entries, from the stored nodes.
/// Holds the log and loads the tree as it is now: nothing moves it until released.
async fn hold_and_reload(store: &dyn AuditStore) -> std::result::Result<Frontier, StoreError> {
    store.hold_audit().await?;
    let len = store.audit_len().await?;
    reload(store, len).await
}

async fn reload(store: &dyn AuditStore, len: u64) -> std::result::Result<Frontier, StoreError> {
    let hashes = store.audit_nodes(&merkle::frontier_nodes(len)).await?;
    hashes
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .and_then(|h| Frontier::from_nodes(len, &h))
        .ok_or_else(|| {
            StoreError::Corrupt(format!("the audit tree of {len} entries is incomplete"))
        })
}

/// Runs until every sender of `queue` is gone.
pub(super) async fn run(
    store: Arc<dyn AuditStore>,
    clock: Clock,
    frontier: SharedFrontier,
    mut queue: mpsc::Receiver<Pending>,
    (health, metrics): (AuditHealth, Metrics),
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let now = clock.now();
        let mut appends: Vec<AuditAppend> = Vec::new();
        for p in &mut batch {
            for (entry, change) in &mut p.entries {
                entry.time = now;
                entry.started = p.context.started.min(now);
                entry.trace_id = p.context.trace_id.clone();
                entry.span_id = p.context.span_id.clone();
                entry.parent_span_id = p.context.parent_span_id.clone();
                appends.push(AuditAppend {
                    seq: 0,
                    entry: Vec::new(),
                    nodes: Vec::new(),
                    index_keys: index_keys(entry),
                    change: change.take(),
                });
            }
        }
        let mut next = lock(&frontier).clone();
        let mut holding = false;
        let started = Instant::now();
        let appended = loop {
            place(&mut batch, &mut appends, &mut next);
            match store.append_audit(&appends).await {
                // Another node appended first (several nodes on one database): hold the
                // log, take up the tree where it is now and place the batch after it.
                Err(StoreError::AuditMoved(len)) if !holding => {
                    tracing::debug!(len, "the audit log grew on another node");
                    holding = true;
                    match hold_and_reload(store.as_ref()).await {
                        Ok(current) => {
                            *lock(&frontier) = current.clone();
                            next = current;
                        }
                        Err(e) => break Err(e),
                    }
                }
                other => break other,
            }
        };
        if holding && let Err(e) = store.release_audit().await {
            tracing::error!(error = %e, "the audit log could not be let go");
        }
        if let Err(e) = appended {
            tracing::error!(error = %e, entries = appends.len(), "audit entries could not be written");
            health.appended(false);
            metrics.audit_batch(batch.len(), appends.len(), started.elapsed(), false);
            for p in batch {
                let _ = p.done.send(Err(Error::AuditUnavailable));
            }
            continue;
        }
        *lock(&frontier) = next;
        let (store, health, metrics) = (store.clone(), health.clone(), metrics.clone());
        let entries = appends.len();
        tokio::spawn(async move {
            let synced = store.sync_appends().await;
            health.appended(synced.is_ok());
            metrics.audit_batch(batch.len(), entries, started.elapsed(), synced.is_ok());
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
