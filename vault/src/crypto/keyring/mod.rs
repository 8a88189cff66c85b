// Long: the key hierarchy in one place: root key, KEK files, data keys, rotation, and following other nodes.
//! The keyring: the operator's root key, the versioned key-encryption keys (KEKs) it
//! seals, and the per-resident data keys the KEKs wrap.
//!
//! KEKs live as small files in `key_dir` (`kek-00000001.key`, ...), each sealed under the
//! root key, never inside the sled database: deleting a file is a real destruction, where
//! deleting a sled value leaves old copies in sled's log. A rotation adds a KEK, the caller
//! rewraps every living data key under it, then [`Keyring::destroy_older_than`] wipes the
//! old files.

use super::aead::{self, SealedBytes};
use super::pseudonym::Pseudonymiser;
use super::{CryptoError, random_bytes};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use uuid::Uuid;
use zeroize::Zeroizing;

mod root;
mod root_change;
mod token;

pub use root::RootKey;
pub use token::TokenSettings;

const WRAP_FORMAT_V1: u8 = 1;
const PSEUDONYM_FILE: &str = "pseudonym.key";

/// A resident's data key. Seals and opens that resident's records.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Seals `plaintext` bound to `aad` (see [`super::record_aad`]).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<SealedBytes, CryptoError> {
        aead::seal(&self.0, aad, plaintext)
    }

    /// Opens a sealed record; an integrity error if it was tampered with or moved.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        aead::open(&self.0, aad, sealed, "record")
    }
}

/// A data key wrapped under a KEK: `[format][kek version: u32 BE][sealed data key]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedDataKey(pub Vec<u8>);

impl WrappedDataKey {
    /// The KEK version this key is wrapped under.
    pub fn kek_version(&self) -> Result<u32, CryptoError> {
        match self.0.as_slice() {
            [WRAP_FORMAT_V1, a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
            [version, ..] => Err(CryptoError::Format {
                what: "wrapped data key",
                version: *version,
            }),
            [] => Err(CryptoError::Integrity {
                what: "wrapped data key",
            }),
        }
    }
}

/// The loaded keyring.
pub struct Keyring {
    dir: PathBuf,
    /// The root key; replaced by [`Keyring::change_root`].
    root: RwLock<RootKey>,
    /// Held while key files are read or sealed under the root key, and for the whole of a
    /// root key change: no one reads a file half-way through being sealed again.
    key_files: Mutex<()>,
    /// The label (AAD) of each vault secret stored or loaded, by file name: what a root key
    /// change needs to open and seal each file again.
    labels: Mutex<BTreeMap<String, Vec<u8>>>,
    keks: RwLock<BTreeMap<u32, Zeroizing<[u8; 32]>>>,
    pseudonymiser: Pseudonymiser,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io_err(action: &'static str, path: &Path, e: std::io::Error) -> CryptoError {
    CryptoError::KeyringIo {
        action,
        reason: format!("{}: {e}", path.display()),
    }
}

fn kek_file(dir: &Path, version: u32) -> PathBuf {
    dir.join(format!("kek-{version:08}.key"))
}

fn kek_aad(version: u32) -> Vec<u8> {
    let mut aad = b"kluis/kek/v1\0".to_vec();
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn wrap_aad(resident: &Uuid, kek_version: u32) -> Vec<u8> {
    let mut aad = b"kluis/data-key/v1\0".to_vec();
    aad.extend_from_slice(resident.as_bytes());
    aad.extend_from_slice(&kek_version.to_be_bytes());
    aad
}

impl Keyring {
    /// Opens the keyring in `dir`. With `create`, an empty or absent directory gets a first
    /// KEK and a pseudonym key; without it, a missing keyring is an error, so that a vault
    /// whose keys went missing is never silently started with new, useless ones.
    pub fn open(dir: &Path, root: RootKey, create: bool) -> Result<Keyring, CryptoError> {
        if create {
            create_private_dir(dir)?;
        }
        if dir.is_dir() {
            root_change::settle(dir)?;
            sweep_leftovers(dir);
        }
        let mut keks = read_keks_in(dir, &root)?;
        let pseudonym_path = dir.join(PSEUDONYM_FILE);
        if keks.is_empty() && !pseudonym_path.exists() {
            if !create {
                return Err(CryptoError::KeyringIo {
                    action: "opening",
                    reason: format!("{} holds no keys", dir.display()),
                });
            }
            let mut first = Zeroizing::new([0u8; 32]);
            random_bytes(first.as_mut())?;
            write_sealed(&kek_file(dir, 1), &root, &kek_aad(1), first.as_ref())?;
            keks.insert(1, first);
            let mut pseudonym = Zeroizing::new([0u8; 32]);
            random_bytes(pseudonym.as_mut())?;
            write_sealed(
                &pseudonym_path,
                &root,
                b"kluis/pseudonym/v1",
                pseudonym.as_ref(),
            )?;
        }
        if keks.is_empty() {
            return Err(CryptoError::KeyringIo {
                action: "opening",
                reason: format!(
                    "{} has a pseudonym key but no key-encryption key",
                    dir.display()
                ),
            });
        }
        let sealed = fs::read(&pseudonym_path)
            .map_err(|e| io_err("reading the pseudonym key", &pseudonym_path, e))?;
        let pseudonym = root.open(b"kluis/pseudonym/v1", &sealed, "pseudonym key")?;
        let pseudonymiser = Pseudonymiser::new(&pseudonym)?;
        Ok(Keyring {
            dir: dir.to_owned(),
            root: RwLock::new(root),
            key_files: Mutex::new(()),
            labels: Mutex::default(),
            keks: RwLock::new(keks),
            pseudonymiser,
        })
    }

    /// Seals a small secret of the vault's own (such as a signing key) under the root key
    /// into `key_dir/name`. `label` binds it to its purpose.
    pub fn store_secret(&self, name: &str, label: &str, secret: &[u8]) -> Result<(), CryptoError> {
        let _sealing = self.lock_key_files();
        self.remember_label(name, label);
        write_sealed(&self.dir.join(name), &self.root(), label.as_bytes(), secret)
    }

    /// Like [`Keyring::store_secret`], but never over an existing file: false if `name`
    /// exists already (another node sharing the directory wrote it first).
    pub fn store_new_secret(
        &self,
        name: &str,
        label: &str,
        secret: &[u8],
    ) -> Result<bool, CryptoError> {
        let _sealing = self.lock_key_files();
        self.remember_label(name, label);
        write_sealed_new(&self.dir.join(name), &self.root(), label.as_bytes(), secret)
    }

    /// The root key now.
    fn root(&self) -> RootKey {
        self.root.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn lock_key_files(&self) -> std::sync::MutexGuard<'_, ()> {
        self.key_files.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember_label(&self, name: &str, label: &str) {
        self.labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), label.as_bytes().to_vec());
    }

    /// Opens a secret stored by [`Keyring::store_secret`]; `None` if it does not exist.
    pub fn load_secret(
        &self,
        name: &str,
        label: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, CryptoError> {
        let _reading = self.lock_key_files();
        self.remember_label(name, label);
        let path = self.dir.join(name);
        match fs::read(&path) {
            Ok(sealed) => self
                .root()
                .open(label.as_bytes(), &sealed, "vault secret")
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading a vault secret", &path, e)),
        }
    }

    /// Reads the KEKs in the key directory again: those another node sharing the directory
    /// added, without those it destroyed (so that this node forgets them too). Keeps the
    /// KEKs in memory if the directory holds none (a mount gone missing is not a rotation).
    pub fn refresh(&self) -> Result<(), CryptoError> {
        let _reading = self.lock_key_files();
        sweep_leftovers(&self.dir);
        let found = read_keks_in(&self.dir, &self.root())?;
        if found.is_empty() {
            return Err(CryptoError::KeyringIo {
                action: "refreshing",
                reason: format!("{} holds no key-encryption key", self.dir.display()),
            });
        }
        *self.keks.write().unwrap_or_else(|p| p.into_inner()) = found;
        Ok(())
    }

    /// The keyed hash used for identities, national identifiers and pairwise references.
    pub fn pseudonymiser(&self) -> &Pseudonymiser {
        &self.pseudonymiser
    }

    fn read_keks(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Zeroizing<[u8; 32]>>> {
        self.keks
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The version of the KEK that wraps new data keys.
    pub fn current_kek_version(&self) -> u32 {
        self.read_keks().keys().next_back().copied().unwrap_or(0)
    }

    /// When the current KEK's file was written (its modification time), if the file
    /// system says.
    pub fn current_kek_written(&self) -> Option<std::time::SystemTime> {
        fs::metadata(kek_file(&self.dir, self.current_kek_version()))
            .and_then(|m| m.modified())
            .ok()
    }

    /// The KEK versions that exist now, oldest first.
    pub fn kek_versions(&self) -> Vec<u32> {
        self.read_keks().keys().copied().collect()
    }

    /// A fresh random data key for `resident`, and its wrapping under the current KEK.
    pub fn new_data_key(&self, resident: &Uuid) -> Result<(DataKey, WrappedDataKey), CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(key.as_mut())?;
        let wrapped = self.wrap(resident, &key)?;
        Ok((DataKey(key), wrapped))
    }

    fn wrap(
        &self,
        resident: &Uuid,
        key: &Zeroizing<[u8; 32]>,
    ) -> Result<WrappedDataKey, CryptoError> {
        // Never wrap under a KEK that another node sharing the key directory has replaced
        // (a newer one exists) or destroyed.
        let current = self.current_kek_version();
        if !kek_file(&self.dir, current).exists() || kek_file(&self.dir, current + 1).exists() {
            self.refresh()?;
        }
        let keks = self.read_keks();
        let (&version, kek) = keks
            .iter()
            .next_back()
            .ok_or(CryptoError::MissingKey { version: 0 })?;
        let sealed = aead::seal(kek, &wrap_aad(resident, version), key.as_ref())?;
        let mut out = Vec::with_capacity(5 + sealed.0.len());
        out.push(WRAP_FORMAT_V1);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&sealed.0);
        Ok(WrappedDataKey(out))
    }

    /// Unwraps `resident`'s data key. Fails with an integrity error if the wrapped key
    /// belongs to another resident, and with `MissingKey` once its KEK was destroyed.
    pub fn unwrap(
        &self,
        resident: &Uuid,
        wrapped: &WrappedDataKey,
    ) -> Result<DataKey, CryptoError> {
        let version = wrapped.kek_version()?;
        // A newer KEK than this node knows: another node sharing the key directory rotated.
        if version > self.current_kek_version() {
            self.refresh()?;
        }
        let keks = self.read_keks();
        let kek = keks
            .get(&version)
            .ok_or(CryptoError::MissingKey { version })?;
        let opened = aead::open(
            kek,
            &wrap_aad(resident, version),
            &wrapped.0[5..],
            "wrapped data key",
        )?;
        let key: [u8; 32] = opened
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Integrity {
                what: "wrapped data key",
            })?;
        Ok(DataKey(Zeroizing::new(key)))
    }

    /// Rewraps `resident`'s data key under the current KEK (a step of rotation).
    pub fn rewrap(
        &self,
        resident: &Uuid,
        wrapped: &WrappedDataKey,
    ) -> Result<WrappedDataKey, CryptoError> {
        let key = self.unwrap(resident, wrapped)?;
        self.wrap(resident, &key.0)
    }

    /// Adds a new KEK and makes it current; returns its version. Durable before it returns.
    /// If another node sharing the key directory added that version at the same moment,
    /// its KEK becomes this node's current one too.
    pub fn add_kek(&self) -> Result<u32, CryptoError> {
        self.refresh()?;
        let sealing = self.lock_key_files();
        let mut keks = self.keks.write().unwrap_or_else(|p| p.into_inner());
        let version = keks.keys().next_back().copied().unwrap_or(0) + 1;
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(key.as_mut())?;
        if write_sealed_new(
            &kek_file(&self.dir, version),
            &self.root(),
            &kek_aad(version),
            key.as_ref(),
        )? {
            keks.insert(version, key);
            return Ok(version);
        }
        drop(keks);
        drop(sealing);
        self.refresh()?;
        Ok(version)
    }

    /// Destroys every KEK older than `version`: the file is overwritten, synced and removed,
    /// and the key dropped from memory. Data keys still wrapped under them become unreadable.
    pub fn destroy_older_than(&self, version: u32) -> Result<Vec<u32>, CryptoError> {
        let mut keks = self.keks.write().unwrap_or_else(|p| p.into_inner());
        let old: Vec<u32> = keks.range(..version).map(|(v, _)| *v).collect();
        for v in &old {
            // First out of the keyring in one atomic step (a crash leaves either the KEK or
            // a grave that the next sweep wipes), then overwritten and removed.
            let path = kek_file(&self.dir, *v);
            let grave = path.with_extension(format!("{GRAVE}{}", uuid::Uuid::new_v4().simple()));
            match fs::rename(&path, &grave) {
                Ok(()) => {
                    sync_dir(&self.dir)?;
                    wipe(&grave)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("destroying a KEK", &path, e)),
            }
            keks.remove(v);
        }
        sync_dir(&self.dir)?;
        Ok(old)
    }
}

/// The extension of a KEK file on its way out, and of a key being written.
const GRAVE: &str = "destroyed-";
const TEMP: &str = "tmp-";
/// A temporary file older than this was left by a crash, not by a node still writing it.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Overwrites a file, syncs it and removes it.
fn wipe(path: &Path) -> Result<(), CryptoError> {
    if let Ok(mut file) = fs::OpenOptions::new().write(true).open(path) {
        let len = file.metadata().map_or(0, |m| m.len()).max(128);
        let _ = file
            .write_all(&vec![0u8; usize::try_from(len).unwrap_or(128)])
            .and_then(|_| file.sync_all());
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("destroying a KEK", path, e)),
    }
}

/// Clears what a crash left in the key directory: KEKs half-way through destruction are
/// wiped; sealed keys written to a temporary file but never put in place are removed (not
/// overwritten: a crash between linking a KEK into place and removing its temporary name
/// leaves two names for the live KEK). A leftover that cannot be cleared is logged: it
/// never stops the vault.
fn sweep_leftovers(dir: &Path) {
    if let Err(e) = try_sweep_leftovers(dir) {
        tracing::warn!(error = %e, "leftovers in the key directory could not be cleared");
    }
}

fn try_sweep_leftovers(dir: &Path) -> Result<(), CryptoError> {
    let entries = fs::read_dir(dir).map_err(|e| io_err("reading the key directory", dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((_, extension)) = name.to_str().and_then(|n| n.rsplit_once('.')) else {
            continue;
        };
        let abandoned = extension.starts_with(TEMP)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > ABANDONED_AFTER);
        if extension.starts_with(GRAVE) {
            wipe(&entry.path())?;
        } else if abandoned {
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("removing a leftover key", &entry.path(), e)),
            }
        }
    }
    Ok(())
}

/// Every KEK in `dir`, opened with `root`, by version.
fn read_keks_in(
    dir: &Path,
    root: &RootKey,
) -> Result<BTreeMap<u32, Zeroizing<[u8; 32]>>, CryptoError> {
    let mut keks = BTreeMap::new();
    let entries = fs::read_dir(dir).map_err(|e| io_err("reading the key directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err("reading the key directory", dir, e))?;
        let name = entry.file_name();
        let Some(version) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kek-"))
            .and_then(|n| n.strip_suffix(".key"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let sealed = match fs::read(entry.path()) {
            Ok(sealed) => sealed,
            // Destroyed by another node between listing and reading.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("reading a KEK", &entry.path(), e)),
        };
        let opened = root.open(&kek_aad(version), &sealed, "key-encryption key")?;
        let key: [u8; 32] = opened
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Integrity {
                what: "key-encryption key",
            })?;
        keks.insert(version, Zeroizing::new(key));
    }
    Ok(keks)
}

fn create_private_dir(dir: &Path) -> Result<(), CryptoError> {
    fs::create_dir_all(dir).map_err(|e| io_err("creating the key directory", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err("securing the key directory", dir, e))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), CryptoError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("syncing the key directory", dir, e))
}

/// Seals `secret` under the root key and writes it atomically (temp file, fsync, rename,
/// fsync of the directory), readable by the owner only.
fn write_sealed(path: &Path, root: &RootKey, aad: &[u8], secret: &[u8]) -> Result<(), CryptoError> {
    let tmp = write_sealed_temp(path, root, aad, secret)?;
    fs::rename(&tmp, path).map_err(|e| io_err("writing a key", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Like [`write_sealed`], but only if `path` does not exist yet (false if it does): two
/// nodes sharing the key directory that rotate at once end with one KEK of a version, not
/// the second overwriting the first.
fn write_sealed_new(
    path: &Path,
    root: &RootKey,
    aad: &[u8],
    secret: &[u8],
) -> Result<bool, CryptoError> {
    let tmp = write_sealed_temp(path, root, aad, secret)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_err("writing a key", path, e)),
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(true)
}

/// The sealed secret in a synced temporary file next to `path` (a random name, so nodes
/// sharing the directory never write into each other's).
fn write_sealed_temp(
    path: &Path,
    root: &RootKey,
    aad: &[u8],
    secret: &[u8],
) -> Result<PathBuf, CryptoError> {
    let sealed = root.seal(aad, secret)?;
    let tmp = path.with_extension(format!("{TEMP}{}", uuid::Uuid::new_v4().simple()));
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .map_err(|e| io_err("writing a key", &tmp, e))?;
        file.write_all(&sealed.0)
            .and_then(|_| file.sync_all())
            .map_err(|e| io_err("writing a key", &tmp, e))?;
    }
    Ok(tmp)
}

#[cfg(test)]
mod tests;
