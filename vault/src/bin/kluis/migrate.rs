//! `kluis migrate --from-sled DIR --to URL`: copies a stopped sled vault into an empty
//! PostgreSQL database, then checks the copy and says so in one line.

use crate::{Failure, fail, load_config};
use kluis::audit::merkle;
use kluis::config::{PostgresSettings, StoreKind};
use kluis::store::postgres::PostgresStore;
use kluis::store::sled::SledStore;
use kluis::store::{AuditStore, StoreResult};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the sled vault keeps its database, its keys and its saved checkpoint.
struct Source {
    data_dir: PathBuf,
    config: kluis::Config,
}

/// The vault at `from`: a `kluis dev --data DIR` directory (it holds `root.key`, `data/`
/// and `keys/`), or the data directory of the vault whose `--config` names its keys.
fn source(from: &Path, config: Option<&Path>) -> Result<Source, Failure> {
    if let Some(path) = config {
        let config = load_config(path)?;
        return Ok(Source {
            data_dir: from.to_owned(),
            config,
        });
    }
    let dev = if from.join("root.key").is_file() {
        from.to_owned()
    } else if from.file_name().is_some_and(|n| n == "data")
        && from.parent().is_some_and(|p| p.join("root.key").is_file())
    {
        from.parent().map(Path::to_owned).unwrap_or_default()
    } else {
        return Err(fail(
            2,
            format!(
                "{} is not a `kluis dev` directory; for a production vault pass --config with the file that names its keys",
                from.display()
            ),
        ));
    };
    let encoded = std::fs::read_to_string(dev.join("root.key"))
        .map_err(|e| fail(1, format!("{}: {e}", dev.join("root.key").display())))?;
    let root = kluis::crypto::RootKey::from_encoded(&encoded)
        .map_err(|e| fail(1, format!("{}: {e}", dev.join("root.key").display())))?;
    let listen = "127.0.0.1:0".parse().map_err(|e| fail(1, e))?;
    Ok(Source {
        data_dir: dev.join("data"),
        config: kluis::Config::development(&dev, listen, root),
    })
}

/// The log's size and root hash, from the stored tree.
async fn tree(store: &dyn AuditStore) -> StoreResult<(u64, merkle::Hash)> {
    let size = store.audit_len().await?;
    let nodes = store.audit_nodes(&merkle::frontier_nodes(size)).await?;
    let hashes: Vec<merkle::Hash> = nodes.into_iter().flatten().collect();
    Ok((
        size,
        merkle::fold(&hashes).unwrap_or_else(merkle::empty_root),
    ))
}

/// The issuer named in the saved checkpoint (its signature is checked when the vault
/// opens), if there is one.
pub fn saved_issuer(checkpoint_file: &Path) -> Option<String> {
    use base64::Engine;
    let token = std::fs::read_to_string(checkpoint_file).ok()?;
    let payload = token.trim().split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

pub async fn migrate(from: &Path, to: &str, config: Option<&Path>) -> Result<(), Failure> {
    let source = source(from, config)?;
    let holds_database = std::fs::read_dir(&source.data_dir).is_ok_and(|mut d| d.next().is_some());
    if !holds_database {
        return Err(fail(
            1,
            format!("{} holds no sled vault", source.data_dir.display()),
        ));
    }
    let sled = SledStore::open(&source.data_dir, source.config.cache_bytes).map_err(|e| {
        fail(
            1,
            format!(
                "cannot open the sled vault in {}: {e} (stop the vault first)",
                source.data_dir.display()
            ),
        )
    })?;
    let tail = sled.audit_tail_len();
    if tail > 0 {
        return Err(fail(
            1,
            format!(
                "the sled vault in {} stopped without taking up its last {tail} audit entries; start it once and stop it, then migrate",
                source.data_dir.display()
            ),
        ));
    }
    // The certificate authorities of the configured database, if --config names one.
    let ca_file = match &source.config.store {
        StoreKind::Postgres(configured) => configured.ca_file.clone(),
        StoreKind::Sled => None,
    };
    let settings = PostgresSettings {
        url: to.to_owned(),
        pool_size: 8,
        ca_file,
    };
    let target = kluis::store::postgres::describe(&settings.url);
    let postgres = PostgresStore::open_unfinished_import(&settings)
        .await
        .map_err(|e| fail(1, format!("cannot open {target}: {e}")))?;
    if !postgres.is_empty().await.map_err(|e| fail(1, e))? {
        return Err(fail(
            1,
            format!(
                "{target} already holds a vault; refusing to migrate into it (use an empty database)"
            ),
        ));
    }

    let mut last_table = String::new();
    let mut progress = |table: &str, rows: u64| {
        if table != last_table {
            if !last_table.is_empty() {
                eprintln!();
            }
            last_table = table.to_owned();
        }
        eprint!("\rcopying {table}: {rows} rows");
        let _ = std::io::stderr().flush();
    };
    postgres
        .import_sled(&sled, &mut progress)
        .await
        .map_err(|e| fail(1, format!("copying into {target}: {e}")))?;
    eprintln!();

    // The checks: rows per table, the audit tree, every record, a checkpoint.
    let counts = postgres
        .compare_counts(&sled)
        .await
        .map_err(|e| fail(1, e))?;
    let differ: Vec<String> = counts
        .iter()
        .filter(|c| c.source != c.target)
        .map(|c| {
            format!(
                "{} {} in sled, {} in PostgreSQL",
                c.table, c.source, c.target
            )
        })
        .collect();
    if !differ.is_empty() {
        return Err(fail(1, format!("the copy differs: {}", differ.join("; "))));
    }
    let (size, root) = tree(&sled).await.map_err(|e| fail(1, e))?;
    if tree(&postgres).await.map_err(|e| fail(1, e))? != (size, root) {
        return Err(fail(
            1,
            "the copied audit log's root or size differs from the original",
        ));
    }
    drop(sled);
    let mut config = source.config;
    config.store = StoreKind::Postgres(settings);
    // Rehash every entry before the vault counts as open, not while it serves.
    config.verify_audit_at_start = true;
    // Opening checks the log against the checkpoint saved with the original vault, whose
    // issuer the new checkpoint keeps.
    let issuer = saved_issuer(&config.audit_checkpoint)
        .or_else(|| config.public_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let app = kluis::App::open(
        &config,
        std::sync::Arc::new(postgres.clone()),
        kluis::Clock::system(),
        issuer,
    )
    .await
    .map_err(|e| fail(1, format!("the copy does not open as a vault: {e}")))?;
    let opened = app
        .residents()
        .check_every_record_opens()
        .await
        .map_err(|e| fail(1, format!("a copied record does not open: {e}")))?;
    let token = app.audit().checkpoint().await.map_err(|e| fail(1, e))?;
    kluis::jose::Checkpoint::verify(&token, &app.audit().jwks())
        .map_err(|e| fail(1, format!("the new checkpoint does not verify: {e}")))?;
    if app.audit().root_at(size).await.map_err(|e| fail(1, e))? != root {
        return Err(fail(
            1,
            "the migrated log's root differs from the original's",
        ));
    }
    postgres.finish_import().await.map_err(|e| fail(1, e))?;
    println!(
        "migrated {} to {target}: {} vaults, {} record versions, {size} audit entries; rows equal in {} tables, every record opens, audit root and size equal, a new checkpoint verifies",
        from.display(),
        opened.vaults,
        opened.records,
        counts.len()
    );
    Ok(())
}
