//! Versioned sealed records and their version counters. Versions are written with their
//! audit entry, in `audit`.

use super::{PostgresStore, map_err};
use crate::store::{RecordMeta, RecordStore, ResidentRow, StoreError, StoreResult, StoredRecord};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A version column as the `u32` it stands for.
fn version(r: &tokio_postgres::Row) -> StoreResult<u32> {
    u32::try_from(r.get::<_, i64>("version"))
        .map_err(|_| StoreError::Corrupt("record version out of range".into()))
}

#[async_trait]
impl RecordStore for PostgresStore {
    async fn reserve_record_version(&self, resident: Uuid, category: &str) -> StoreResult<u32> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO record_counters (resident, category, last) VALUES ($1, $2, 1) \
                 ON CONFLICT (resident, category) DO UPDATE \
                 SET last = record_counters.last + 1 RETURNING last",
            )
            .await
            .map_err(map_err("reserving a version"))?;
        let last: i64 = client
            .query_one(&stmt, &[&resident, &category])
            .await
            .map_err(map_err("reserving a version"))?
            .get(0);
        u32::try_from(last)
            .map_err(|_| StoreError::Unavailable("record version counter exhausted".into()))
    }

    async fn record(
        &self,
        resident: Uuid,
        category: &str,
        version_wanted: Option<u32>,
    ) -> StoreResult<Option<StoredRecord>> {
        let client = self.client().await?;
        let found = match version_wanted {
            Some(v) => {
                let stmt = client
                    .prepare_cached(
                        "SELECT version, created_at, sealed FROM records \
                         WHERE resident = $1 AND category = $2 AND version = $3",
                    )
                    .await
                    .map_err(map_err("reading a record"))?;
                client
                    .query_opt(&stmt, &[&resident, &category, &i64::from(v)])
                    .await
            }
            None => {
                let stmt = client
                    .prepare_cached(
                        "SELECT version, created_at, sealed FROM records \
                         WHERE resident = $1 AND category = $2 ORDER BY version DESC LIMIT 1",
                    )
                    .await
                    .map_err(map_err("reading a record"))?;
                client.query_opt(&stmt, &[&resident, &category]).await
            }
        }
        .map_err(map_err("reading a record"))?;
        found
            .map(|r| {
                Ok(StoredRecord {
                    version: version(&r)?,
                    created_at: r.get("created_at"),
                    sealed: r.get("sealed"),
                })
            })
            .transpose()
    }

    async fn record_versions(
        &self,
        resident: Uuid,
        category: &str,
    ) -> StoreResult<Vec<RecordMeta>> {
        let client = self.client().await?;
        client
            .query(
                "SELECT version, created_at FROM records \
                 WHERE resident = $1 AND category = $2 ORDER BY version",
                &[&resident, &category],
            )
            .await
            .map_err(map_err("listing versions"))?
            .iter()
            .map(|r| {
                Ok(RecordMeta {
                    version: version(r)?,
                    created_at: r.get("created_at"),
                })
            })
            .collect()
    }

    async fn record_summaries(&self, resident: Uuid) -> StoreResult<Vec<(String, RecordMeta)>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT DISTINCT ON (category) category, version, created_at FROM records \
                 WHERE resident = $1 ORDER BY category, version DESC",
            )
            .await
            .map_err(map_err("listing records"))?;
        client
            .query(&stmt, &[&resident])
            .await
            .map_err(map_err("listing records"))?
            .iter()
            .map(|r| {
                Ok((
                    r.get("category"),
                    RecordMeta {
                        version: version(r)?,
                        created_at: r.get::<_, DateTime<Utc>>("created_at"),
                    },
                ))
            })
            .collect()
    }

    async fn resident_with_current(
        &self,
        resident: Uuid,
        categories: &[String],
    ) -> StoreResult<Option<(ResidentRow, Vec<(String, StoredRecord)>)>> {
        let action = "reading a resident's records";
        let client = self.client().await?;
        // One round trip: the resident's row, joined with the newest version of each
        // category asked (no row of `records` gives one row with NULLs).
        let stmt = client
            .prepare_cached(
                "SELECT r.value, c.category, c.version, c.created_at, c.sealed \
                 FROM residents r LEFT JOIN LATERAL ( \
                     SELECT DISTINCT ON (category) category, version, created_at, sealed \
                     FROM records WHERE resident = r.id AND category = ANY($2) \
                     ORDER BY category, version DESC \
                 ) c ON true \
                 WHERE r.id = $1",
            )
            .await
            .map_err(map_err(action))?;
        let rows = client
            .query(&stmt, &[&resident, &categories])
            .await
            .map_err(map_err(action))?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let row = super::residents::resident(first)?;
        let mut current = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(category) = r.get::<_, Option<String>>("category") {
                current.push((
                    category,
                    StoredRecord {
                        version: version(r)?,
                        created_at: r.get("created_at"),
                        sealed: r.get("sealed"),
                    },
                ));
            }
        }
        Ok(Some((row, current)))
    }
}

#[cfg(any(test, feature = "test-support"))]
impl PostgresStore {
    /// Writes a record version without an audit entry: how a test plants what an attacker
    /// with write access to the database could.
    pub async fn plant_record(
        &self,
        resident: Uuid,
        category: &str,
        record: &StoredRecord,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO records (resident, category, version, created_at, sealed) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (resident, category, version) \
                 DO UPDATE SET created_at = EXCLUDED.created_at, sealed = EXCLUDED.sealed",
                &[
                    &resident,
                    &category,
                    &i64::from(record.version),
                    &record.created_at,
                    &record.sealed,
                ],
            )
            .await
            .map_err(map_err("planting a record"))?;
        Ok(())
    }
}
