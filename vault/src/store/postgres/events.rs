//! Events queued for departments: one row each, numbered in queue order, flagged once
//! acknowledged (a partial index keeps the waiting ones at hand).

use super::{PostgresStore, map_err, row, value};
use crate::store::{EventRow, EventStore, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[async_trait]
impl EventStore for PostgresStore {
    async fn pending_events(&self, department: &str, limit: usize) -> StoreResult<Vec<EventRow>> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        client
            .query(
                "SELECT value FROM events WHERE department = $1 AND NOT acknowledged \
                 ORDER BY position LIMIT $2",
                &[&department, &limit],
            )
            .await
            .map_err(map_err("listing events"))?
            .iter()
            .map(|r| row(r.get::<_, &[u8]>(0), "event"))
            .collect()
    }

    async fn event(&self, id: Uuid) -> StoreResult<Option<EventRow>> {
        let client = self.client().await?;
        client
            .query_opt("SELECT value FROM events WHERE id = $1", &[&id])
            .await
            .map_err(map_err("reading an event"))?
            .map(|r| row(r.get::<_, &[u8]>(0), "event"))
            .transpose()
    }

    async fn acknowledge_events(
        &self,
        department: &str,
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let action = "acknowledging events";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        let waiting = tx
            .query(
                "SELECT value FROM events WHERE department = $1 AND id = ANY($2) \
                 AND NOT acknowledged FOR UPDATE",
                &[&department, &ids],
            )
            .await
            .map_err(map_err(action))?;
        let (mut marked, mut values) = (Vec::new(), Vec::new());
        for found in &waiting {
            let mut event: EventRow = row(found.get::<_, &[u8]>(0), "event")?;
            event.acknowledged_at = Some(at);
            marked.push(event.id);
            values.push(value(&event));
        }
        tx.execute(
            "UPDATE events SET acknowledged = true, value = a.value \
             FROM unnest($1::uuid[], $2::bytea[]) AS a(id, value) WHERE events.id = a.id",
            &[&marked, &values],
        )
        .await
        .map_err(map_err(action))?;
        tx.commit().await.map_err(map_err(action))?;
        Ok(marked.len())
    }
}
