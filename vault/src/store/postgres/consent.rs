//! Requests, grants and pairwise references.

use super::{PostgresStore, map_err, row, value};
use crate::store::{
    ConsentStore, DepartmentRow, GrantPause, GrantRow, RequestRow, RequestState, RequestSubject,
    StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The `subject` column of a request: `r:` and a resident id, or `n:` and a national-id
/// hash.
fn subject_key(subject: &RequestSubject) -> String {
    match subject {
        RequestSubject::Resident { id } => format!("r:{id}"),
        RequestSubject::NationalId { hash } => format!("n:{hash}"),
    }
}

fn grant(r: &tokio_postgres::Row) -> StoreResult<GrantRow> {
    row(r.get::<_, &[u8]>("value"), "grant")
}

fn request(r: &tokio_postgres::Row) -> StoreResult<RequestRow> {
    row(r.get::<_, &[u8]>("value"), "request")
}

/// Stores `grant` and its pairwise reference in `tx`.
async fn put_grant(tx: &deadpool_postgres::Transaction<'_>, grant: &GrantRow) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO grants (id, resident, department, issued_at, value) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
        &[
            &grant.id,
            &grant.resident,
            &grant.department,
            &grant.issued_at,
            &value(grant),
        ],
    )
    .await
    .map_err(map_err("storing a grant"))?;
    tx.execute(
        "INSERT INTO pairwise (department, reference, resident) VALUES ($1, $2, $3) \
         ON CONFLICT (department, reference) DO UPDATE SET resident = EXCLUDED.resident",
        &[&grant.department, &grant.reference, &grant.resident],
    )
    .await
    .map_err(map_err("storing a reference"))?;
    Ok(())
}

impl PostgresStore {
    /// Applies `change` (which says whether it changed anything) to grant `id` with its
    /// row locked, durably; the row afterwards and whether it changed.
    async fn change_grant(
        &self,
        id: Uuid,
        action: &str,
        change: impl FnOnce(&mut GrantRow) -> bool + Send,
    ) -> StoreResult<Option<(GrantRow, bool)>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        let Some(current) = tx
            .query_opt("SELECT value FROM grants WHERE id = $1 FOR UPDATE", &[&id])
            .await
            .map_err(map_err(action))?
        else {
            return Ok(None);
        };
        let mut current = grant(&current)?;
        let changed = change(&mut current);
        if changed {
            tx.execute(
                "UPDATE grants SET value = $2 WHERE id = $1",
                &[&id, &value(&current)],
            )
            .await
            .map_err(map_err(action))?;
            tx.commit().await.map_err(map_err(action))?;
        }
        Ok(Some((current, changed)))
    }
}

#[async_trait]
impl ConsentStore for PostgresStore {
    async fn insert_request(&self, new: &RequestRow) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO requests (id, subject, created_at, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET subject = EXCLUDED.subject, value = EXCLUDED.value",
                &[
                    &new.id,
                    &subject_key(&new.subject),
                    &new.created_at,
                    &value(new),
                ],
            )
            .await
            .map_err(map_err("inserting a request"))?;
        Ok(())
    }

    async fn request(&self, id: Uuid) -> StoreResult<Option<RequestRow>> {
        let client = self.client().await?;
        client
            .query_opt("SELECT value FROM requests WHERE id = $1", &[&id])
            .await
            .map_err(map_err("reading a request"))?
            .map(|r| request(&r))
            .transpose()
    }

    async fn requests_about(&self, subjects: &[RequestSubject]) -> StoreResult<Vec<RequestRow>> {
        let keys: Vec<String> = subjects.iter().map(subject_key).collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT value FROM requests WHERE subject = ANY($1) ORDER BY created_at, id",
            )
            .await
            .map_err(map_err("listing requests"))?;
        client
            .query(&stmt, &[&keys])
            .await
            .map_err(map_err("listing requests"))?
            .iter()
            .map(request)
            .collect()
    }

    async fn decide_request(
        &self,
        decided: &RequestRow,
        new_grant: Option<&GrantRow>,
    ) -> StoreResult<bool> {
        let action = "deciding a request";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        let Some(current) = tx
            .query_opt(
                "SELECT value FROM requests WHERE id = $1 FOR UPDATE",
                &[&decided.id],
            )
            .await
            .map_err(map_err(action))?
        else {
            return Ok(false);
        };
        if request(&current)?.state != RequestState::Pending {
            return Ok(false);
        }
        tx.execute(
            "UPDATE requests SET subject = $2, value = $3 WHERE id = $1",
            &[&decided.id, &subject_key(&decided.subject), &value(decided)],
        )
        .await
        .map_err(map_err(action))?;
        if let Some(new_grant) = new_grant {
            put_grant(&tx, new_grant).await?;
        }
        tx.commit().await.map_err(map_err(action))?;
        Ok(true)
    }

    async fn insert_grant(&self, new: &GrantRow) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(map_err("inserting a grant"))?;
        put_grant(&tx, new).await?;
        tx.commit().await.map_err(map_err("inserting a grant"))
    }

    async fn grant(&self, id: Uuid) -> StoreResult<Option<GrantRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM grants WHERE id = $1")
            .await
            .map_err(map_err("reading a grant"))?;
        client
            .query_opt(&stmt, &[&id])
            .await
            .map_err(map_err("reading a grant"))?
            .map(|r| grant(&r))
            .transpose()
    }

    async fn grant_with_department(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<(GrantRow, Option<DepartmentRow>)>> {
        let action = "reading a grant";
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT g.value, d.value FROM grants g \
                 LEFT JOIN departments d ON d.id = g.department WHERE g.id = $1",
            )
            .await
            .map_err(map_err(action))?;
        let Some(found) = client
            .query_opt(&stmt, &[&id])
            .await
            .map_err(map_err(action))?
        else {
            return Ok(None);
        };
        let grant = row(found.get::<_, &[u8]>(0), "grant")?;
        let department = found
            .get::<_, Option<&[u8]>>(1)
            .map(|v| row(v, "department"))
            .transpose()?;
        Ok(Some((grant, department)))
    }

    async fn grants_of_resident(&self, resident: Uuid) -> StoreResult<Vec<GrantRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM grants WHERE resident = $1 ORDER BY issued_at, id")
            .await
            .map_err(map_err("listing grants"))?;
        client
            .query(&stmt, &[&resident])
            .await
            .map_err(map_err("listing grants"))?
            .iter()
            .map(grant)
            .collect()
    }

    async fn grants_of_department(&self, department: &str) -> StoreResult<Vec<GrantRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM grants WHERE department = $1 ORDER BY issued_at, id")
            .await
            .map_err(map_err("listing grants"))?;
        client
            .query(&stmt, &[&department])
            .await
            .map_err(map_err("listing grants"))?
            .iter()
            .map(grant)
            .collect()
    }

    async fn revoke_grant(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(GrantRow, bool)>> {
        self.change_grant(id, "revoking a grant", |row| row.revoke(at))
            .await
    }

    async fn set_grant_pause(
        &self,
        id: Uuid,
        from: Option<GrantPause>,
        to: Option<GrantPause>,
    ) -> StoreResult<Option<(GrantRow, bool)>> {
        self.change_grant(id, "pausing a grant", |row| row.change_pause(from, to))
            .await
    }

    async fn resident_by_reference(
        &self,
        department: &str,
        reference: &str,
    ) -> StoreResult<Option<Uuid>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT resident FROM pairwise WHERE department = $1 AND reference = $2",
            )
            .await
            .map_err(map_err("reading a reference"))?;
        Ok(client
            .query_opt(&stmt, &[&department, &reference])
            .await
            .map_err(map_err("reading a reference"))?
            .map(|r| r.get(0)))
    }
}
