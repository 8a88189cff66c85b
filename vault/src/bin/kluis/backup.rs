//! `kluis backup --to DIR`: the running vault writes a consistent backup (through its
//! admin socket). `kluis restore --from DIR --data DIR`: checks a backup against its
//! manifest, puts it back (sled files into a new data directory, or a PostgreSQL copy into
//! an empty database), opens the result as a vault and checks it, and says so in one line.

use crate::{Failure, fail, load_config};
use kluis::audit::entry::{Action, Actor, Entry, Outcome};
use kluis::backup::manifest::{self, Manifest};
use kluis::config::{PostgresSettings, StoreKind};
use kluis::store::Store;
use kluis::store::postgres::PostgresStore;
use kluis::store::sled::SledStore;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `kluis backup --to DIR`.
pub async fn backup(socket: &Path, to: &Path) -> Result<(), Failure> {
    let to = std::path::absolute(to).map_err(|e| fail(2, format!("{}: {e}", to.display())))?;
    eprintln!(
        "backing up into {}; with sled, everything that writes (department reads too) waits while the database is copied",
        to.display()
    );
    let done = crate::admin::backup(socket, &to).await?;
    println!(
        "backed up into {}: {} files, {} bytes, {} audit entries; the copy took {} ms (with sled, writes waited that long); the manifest holds each file's SHA-256 and the signed checkpoint",
        to.display(),
        done["files"],
        done["bytes"],
        done["audit_entries"],
        done["writes_waited_ms"]
    );
    Ok(())
}

/// The vault a restore writes: a `kluis dev --data DIR` directory that holds the vault's
/// `root.key` (with `store_url`, its database is that PostgreSQL one), or the keys,
/// checkpoint and store of `--config` with the sled database in `data`.
fn target(
    data: &Path,
    config: Option<&Path>,
    store_url: Option<&str>,
) -> Result<kluis::Config, Failure> {
    let data =
        std::path::absolute(data).map_err(|e| fail(2, format!("{}: {e}", data.display())))?;
    if let Some(path) = config {
        let mut config = load_config(path)?;
        config.data_dir = data;
        return Ok(config);
    }
    let root_file = data.join("root.key");
    let encoded = std::fs::read_to_string(&root_file).map_err(|_| {
        fail(
            2,
            format!(
                "{} holds no root.key: copy the vault's root key there first (a backup never holds it), or pass --config",
                data.display()
            ),
        )
    })?;
    let root = kluis::crypto::RootKey::from_encoded(&encoded)
        .map_err(|e| fail(1, format!("{}: {e}", root_file.display())))?;
    let listen = "127.0.0.1:0".parse().map_err(|e| fail(1, e))?;
    let mut config = kluis::Config::development(&data, listen, root);
    if let Some(url) = store_url {
        config.store = StoreKind::Postgres(PostgresSettings {
            url: url.to_owned(),
            pool_size: 8,
            ca_file: None,
        });
    }
    Ok(config)
}

/// `kluis restore --from DIR --data DIR [--config FILE | --store-url URL]`.
pub async fn restore(
    from: &Path,
    data: &Path,
    config: Option<&Path>,
    store_url: Option<&str>,
) -> Result<(), Failure> {
    let manifest = manifest::check(from)
        .map_err(|e| fail(1, format!("refusing to restore {}: {e}", from.display())))?;
    let mut config = target(data, config, store_url)?;
    let kind = match &config.store {
        StoreKind::Sled => "sled",
        StoreKind::Postgres(_) => "postgres",
    };
    if manifest.store != kind {
        return Err(fail(
            1,
            format!(
                "refusing to restore {}: it is a backup of a {} vault, and the target keeps its data in {kind}; restore it as {0}, then `kluis migrate` if you are moving",
                from.display(),
                manifest.store
            ),
        ));
    }
    if config.audit_checkpoint.exists() {
        return Err(fail(
            1,
            format!(
                "{} exists: restore into a vault with no keys and no checkpoint yet",
                config.audit_checkpoint.display()
            ),
        ));
    }
    let total = manifest.files.len();
    let mut copied = 0;
    let mut progress = |path: &str| {
        copied += 1;
        eprint!("\rcopying file {copied} of {total}: {path}");
        let _ = std::io::stderr().flush();
    };
    let sled_data = matches!(config.store, StoreKind::Sled).then_some(config.data_dir.as_path());
    kluis::backup::restore_files(from, &manifest, sled_data, &config.key_dir, &mut progress)
        .map_err(|e| fail(1, format!("refusing to restore {}: {e}", from.display())))?;
    eprintln!();
    let (checked, into) = match check_restored(&mut config, from, &manifest).await {
        Ok(checked) => checked,
        Err(failure) => {
            undo(&config);
            return Err(failure);
        }
    };
    println!(
        "restored the backup of {} into {into}: {} files, {} vaults, {} record versions, {} audit entries; every file matched the manifest, every record opens, the audit log verifies against the backup's checkpoint",
        manifest.created.format("%Y-%m-%d %H:%M:%S UTC"),
        total,
        checked.vaults,
        checked.records,
        manifest.audit.size
    );
    Ok(())
}

/// Where the store is, for the closing line.
fn describe(config: &kluis::Config) -> String {
    match &config.store {
        StoreKind::Sled => config.data_dir.display().to_string(),
        StoreKind::Postgres(settings) => kluis::store::postgres::describe(&settings.url),
    }
}

/// Puts the database back (sled: already copied; PostgreSQL: loaded into the empty
/// database), saves the backup's checkpoint as the vault's, opens the restored vault
/// (which checks its log against that checkpoint, rehashing every entry), and compares it
/// with the manifest: rows per table, the log's size and root, every record opening.
async fn check_restored(
    config: &mut kluis::Config,
    from: &Path,
    manifest: &Manifest,
) -> Result<(kluis::residents::Opened, String), Failure> {
    write_private(
        &config.audit_checkpoint,
        manifest.audit.checkpoint.as_bytes(),
    )?;
    let into = describe(config);
    let (store, rows, postgres): (Arc<dyn Store>, BTreeMap<String, u64>, Option<PostgresStore>) =
        match &config.store {
            StoreKind::Sled => {
                let sled = SledStore::open(&config.data_dir, config.cache_bytes)
                    .map_err(|e| fail(1, format!("the restored database does not open: {e}")))?;
                let rows = sled.row_counts().map_err(|e| fail(1, e))?;
                (Arc::new(sled), rows, None)
            }
            StoreKind::Postgres(settings) => {
                let postgres = PostgresStore::open_unfinished_import(settings)
                    .await
                    .map_err(|e| fail(1, format!("cannot open {into}: {e}")))?;
                let mut loading = |table: &str, rows: u64| {
                    eprintln!("loaded {table}: {rows} rows");
                };
                postgres
                    .load_snapshot(&from.join("data"), &mut loading)
                    .await
                    .map_err(|e| fail(1, format!("loading into {into}: {e}")))?;
                let rows = postgres.row_counts().await.map_err(|e| fail(1, e))?;
                (Arc::new(postgres.clone()), rows, Some(postgres))
            }
        };
    if rows != manifest.rows {
        let differ: Vec<String> = manifest
            .rows
            .iter()
            .filter(|(table, n)| rows.get(*table) != Some(n))
            .map(|(table, n)| {
                format!(
                    "{table}: {} restored, {n} in the manifest",
                    rows.get(table).copied().unwrap_or(0)
                )
            })
            .collect();
        return Err(fail(
            1,
            format!(
                "the restored database differs from the manifest: {}",
                differ.join("; ")
            ),
        ));
    }
    config.verify_audit_at_start = true;
    let issuer = crate::migrate::saved_issuer(&config.audit_checkpoint)
        .or_else(|| config.public_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let app = kluis::App::open(config, store, kluis::Clock::system(), issuer)
        .await
        .map_err(|e| fail(1, format!("the restored vault does not open: {e}")))?;
    let size = app.audit().size().await;
    let root = app.audit().root_at(size).await.map_err(|e| fail(1, e))?;
    let root: String = root.iter().map(|b| format!("{b:02x}")).collect();
    if size != manifest.audit.size || root != manifest.audit.root {
        return Err(fail(
            1,
            format!(
                "the restored audit log ({size} entries) differs from the manifest's ({} entries) or its root does",
                manifest.audit.size
            ),
        ));
    }
    let opened = app
        .residents()
        .check_every_record_opens()
        .await
        .map_err(|e| fail(1, format!("a restored record does not open: {e}")))?;
    let mut entry = Entry::new(Action::Backup, Outcome::Done, Actor::Operator);
    entry
        .details
        .insert("restored_from".into(), manifest.created.to_rfc3339());
    app.audit()
        .record(&kluis::audit::Context::new(&kluis::Clock::system()), entry)
        .await
        .map_err(|e| fail(1, format!("logging the restore: {e}")))?;
    if let Some(postgres) = postgres {
        postgres.finish_import().await.map_err(|e| fail(1, e))?;
    }
    Ok((opened, into))
}

/// Removes what a failed restore wrote (the targets were empty or absent before). A
/// PostgreSQL database it began to fill stays marked as an unfinished import, which no
/// vault serves: drop and create it before trying again.
fn undo(config: &kluis::Config) {
    let dirs: Vec<&PathBuf> = match config.store {
        StoreKind::Sled => vec![&config.data_dir, &config.key_dir],
        StoreKind::Postgres(_) => vec![&config.key_dir],
    };
    for dir in dirs {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path: PathBuf = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
    let _ = std::fs::remove_file(&config.audit_checkpoint);
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(|e| fail(1, format!("{}: {e}", path.display())))
}
