//! Access requests, grants, and pairwise references.

use super::{SledStore, decode_json, encode_json, map_err, map_tx_err};
use crate::store::{
    ConsentStore, DepartmentRow, DepartmentStore, GrantPause, GrantRow, RequestRow, RequestState,
    RequestSubject, StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use uuid::Uuid;

fn subject_prefix(subject: &RequestSubject) -> Vec<u8> {
    let mut key = match subject {
        RequestSubject::Resident { id } => [b"r".as_slice(), id.as_bytes()].concat(),
        RequestSubject::NationalId { hash } => [b"n".as_slice(), hash.as_bytes()].concat(),
    };
    key.push(0);
    key
}

fn subject_key(subject: &RequestSubject, request: Uuid) -> Vec<u8> {
    [subject_prefix(subject).as_slice(), request.as_bytes()].concat()
}

fn department_key(department: &str, grant: Uuid) -> Vec<u8> {
    [department.as_bytes(), &[0], grant.as_bytes()].concat()
}

fn pairwise_key(department: &str, reference: &str) -> Vec<u8> {
    [department.as_bytes(), &[0], reference.as_bytes()].concat()
}

fn decode_request(bytes: &[u8]) -> StoreResult<RequestRow> {
    decode_json(bytes, "request")
}

fn decode_grant(bytes: &[u8]) -> StoreResult<GrantRow> {
    decode_json(bytes, "grant")
}

fn uuid_suffix(key: &[u8]) -> StoreResult<Uuid> {
    key.len()
        .checked_sub(16)
        .and_then(|at| Uuid::from_slice(&key[at..]).ok())
        .ok_or_else(|| StoreError::Corrupt("index key".into()))
}

impl SledStore {
    fn grants_by_index(&self, tree: &sled::Tree, prefix: &[u8]) -> StoreResult<Vec<GrantRow>> {
        let mut out = Vec::new();
        for key in tree.scan_prefix(prefix).keys() {
            let id = uuid_suffix(&key.map_err(|e| map_err(e, "listing grants"))?)?;
            let row = self
                .grants
                .get(id.as_bytes())
                .map_err(|e| map_err(e, "reading a grant"))?;
            out.push(decode_grant(
                &row.ok_or_else(|| StoreError::Corrupt("grant index".into()))?,
            )?);
        }
        out.sort_by_key(|g| g.issued_at);
        Ok(out)
    }
}

impl SledStore {
    /// Applies `change` (which says whether it changed anything) to grant `id` in one
    /// transaction, durably; the row afterwards and whether it changed.
    async fn change_grant(
        &self,
        id: Uuid,
        action: &str,
        change: impl Fn(&mut GrantRow) -> bool,
    ) -> StoreResult<Option<(GrantRow, bool)>> {
        let _gate = self.write_gate().await;
        let row = self
            .grants
            .transaction(|grants| {
                let Some(current) = grants.get(id.as_bytes())? else {
                    return Ok(None);
                };
                let mut row =
                    decode_grant(&current).map_err(ConflictableTransactionError::Abort)?;
                let changed = change(&mut row);
                if changed {
                    grants.insert(id.as_bytes(), encode_json(&row))?;
                }
                Ok(Some((row, changed)))
            })
            .map_err(|e| map_tx_err(e, action))?;
        self.durable().await?;
        Ok(row)
    }
}

#[async_trait]
impl ConsentStore for SledStore {
    async fn insert_request(&self, row: &RequestRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        (&self.requests, &self.requests_by_subject)
            .transaction(|(requests, by_subject)| {
                requests.insert(row.id.as_bytes(), encode_json(row))?;
                by_subject.insert(subject_key(&row.subject, row.id), &[])?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| map_tx_err(e, "inserting a request"))?;
        self.durable().await
    }

    async fn request(&self, id: Uuid) -> StoreResult<Option<RequestRow>> {
        self.requests
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading a request"))?
            .map(|v| decode_request(&v))
            .transpose()
    }

    async fn requests_about(&self, subjects: &[RequestSubject]) -> StoreResult<Vec<RequestRow>> {
        let mut out = Vec::new();
        for subject in subjects {
            for key in self
                .requests_by_subject
                .scan_prefix(subject_prefix(subject))
                .keys()
            {
                let id = uuid_suffix(&key.map_err(|e| map_err(e, "listing requests"))?)?;
                if let Some(row) = self.request(id).await? {
                    out.push(row);
                }
            }
        }
        out.sort_by_key(|r| r.created_at);
        out.dedup_by_key(|r| r.id);
        Ok(out)
    }

    async fn decide_request(
        &self,
        decided: &RequestRow,
        grant: Option<&GrantRow>,
    ) -> StoreResult<bool> {
        let _gate = self.write_gate().await;
        let trees = (
            &self.requests,
            &self.requests_by_subject,
            &self.grants,
            &self.grants_by_resident,
            &self.grants_by_department,
            &self.pairwise,
        );
        let done = trees
            .transaction(
                |(requests, by_subject, grants, by_resident, by_department, pairwise)| {
                    let Some(current) = requests.get(decided.id.as_bytes())? else {
                        return Ok(false);
                    };
                    let current =
                        decode_request(&current).map_err(ConflictableTransactionError::Abort)?;
                    if current.state != RequestState::Pending {
                        return Ok(false);
                    }
                    if current.subject != decided.subject {
                        by_subject.remove(subject_key(&current.subject, current.id))?;
                        by_subject.insert(subject_key(&decided.subject, decided.id), &[])?;
                    }
                    requests.insert(decided.id.as_bytes(), encode_json(decided))?;
                    if let Some(grant) = grant {
                        grants.insert(grant.id.as_bytes(), encode_json(grant))?;
                        by_resident.insert(
                            [grant.resident.as_bytes().as_slice(), grant.id.as_bytes()].concat(),
                            &[],
                        )?;
                        by_department.insert(department_key(&grant.department, grant.id), &[])?;
                        pairwise.insert(
                            pairwise_key(&grant.department, &grant.reference),
                            grant.resident.as_bytes(),
                        )?;
                    }
                    Ok(true)
                },
            )
            .map_err(|e| map_tx_err(e, "deciding a request"))?;
        self.durable().await?;
        Ok(done)
    }

    async fn insert_grant(&self, grant: &GrantRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        (
            &self.grants,
            &self.grants_by_resident,
            &self.grants_by_department,
            &self.pairwise,
        )
            .transaction(|(grants, by_resident, by_department, pairwise)| {
                grants.insert(grant.id.as_bytes(), encode_json(grant))?;
                by_resident.insert(
                    [grant.resident.as_bytes().as_slice(), grant.id.as_bytes()].concat(),
                    &[],
                )?;
                by_department.insert(department_key(&grant.department, grant.id), &[])?;
                pairwise.insert(
                    pairwise_key(&grant.department, &grant.reference),
                    grant.resident.as_bytes(),
                )?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| map_tx_err(e, "inserting a grant"))?;
        self.durable().await
    }

    async fn grant(&self, id: Uuid) -> StoreResult<Option<GrantRow>> {
        self.grants
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading a grant"))?
            .map(|v| decode_grant(&v))
            .transpose()
    }

    async fn grant_with_department(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<(GrantRow, Option<DepartmentRow>)>> {
        let Some(grant) = self.grant(id).await? else {
            return Ok(None);
        };
        let department = self.department(&grant.department).await?;
        Ok(Some((grant, department)))
    }

    async fn grants_of_resident(&self, resident: Uuid) -> StoreResult<Vec<GrantRow>> {
        self.grants_by_index(&self.grants_by_resident, resident.as_bytes())
    }

    async fn grants_of_department(&self, department: &str) -> StoreResult<Vec<GrantRow>> {
        self.grants_by_index(
            &self.grants_by_department,
            &[department.as_bytes(), &[0]].concat(),
        )
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
        self.pairwise
            .get(pairwise_key(department, reference))
            .map_err(|e| map_err(e, "reading a reference"))?
            .map(|v| Uuid::from_slice(&v).map_err(|_| StoreError::Corrupt("pairwise index".into())))
            .transpose()
    }
}
