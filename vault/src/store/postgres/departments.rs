//! Registered departments.

use super::{PostgresStore, map_err, row, value};
use crate::store::{DepartmentRow, DepartmentStore, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl DepartmentStore for PostgresStore {
    async fn put_department(&self, department: &DepartmentRow) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO departments (id, value) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
                &[&department.id, &value(department)],
            )
            .await
            .map_err(map_err("writing a department"))?;
        Ok(())
    }

    async fn department(&self, id: &str) -> StoreResult<Option<DepartmentRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM departments WHERE id = $1")
            .await
            .map_err(map_err("reading a department"))?;
        client
            .query_opt(&stmt, &[&id])
            .await
            .map_err(map_err("reading a department"))?
            .map(|r| row(r.get::<_, &[u8]>(0), "department"))
            .transpose()
    }

    async fn departments(&self) -> StoreResult<Vec<DepartmentRow>> {
        let client = self.client().await?;
        client
            .query("SELECT value FROM departments ORDER BY id", &[])
            .await
            .map_err(map_err("listing departments"))?
            .iter()
            .map(|r| row(r.get::<_, &[u8]>(0), "department"))
            .collect()
    }
}
