//! The key rotation that completes erasures, or that is due on the operator's schedule
//! (`[keys] rotate_every_days`): claimed by one node, a new KEK announced, every living
//! data key rewrapped under it, the older KEKs destroyed.

use super::Residents;
use crate::Result;
use crate::audit::Context;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::crypto::WrappedDataKey;
use chrono::{DateTime, TimeDelta, Utc};

/// How long a node's claim on a due key rotation lasts before another node may take over.
const ROTATION_CLAIM: TimeDelta = TimeDelta::minutes(10);

impl Residents {
    /// Runs the key rotation that completes erasures, if one is due; returns whether it
    /// ran.
    pub async fn rotate_if_due(&self, context: &Context) -> Result<bool> {
        let now = self.clock.now();
        let Some(due) = self.store.rotation_due().await? else {
            return Ok(false);
        };
        if due > now {
            return Ok(false);
        }
        // Claim it for a while: with several nodes only one rotates, and if it dies
        // midway another takes over once the claim runs out.
        let claim = now + ROTATION_CLAIM;
        if !self
            .store
            .replace_rotation_due(Some(due), Some(claim))
            .await?
        {
            return Ok(false);
        }
        self.rotate_keys(context).await?;
        // Done, unless an erasure set a new time meanwhile: then it stays due. On a
        // schedule, the next one is due a period from now.
        let next = self.rotate_every.map(|every| self.clock.now() + every);
        self.store.replace_rotation_due(Some(claim), next).await?;
        Ok(true)
    }

    /// With a rotation schedule and no rotation due, makes one due a period from now;
    /// returns when one is due. (Run by the vault's upkeep every minute: a new vault, or
    /// one whose schedule was just switched on, gets its first date.)
    pub async fn schedule_rotation(&self) -> Result<Option<DateTime<Utc>>> {
        let due = self.store.rotation_due().await?;
        let Some(every) = self.rotate_every.filter(|_| due.is_none()) else {
            return Ok(due);
        };
        let first = self.clock.now() + every;
        if self.store.replace_rotation_due(None, Some(first)).await? {
            return Ok(Some(first));
        }
        Ok(self.store.rotation_due().await?)
    }

    /// Rewraps every data key not yet under KEK `version`; returns how many it rewrapped.
    async fn rewrap_all(&self, version: u32) -> Result<usize> {
        let mut after = None;
        let mut rewrapped = 0;
        loop {
            let page = self.store.residents_after(after, 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for row in &page {
                let wrapped = WrappedDataKey(row.wrapped_key.clone());
                // At `version` or newer (another node's rotation since): nothing to do.
                if wrapped.kek_version()? >= version {
                    continue;
                }
                let new = self.keyring.rewrap(&row.id, &wrapped)?;
                if self
                    .store
                    .replace_wrapped_key(row.id, &row.wrapped_key, &new.0)
                    .await?
                {
                    rewrapped += 1;
                }
            }
        }
        Ok(rewrapped)
    }

    /// Changes the root key while the vault serves: every file of the key directory is
    /// sealed again under `new`, after which the old root key opens nothing there. One
    /// `key_rotation` audit entry. Returns how many files were sealed again.
    pub async fn rotate_root_key(
        &self,
        context: &Context,
        new: crate::crypto::RootKey,
    ) -> Result<usize> {
        let _one_at_a_time = self.rotating.lock().await;
        let keyring = self.keyring.clone();
        let files = tokio::task::spawn_blocking(move || keyring.change_root(new))
            .await
            .map_err(|e| crate::Error::Internal(format!("changing the root key: {e}")))?
            .map_err(|e| crate::Error::Internal(format!("changing the root key: {e}")))?;
        let mut entry = Entry::new(Action::KeyRotation, Outcome::Done, Actor::Operator);
        entry.details.insert("key".into(), "root".into());
        entry.details.insert("files".into(), files.to_string());
        self.audit.record(context, entry).await?;
        tracing::info!(
            files,
            "root key changed; configure the new root key before the next start"
        );
        Ok(files)
    }

    /// The key labelled `label` in the token that holds the root key now.
    pub fn root_key_in_same_token(&self, label: &str) -> Result<crate::crypto::RootKey> {
        self.keyring
            .other_root_in_same_token(label)
            .map_err(crate::Error::InvalidParameter)
    }

    /// Like [`Residents::hold_rotations`], but `None` at once if a rotation runs.
    pub fn try_hold_rotations(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.rotating.try_lock().ok()
    }

    /// Holds off key rotations until the guard drops (a backup copies the key directory
    /// meanwhile); waits for a rotation that runs.
    pub async fn hold_rotations(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rotating.lock().await
    }

    /// Rotates the key-encryption key: adds a new KEK, rewraps every living data key under
    /// it, then destroys the older KEKs. Safe to run again after an interruption. Returns
    /// the new KEK version and how many vaults were rewrapped.
    pub async fn rotate_keys(&self, context: &Context) -> Result<(u32, usize)> {
        let _one_at_a_time = self.rotating.lock().await;
        let version = {
            let _no_vault_being_created = self.new_vaults.write().await;
            self.keyring.add_kek()?
        };
        // From here no node stores a new vault under an older KEK, and the passes below
        // see every vault stored before.
        self.store.announce_kek(version).await?;
        let rewrapped = self.complete_rotation(version, context, false).await?;
        Ok((version, rewrapped))
    }

    /// Finishes a rotation a crash interrupted (a new KEK added, older ones not yet
    /// destroyed): every data key not under the newest KEK is rewrapped and the older KEKs
    /// destroyed. Run at start; `None` when nothing was interrupted.
    pub async fn finish_interrupted_rotation(&self, context: &Context) -> Result<Option<usize>> {
        if self.keyring.kek_versions().len() < 2 {
            return Ok(None);
        }
        let _one_at_a_time = self.rotating.lock().await;
        let version = self.keyring.current_kek_version();
        self.store.announce_kek(version).await?;
        Ok(Some(self.complete_rotation(version, context, true).await?))
    }

    /// Rewraps every data key under KEK `version`, destroys the older KEKs and logs the
    /// rotation (`resumed`: finished after a crash); returns how many vaults it rewrapped.
    async fn complete_rotation(
        &self,
        version: u32,
        context: &Context,
        resumed: bool,
    ) -> Result<usize> {
        let mut rewrapped = 0;
        // Until a whole pass finds nothing left to rewrap: another node sharing the
        // database may have created a vault under the old KEK while the pass ran.
        loop {
            let in_pass = self.rewrap_all(version).await?;
            rewrapped += in_pass;
            if in_pass == 0 {
                break;
            }
        }
        self.keyring.destroy_older_than(version)?;
        let mut entry = Entry::new(Action::KeyRotation, Outcome::Done, Actor::Operator);
        entry
            .details
            .insert("kek_version".into(), version.to_string());
        entry
            .details
            .insert("vaults_rewrapped".into(), rewrapped.to_string());
        if resumed {
            entry.details.insert("resumed".into(), "true".into());
        }
        self.audit.record(context, entry).await?;
        tracing::info!(
            kek_version = version,
            rewrapped,
            resumed,
            "key-encryption key rotated"
        );
        Ok(rewrapped)
    }
}
