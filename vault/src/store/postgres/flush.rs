//! Durability on demand, shared: callers that wait for the WAL at the same time share one
//! flushing commit, so a node under load makes about one per flush, not one per batch.

use super::{PostgresStore, map_err};
use crate::store::StoreResult;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tickets taken and tickets covered by a finished flushing commit.
#[derive(Default)]
pub(super) struct SharedFlush {
    /// The highest ticket handed out.
    requested: AtomicU64,
    /// The highest ticket a flushing commit started after (so covers). Held while a
    /// commit runs: one at a time per node.
    covered: tokio::sync::Mutex<u64>,
    /// Flushing commits made (for tests).
    made: AtomicU64,
}

impl PostgresStore {
    /// Returns once every commit this node saw end before the call is durable (on the
    /// primary's disk, and a synchronous standby's). A commit that waits for its WAL makes
    /// every earlier commit durable with it, whichever node made it: the WAL is one
    /// sequence. The message is the smallest write that makes a commit wait; nothing
    /// stores it.
    pub(super) async fn flush(&self) -> StoreResult<()> {
        let ticket = self.flushes.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut covered = self.flushes.covered.lock().await;
        if *covered >= ticket {
            // A commit that started after this call's ticket was taken has finished.
            return Ok(());
        }
        let target = self.flushes.requested.load(Ordering::SeqCst);
        self.client()
            .await?
            .batch_execute("SELECT pg_logical_emit_message(true, 'kluis', 'flush')")
            .await
            .map_err(map_err("making the log durable"))?;
        *covered = target;
        self.flushes.made.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many flushing commits this node has made.
    #[cfg(test)]
    pub(super) fn flush_count(&self) -> u64 {
        self.flushes.made.load(Ordering::Relaxed)
    }
}
