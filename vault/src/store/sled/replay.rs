//! One-time token ids. Flushed on their own only when asked ([`Durability::Now`]); else the
//! read that used the id is flushed (its audit entry), and with it the id.

use super::{SledStore, map_err};
use crate::store::{Durability, ReplayStore, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ReplayStore for SledStore {
    async fn first_use(
        &self,
        key: &[u8; 32],
        expires_at: DateTime<Utc>,
        durability: Durability,
    ) -> StoreResult<bool> {
        let _gate = self.write_gate().await;
        let inserted = self
            .replay
            .compare_and_swap(
                key,
                None as Option<&[u8]>,
                Some(&expires_at.timestamp_micros().to_be_bytes()[..]),
            )
            .map_err(|e| map_err(e, "recording a token id"))?;
        if inserted.is_ok() && durability == Durability::Now {
            self.durable().await?;
        }
        Ok(inserted.is_ok())
    }

    async fn replay_count(&self) -> StoreResult<usize> {
        Ok(self.replay.len())
    }

    async fn purge_replays(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let _gate = self.write_gate().await;
        let now = now.timestamp_micros();
        let mut batch = sled::Batch::default();
        let mut purged = 0;
        for item in self.replay.iter() {
            let (key, value) = item.map_err(|e| map_err(e, "listing token ids"))?;
            let expires = value
                .as_ref()
                .try_into()
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MIN);
            if expires < now {
                batch.remove(key);
                purged += 1;
            }
        }
        self.replay
            .apply_batch(batch)
            .map_err(|e| map_err(e, "purging token ids"))?;
        Ok(purged)
    }
}
