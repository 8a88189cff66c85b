//! Events queued for departments: `events` holds every event by id, `events_pending` the
//! ones still waiting, by department and queue position (`department`, 0, position), so a
//! poll reads a department's queue in order without passing acknowledged events.

use super::{SledStore, decode_json, encode_json, map_err, map_tx_err};
use crate::store::{EventRow, EventStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::Transactional;
use std::collections::HashMap;
use uuid::Uuid;

/// The key of a waiting event in `events_pending`.
pub(super) fn pending_key(department: &str, position: u64) -> Vec<u8> {
    [department.as_bytes(), &[0], &position.to_be_bytes()].concat()
}

/// The first queue position after every waiting event's: where numbering goes on when the
/// store opens. (Not sled's id generator: it lives outside the trees, so a backup's copy
/// would start it again below the positions it holds.)
pub(super) fn first_free_position(events_pending: &sled::Tree) -> StoreResult<u64> {
    let mut next = 0;
    for key in events_pending.iter().keys() {
        let key = key.map_err(|e| map_err(e, "listing events"))?;
        let position = key
            .len()
            .checked_sub(8)
            .and_then(|at| key.get(at..))
            .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt("an event's queue position".into()))?;
        next = next.max(position + 1);
    }
    Ok(next)
}

fn pending_prefix(department: &str) -> Vec<u8> {
    [department.as_bytes(), &[0]].concat()
}

impl SledStore {
    /// The waiting events' keys of `department`, by event id.
    fn pending_keys(&self, department: &str) -> StoreResult<HashMap<Uuid, sled::IVec>> {
        let mut keys = HashMap::new();
        for item in self.events_pending.scan_prefix(pending_prefix(department)) {
            let (key, id) = item.map_err(|e| map_err(e, "listing events"))?;
            let id = Uuid::from_slice(&id).map_err(|_| StoreError::Corrupt("event id".into()))?;
            keys.insert(id, key);
        }
        Ok(keys)
    }
}

#[async_trait]
impl EventStore for SledStore {
    async fn pending_events(&self, department: &str, limit: usize) -> StoreResult<Vec<EventRow>> {
        let mut out = Vec::new();
        for item in self
            .events_pending
            .scan_prefix(pending_prefix(department))
            .values()
            .take(limit)
        {
            let id = item.map_err(|e| map_err(e, "listing events"))?;
            let row = self
                .events
                .get(&id)
                .map_err(|e| map_err(e, "reading an event"))?
                .ok_or_else(|| StoreError::Corrupt("a waiting event is missing".into()))?;
            out.push(decode_json(&row, "event")?);
        }
        Ok(out)
    }

    async fn event(&self, id: Uuid) -> StoreResult<Option<EventRow>> {
        self.events
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading an event"))?
            .map(|v| decode_json(&v, "event"))
            .transpose()
    }

    async fn acknowledge_events(
        &self,
        department: &str,
        ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let _gate = self.write_gate().await;
        let waiting = self.pending_keys(department)?;
        let acknowledged = (&self.events, &self.events_pending)
            .transaction(|(events, pending)| {
                let mut count = 0;
                for id in ids {
                    let Some(key) = waiting.get(id) else { continue };
                    if pending.remove(key)?.is_none() {
                        continue;
                    }
                    let Some(value) = events.get(id.as_bytes())? else {
                        continue;
                    };
                    let mut row: EventRow = decode_json(&value, "event")
                        .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                    row.acknowledged_at = Some(at);
                    events.insert(id.as_bytes(), encode_json(&row))?;
                    count += 1;
                }
                Ok(count)
            })
            .map_err(|e| map_tx_err(e, "acknowledging events"))?;
        if acknowledged > 0 {
            self.durable().await?;
        }
        Ok(acknowledged)
    }
}
