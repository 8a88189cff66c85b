//! Changing the root key while the vault runs: every file of the key directory (KEKs, the
//! pseudonym key, the vault's secrets) is sealed again under the new root key, after which
//! the old root key opens nothing there.
//!
//! Crash-safe in three steps. (1) Every file is sealed again into `next-root/`, synced.
//! (2) `next-root/COMMITTED` is written: from here on the change holds. (3) The files are
//! renamed over the old ones and `next-root/` goes. A crash before (2) leaves the old files
//! as they were, and [`settle`] at the next start discards `next-root/`; a crash after it
//! is finished by [`settle`], and the vault then needs the new root key.

use super::{
    CryptoError, Keyring, PSEUDONYM_FILE, RootKey, create_private_dir, io_err, kek_aad, sync_dir,
    write_sealed,
};
use std::fs;
use std::path::Path;

const NEXT_DIR: &str = "next-root";
const COMMITTED: &str = "COMMITTED";

impl Keyring {
    /// Seals every file of the key directory again under `new` and makes it the root key.
    /// Returns how many files were sealed again. Refuses (changing nothing) if the
    /// directory holds a key file whose purpose the keyring does not know.
    pub fn change_root(&self, new: RootKey) -> Result<usize, CryptoError> {
        let _changing = self.lock_key_files();
        let old = self.root();
        let next = self.dir.join(NEXT_DIR);
        if next.join(COMMITTED).exists() {
            return Err(CryptoError::KeyringIo {
                action: "changing the root key",
                reason: "an earlier root key change was committed but not finished; restart the vault with the new root key to finish it".into(),
            });
        }
        if next.exists() {
            fs::remove_dir_all(&next).map_err(|e| io_err("clearing", &next, e))?;
        }
        create_private_dir(&next)?;
        let staged = self.seal_all_again(&old, &new, &next);
        if staged.is_err() {
            let _ = fs::remove_dir_all(&next);
        }
        let names = staged?;
        let committed = next.join(COMMITTED);
        fs::write(&committed, names.join("\n"))
            .and_then(|()| fs::File::open(&committed)?.sync_all())
            .map_err(|e| io_err("committing the root key change", &committed, e))?;
        sync_dir(&next)?;
        *self.root.write().unwrap_or_else(|p| p.into_inner()) = new.clone();
        finish(&self.dir)?;
        // Every key file of the directory now opens under the new key, or the change says
        // which one does not (one another node wrote meanwhile, under the old key).
        for name in key_files(&self.dir)? {
            let label = self.label_of(&name).ok_or_else(|| CryptoError::KeyringIo {
                action: "changing the root key",
                reason: format!("{name} appeared during the change; stop the other nodes and change the root key again"),
            })?;
            let path = self.dir.join(&name);
            let sealed = fs::read(&path).map_err(|e| io_err("reading a key", &path, e))?;
            new.open(&label, &sealed, "key file").map_err(|_| CryptoError::KeyringIo {
                action: "changing the root key",
                reason: format!("{name} is still sealed under the old root key (another node wrote it during the change); stop the other nodes and change the root key again"),
            })?;
        }
        Ok(names.len())
    }

    /// Step (1): every key file sealed again under `new` into `next`; returns their names.
    fn seal_all_again(
        &self,
        old: &RootKey,
        new: &RootKey,
        next: &Path,
    ) -> Result<Vec<String>, CryptoError> {
        let mut names = Vec::new();
        for name in key_files(&self.dir)? {
            let label = self.label_of(&name).ok_or_else(|| CryptoError::KeyringIo {
                action: "changing the root key",
                reason: format!(
                    "{} holds {name}, whose purpose this vault does not know; move it away first",
                    self.dir.display()
                ),
            })?;
            let path = self.dir.join(&name);
            let sealed = fs::read(&path).map_err(|e| io_err("reading a key", &path, e))?;
            let secret = old.open(&label, &sealed, "key file")?;
            write_sealed(&next.join(&name), new, &label, &secret)?;
            names.push(name);
        }
        Ok(names)
    }

    /// Another key in the token that holds the root key now (see
    /// [`RootKey::other_in_same_token`]).
    pub fn other_root_in_same_token(&self, label: &str) -> Result<RootKey, String> {
        self.root().other_in_same_token(label)
    }

    /// The label a key file is sealed with: KEKs and the pseudonym key by their name, the
    /// vault's secrets as they were stored or loaded.
    fn label_of(&self, name: &str) -> Option<Vec<u8>> {
        if name == PSEUDONYM_FILE {
            return Some(b"kluis/pseudonym/v1".to_vec());
        }
        if let Some(version) = name
            .strip_prefix("kek-")
            .and_then(|n| n.strip_suffix(".key"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            return Some(kek_aad(version));
        }
        self.labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

/// The sealed key files (`*.key`) of `dir`.
fn key_files(dir: &Path) -> Result<Vec<String>, CryptoError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err("reading the key directory", dir, e))? {
        let entry = entry.map_err(|e| io_err("reading the key directory", dir, e))?;
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if let Some(name) = entry.file_name().to_str()
            && is_file
            && name.ends_with(".key")
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Moves the files of a committed change into place (each named in `COMMITTED`, and
/// either still waiting in `next-root/` or moved already) and removes `next-root/`.
fn finish(dir: &Path) -> Result<(), CryptoError> {
    let next = dir.join(NEXT_DIR);
    let committed = next.join(COMMITTED);
    let listed = fs::read_to_string(&committed).map_err(|e| io_err("reading", &committed, e))?;
    for name in listed.lines().filter(|n| !n.is_empty()) {
        let waiting = next.join(name);
        if waiting.exists() {
            fs::rename(&waiting, dir.join(name))
                .map_err(|e| io_err("putting a key in place", &dir.join(name), e))?;
        } else if !dir.join(name).exists() {
            return Err(CryptoError::KeyringIo {
                action: "finishing a root key change",
                reason: format!("{name} is neither in {} nor in place", next.display()),
            });
        }
    }
    sync_dir(dir)?;
    fs::remove_dir_all(&next).map_err(|e| io_err("clearing", &next, e))?;
    sync_dir(dir)
}

/// At start: finishes a committed root key change a crash cut short, and discards one that
/// was not committed.
pub(super) fn settle(dir: &Path) -> Result<(), CryptoError> {
    let next = dir.join(NEXT_DIR);
    if !next.is_dir() {
        return Ok(());
    }
    if next.join(COMMITTED).exists() {
        tracing::warn!(
            "finishing a root key change a crash cut short; the vault needs the new root key"
        );
        finish(dir)
    } else if abandoned(&next) {
        fs::remove_dir_all(&next).map_err(|e| io_err("clearing", &next, e))
    } else {
        // Another node sharing the directory may be changing the root key right now.
        Ok(())
    }
}

/// Whether an uncommitted `next-root/` is old enough to be a crash's, not another node's
/// change in progress.
fn abandoned(next: &Path) -> bool {
    fs::metadata(next)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|age| age > super::ABANDONED_AFTER)
}
