//! Registered departments.

use super::{SledStore, decode_json, encode_json, map_err};
use crate::store::{DepartmentRow, DepartmentStore, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl DepartmentStore for SledStore {
    async fn put_department(&self, row: &DepartmentRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.departments
            .insert(row.id.as_bytes(), encode_json(row))
            .map_err(|e| map_err(e, "writing a department"))?;
        self.durable().await
    }

    async fn department(&self, id: &str) -> StoreResult<Option<DepartmentRow>> {
        self.departments
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading a department"))?
            .map(|v| decode_json(&v, "department"))
            .transpose()
    }

    async fn departments(&self) -> StoreResult<Vec<DepartmentRow>> {
        self.departments
            .iter()
            .values()
            .map(|v| {
                decode_json(
                    &v.map_err(|e| map_err(e, "listing departments"))?,
                    "department",
                )
            })
            .collect()
    }
}
