//! The tamper-evident audit log: who did what with whose data, when, why, and how it
//! ended. Privacy officers audit it; residents see their own part of it.
//!
//! - [`complaint`]: the short code a resident gives the privacy officer.
//! - [`entry`]: the entry format (metadata only; the types are in `kluis_proto::audit`).
//! - [`context`]: the request's trace context, which every entry carries.
//! - `writer`: the one task that appends, in batches sharing one flush.
//! - `tally`: refusals nothing can be attributed to, one entry per source and minute.
//! - `tree`: roots, signed checkpoints (kept outside the store), proofs.
//! - `witness`: the checkpoint as a C2SP signed note (format: `crypto::signed_note`) and
//!   the cosignatures witnesses give it.
//! - `saved_checkpoint`: an officer's saved checkpoint note checked against the log now.
//! - `queries`: reading entries back, by range, index, time or filter.
//! - [`merkle`]: RFC 9162 hashing, proofs and their verification.
//! - [`export`]: the export file and its offline verification (`kluis audit verify`).
//! - [`officer`]: the privacy officer's and the operator's questions, each logged first.
//! - [`reports`]: the questions privacy officers ask, answered from the log as it streams.
//! - [`standards`]: the entries in the shape of Logius' Authorization Decision Log and
//!   Logboek Dataverwerkingen.
//!
//! Every entry is a leaf of an append-only Merkle tree. The vault signs checkpoints (size,
//! root, time) with its published key and keeps the latest outside the store (next to the
//! keyring); at start it refuses to serve if the stored log no longer matches it.
//!
//! **Fail closed.** [`Audit::record`] returns only when the entry is durable; concurrent
//! appends share one flush. A read is answered only after its entry is recorded: if the
//! log cannot be written, the read is refused and no data leaves the vault. A change to a
//! resident's records is stored in the same transaction as its entry
//! ([`Audit::record_change`]): both or neither. An append that fails leaves no gap: the
//! next one takes the same position.

pub mod complaint;
mod context;
pub mod entry;
pub mod export;
mod integrity;
pub mod merkle;
pub mod officer;
mod queries;
pub mod reports;
mod saved_checkpoint;
pub mod standards;
pub(crate) mod stored;
mod tail;
mod tally;
mod tree;
mod witness;
mod writer;

pub use context::Context;
pub use integrity::{AuditHealth, CheckState};
pub use queries::Filter;
pub use saved_checkpoint::SavedCheckpoint;
#[cfg(feature = "test-support")]
pub use stored::changed as change_stored_entry;

use crate::clock::Clock;
use crate::jose::keys::VaultKeys;
use crate::store::{AuditStore, RecordChange};
use crate::telemetry::Metrics;
use crate::{Error, Result};
use entry::Entry;
use merkle::{Frontier, Hash};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use writer::{Pending, SharedFrontier, lock};

/// The audit log service.
pub struct Audit {
    store: Arc<dyn AuditStore>,
    clock: Clock,
    keys: Arc<VaultKeys>,
    issuer: String,
    checkpoint_file: PathBuf,
    /// The tree as appended so far; only the writer task changes it.
    frontier: SharedFrontier,
    /// The size of the checkpoint last saved to `checkpoint_file`.
    saved: AtomicU64,
    /// Entries waiting for the writer task.
    queue: tokio::sync::mpsc::Sender<Pending>,
    /// The full check of every entry, which runs while the vault serves.
    integrity: AuditHealth,
    /// Unattributed refusals waiting for their minute to end.
    tally: tally::Tally,
    /// The operator's counts.
    metrics: Metrics,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("checkpoint_file", &self.checkpoint_file)
            .finish_non_exhaustive()
    }
}

/// Why the log cannot be opened: it no longer matches what was signed before.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(pub String);

impl Audit {
    /// Opens the log in `store`, signing with `keys` as `issuer`, and checks it against the
    /// checkpoint kept in `checkpoint_file` (if there is one).
    pub async fn open(
        store: Arc<dyn AuditStore>,
        clock: Clock,
        keys: Arc<VaultKeys>,
        issuer: String,
        checkpoint_file: PathBuf,
        metrics: Metrics,
    ) -> std::result::Result<Audit, OpenError> {
        let fail =
            |e: crate::store::StoreError| OpenError(format!("cannot read the audit log: {e}"));
        let size = store.audit_len().await.map_err(fail)?;
        let hashes = store
            .audit_nodes(&merkle::frontier_nodes(size))
            .await
            .map_err(fail)?;
        let hashes: Option<Vec<Hash>> = hashes.into_iter().collect();
        let frontier = hashes
            .and_then(|h| Frontier::from_nodes(size, &h))
            .ok_or_else(|| {
                OpenError(
                    "the audit log's tree is incomplete; restore the database from backup".into(),
                )
            })?;
        let frontier = tail::take_up(store.as_ref(), frontier)
            .await
            .map_err(fail)?;
        let size = frontier.size();
        let frontier = Arc::new(std::sync::Mutex::new(frontier));
        let (queue, pending) = tokio::sync::mpsc::channel(4 * writer::MAX_BATCH);
        let health = AuditHealth::new(size, store.clone());
        tokio::spawn(writer::run(
            store.clone(),
            clock.clone(),
            frontier.clone(),
            pending,
            (health.clone(), metrics.clone()),
        ));
        let audit = Audit {
            store,
            clock,
            keys,
            issuer,
            checkpoint_file,
            frontier,
            saved: AtomicU64::new(0),
            queue,
            integrity: health,
            tally: tally::Tally::default(),
            metrics,
        };
        let saved = audit.check_against_saved_checkpoint().await?;
        audit.saved.store(saved, Ordering::SeqCst);
        Ok(audit)
    }

    /// Counts a refusal with error code `reason` that nothing in the attempt can be
    /// attributed to (no grant the vault issued, no department that proved itself): logged
    /// with the others from the same source in one entry when the minute is over.
    pub fn count_unattributed(&self, context: &Context, reason: &str) {
        self.tally.add(self.clock.now(), context.source, reason);
    }

    /// The operator's counts, which services that log also feed.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Logs the counted refusals of every minute that is over (of every minute, with
    /// `all`, when the vault stops); returns how many entries it wrote.
    pub async fn log_tallies(&self, all: bool) -> Result<usize> {
        let entries = self.tally.take_entries(self.clock.now(), all);
        let context = Context::new(&self.clock);
        let count = entries.len();
        // Appended together, so that they share the writer's flushes.
        let written = futures_util::future::join_all(
            entries
                .into_iter()
                .map(|entry| self.record(&context, entry)),
        )
        .await;
        let lost = written.iter().filter(|w| w.is_err()).count();
        if let Some(Err(e)) = written.into_iter().find(Result::is_err) {
            tracing::error!(error = %e, lost, "counted refusals could not be logged");
            return Err(e);
        }
        Ok(count)
    }

    /// Appends `entry` (its position, times and trace filled in from `context` and the
    /// clock) and returns its position once it is durable. `AuditUnavailable` if it could
    /// not be written.
    pub async fn record(&self, context: &Context, entry: Entry) -> Result<u64> {
        self.append(context, entry, None).await
    }

    /// Appends `entry` together with the record `change` it reports, in one transaction:
    /// when this returns `Ok`, both are durable; when it fails, neither was stored.
    pub async fn record_change(
        &self,
        context: &Context,
        entry: Entry,
        change: RecordChange,
    ) -> Result<u64> {
        self.append(context, entry, Some(change)).await
    }

    /// Appends `entries`, each with the change it reports if any (a record, a queued
    /// event), in one transaction, in order: when this returns `Ok`, all are durable; when
    /// it fails, none was stored. Returns their positions.
    pub async fn record_all(
        &self,
        context: &Context,
        entries: Vec<(Entry, Option<RecordChange>)>,
    ) -> Result<Vec<u64>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.append_all(context, entries).await
    }

    async fn append(
        &self,
        context: &Context,
        entry: Entry,
        change: Option<RecordChange>,
    ) -> Result<u64> {
        let positions = self.append_all(context, vec![(entry, change)]).await?;
        positions.first().copied().ok_or(Error::AuditUnavailable)
    }

    async fn append_all(
        &self,
        context: &Context,
        entries: Vec<(Entry, Option<RecordChange>)>,
    ) -> Result<Vec<u64>> {
        // Fail closed: after the full check found a rewritten entry, nothing more is done.
        if self.integrity.failed() {
            return Err(Error::AuditUnavailable);
        }
        let (done, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Pending {
                context: context.clone(),
                entries,
                done,
            })
            .await
            .map_err(|_| Error::AuditUnavailable)?;
        answer.await.map_err(|_| Error::AuditUnavailable)?
    }

    /// How many entries the log holds: with several nodes on one database, those the
    /// others appended too.
    pub async fn size(&self) -> u64 {
        let appended_here = lock(&self.frontier).size();
        match self.store.audit_len().await {
            Ok(len) => len.max(appended_here),
            Err(_) => appended_here,
        }
    }

    /// The vault's published keys, which verify its checkpoints.
    pub fn jwks(&self) -> serde_json::Value {
        self.keys.jwks()
    }
}

#[cfg(test)]
mod tests;
