//! The PostgreSQL adapter: several vault nodes on one database, replicated, backed up and
//! failed over with PostgreSQL's own tools.
//!
//! It holds what the sled adapter holds, nothing more: ids, keyed hashes, wrapped keys,
//! sealed bytes and metadata. Every row value is the same `[format byte] + JSON` the sled
//! adapter stores ([`encoding`](super::encoding)); the columns beside it exist only for the
//! queries of the port (by resident, by department, by time). The tables are in
//! [`schema`], created and upgraded by versioned migrations when the store opens.
//!
//! Durability: every write method commits before it returns, and PostgreSQL makes a commit
//! durable (`synchronous_commit`, its default; with a synchronous standby, on both). Two
//! exceptions commit without waiting for the WAL, so that no lock is held during a flush:
//! an audit batch ([`AuditStore::append_audit`](super::AuditStore::append_audit), durable
//! at [`AuditStore::sync`](super::AuditStore::sync), which the audit writer awaits before
//! it lets a caller go) and a one-time token id recorded
//! [`Durability::WithNextWrite`](super::Durability). Both are safe because the WAL is one
//! sequence: a later commit that waits for its WAL makes every earlier one durable with it,
//! whichever node made it, and nothing is acknowledged before such a commit. Concurrent
//! commits share WAL flushes inside PostgreSQL: the adapter needs no group commit of its own.
//!
//! Several nodes: everything that must be one truth (grant status, sessions, token ids,
//! registrations, the audit log) is a row here, read fresh on every call.

mod audit;
mod backup;
mod cases;
mod coaches;
mod consent;
mod departments;
mod events;
mod import;
mod officers;
mod records;
mod replay;
mod residents;
mod schema;
#[cfg(any(test, feature = "test-support"))]
pub mod server;
mod sessions;

use super::encoding::{decode_json, encode_json};
use super::{Health, StoreError, StoreResult};
pub use crate::config::PostgresSettings;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
pub use import::TableCount;
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode};

/// How long a call waits for a connection (or to make one) before it fails with 503.
const CONNECTION_WAIT: Duration = Duration::from_secs(5);

/// The PostgreSQL-backed store: a pool of connections to one database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    fresh: bool,
    database: String,
    /// The transaction that holds the audit log for this node, while it does
    /// ([`AuditStore::hold_audit`](crate::store::AuditStore::hold_audit)).
    audit_holder: std::sync::Arc<tokio::sync::Mutex<Option<audit::AppendTransaction>>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database `settings` names and brings its schema to this build's
    /// version (refusing a database of a newer version, or one that holds other tables).
    pub async fn open(settings: &PostgresSettings) -> StoreResult<PostgresStore> {
        let store = PostgresStore::open_unfinished_import(settings).await?;
        let client = store.client().await?;
        let importing = client
            .query_opt("SELECT 1 FROM kluis_meta WHERE key = 'importing'", &[])
            .await
            .map_err(map_err("reading meta"))?
            .is_some();
        if importing {
            return Err(StoreError::Incompatible(
                "the database holds a `kluis migrate` that did not finish; empty it and migrate again".into(),
            ));
        }
        drop(client);
        Ok(store)
    }

    /// [`PostgresStore::open`], also of a database that `kluis migrate` is filling (for
    /// the migration itself and its checks).
    pub async fn open_unfinished_import(settings: &PostgresSettings) -> StoreResult<PostgresStore> {
        let mut config = parse(&settings.url)?;
        let where_ = described(&config);
        if config.get_ssl_mode() != SslMode::Require && !on_this_machine(&config) {
            return Err(StoreError::Incompatible(format!(
                "[storage] url: the database at {where_} is reached over the network without verified TLS; add sslmode=verify-full (and [storage] ca_file if its certificate authority is not the system's)"
            )));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECTION_WAIT);
        }
        config.application_name("kluis");
        // Acknowledged means durable: whatever the role or database says, each commit
        // waits for its WAL (and a synchronous standby's). Generic plans: a cached
        // statement is planned once per connection. Left to choose, PostgreSQL planned
        // the read's records query anew on every call (its array parameter makes the
        // generic plan look dearer), a sixth of the database's CPU per read
        // (docs/performance.md, "Several nodes on PostgreSQL"). Statements not cached get
        // the generic plan too; those with ranges and limits keep their indexes (checked
        // with EXPLAIN on 100,000 residents and 1,000,000 audit entries).
        let options = [
            config.get_options().unwrap_or_default(),
            "-c synchronous_commit=on -c plan_cache_mode=force_generic_plan",
        ]
        .join(" ");
        config.options(options.trim());
        let database = config.get_dbname().unwrap_or_default().to_owned();
        let tls = tls_connector(settings.ca_file.as_deref())?;
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECTION_WAIT))
            .create_timeout(Some(CONNECTION_WAIT))
            .recycle_timeout(Some(CONNECTION_WAIT))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("building the pool: {e}")))?;
        let fresh = {
            let mut client = pool.get().await.map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to {where_}: {}", pool_reason(&e)))
            })?;
            schema::migrate(&mut client).await?
        };
        Ok(PostgresStore {
            pool,
            fresh,
            database,
            audit_holder: std::sync::Arc::default(),
        })
    }

    /// The name of the database it uses.
    pub fn database_name(&self) -> String {
        self.database.clone()
    }

    /// A connection from the pool.
    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| {
            StoreError::Unavailable(format!("database unreachable: {}", pool_reason(&e)))
        })
    }
}

/// The connection settings in `url`. `sslmode=verify-full` and `verify-ca` (libpq's names)
/// become the driver's `require`: with rustls the certificate chain and the host name are
/// always verified.
fn parse(url: &str) -> StoreResult<tokio_postgres::Config> {
    let url = url
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    tokio_postgres::Config::from_str(&url).map_err(|_| {
        StoreError::Incompatible(
            "[storage] url is not a PostgreSQL connection URL (such as postgresql://kluis@db.example.nl/kluis?sslmode=verify-full)".into(),
        )
    })
}

/// Whether every host in `config` is this machine (a Unix socket or loopback), where TLS
/// adds nothing.
fn on_this_machine(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|host| match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    })
}

/// The database `config` names, for messages: user, hosts, ports and database, never the
/// password.
fn described(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            Host::Tcp(name) => format!("{name}:{port}"),
            Host::Unix(path) => format!("{}:{port}", path.display()),
        })
        .collect();
    format!(
        "postgresql://{}@{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// The database `url` names, for messages: user, hosts, ports and database, never the
/// password (nor anything else of the URL).
pub fn describe(url: &str) -> String {
    parse(url).map_or_else(|_| "an unreadable PostgreSQL URL".into(), |c| described(&c))
}

/// A TLS connector trusting the system's certificate authorities and those in `ca_file`.
/// Whether TLS is used at all is the URL's `sslmode` (`disable`, `prefer`, `require`).
fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> StoreResult<tokio_postgres_rustls::MakeRustlsConnect> {
    let config = crate::crypto::tls_client_config(ca_file)
        .map_err(|e| StoreError::Incompatible(format!("[storage] ca_file: {e}")))?;
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Why the pool gave no connection, in one line without the URL.
fn pool_reason(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_reason(e),
        deadpool_postgres::PoolError::Timeout(_) => "no connection within 5 s".into(),
        other => other.to_string(),
    }
}

/// One line about a driver error: the server's SQLSTATE and message (never its DETAIL,
/// which can quote a row's values), or what happened to the connection.
fn db_reason(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut line = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                line = format!("{line}: {inner}");
                source = inner.source();
            }
            line
        }
    }
}

/// Maps a driver error to the port's error, naming the operation.
fn map_err(action: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |e| {
        let reason = db_reason(&e);
        match e.code() {
            Some(code) if code == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                StoreError::Corrupt(format!("{action}: {reason}"))
            }
            Some(code) if code == &tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION => {
                StoreError::Unavailable(format!(
                    "{action}: the database is read-only (a standby, or a primary that was demoted)"
                ))
            }
            _ => StoreError::Unavailable(format!("{action}: {reason}")),
        }
    }
}

/// A non-negative `i64` column as the `u64` it stands for.
fn unsigned(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what}: negative")))
}

/// A `u64` as the `i64` PostgreSQL stores (sequence numbers never come near 2^63).
fn signed(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what}: out of range")))
}

/// Decodes a `[format] + JSON` column.
fn row<T: serde::de::DeserializeOwned>(value: &[u8], what: &str) -> StoreResult<T> {
    decode_json(value, what)
}

/// Encodes a row for a `value` column.
fn value<T: serde::Serialize>(row: &T) -> Vec<u8> {
    encode_json(row)
}

#[async_trait]
impl Health for PostgresStore {
    async fn check(&self) -> StoreResult<()> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on', \
                 (SELECT version FROM kluis_schema)",
                &[],
            )
            .await
            .map_err(map_err("checking the database"))?;
        if row.get::<_, bool>(0) || row.get::<_, bool>(1) {
            return Err(StoreError::Unavailable(
                "the database is read-only (a standby, or a primary that was demoted): point the vault at the primary"
                    .into(),
            ));
        }
        schema::check_version(row.get::<_, i32>(2))
    }

    fn was_fresh(&self) -> bool {
        self.fresh
    }
}

#[cfg(test)]
mod tests;
