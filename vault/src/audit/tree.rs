//! The signed tree: roots of log prefixes, signed checkpoints (the latest kept outside the
//! store, checked at start), and inclusion and consistency proofs.

use super::merkle::{self, Hash, Node};
use super::{Audit, OpenError};
use crate::jose::Checkpoint;
use crate::{Error, Result};
use std::path::Path;
use std::sync::atomic::Ordering;

impl Audit {
    /// Checks the stored log against the saved checkpoint; returns the checkpoint's size.
    pub(super) async fn check_against_saved_checkpoint(
        &self,
    ) -> std::result::Result<u64, OpenError> {
        let token = match std::fs::read_to_string(&self.checkpoint_file) {
            Ok(token) => token,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(OpenError(format!(
                    "cannot read {}: {e}",
                    self.checkpoint_file.display()
                )));
            }
        };
        let saved = Checkpoint::verify(token.trim(), &self.keys.jwks()).map_err(|e| {
            OpenError(format!(
                "the saved audit checkpoint {} does not verify ({e}); it was altered",
                self.checkpoint_file.display()
            ))
        })?;
        let size = self.size().await;
        if saved.tree_size > size {
            return Err(OpenError(format!(
                "the audit log holds {size} entries but its last signed checkpoint covers {}: the log was truncated; restore the database before serving",
                saved.tree_size
            )));
        }
        let root = self
            .root_at(saved.tree_size)
            .await
            .map_err(|e| OpenError(e.to_string()))?;
        if root != saved.root_hash {
            return Err(OpenError(format!(
                "the first {} entries of the audit log no longer match their signed checkpoint: the log was rewritten; restore the database before serving",
                saved.tree_size
            )));
        }
        Ok(saved.tree_size)
    }

    async fn nodes(&self, wanted: &[Node]) -> Result<std::collections::HashMap<Node, Hash>> {
        let hashes = self.store.audit_nodes(wanted).await?;
        wanted
            .iter()
            .zip(hashes)
            .map(|(n, h)| {
                h.map(|h| (*n, h))
                    .ok_or_else(|| Error::Internal(format!("audit node {n:?} is missing")))
            })
            .collect()
    }

    /// The root of the log's first `size` entries.
    pub async fn root_at(&self, size: u64) -> Result<Hash> {
        let wanted = merkle::frontier_nodes(size);
        let nodes = self.nodes(&wanted).await?;
        let hashes: Vec<Hash> = wanted.iter().map(|n| nodes[n]).collect();
        Ok(merkle::fold(&hashes).unwrap_or_else(merkle::empty_root))
    }

    /// A signed checkpoint of the log's first `size` entries (at most its size).
    pub async fn checkpoint_at(&self, size: u64) -> Result<String> {
        if size > self.size().await {
            return Err(Error::InvalidParameter(
                "the log is not that long yet".into(),
            ));
        }
        // Never sign for entries that are not on disk yet.
        self.store
            .sync()
            .await
            .map_err(|_| Error::AuditUnavailable)?;
        // One key for the header and the signature, even across a key switch.
        let key = self.keys.current();
        let checkpoint = Checkpoint {
            issuer: self.issuer.clone(),
            tree_size: size,
            root_hash: self.root_at(size).await?,
            time: self.clock.now().timestamp(),
            kid: key.kid.clone(),
        };
        checkpoint
            .sign(&key)
            .map_err(|e| Error::Internal(format!("signing a checkpoint: {e}")))
    }

    /// Signs a checkpoint of the whole log and keeps it outside the store, replacing the
    /// saved one (atomically). Returns it.
    pub async fn checkpoint(&self) -> Result<String> {
        // The whole log, with what other nodes on the same database appended.
        let size = self.size().await;
        // Never sign for entries that are not on disk yet: a crash would then make the
        // log look truncated against its own checkpoint.
        self.store
            .sync()
            .await
            .map_err(|_| Error::AuditUnavailable)?;
        // One key for the header and the signature, even across a key switch.
        let key = self.keys.current();
        let checkpoint = Checkpoint {
            issuer: self.issuer.clone(),
            tree_size: size,
            root_hash: self.root_at(size).await?,
            time: self.clock.now().timestamp(),
            kid: key.kid.clone(),
        };
        let token = checkpoint
            .sign(&key)
            .map_err(|e| Error::Internal(format!("signing a checkpoint: {e}")))?;
        save_atomically(&self.checkpoint_file, token.as_bytes()).map_err(|e| {
            Error::Internal(format!(
                "saving the checkpoint to {}: {e}",
                self.checkpoint_file.display()
            ))
        })?;
        self.saved.fetch_max(size, Ordering::SeqCst);
        Ok(token)
    }

    /// Signs and saves a checkpoint if the log grew since the last one saved.
    pub async fn checkpoint_if_grown(&self) -> Result<()> {
        if self.size().await > self.saved.load(Ordering::SeqCst) {
            self.checkpoint().await?;
        }
        Ok(())
    }

    /// An inclusion proof for entry `seq` in the log's first `size` entries.
    pub async fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>> {
        if seq >= size || size > self.size().await {
            return Err(Error::InvalidParameter(
                "seq must lie below size, and size within the log".into(),
            ));
        }
        let plan = merkle::inclusion_plan(seq, size);
        let nodes = self.nodes(&merkle::plan_nodes(&plan)).await?;
        merkle::assemble(&plan, |n| nodes.get(&n).copied())
            .ok_or_else(|| Error::Internal("incomplete audit tree".into()))
    }

    /// A consistency proof between the log's first `old` and first `new` entries.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        if old == 0 || old > new || new > self.size().await {
            return Err(Error::InvalidParameter(
                "need 0 < old <= new <= the log's size".into(),
            ));
        }
        let plan = merkle::consistency_plan(old, new);
        let nodes = self.nodes(&merkle::plan_nodes(&plan)).await?;
        merkle::assemble(&plan, |n| nodes.get(&n).copied())
            .ok_or_else(|| Error::Internal("incomplete audit tree".into()))
    }

    /// The leaf hashes of the perfect subtrees covering `[0, from)` (an export's start).
    pub async fn left_frontier(&self, from: u64) -> Result<Vec<Hash>> {
        let wanted = merkle::frontier_nodes(from);
        let nodes = self.nodes(&wanted).await?;
        Ok(wanted.iter().map(|n| nodes[n]).collect())
    }
}

/// Writes `contents` to `path` atomically: temp file, fsync, rename, fsync of the directory.
/// The temp file's name is random, so nodes sharing a key directory (each maybe PID 1 in
/// its container) never write into each other's.
fn save_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
