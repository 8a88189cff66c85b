//! A consistent copy of the PostgreSQL database for `kluis backup`, and loading one into an
//! empty database for `kluis restore`. Every table goes through PostgreSQL's own `COPY`
//! (binary format) inside one read-only REPEATABLE READ transaction: the copy is one moment
//! of the database, and every node goes on reading and writing meanwhile.

use super::import::TABLES;
use super::{PostgresStore, map_err, schema};
use crate::store::{Snapshot, StoreError, StoreResult};
use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The file in which a copy names its format and schema version.
const FORMAT_FILE: &str = "FORMAT";

/// Every table of the schema, the metadata table first.
fn tables() -> impl Iterator<Item = &'static str> {
    std::iter::once("kluis_meta").chain(TABLES.iter().map(|(_, table)| *table))
}

fn format_line() -> String {
    format!("kluis-postgres-copy/1 schema {}\n", schema::VERSION)
}

fn file_error(action: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{action} {}: {e}", path.display()))
}

#[async_trait]
impl Snapshot for PostgresStore {
    async fn snapshot_into(&self, dir: &Path) -> StoreResult<BTreeMap<String, u64>> {
        if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(StoreError::Unavailable(format!(
                "{} is not empty; a snapshot goes into a new directory",
                dir.display()
            )));
        }
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| file_error("creating", dir, e))?;
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(map_err("starting the snapshot"))?;
        let mut counts = BTreeMap::new();
        for table in tables() {
            let rows: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map_err(map_err("counting a table"))?
                .get(0);
            let path = dir.join(format!("{table}.copy"));
            let mut file = tokio::fs::File::create(&path)
                .await
                .map_err(|e| file_error("writing", &path, e))?;
            let stream = tx
                .copy_out(&format!("COPY {table} TO STDOUT (FORMAT binary)"))
                .await
                .map_err(map_err("copying a table"))?;
            futures_util::pin_mut!(stream);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(map_err("copying a table"))?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| file_error("writing", &path, e))?;
            }
            file.sync_all()
                .await
                .map_err(|e| file_error("syncing", &path, e))?;
            counts.insert(table.to_owned(), u64::try_from(rows).unwrap_or(0));
        }
        tx.commit().await.map_err(map_err("ending the snapshot"))?;
        let format = dir.join(FORMAT_FILE);
        tokio::fs::write(&format, format_line())
            .await
            .map_err(|e| file_error("writing", &format, e))?;
        Ok(counts)
    }
}

impl PostgresStore {
    /// Loads a copy that [`Snapshot::snapshot_into`] wrote in `dir` into this database,
    /// which must hold no vault. The database stays marked as an import (no node serves
    /// it) until the caller has checked it and calls [`PostgresStore::finish_import`].
    /// `progress` hears each table and its rows.
    pub async fn load_snapshot(
        &self,
        dir: &Path,
        progress: &mut (dyn FnMut(&str, u64) + Send),
    ) -> StoreResult<()> {
        let format = dir.join(FORMAT_FILE);
        let found = tokio::fs::read_to_string(&format)
            .await
            .map_err(|e| file_error("reading", &format, e))?;
        if found != format_line() {
            return Err(StoreError::Incompatible(format!(
                "the backup's database copy is {:?}; this build loads {:?}",
                found.trim(),
                format_line().trim()
            )));
        }
        if !self.is_empty().await? {
            return Err(StoreError::Incompatible(
                "the database already holds a vault; restore into an empty one".into(),
            ));
        }
        self.mark_import(true).await?;
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(map_err("starting the restore"))?;
        for table in tables() {
            let path = dir.join(format!("{table}.copy"));
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| file_error("reading", &path, e))?;
            let sink = tx
                .copy_in(&format!("COPY {table} FROM STDIN (FORMAT binary)"))
                .await
                .map_err(map_err("loading a table"))?;
            futures_util::pin_mut!(sink);
            let mut buffer = vec![0u8; 1 << 20];
            loop {
                let read = file
                    .read(&mut buffer)
                    .await
                    .map_err(|e| file_error("reading", &path, e))?;
                if read == 0 {
                    break;
                }
                sink.send(bytes::Bytes::copy_from_slice(&buffer[..read]))
                    .await
                    .map_err(map_err("loading a table"))?;
            }
            let rows = sink
                .as_mut()
                .finish()
                .await
                .map_err(map_err("loading a table"))?;
            progress(table, rows);
        }
        tx.commit().await.map_err(map_err("ending the restore"))
    }

    /// Rows per table (to compare a restored database with its backup's manifest).
    pub async fn row_counts(&self) -> StoreResult<BTreeMap<String, u64>> {
        let client = self.client().await?;
        let mut counts = BTreeMap::new();
        for table in tables() {
            let rows: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map_err(map_err("counting a table"))?
                .get(0);
            counts.insert(table.to_owned(), u64::try_from(rows).unwrap_or(0));
        }
        // The import mark is the restore's own, not the backup's.
        if let Some(meta) = counts.get_mut("kluis_meta") {
            let importing: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM kluis_meta WHERE key = 'importing')",
                    &[],
                )
                .await
                .map_err(map_err("reading meta"))?
                .get(0);
            *meta -= u64::from(importing);
        }
        Ok(counts)
    }
}
