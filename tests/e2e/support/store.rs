//! Which storage adapter the end-to-end tests run on: sled by default, a real PostgreSQL
//! server with `KLUIS_TEST_STORE=postgres` (scripts/test runs the suite both ways).
//!
//! With PostgreSQL, every vault gets a database of its own on one server that the test
//! process starts (`kluis::store::postgres::server`); a `kluis dev --data DIR` process gets
//! the same database each time it starts on the same DIR, as sled would find its files.

use kluis::store::Store;
use kluis::store::postgres::{PostgresSettings, PostgresStore, server};
use kluis::store::sled::SledStore;
use kluis::store::{StoreResult, StoredRecord};
pub use server::PASSWORD;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Whether the tests run on PostgreSQL (`KLUIS_TEST_STORE=postgres`).
pub fn postgres() -> bool {
    match std::env::var("KLUIS_TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sled") | Err(_) => false,
        Ok(other) => panic!("KLUIS_TEST_STORE={other}: use sled or postgres"),
    }
}

/// The database of each vault directory.
static DATABASES: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();

/// The database URL of the vault in `dir` (one per directory, created on first use), or
/// none when the tests run on sled.
pub fn store_url_for(dir: &Path) -> Option<String> {
    if !postgres() {
        return None;
    }
    Some(shared_database_for(dir))
}

/// A new, empty database on the test PostgreSQL server (whatever the tests run on).
pub fn new_database() -> String {
    server::shared().new_database_blocking()
}

/// The PostgreSQL database of the vault nodes in `dir`, whatever the tests run on.
pub fn shared_database_for(dir: &Path) -> String {
    let mut databases = DATABASES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    databases
        .entry(dir.to_owned())
        .or_insert_with(|| server::shared().new_database_blocking())
        .clone()
}

/// The real store under a test vault, for tests that tamper with the database.
#[derive(Clone)]
pub enum Backend {
    /// sled files in the vault's data directory.
    Sled(Box<SledStore>),
    /// A database of the test PostgreSQL server.
    Postgres(PostgresStore),
}

impl Backend {
    /// Opens the adapter the tests run on, for a vault whose data directory is `data_dir`.
    pub async fn open(data_dir: &Path, cache_bytes: u64) -> Backend {
        match store_url_for(data_dir) {
            None => Backend::Sled(Box::new(
                SledStore::open(data_dir, cache_bytes).expect("store opens"),
            )),
            Some(url) => Backend::open_postgres(&url).await,
        }
    }

    /// Opens the test server's database at `url`.
    pub async fn open_postgres(url: &str) -> Backend {
        Backend::Postgres(
            PostgresStore::open(&PostgresSettings {
                url: url.to_owned(),
                pool_size: 16,
                ca_file: None,
            })
            .await
            .expect("store opens"),
        )
    }

    /// The store, for the vault.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sled(store) => Arc::new(store.as_ref().clone()),
            Backend::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// Writes a record version behind the vault's back (no audit entry, no checks).
    pub async fn plant_record(
        &self,
        resident: uuid::Uuid,
        category: &str,
        record: &StoredRecord,
    ) -> StoreResult<()> {
        match self {
            Backend::Sled(store) => store.plant_record(resident, category, record),
            Backend::Postgres(store) => store.plant_record(resident, category, record).await,
        }
    }
}

/// Runs `future` to completion on a runtime of its own (callers may be inside one).
fn blocking<T: Send + 'static>(future: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(future)
    })
    .join()
    .expect("the database task")
}

/// The name of the PostgreSQL database under a test vault (node).
pub fn database_name_of(vault: &super::TestVault) -> String {
    match &vault.backend {
        Backend::Postgres(store) => store.database_name(),
        Backend::Sled(_) => panic!("this vault runs on sled"),
    }
}

/// The database name in a test server URL.
fn database_name(url: &str) -> String {
    let path = url.rsplit('/').next().unwrap_or_default();
    path.split('?').next().unwrap_or_default().to_owned()
}

/// A copy of a stopped vault's database, as an operator's backup would be.
pub enum Snapshot {
    /// A copy of the sled files.
    Sled(tempfile::TempDir),
    /// A database copied from the vault's (`CREATE DATABASE ... TEMPLATE`).
    Postgres(String),
}

/// Copies the database of the (stopped) `kluis dev --data dir` vault.
pub fn snapshot(dir: &Path) -> Snapshot {
    match store_url_for(dir) {
        None => {
            let copy = tempfile::tempdir().expect("temp dir");
            copy_dir(&dir.join("data"), copy.path());
            Snapshot::Sled(copy)
        }
        Some(url) => Snapshot::Postgres(copy_database(&url)),
    }
}

/// Puts `snapshot` back as the database of the `kluis dev --data dir` vault.
pub fn restore(dir: &Path, snapshot: &Snapshot) {
    match snapshot {
        Snapshot::Sled(copy) => {
            std::fs::remove_dir_all(dir.join("data")).expect("removing the data directory");
            copy_dir(copy.path(), &dir.join("data"));
        }
        Snapshot::Postgres(url) => {
            let restored = copy_database(url);
            let databases = DATABASES.get_or_init(Mutex::default);
            databases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(dir.to_owned(), restored);
        }
    }
}

/// A new database with the contents of the one at `url`.
fn copy_database(url: &str) -> String {
    let from = database_name(url);
    let server = server::shared();
    let copy = server.new_database_blocking();
    let name = database_name(&copy);
    blocking(async move {
        // One statement each: PostgreSQL runs neither inside a transaction. The stopped
        // vault's server processes may take a moment to leave the source database.
        server.execute(&format!("DROP DATABASE {name}")).await;
        server
            .execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{from}'"
            ))
            .await;
        server
            .execute(&format!("CREATE DATABASE {name} TEMPLATE {from}"))
            .await;
    });
    copy
}

/// Replaces the first audit entry of the (stopped) `kluis dev --data dir` vault with
/// `change(entry)`, behind the vault's back.
pub fn rewrite_first_audit_entry(
    dir: &Path,
    change: impl FnOnce(Vec<u8>) -> Vec<u8> + Send + 'static,
) {
    match store_url_for(dir) {
        None => {
            let data = dir.join("data");
            blocking(async move {
                let store = SledStore::open(&data, 8 << 20).expect("the vault's sled files open");
                let first = kluis::store::AuditStore::audit_entries(&store, 0, 1)
                    .await
                    .expect("reading")
                    .pop()
                    .expect("a first entry");
                store
                    .rewrite_audit_entry(0, change(first))
                    .expect("rewriting");
            })
        }
        Some(url) => blocking(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("the test database accepts a connection");
            tokio::spawn(connection);
            let first: Vec<u8> = client
                .query_one("SELECT entry FROM audit_entries WHERE seq = 0", &[])
                .await
                .expect("a first entry")
                .get(0);
            client
                .execute(
                    "UPDATE audit_entries SET entry = $1 WHERE seq = 0",
                    &[&change(first)],
                )
                .await
                .expect("rewriting");
        }),
    }
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a directory");
    for item in std::fs::read_dir(from).expect("reading a directory") {
        let path = item.expect("a directory entry").path();
        let target = to.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else if path.is_file() {
            std::fs::copy(&path, &target).expect("copying a file");
        }
    }
}

/// The test PostgreSQL server's port, when the tests run on PostgreSQL.
pub fn database_port() -> Option<u16> {
    postgres().then(|| server::shared().port())
}

/// Where the test PostgreSQL server keeps its files (its cluster and WAL), when the tests
/// run on PostgreSQL: for scans of everything at rest.
pub fn database_files() -> Option<PathBuf> {
    postgres().then(|| server::shared().dir().to_owned())
}
