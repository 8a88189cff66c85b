//! Checking a checkpoint someone saved earlier against the log as it is now: the note must
//! carry this vault's signature, and a consistency proof from its size to today's must lead
//! from its root to today's root (RFC 9162 §2.1.4). If it does, nothing logged up to then
//! was changed or removed since. The proof is computed by the vault and verified here with
//! the same code an outside verifier runs, so the answer rests on the signature and the
//! hashes, not on the vault's word.

use super::Audit;
use super::merkle;
use crate::Result;
use crate::crypto::signed_note::{Note, NoteCheckpoint};

/// What a saved checkpoint says about the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavedCheckpoint {
    /// Its entries are still the first entries of the log: a consistency proof of
    /// `proof_hashes` hashes from `saved_size` to `current_size` verifies.
    Consistent {
        /// The saved checkpoint's size.
        saved_size: u64,
        /// The log's size now.
        current_size: u64,
        /// How many hashes the proof took.
        proof_hashes: usize,
    },
    /// Not a signed checkpoint note at all (what is wrong with its form).
    Unreadable(String),
    /// Readable, but this vault's note key did not sign it: forged, altered, or another log's.
    NotSigned,
    /// Signed, but for more entries than the log holds: the log lost entries.
    Shrunk {
        /// The saved checkpoint's size.
        saved_size: u64,
        /// The log's size now.
        current_size: u64,
    },
    /// Signed, but today's log does not extend it: its history was rewritten.
    Rewritten {
        /// The saved checkpoint's size.
        saved_size: u64,
    },
}

impl Audit {
    /// Checks `saved`, a checkpoint note as the vault published it (line ends as a browser
    /// sends them are accepted), against the log now.
    pub async fn check_saved_checkpoint(&self, saved: &str) -> Result<SavedCheckpoint> {
        let mut text = saved.replace("\r\n", "\n").trim().to_owned();
        text.push('\n');
        let note = match Note::parse(&text) {
            Ok(note) => note,
            Err(e) => return Ok(SavedCheckpoint::Unreadable(e.to_string())),
        };
        let checkpoint = match NoteCheckpoint::parse(&note.text) {
            Ok(checkpoint) => checkpoint,
            Err(e) => return Ok(SavedCheckpoint::Unreadable(e.to_string())),
        };
        if note.verify(&self.note_key()).is_err() {
            return Ok(SavedCheckpoint::NotSigned);
        }
        // The log's size as the database holds it (every node's entries): a node's own
        // count is no answer here, as a newer note from another node would look "shrunk".
        let current_size = self.store.audit_len().await?;
        let saved_size = checkpoint.size;
        if saved_size > current_size {
            return Ok(SavedCheckpoint::Shrunk {
                saved_size,
                current_size,
            });
        }
        let current_root = self.root_at(current_size).await?;
        let proof = if saved_size == 0 {
            Vec::new()
        } else {
            self.consistency_proof(saved_size, current_size).await?
        };
        let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
        let consistent = saved_size == 0
            || merkle::verify_consistency(
                saved_size,
                current_size,
                &proof,
                &checkpoint.root,
                &current_root,
            )
            .is_ok();
        Ok(if consistent {
            SavedCheckpoint::Consistent {
                saved_size,
                current_size,
                proof_hashes: proof.len(),
            }
        } else {
            SavedCheckpoint::Rewritten { saved_size }
        })
    }
}
