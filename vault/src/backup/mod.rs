//! Backup and restore of a vault: a consistent snapshot of a running vault's database and
//! keys with a manifest ([`manifest`]), and the checked copy back that `kluis restore`
//! starts from.
//!
//! A backup directory holds `data/` (a new sled database copied while every write waits,
//! so no write is half in it; or, for PostgreSQL, one `COPY` file per table taken in one
//! REPEATABLE READ transaction), `keys/` (the sealed KEKs and vault secrets of `key_dir`,
//! copied while no key rotation runs; never the root key) and `manifest.json`, written
//! last: a backup without it did not finish. The manifest names every file with its size
//! and SHA-256, the rows per table, and the audit log's size, root and signed checkpoint
//! at the snapshot.

pub mod manifest;

use crate::audit::Audit;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::clock::Clock;
use crate::residents::Residents;
use crate::store::{Snapshot, StoreError};
use manifest::{AuditAtBackup, FORMAT, MANIFEST, Manifest};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What can go wrong in a backup or a restore. Messages name files and counts, never
/// contents.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backup is damaged or incomplete: the message names what is wrong.
    #[error("{0}")]
    Damaged(String),
    /// The place to write to is not usable (not absolute, not empty).
    #[error("{0}")]
    Target(String),
    /// A file could not be read or written.
    #[error("{action} {path}: {reason}")]
    Io {
        action: &'static str,
        path: String,
        reason: String,
    },
}

impl BackupError {
    pub(crate) fn io(action: &'static str, path: &Path, e: std::io::Error) -> BackupError {
        BackupError::Io {
            action,
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

impl From<BackupError> for crate::Error {
    fn from(e: BackupError) -> crate::Error {
        match e {
            BackupError::Damaged(why) | BackupError::Target(why) => {
                crate::Error::InvalidParameter(why)
            }
            io @ BackupError::Io { .. } => crate::Error::Internal(io.to_string()),
        }
    }
}

/// A backup just written.
#[derive(Debug)]
pub struct Taken {
    /// Its manifest.
    pub manifest: Manifest,
    /// How long writes waited while the database was copied.
    pub writes_waited: std::time::Duration,
}

/// Takes backups of this vault.
#[derive(Clone)]
pub struct Backups {
    store: Arc<dyn Snapshot>,
    audit: Arc<Audit>,
    residents: Residents,
    key_dir: PathBuf,
    /// `sled` or `postgres`, for the manifest.
    store_kind: &'static str,
    clock: Clock,
    /// Held by the backup that runs (one at a time).
    running: Arc<tokio::sync::Mutex<()>>,
}

impl Backups {
    /// Backups of `store` and the keys in `key_dir`.
    pub fn new(
        store: Arc<dyn Snapshot>,
        audit: Arc<Audit>,
        residents: Residents,
        key_dir: PathBuf,
        store_kind: &'static str,
        clock: Clock,
    ) -> Backups {
        Backups {
            store,
            audit,
            residents,
            key_dir,
            store_kind,
            clock,
            running: Arc::default(),
        }
    }

    /// Writes a backup into `to` (an absolute path, absent or empty). Reads go on; with
    /// sled, writes wait while the database is copied. On failure nothing is left in `to`.
    pub async fn take(&self, to: &Path) -> crate::Result<Taken> {
        let one_at_a_time = self.running.clone().try_lock_owned().map_err(|_| {
            crate::Error::InvalidParameter("a backup is running already; wait for it to end".into())
        })?;
        prepare_target(to)?;
        // In a task of its own: a caller that goes away does not leave half a backup.
        let (backups, to) = (self.clone(), to.to_owned());
        tokio::spawn(async move {
            let _one_at_a_time = one_at_a_time;
            let taken = backups.take_into(&to).await;
            if taken.is_err() {
                clear_dir(&to);
            }
            taken
        })
        .await
        .map_err(|e| crate::Error::Internal(format!("the backup stopped: {e}")))?
    }

    async fn take_into(&self, to: &Path) -> crate::Result<Taken> {
        // No rotation adds or destroys a KEK while the keys are copied.
        let _no_rotation = self.residents.hold_rotations().await;
        let created = self.clock.now();
        create_private_dir(&to.join("data"))?;
        let copying = std::time::Instant::now();
        let rows = self
            .store
            .snapshot_into(&to.join("data"))
            .await
            .map_err(|e| match e {
                StoreError::Incompatible(why) => crate::Error::InvalidParameter(why),
                other => crate::Error::Store(other),
            })?;
        let writes_waited = copying.elapsed();
        let size = rows.get("audit_entries").copied().unwrap_or(0);
        let root = self.audit.root_at(size).await?;
        let checkpoint = self.audit.checkpoint_at(size).await?;
        copy_keys(&self.key_dir, &to.join("keys"))?;
        let mut files = manifest::describe_files(to, "data")?;
        files.extend(manifest::describe_files(to, "keys")?);
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            created,
            kluis_version: env!("CARGO_PKG_VERSION").to_owned(),
            store: self.store_kind.to_owned(),
            audit: AuditAtBackup {
                size,
                root: manifest::hex(&root),
                checkpoint,
            },
            rows,
            files,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| crate::Error::Internal(format!("encoding the manifest: {e}")))?;
        write_synced(&to.join(MANIFEST), &json)?;
        let mut entry = Entry::new(Action::Backup, Outcome::Done, Actor::Operator);
        entry
            .details
            .insert("audit_entries".into(), size.to_string());
        entry
            .details
            .insert("files".into(), manifest.files.len().to_string());
        self.audit
            .record(&crate::audit::Context::new(&self.clock), entry)
            .await?;
        tracing::info!(
            files = manifest.files.len(),
            bytes = manifest.total_bytes(),
            audit_entries = size,
            writes_waited_ms = writes_waited.as_millis() as u64,
            "backup written"
        );
        Ok(Taken {
            manifest,
            writes_waited,
        })
    }
}

/// Copies a checked backup's files into place: `keys/` into `key_dir`, and for a sled
/// backup `data/` into `data_dir` (each absent or empty; created owner-only). A
/// PostgreSQL backup's `data/` is loaded into the database instead
/// (`PostgresStore::load_snapshot`). `progress` hears each file.
pub fn restore_files(
    from: &Path,
    manifest: &Manifest,
    data_dir: Option<&Path>,
    key_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BackupError> {
    if let Some(data_dir) = data_dir {
        prepare_target(data_dir)?;
    }
    prepare_target(key_dir)?;
    let copied = copy_into_place(from, manifest, data_dir, key_dir, progress);
    if copied.is_err() {
        // Both were empty before: what is in them now is this restore's.
        for dir in data_dir.into_iter().chain([key_dir]) {
            clear_dir(dir);
        }
    }
    copied
}

fn copy_into_place(
    from: &Path,
    manifest: &Manifest,
    data_dir: Option<&Path>,
    key_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(), BackupError> {
    for file in &manifest.files {
        let inside = manifest::safe_relative(&file.path)
            .ok_or_else(|| BackupError::Damaged(format!("unsafe path {:?}", file.path)))?;
        let mut parts = inside.components();
        let base = match (parts.next().map(|c| c.as_os_str()), data_dir) {
            (Some(p), Some(data_dir)) if p == "data" => data_dir,
            (Some(p), None) if p == "data" => continue,
            _ => key_dir,
        };
        let target = base.join(parts.as_path());
        if let Some(parent) = target.parent() {
            create_private_dir(parent)?;
        }
        manifest::copy_checked(&from.join(&inside), &target, file)?;
        progress(&file.path);
    }
    for dir in data_dir.into_iter().chain([key_dir]) {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Refuses a relative path or a non-empty directory; creates an absent one owner-only.
fn prepare_target(dir: &Path) -> Result<(), BackupError> {
    if !dir.is_absolute() {
        return Err(BackupError::Target(format!(
            "{} is not an absolute path; give the whole path, such as /var/backups/kluis/2026-12-02",
            dir.display()
        )));
    }
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(false) => Err(BackupError::Target(format!(
            "{} is not empty; choose a new directory",
            dir.display()
        ))),
        Ok(true) => create_private_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_private_dir(dir),
        Err(e) => Err(BackupError::io("opening", dir, e)),
    }
}

/// Removes what a failed backup wrote into `dir` (which was empty before).
fn clear_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Copies the sealed keys (`*.key`) of `key_dir` into `to`. The saved audit checkpoint
/// stays behind: the manifest carries the backup's own.
fn copy_keys(key_dir: &Path, to: &Path) -> Result<(), BackupError> {
    create_private_dir(to)?;
    let entries = std::fs::read_dir(key_dir).map_err(|e| BackupError::io("listing", key_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| BackupError::io("listing", key_dir, e))?;
        let name = entry.file_name();
        let is_key = name.to_str().is_some_and(|n| n.ends_with(".key"))
            && entry.file_type().is_ok_and(|t| t.is_file());
        if is_key {
            std::fs::copy(entry.path(), to.join(&name))
                .map_err(|e| BackupError::io("copying", &entry.path(), e))?;
        }
    }
    sync_dir(to)
}

fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::create_dir_all(dir).map_err(|e| BackupError::io("creating", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| BackupError::io("securing", dir, e))?;
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(|e| BackupError::io("writing", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| BackupError::io("writing", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BackupError::io("syncing", dir, e))
}
