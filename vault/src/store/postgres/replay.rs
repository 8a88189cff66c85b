//! One-time token ids, shared by every node: an id one node accepted, every other refuses.

use super::{PostgresStore, map_err};
use crate::store::{Durability, ReplayStore, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ReplayStore for PostgresStore {
    async fn first_use(
        &self,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
        durability: Durability,
    ) -> StoreResult<bool> {
        let action = "recording a token id";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        if durability == Durability::WithNextWrite {
            // Visible to every node at commit; on disk with the caller's next durable
            // commit, which the WAL cannot make durable without this one.
            tx.batch_execute("SET LOCAL synchronous_commit TO OFF")
                .await
                .map_err(map_err(action))?;
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO replay (key, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(map_err(action))?;
        let inserted = tx
            .execute(&stmt, &[&key.as_slice(), &expires_at])
            .await
            .map_err(map_err(action))?;
        tx.commit().await.map_err(map_err(action))?;
        Ok(inserted == 1)
    }

    async fn purge_replays(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let client = self.client().await?;
        let purged = client
            .execute("DELETE FROM replay WHERE expires_at < $1", &[&now])
            .await
            .map_err(map_err("purging token ids"))?;
        Ok(usize::try_from(purged).unwrap_or(usize::MAX))
    }

    async fn replay_count(&self) -> StoreResult<usize> {
        let client = self.client().await?;
        let count: i64 = client
            .query_one("SELECT count(*) FROM replay", &[])
            .await
            .map_err(map_err("counting token ids"))?
            .get(0);
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }
}
