//! Group commit for sled: concurrent writers share one flush.
//!
//! A writer applies its change to sled, takes a ticket (a rising counter) and waits. One
//! flusher thread reads the highest ticket, flushes, and reports that ticket done: every
//! writer with a ticket at or below it is durable, because its change was applied before
//! it took the ticket and the flush started after that. Under load, one flush (about a
//! quarter millisecond here) acknowledges dozens of writes.
//!
//! sled 0.34's flush can wait forever for a log position that never becomes stable (seen
//! here at shutdown after heavy load; upstream "Deadlock under high load", sled#1412).
//! So a flush has a limit ([`STALL`]): past it the store reports itself not ready, its
//! waiting writers get an error instead of waiting on, and dropping the store stops
//! waiting for the flusher. A write that got that error was applied but never
//! acknowledged; after a restart it is there or not, as after a crash.

use super::super::{StoreError, StoreResult};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a flush may take before the store counts it as stalled.
const STALL: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default)]
struct Flushed {
    /// Highest ticket known durable.
    ok_through: u64,
    /// Highest ticket whose flush failed (its writers get an error).
    failed_through: u64,
    /// The last flush error, for readiness.
    last_error: Option<String>,
}

struct Shared {
    requested: Mutex<u64>,
    wake: Condvar,
    stop: AtomicBool,
    flushes: AtomicU64,
    /// When the flush in progress began; `None` between flushes.
    flushing_since: Mutex<Option<Instant>>,
    /// Set by the flusher as it returns.
    exited: Mutex<bool>,
    exit: Condvar,
}

pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    done: watch::Receiver<Flushed>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stall: Duration,
}

impl GroupCommit {
    pub(super) fn start(db: sled::Db) -> GroupCommit {
        GroupCommit::with_flush(
            move || db.flush().map(|_| ()).map_err(|e| e.to_string()),
            STALL,
        )
    }

    /// A group commit whose flusher calls `flush`, counted as stalled after `stall`.
    fn with_flush(
        flush: impl FnMut() -> Result<(), String> + Send + 'static,
        stall: Duration,
    ) -> GroupCommit {
        let shared = Arc::new(Shared {
            requested: Mutex::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            flushes: AtomicU64::new(0),
            flushing_since: Mutex::new(None),
            exited: Mutex::new(false),
            exit: Condvar::new(),
        });
        let (tx, done) = watch::channel(Flushed::default());
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kluis-flush".into())
            .spawn(move || {
                flusher(flush, &worker, tx);
                *worker.exited.lock().unwrap_or_else(|p| p.into_inner()) = true;
                worker.exit.notify_all();
            })
            .expect("spawning the flush thread");
        GroupCommit {
            shared,
            done,
            thread: Mutex::new(Some(thread)),
            stall,
        }
    }

    /// Returns once everything applied before the call is durable; an error if the flush
    /// failed or did not return within the stall limit.
    pub(super) async fn durable(&self) -> StoreResult<()> {
        let mut done = self.done.clone();
        let ticket = {
            let mut requested = self
                .shared
                .requested
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *requested += 1;
            *requested
        };
        self.shared.wake.notify_one();
        let waited = tokio::time::timeout(
            self.stall,
            done.wait_for(|s| s.ok_through >= ticket || s.failed_through >= ticket),
        )
        .await
        .map_err(|_| self.stalled())?;
        let state =
            waited.map_err(|_| StoreError::Unavailable("the flush thread stopped".into()))?;
        if state.ok_through >= ticket {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "flush failed: {}",
                state.last_error.as_deref().unwrap_or("unknown error")
            )))
        }
    }

    /// Ok unless the most recent flush failed or the one in progress has stalled.
    pub(super) fn healthy(&self) -> StoreResult<()> {
        let since = *self
            .shared
            .flushing_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if since.is_some_and(|since| since.elapsed() >= self.stall) {
            return Err(self.stalled());
        }
        let state = self.done.borrow();
        match &state.last_error {
            Some(e) if state.failed_through > state.ok_through => {
                Err(StoreError::Unavailable(format!("last flush failed: {e}")))
            }
            _ => Ok(()),
        }
    }

    fn stalled(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the database's flush has not returned within {} s (sled stalls so under heavy \
             load); writes are not confirmed: restart the vault",
            self.stall.as_secs_f32()
        ))
    }

    pub(super) fn flush_count(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }
}

impl Drop for GroupCommit {
    /// Waits for the last flush, at most the stall limit: a stalled one is left behind
    /// (nothing it would make durable was acknowledged).
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        let exited = self.shared.exited.lock().unwrap_or_else(|p| p.into_inner());
        let (exited, _) = self
            .shared
            .exit
            .wait_timeout_while(exited, self.stall, |exited| !*exited)
            .unwrap_or_else(|p| p.into_inner());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if *exited {
            drop(exited);
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        } else {
            tracing::error!(
                "the database's last flush did not return within {} s; the store closes \
                 without it (no write it would have confirmed was acknowledged)",
                self.stall.as_secs_f32()
            );
        }
    }
}

fn flusher(
    mut flush: impl FnMut() -> Result<(), String>,
    shared: &Shared,
    tx: watch::Sender<Flushed>,
) {
    let mut flushed_through = 0u64;
    loop {
        let target = {
            let mut requested = shared.requested.lock().unwrap_or_else(|p| p.into_inner());
            while *requested == flushed_through && !shared.stop.load(Ordering::SeqCst) {
                requested = shared
                    .wake
                    .wait(requested)
                    .unwrap_or_else(|p| p.into_inner());
            }
            *requested
        };
        let since = |at| {
            *shared
                .flushing_since
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = at
        };
        since(Some(Instant::now()));
        let result = flush();
        since(None);
        shared.flushes.fetch_add(1, Ordering::Relaxed);
        flushed_through = target;
        tx.send_modify(|s| match &result {
            Ok(()) => {
                s.ok_through = target;
                s.last_error = None;
            }
            Err(e) => {
                s.failed_through = target;
                s.last_error = Some(e.clone());
            }
        });
        if shared.stop.load(Ordering::SeqCst) && target == flushed_through {
            let requested = *shared.requested.lock().unwrap_or_else(|p| p.into_inner());
            if requested == flushed_through {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A group commit whose flushes each wait for a word from the returned sender.
    fn held_flushes(stall: Duration) -> (GroupCommit, mpsc::Sender<Result<(), String>>) {
        let (release, flushes) = mpsc::channel();
        let commit = GroupCommit::with_flush(
            move || flushes.recv().unwrap_or(Err("released".into())),
            stall,
        );
        (commit, release)
    }

    #[tokio::test]
    async fn writers_share_flushes_and_get_a_failed_flush_as_an_error() {
        let (commit, release) = held_flushes(Duration::from_secs(30));
        release.send(Ok(())).expect("the flusher listens");
        commit.durable().await.expect("the first flush succeeds");
        release
            .send(Err("disk full".into()))
            .expect("the flusher listens");
        let failed = commit.durable().await.expect_err("the second flush fails");
        assert!(failed.to_string().contains("disk full"), "{failed}");
        assert!(
            commit.healthy().is_err(),
            "a failed flush makes the store unready"
        );
        release.send(Ok(())).expect("the flusher listens");
        commit.durable().await.expect("the third flush succeeds");
        commit.healthy().expect("ready again");
        assert_eq!(commit.flush_count(), 3);
    }

    #[tokio::test]
    async fn a_flush_that_does_not_return_fails_its_writers_and_the_readiness_check() {
        let stall = Duration::from_millis(200);
        let (commit, release) = held_flushes(stall);
        commit.healthy().expect("ready while idle");
        let stalled = commit.durable().await.expect_err("the flush never returns");
        assert!(
            stalled.to_string().contains("has not returned"),
            "{stalled}"
        );
        // The flush began just after the writer's wait did.
        tokio::time::sleep(stall).await;
        let unready = commit.healthy().expect_err("a stalled flush is reported");
        assert!(
            unready.to_string().contains("restart the vault"),
            "{unready}"
        );
        // Once sled lets go, the flush counts again.
        release.send(Ok(())).expect("the flusher listens");
        release.send(Ok(())).expect("the flusher listens");
        commit.durable().await.expect("the next flush succeeds");
        commit.healthy().expect("ready again");
    }

    #[test]
    fn dropping_the_store_does_not_wait_forever_for_a_stalled_flush() {
        let (commit, release) = held_flushes(Duration::from_millis(200));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        runtime
            .block_on(commit.durable())
            .expect_err("the flush never returns");
        let (dropped, was_dropped) = mpsc::channel();
        std::thread::spawn(move || {
            drop(commit);
            let _ = dropped.send(());
        });
        was_dropped
            .recv_timeout(Duration::from_secs(20))
            .expect("the drop returns although the flush is stuck");
        // The flusher, left behind, ends once its flush returns.
        drop(release);
    }
}
