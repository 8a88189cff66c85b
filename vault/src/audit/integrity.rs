//! The log's health, for `/readyz`: whether appends currently fail, and the full check of
//! the log that runs while the vault serves: every entry rehashed and compared with its
//! stored leaf hash, chunk by chunk, from the first to the size at
//! start. Start-up itself checks only what does not grow with the log (the tree against
//! the saved signed checkpoint, the newest entries); `/readyz` reports this check's
//! progress, and a failure fails the vault closed: no entry is appended after it, so no
//! read is answered and no record changes until the operator restores the database.

use super::Audit;
use super::queries::CHUNK;
use crate::Error;
use crate::store::AuditStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How often a chunk the store could not read is tried again before the check fails.
const READ_TRIES: u32 = 3;

/// Where the full check stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckState {
    /// Rehashing: `checked` of `of` entries done.
    Running { checked: u64, of: u64 },
    /// Every entry up to `of` matches its leaf hash.
    Passed { of: u64 },
    /// An entry no longer matches its hash (which range, never its content).
    Failed(String),
}

/// A handle on the log's health, shared by the log, its writer and `/readyz`.
#[derive(Clone)]
pub struct AuditHealth {
    check: Arc<Mutex<CheckState>>,
    /// Whether the last append failed (until one succeeds again, or a probe does).
    appends_failing: Arc<AtomicBool>,
    store: Arc<dyn AuditStore>,
}

impl AuditHealth {
    pub(super) fn new(of: u64, store: Arc<dyn AuditStore>) -> AuditHealth {
        AuditHealth {
            check: Arc::new(Mutex::new(CheckState::Running { checked: 0, of })),
            appends_failing: Arc::default(),
            store,
        }
    }

    /// Whether appends fail: no read can be answered until one succeeds. While they do,
    /// each call tries an empty append and a flush, so that a store that works again is
    /// seen as working even when no traffic reaches the vault.
    pub async fn appends_failing(&self) -> bool {
        if self.appends_failing.load(Ordering::SeqCst)
            && self.store.append_audit(&[]).await.is_ok()
            && self.store.sync().await.is_ok()
        {
            self.appended(true);
        }
        self.appends_failing.load(Ordering::SeqCst)
    }

    /// Records how the last append ended.
    pub(super) fn appended(&self, ok: bool) {
        self.appends_failing.store(!ok, Ordering::SeqCst);
    }

    /// The state now.
    pub fn state(&self) -> CheckState {
        self.check.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, state: CheckState) {
        *self.check.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Whether the check found a rewritten entry.
    pub fn failed(&self) -> bool {
        matches!(self.state(), CheckState::Failed(_))
    }
}

impl Audit {
    /// The full check's state.
    pub fn integrity(&self) -> AuditHealth {
        self.integrity.clone()
    }

    /// Rehashes entries `[0, of)` one chunk at a time, reporting progress; on a mismatch
    /// the log stops accepting entries. Returns the final state.
    pub async fn check_all_entries(&self) -> CheckState {
        let of = match self.integrity.state() {
            CheckState::Running { of, .. } => of,
            done => return done,
        };
        let mut at = 0;
        let mut tries = 0;
        while at < of {
            let to = (at + CHUNK).min(of);
            match self.raw_entries(at, to).await {
                Ok(_) => tries = 0,
                Err(Error::Integrity(_)) => {
                    return self.fail(format!(
                        "an audit entry between {at} and {to} no longer matches its hash: the log was rewritten; restore the database"
                    ));
                }
                // The store could not answer: try again before calling it a failure,
                // and never call it a rewrite.
                Err(e) if tries < READ_TRIES => {
                    tries += 1;
                    tracing::warn!(from = at, to, error = %e, "the full audit check could not read; trying again");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => {
                    return self.fail(format!(
                        "the audit entries between {at} and {to} cannot be read ({}); see the operator log",
                        e.code().as_str()
                    ));
                }
            }
            at = to;
            self.integrity.set(CheckState::Running { checked: at, of });
            tokio::task::yield_now().await;
        }
        self.integrity.set(CheckState::Passed { of });
        tracing::info!(entries = of, "the full audit check passed");
        self.integrity.state()
    }

    /// Starts the full check in the background. If the check itself stops (a panic), the
    /// state says so: the vault fails closed rather than report "checking" for ever.
    pub fn spawn_full_check(self: &Arc<Audit>) -> tokio::task::JoinHandle<CheckState> {
        let check = tokio::spawn({
            let audit = self.clone();
            async move { audit.check_all_entries().await }
        });
        let audit = self.clone();
        tokio::spawn(async move {
            match check.await {
                Ok(state) => state,
                Err(stopped) => audit.fail(format!("the full audit check stopped: {stopped}")),
            }
        })
    }

    /// Records that the full check failed, for `/readyz` and the appends that follow.
    fn fail(&self, why: String) -> CheckState {
        tracing::error!(reason = %why, "the full audit check failed: the vault refuses every audited action");
        self.integrity.set(CheckState::Failed(why));
        self.integrity.state()
    }
}
