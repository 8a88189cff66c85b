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
        let client = self.client().await?;
        if durability == Durability::WithNextWrite {
            // One round trip: the statements of one simple query form one transaction, and
            // its commit does not wait for the WAL. Visible to every node at commit; on disk
            // with the caller's next durable commit, which the WAL cannot make durable
            // without this one. The values are literals made here from bytes and a time,
            // never from input text.
            let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let expires_at = expires_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let messages = client
                .simple_query(&format!(
                    "SET LOCAL synchronous_commit TO OFF; \
                     INSERT INTO replay (key, expires_at) \
                     VALUES ('\\x{key}'::bytea, '{expires_at}'::timestamptz) ON CONFLICT DO NOTHING"
                ))
                .await
                .map_err(map_err(action))?;
            let inserted = messages.iter().rev().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::CommandComplete(rows) => Some(*rows),
                _ => None,
            });
            return Ok(inserted == Some(1));
        }
        let stmt = client
            .prepare_cached(
                "INSERT INTO replay (key, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(map_err(action))?;
        let inserted = client
            .execute(&stmt, &[&key.as_slice(), &expires_at])
            .await
            .map_err(map_err(action))?;
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
