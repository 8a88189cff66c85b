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
        let _changing = self.lock_root_change();
        let old = self.root();
        let next = self.dir.join(NEXT_DIR);
        if next.exists() {
            fs::remove_dir_all(&next).map_err(|e| io_err("clearing", &next, e))?;
        }
        create_private_dir(&next)?;
        let staged = self.stage(&old, &new, &next);
        if staged.is_err() {
            let _ = fs::remove_dir_all(&next);
        }
        let files = staged?;
        let committed = next.join(COMMITTED);
        fs::File::create(&committed)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err("committing the root key change", &committed, e))?;
        sync_dir(&next)?;
        *self.root.write().unwrap_or_else(|p| p.into_inner()) = new;
        finish(&self.dir)?;
        Ok(files)
    }

    /// Step (1): every key file sealed again under `new` into `next`.
    fn stage(&self, old: &RootKey, new: &RootKey, next: &Path) -> Result<usize, CryptoError> {
        let mut files = 0;
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
            files += 1;
        }
        Ok(files)
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

/// Moves the files of a committed change into place and removes `next-root/`.
fn finish(dir: &Path) -> Result<(), CryptoError> {
    let next = dir.join(NEXT_DIR);
    for name in key_files(&next)? {
        fs::rename(next.join(&name), dir.join(&name))
            .map_err(|e| io_err("putting a key in place", &dir.join(&name), e))?;
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
    } else {
        fs::remove_dir_all(&next).map_err(|e| io_err("clearing", &next, e))
    }
}
