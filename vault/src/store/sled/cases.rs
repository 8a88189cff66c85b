//! Departments' status updates on residents' cases.

use super::{SledStore, decode_json, encode_json, map_err};
use crate::store::{CaseStatusRow, CaseStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The key of status `id` in the by-resident index.
pub(super) fn by_resident(resident: Uuid, id: Uuid) -> Vec<u8> {
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
        shown: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let _gate = self.write_gate().await;
        let mut marked = 0;
        for key in self
            .case_statuses_by_resident
            .scan_prefix(resident.as_bytes())
            .keys()
        {
            let key = key.map_err(|e| map_err(e, "listing case statuses"))?;
            let Some(stored) = self
                .case_statuses
                .get(&key[16..])
                .map_err(|e| map_err(e, "reading a case status"))?
            else {
                continue;
            };
            let row: CaseStatusRow = decode_json(&stored, "case status")?;
            if row.seen_at.is_some() || row.posted_at > shown {
                continue;
            }
            let seen = CaseStatusRow {
                seen_at: Some(at),
                ..row
            };
            // Only if the row is still as read: an erasure in between stays an erasure.
            let swapped = self
                .case_statuses
                .compare_and_swap(&key[16..], Some(stored), Some(encode_json(&seen)))
                .map_err(|e| map_err(e, "marking a case status seen"))?;
            if swapped.is_ok() {
                marked += 1;
            }
        }
        if marked > 0 {
            self.durable().await?;
        }
        Ok(marked)
    }
}
