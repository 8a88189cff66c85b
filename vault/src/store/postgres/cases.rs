//! Departments' status updates on residents' cases (new ones arrive with their audit entry,
//! in `audit`).

use super::{PostgresStore, map_err, row, value};
use crate::store::{CaseStatusRow, CaseStore, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[async_trait]
impl CaseStore for PostgresStore {
    async fn case_statuses_of_resident(&self, resident: Uuid) -> StoreResult<Vec<CaseStatusRow>> {
        let client = self.client().await?;
        client
            .query(
                "SELECT value FROM case_statuses WHERE resident = $1 ORDER BY posted_at, id",
                &[&resident],
            )
            .await
            .map_err(map_err("listing case statuses"))?
            .iter()
            .map(|r| row(r.get::<_, &[u8]>(0), "case status"))
            .collect()
    }

    async fn mark_case_statuses_seen(
        &self,
        resident: Uuid,
        shown: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let action = "marking case statuses seen";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        let unseen = tx
            .query(
                "SELECT value FROM case_statuses \
                 WHERE resident = $1 AND NOT seen AND posted_at <= $2 FOR UPDATE",
                &[&resident, &shown],
            )
            .await
            .map_err(map_err(action))?;
        let mut marked = 0;
        for found in &unseen {
            let status: CaseStatusRow = row(found.get::<_, &[u8]>(0), "case status")?;
            let seen = CaseStatusRow {
                seen_at: Some(at),
                ..status
            };
            tx.execute(
                "UPDATE case_statuses SET seen = true, value = $2 WHERE id = $1",
                &[&seen.id, &value(&seen)],
            )
            .await
            .map_err(map_err(action))?;
            marked += 1;
        }
        tx.commit().await.map_err(map_err(action))?;
        Ok(marked)
    }
}
