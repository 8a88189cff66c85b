//! Departments' status updates on residents' cases.

use super::{SledStore, decode_json, encode_json, map_err, map_tx_err};
use crate::store::{CaseStatusRow, CaseStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use uuid::Uuid;

fn by_resident(resident: Uuid, id: Uuid) -> Vec<u8> {
    [resident.as_bytes().as_slice(), id.as_bytes()].concat()
}

impl SledStore {
    /// Removes every status about `resident` (part of an erasure; flushed by the caller).
    pub(super) fn erase_case_statuses(&self, resident: Uuid) -> StoreResult<()> {
        for key in self
            .case_statuses_by_resident
            .scan_prefix(resident.as_bytes())
            .keys()
        {
            let key = key.map_err(|e| map_err(e, "listing case statuses"))?;
            self.case_statuses
                .remove(&key[16..])
                .map_err(|e| map_err(e, "erasing a case status"))?;
            self.case_statuses_by_resident
                .remove(&key)
                .map_err(|e| map_err(e, "erasing a case status"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl CaseStore for SledStore {
    async fn add_case_status(&self, row: &CaseStatusRow) -> StoreResult<()> {
        (&self.case_statuses, &self.case_statuses_by_resident)
            .transaction(|(statuses, index)| {
                statuses.insert(row.id.as_bytes(), encode_json(row))?;
                index.insert(by_resident(row.resident, row.id), &[])?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| map_tx_err(e, "storing a case status"))?;
        self.durable().await
    }

    async fn case_statuses_of_resident(&self, resident: Uuid) -> StoreResult<Vec<CaseStatusRow>> {
        let mut out = Vec::new();
        for key in self
            .case_statuses_by_resident
            .scan_prefix(resident.as_bytes())
            .keys()
        {
            let key = key.map_err(|e| map_err(e, "listing case statuses"))?;
            let value = self
                .case_statuses
                .get(&key[16..])
                .map_err(|e| map_err(e, "reading a case status"))?
                .ok_or_else(|| StoreError::Corrupt("case status index".into()))?;
            out.push(decode_json::<CaseStatusRow>(&value, "case status")?);
        }
        out.sort_by_key(|c| c.posted_at);
        Ok(out)
    }

    async fn mark_case_statuses_seen(
        &self,
        resident: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let mut marked = 0;
        for mut row in self.case_statuses_of_resident(resident).await? {
            if row.seen_at.is_none() {
                row.seen_at = Some(at);
                self.case_statuses
                    .insert(row.id.as_bytes(), encode_json(&row))
                    .map_err(|e| map_err(e, "marking a case status seen"))?;
                marked += 1;
            }
        }
        if marked > 0 {
            self.durable().await?;
        }
        Ok(marked)
    }
}
