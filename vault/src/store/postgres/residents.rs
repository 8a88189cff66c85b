//! Residents, their identity and national-id lookups, erasure, and the rotation marker.

use super::{PostgresStore, map_err, row, value};
use crate::store::{ResidentRow, ResidentStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub(super) fn resident(r: &tokio_postgres::Row) -> StoreResult<ResidentRow> {
    row(r.get::<_, &[u8]>("value"), "resident")
}

impl PostgresStore {
    /// Deletes everything of vault `id` in one transaction (`with_resident`: its row too,
    /// first).
    async fn erase_rows(&self, id: Uuid, with_resident: bool) -> StoreResult<()> {
        let action = "erasing a vault";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        if with_resident {
            tx.execute("DELETE FROM residents WHERE id = $1", &[&id])
                .await
                .map_err(map_err(action))?;
        }
        for sql in [
            "DELETE FROM records WHERE resident = $1",
            "DELETE FROM record_counters WHERE resident = $1",
            "DELETE FROM pairwise WHERE resident = $1",
            "DELETE FROM case_statuses WHERE resident = $1",
            "DELETE FROM look_alongs WHERE resident = $1",
            "DELETE FROM proposals WHERE resident = $1",
            "DELETE FROM witnesses WHERE resident = $1",
        ] {
            tx.execute(sql, &[&id]).await.map_err(map_err(action))?;
        }
        let session_subject = crate::store::SessionSubject::Resident { id }.key();
        tx.execute(
            "DELETE FROM sessions WHERE subject = $1",
            &[&session_subject],
        )
        .await
        .map_err(map_err(action))?;
        tx.commit().await.map_err(map_err(action))
    }
}

#[async_trait]
impl ResidentStore for PostgresStore {
    async fn resident_by_identity(&self, identity: &str) -> StoreResult<Option<ResidentRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM residents WHERE identity = $1")
            .await
            .map_err(map_err("reading an identity"))?;
        client
            .query_opt(&stmt, &[&identity])
            .await
            .map_err(map_err("reading an identity"))?
            .map(|r| resident(&r))
            .transpose()
    }

    async fn resident(&self, id: Uuid) -> StoreResult<Option<ResidentRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM residents WHERE id = $1")
            .await
            .map_err(map_err("reading a resident"))?;
        client
            .query_opt(&stmt, &[&id])
            .await
            .map_err(map_err("reading a resident"))?
            .map(|r| resident(&r))
            .transpose()
    }

    async fn insert_resident(
        &self,
        new: &ResidentRow,
        kek_version: u32,
    ) -> StoreResult<ResidentRow> {
        let action = "inserting a resident";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        // Shared with every other insert, exclusive with an announcement: once a rotation
        // announced its KEK, every insert under an older one either committed before (and
        // the rotation's rewrap finds it) or sees the announcement here.
        tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&KEK_LOCK])
            .await
            .map_err(map_err(action))?;
        let announced = announced_kek(&tx).await?;
        if announced > kek_version {
            return Err(StoreError::KekReplaced(announced));
        }
        let inserted = tx
            .execute(
                "INSERT INTO residents (id, identity, national_id, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (identity) DO NOTHING",
                &[&new.id, &new.identity, &new.national_id, &value(new)],
            )
            .await
            .map_err(map_err(action))?;
        let stored = if inserted == 1 {
            new.clone()
        } else {
            let existing = tx
                .query_one(
                    "SELECT value FROM residents WHERE identity = $1",
                    &[&new.identity],
                )
                .await
                .map_err(map_err("reading an identity"))?;
            resident(&existing)?
        };
        tx.commit().await.map_err(map_err(action))?;
        Ok(stored)
    }

    async fn announce_kek(&self, version: u32) -> StoreResult<()> {
        let action = "announcing a key-encryption key";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        // Waits for every insert in progress (they hold the lock shared).
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEK_LOCK])
            .await
            .map_err(map_err(action))?;
        if version > announced_kek(&tx).await? {
            tx.execute(
                "INSERT INTO kluis_meta (key, value) VALUES ('kek_version', $1) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&version.to_be_bytes().as_slice()],
            )
            .await
            .map_err(map_err(action))?;
        }
        tx.commit().await.map_err(map_err(action))
    }

    async fn residents_after(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<ResidentRow>> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match after {
            Some(after) => {
                client
                    .query(
                        "SELECT value FROM residents WHERE id > $1 ORDER BY id LIMIT $2",
                        &[&after, &limit],
                    )
                    .await
            }
            None => {
                client
                    .query(
                        "SELECT value FROM residents ORDER BY id LIMIT $1",
                        &[&limit],
                    )
                    .await
            }
        }
        .map_err(map_err("listing residents"))?;
        rows.iter().map(resident).collect()
    }

    async fn replace_wrapped_key(
        &self,
        id: Uuid,
        expected: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(map_err("replacing a wrapped key"))?;
        let Some(current) = tx
            .query_opt(
                "SELECT value FROM residents WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(map_err("replacing a wrapped key"))?
        else {
            return Ok(false);
        };
        let mut current = resident(&current)?;
        if current.wrapped_key != expected {
            return Ok(false);
        }
        current.wrapped_key = new.to_vec();
        tx.execute(
            "UPDATE residents SET value = $2 WHERE id = $1",
            &[&id, &value(&current)],
        )
        .await
        .map_err(map_err("replacing a wrapped key"))?;
        tx.commit()
            .await
            .map_err(map_err("replacing a wrapped key"))?;
        Ok(true)
    }

    async fn set_national_id(&self, id: Uuid, hash: &str) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(map_err("setting a national id"))?;
        let Some(current) = tx
            .query_opt(
                "SELECT value FROM residents WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(map_err("setting a national id"))?
        else {
            return Err(StoreError::Corrupt(
                "national id for an unknown resident".into(),
            ));
        };
        let mut current = resident(&current)?;
        current.national_id = Some(hash.to_owned());
        // A hash another vault held moves to this one, as the sled index does.
        tx.execute(
            "UPDATE residents SET national_id = NULL WHERE national_id = $1 AND id <> $2",
            &[&hash, &id],
        )
        .await
        .map_err(map_err("setting a national id"))?;
        tx.execute(
            "UPDATE residents SET national_id = $2, value = $3 WHERE id = $1",
            &[&id, &hash, &value(&current)],
        )
        .await
        .map_err(map_err("setting a national id"))?;
        tx.commit().await.map_err(map_err("setting a national id"))
    }

    async fn resident_by_national_id(&self, hash: &str) -> StoreResult<Option<ResidentRow>> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT value FROM residents WHERE national_id = $1",
                &[&hash],
            )
            .await
            .map_err(map_err("reading a national id"))?
            .map(|r| resident(&r))
            .transpose()
    }

    async fn erase_resident(&self, id: Uuid) -> StoreResult<()> {
        // The resident's row goes first: a case status added with an audit entry locks
        // that row (FOR KEY SHARE) to see the vault exists, so it either commits before
        // this and is deleted below, or waits and then finds no vault.
        self.erase_rows(id, true).await?;
        // Coaching rows are written by calls of their own; a second sweep takes one that
        // landed while the first ran, as the sled adapter does.
        self.erase_rows(id, false).await
    }

    async fn rotation_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        let Some(found) = client
            .query_opt(
                "SELECT value FROM kluis_meta WHERE key = 'rotation_due'",
                &[],
            )
            .await
            .map_err(map_err("reading meta"))?
        else {
            return Ok(None);
        };
        let micros: [u8; 8] = found
            .get::<_, &[u8]>(0)
            .try_into()
            .map_err(|_| StoreError::Corrupt("rotation_due".into()))?;
        Ok(DateTime::from_timestamp_micros(i64::from_be_bytes(micros)))
    }

    async fn replace_rotation_due(
        &self,
        expected: Option<DateTime<Utc>>,
        new: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let action = "writing meta";
        let bytes =
            |at: Option<DateTime<Utc>>| at.map(|at| at.timestamp_micros().to_be_bytes().to_vec());
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        // The row, locked, or a lock on its absence (the key is the primary key).
        let current: Option<Vec<u8>> = tx
            .query_opt(
                "SELECT value FROM kluis_meta WHERE key = 'rotation_due' FOR UPDATE",
                &[],
            )
            .await
            .map_err(map_err(action))?
            .map(|r| r.get(0));
        if current != bytes(expected) {
            return Ok(false);
        }
        match bytes(new) {
            Some(value) => {
                tx.execute(
                    "INSERT INTO kluis_meta (key, value) VALUES ('rotation_due', $1) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&value],
                )
                .await
            }
            None => {
                tx.execute("DELETE FROM kluis_meta WHERE key = 'rotation_due'", &[])
                    .await
            }
        }
        .map_err(|e| match e.code() {
            // Another node inserted it between our read of its absence and this insert.
            Some(code) if code == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                StoreError::Unavailable("another node changed the rotation time".into())
            }
            _ => map_err(action)(e),
        })?;
        tx.commit().await.map_err(map_err(action))?;
        Ok(true)
    }

    async fn set_rotation_due(&self, at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let client = self.client().await?;
        match at {
            Some(at) => {
                client
                    .execute(
                        "INSERT INTO kluis_meta (key, value) VALUES ('rotation_due', $1) \
                         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        &[&at.timestamp_micros().to_be_bytes().as_slice()],
                    )
                    .await
            }
            None => {
                client
                    .execute("DELETE FROM kluis_meta WHERE key = 'rotation_due'", &[])
                    .await
            }
        }
        .map_err(map_err("writing meta"))?;
        Ok(())
    }
}

/// The advisory lock between new vaults and KEK announcements ("kluis-kk" in ASCII).
const KEK_LOCK: i64 = 0x6b6c_7569_732d_6b6b;

/// The newest announced KEK version (none announced: 0).
async fn announced_kek(tx: &deadpool_postgres::Transaction<'_>) -> StoreResult<u32> {
    let row = tx
        .query_opt(
            "SELECT value FROM kluis_meta WHERE key = 'kek_version'",
            &[],
        )
        .await
        .map_err(map_err("reading meta"))?;
    match row {
        None => Ok(0),
        Some(row) => row
            .get::<_, &[u8]>(0)
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("kek_version".into())),
    }
}
