//! The backup's manifest (`manifest.json`): what a backup holds, file by file with sizes
//! and SHA-256 hashes, the rows per table and the audit checkpoint at the time; and the
//! check `kluis restore` runs before it copies anything back.

use super::BackupError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "manifest.json";
/// The format this build writes and reads.
pub const FORMAT: &str = "kluis-backup/1";

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// When the snapshot was taken.
    pub created: DateTime<Utc>,
    /// The Kluis version that took it.
    pub kluis_version: String,
    /// The store it copies: `sled` (a sled database under `data/`) or `postgres` (one
    /// `COPY` file per table under `data/`).
    pub store: String,
    /// The audit log as the snapshot holds it.
    pub audit: AuditAtBackup,
    /// Rows per table (sled tree) in the snapshot.
    pub rows: BTreeMap<String, u64>,
    /// Every file of the backup but the manifest, under `data/` or `keys/`.
    pub files: Vec<FileEntry>,
}

/// The audit log in a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditAtBackup {
    /// Entries in the log.
    pub size: u64,
    /// The Merkle root of those entries, hex.
    pub root: String,
    /// The vault's signed checkpoint of exactly those entries (a JWS); a restore saves it
    /// as the vault's checkpoint, which the restored vault checks its log against at start.
    pub checkpoint: String,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its path inside the backup, with `/` (`data/db`, `keys/kek-00000001.key`).
    pub path: String,
    /// Its length.
    pub bytes: u64,
    /// SHA-256 of its contents, hex.
    pub sha256: String,
}

impl Manifest {
    /// All bytes the backup's files hold.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// Lists the files under `dir/part` (recursively) with their sizes and hashes.
pub(super) fn describe_files(dir: &Path, part: &str) -> Result<Vec<FileEntry>, BackupError> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::from(part)];
    while let Some(relative) = pending.pop() {
        let entries = std::fs::read_dir(dir.join(&relative))
            .map_err(|e| BackupError::io("listing", &dir.join(&relative), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BackupError::io("listing", &dir.join(&relative), e))?;
            let inner = relative.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(|e| BackupError::io("reading", &entry.path(), e))?;
            if kind.is_dir() {
                pending.push(inner);
            } else {
                let (bytes, sha256) = hash_file(&entry.path())?;
                files.push(FileEntry {
                    path: slash_path(&inner),
                    bytes,
                    sha256,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Reads the manifest in `from` and checks every file against it: none missing, none
/// shorter, longer or altered, none the manifest does not name. The first problem found
/// is the error, naming the file.
pub fn check(from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(MANIFEST);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::Damaged(format!(
                "{} holds no {MANIFEST}: it is not a Kluis backup, or the backup did not finish",
                from.display()
            )));
        }
        Err(e) => return Err(BackupError::io("reading", &path, e)),
    };
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
        BackupError::Damaged(format!(
            "{} is not a Kluis backup manifest: {e}",
            path.display()
        ))
    })?;
    if manifest.format != FORMAT {
        return Err(BackupError::Damaged(format!(
            "{} has format {:?}; this build reads {FORMAT}",
            path.display(),
            manifest.format
        )));
    }
    let mut named = BTreeSet::new();
    for file in &manifest.files {
        let inside = safe_relative(&file.path).ok_or_else(|| {
            BackupError::Damaged(format!(
                "the manifest names {:?}, which is not a path inside the backup",
                file.path
            ))
        })?;
        if !named.insert(file.path.clone()) {
            return Err(BackupError::Damaged(format!(
                "the manifest names {} twice",
                file.path
            )));
        }
        let on_disk = from.join(&inside);
        if let Some(link) = symlink_on_the_way(from, &inside) {
            return Err(BackupError::Damaged(format!(
                "{link} is a symbolic link; a backup holds plain files and directories only"
            )));
        }
        let length = match std::fs::symlink_metadata(&on_disk) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) | Err(_) => {
                return Err(BackupError::Damaged(format!(
                    "{} is missing from the backup",
                    file.path
                )));
            }
        };
        if length != file.bytes {
            let how = if length < file.bytes {
                "truncated"
            } else {
                "longer than it was"
            };
            return Err(BackupError::Damaged(format!(
                "{} is {how}: {length} bytes, the manifest says {}",
                file.path, file.bytes
            )));
        }
        if hash_file(&on_disk)?.1 != file.sha256 {
            return Err(BackupError::Damaged(format!(
                "{} was altered: its SHA-256 differs from the manifest's",
                file.path
            )));
        }
    }
    for part in ["data", "keys"] {
        if !manifest
            .files
            .iter()
            .any(|f| f.path.starts_with(&format!("{part}/")))
        {
            return Err(BackupError::Damaged(format!(
                "the manifest names no file under {part}/: the backup is incomplete"
            )));
        }
        if from.join(part).is_dir() {
            for extra in describe_names(from, part)? {
                if !named.contains(&extra) {
                    return Err(BackupError::Damaged(format!(
                        "{extra} is in the backup but not in its manifest"
                    )));
                }
            }
        }
    }
    Ok(manifest)
}

/// The paths (with `/`) of the files under `dir/part`, without hashing them.
fn describe_names(dir: &Path, part: &str) -> Result<Vec<String>, BackupError> {
    let mut names = Vec::new();
    let mut pending = vec![PathBuf::from(part)];
    while let Some(relative) = pending.pop() {
        let entries = std::fs::read_dir(dir.join(&relative))
            .map_err(|e| BackupError::io("listing", &dir.join(&relative), e))?;
        for entry in entries.flatten() {
            let inner = relative.join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(inner);
            } else {
                names.push(slash_path(&inner));
            }
        }
    }
    Ok(names)
}

/// The first part of `inside` (a checked relative path) that is a symbolic link in `from`.
fn symlink_on_the_way(from: &Path, inside: &Path) -> Option<String> {
    let mut at = from.to_path_buf();
    let mut shown = Vec::new();
    for part in inside.components() {
        at.push(part);
        shown.push(part.as_os_str().to_string_lossy().into_owned());
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Some(shown.join("/"));
        }
    }
    None
}

/// Copies `from` to `to`, hashing what it copies: an error if the bytes are not those the
/// manifest names (the file changed after it was checked).
pub(super) fn copy_checked(from: &Path, to: &Path, file: &FileEntry) -> Result<(), BackupError> {
    let mut source = std::fs::File::open(from).map_err(|e| BackupError::io("reading", from, e))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut target = options
        .open(to)
        .map_err(|e| BackupError::io("writing", to, e))?;
    let (length, sha256) = read_hashing(&mut source, from, Some((&mut target, to)))?;
    target
        .sync_all()
        .map_err(|e| BackupError::io("writing", to, e))?;
    if length != file.bytes || sha256 != file.sha256 {
        return Err(BackupError::Damaged(format!(
            "{} changed after it was checked",
            file.path
        )));
    }
    Ok(())
}

/// `path` as a relative path under `data/` or `keys/` with no `..`, or `None`.
pub(super) fn safe_relative(path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let mut parts = relative.components();
    let first = parts.next()?;
    let in_part = matches!(first, Component::Normal(p) if p == "data" || p == "keys");
    let rest_normal = parts.clone().count() > 0 && parts.all(|c| matches!(c, Component::Normal(_)));
    // Only the plain form: no `.`, no doubled or trailing `/`.
    let plain = slash_path(relative) == path;
    (in_part && rest_normal && plain).then(|| relative.to_owned())
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The length and SHA-256 (hex) of the file at `path`, read in chunks.
fn hash_file(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = std::fs::File::open(path).map_err(|e| BackupError::io("reading", path, e))?;
    read_hashing(&mut file, path, None)
}

/// Reads `source` (at `path`) to its end in chunks, writing each to `copy` if given;
/// returns the length and SHA-256 (hex) of what it read.
fn read_hashing(
    source: &mut std::fs::File,
    path: &Path,
    mut copy: Option<(&mut std::fs::File, &Path)>,
) -> Result<(u64, String), BackupError> {
    use std::io::Write;
    let mut digest = crate::crypto::Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut length = 0u64;
    loop {
        let read = source
            .read(&mut buffer)
            .map_err(|e| BackupError::io("reading", path, e))?;
        if read == 0 {
            break;
        }
        length += read as u64;
        digest.update(&buffer[..read]);
        if let Some((target, to)) = copy.as_mut() {
            target
                .write_all(&buffer[..read])
                .map_err(|e| BackupError::io("writing", to, e))?;
        }
    }
    Ok((length, hex(&digest.finish())))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_inside_data_or_keys_are_safe() {
        assert!(safe_relative("data/db").is_some());
        assert!(safe_relative("keys/kek-00000001.key").is_some());
        assert!(safe_relative("data/blobs/7").is_some());
        for bad in [
            "data",
            "/etc/passwd",
            "data/../../etc/passwd",
            "other/db",
            "keys/./x",
            "",
            "../keys/x",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad} was accepted");
        }
    }
}
