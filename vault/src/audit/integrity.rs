//! The full check of the log that runs while the vault serves: every entry rehashed and
//! compared with its stored leaf hash, chunk by chunk, from the first to the size at
//! start. Start-up itself checks only what does not grow with the log (the tree against
//! the saved signed checkpoint, the newest entries); `/readyz` reports this check's
//! progress, and a failure fails the vault closed: no entry is appended after it, so no
//! read is answered and no record changes until the operator restores the database.

use super::Audit;
use super::queries::CHUNK;
use std::sync::{Arc, Mutex};

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

/// A handle on the state of the full check, shared by the log and `/readyz`.
#[derive(Clone, Debug)]
pub struct IntegrityCheck(Arc<Mutex<CheckState>>);

impl IntegrityCheck {
    pub(super) fn new(of: u64) -> IntegrityCheck {
        IntegrityCheck(Arc::new(Mutex::new(CheckState::Running { checked: 0, of })))
    }

    /// The state now.
    pub fn state(&self) -> CheckState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, state: CheckState) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Whether the check found a rewritten entry.
    pub fn failed(&self) -> bool {
        matches!(self.state(), CheckState::Failed(_))
    }
}

impl Audit {
    /// The full check's state.
    pub fn integrity(&self) -> IntegrityCheck {
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
        while at < of {
            let to = (at + CHUNK).min(of);
            if self.raw_entries(at, to).await.is_err() {
                let why = format!(
                    "an audit entry between {at} and {to} no longer matches its hash: the log was rewritten; restore the database"
                );
                tracing::error!(
                    from = at,
                    to,
                    "the full audit check failed: the vault refuses every audited action"
                );
                self.integrity.set(CheckState::Failed(why));
                return self.integrity.state();
            }
            at = to;
            self.integrity.set(CheckState::Running { checked: at, of });
            tokio::task::yield_now().await;
        }
        self.integrity.set(CheckState::Passed { of });
        tracing::info!(entries = of, "the full audit check passed");
        self.integrity.state()
    }
}
