//! Residents and the identity index.

use super::{SledStore, decode_json, encode_json, map_err, map_tx_err};
use crate::store::{ResidentRow, ResidentStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use uuid::Uuid;

fn decode_resident(bytes: &[u8]) -> StoreResult<ResidentRow> {
    decode_json(bytes, "resident")
}

#[async_trait]
impl ResidentStore for SledStore {
    async fn resident_by_identity(&self, identity: &str) -> StoreResult<Option<ResidentRow>> {
        let Some(id) = self
            .identities
            .get(identity)
            .map_err(|e| map_err(e, "reading an identity"))?
        else {
            return Ok(None);
        };
        let id = Uuid::from_slice(&id).map_err(|_| StoreError::Corrupt("identity index".into()))?;
        self.resident(id).await
    }

    async fn resident(&self, id: Uuid) -> StoreResult<Option<ResidentRow>> {
        self.residents
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading a resident"))?
            .map(|v| decode_resident(&v))
            .transpose()
    }

    async fn insert_resident(
        &self,
        row: &ResidentRow,
        kek_version: u32,
    ) -> StoreResult<ResidentRow> {
        let _gate = self.write_gate().await;
        let meta = self
            .db
            .open_tree("meta")
            .map_err(|e| map_err(e, "opening meta"))?;
        let stored = (&self.identities, &self.residents, &meta)
            .transaction(|(identities, residents, meta)| {
                let announced = kek_version_in(meta.get(KEK_VERSION)?.as_deref())
                    .map_err(ConflictableTransactionError::Abort)?;
                if announced > kek_version {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::KekReplaced(announced),
                    ));
                }
                if let Some(existing) = identities.get(row.identity.as_bytes())? {
                    let existing = residents
                        .get(&existing)?
                        .ok_or_else(|| StoreError::Corrupt("identity without resident".into()))
                        .and_then(|v| decode_resident(&v))
                        .map_err(ConflictableTransactionError::Abort)?;
                    return Ok(existing);
                }
                identities.insert(row.identity.as_bytes(), row.id.as_bytes())?;
                residents.insert(row.id.as_bytes(), encode_json(row))?;
                Ok(row.clone())
            })
            .map_err(|e| map_tx_err(e, "inserting a resident"))?;
        self.durable().await?;
        Ok(stored)
    }

    async fn residents_after(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<ResidentRow>> {
        let range = match after {
            Some(id) => self.residents.range(id.as_bytes().to_vec()..),
            None => self.residents.iter(),
        };
        let mut out = Vec::new();
        for item in range {
            let (key, value) = item.map_err(|e| map_err(e, "listing residents"))?;
            if after.is_some_and(|a| key.as_ref() == a.as_bytes()) {
                continue;
            }
            out.push(decode_resident(&value)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    async fn replace_wrapped_key(
        &self,
        id: Uuid,
        expected: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        let _gate = self.write_gate().await;
        let replaced = self
            .residents
            .transaction(|residents| {
                let Some(current) = residents.get(id.as_bytes())? else {
                    return Ok(false);
                };
                let mut row =
                    decode_resident(&current).map_err(ConflictableTransactionError::Abort)?;
                if row.wrapped_key != expected {
                    return Ok(false);
                }
                row.wrapped_key = new.to_vec();
                residents.insert(id.as_bytes(), encode_json(&row))?;
                Ok(true)
            })
            .map_err(|e| map_tx_err(e, "replacing a wrapped key"))?;
        self.durable().await?;
        Ok(replaced)
    }

    async fn set_national_id(&self, id: Uuid, hash: &str) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        (&self.residents, &self.national_ids)
            .transaction(|(residents, national_ids)| {
                let Some(current) = residents.get(id.as_bytes())? else {
                    return Err(ConflictableTransactionError::Abort(StoreError::Corrupt(
                        "national id for an unknown resident".into(),
                    )));
                };
                let mut row =
                    decode_resident(&current).map_err(ConflictableTransactionError::Abort)?;
                if let Some(old) = &row.national_id {
                    national_ids.remove(old.as_bytes())?;
                }
                row.national_id = Some(hash.to_owned());
                national_ids.insert(hash.as_bytes(), id.as_bytes())?;
                residents.insert(id.as_bytes(), encode_json(&row))?;
                Ok(())
            })
            .map_err(|e| map_tx_err(e, "setting a national id"))?;
        self.durable().await
    }

    async fn resident_by_national_id(&self, hash: &str) -> StoreResult<Option<ResidentRow>> {
        let Some(id) = self
            .national_ids
            .get(hash)
            .map_err(|e| map_err(e, "reading a national id"))?
        else {
            return Ok(None);
        };
        let id =
            Uuid::from_slice(&id).map_err(|_| StoreError::Corrupt("national id index".into()))?;
        self.resident(id).await
    }

    async fn erase_resident(&self, id: Uuid) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        let Some(row) = self.resident(id).await? else {
            return Ok(());
        };
        let mut records = sled::Batch::default();
        for key in self.records.scan_prefix(id.as_bytes()).keys() {
            records.remove(key.map_err(|e| map_err(e, "listing records"))?);
        }
        let mut counters = sled::Batch::default();
        for key in self.record_counters.scan_prefix(id.as_bytes()).keys() {
            counters.remove(key.map_err(|e| map_err(e, "listing record counters"))?);
        }
        let mut pairwise = sled::Batch::default();
        for item in self.pairwise.iter() {
            let (key, value) = item.map_err(|e| map_err(e, "listing references"))?;
            if value.as_ref() == id.as_bytes() {
                pairwise.remove(key);
            }
        }
        let mut sessions = sled::Batch::default();
        for item in self.sessions.iter() {
            let (key, value) = item.map_err(|e| map_err(e, "listing sessions"))?;
            if let Ok(session) = super::decode_session(&value)
                && session.subject == (crate::store::SessionSubject::Resident { id })
            {
                sessions.remove(key);
            }
        }
        self.records
            .apply_batch(records)
            .map_err(|e| map_err(e, "erasing records"))?;
        self.record_counters
            .apply_batch(counters)
            .map_err(|e| map_err(e, "erasing counters"))?;
        self.pairwise
            .apply_batch(pairwise)
            .map_err(|e| map_err(e, "erasing references"))?;
        self.sessions
            .apply_batch(sessions)
            .map_err(|e| map_err(e, "ending sessions"))?;
        self.erase_case_statuses(id)?;
        self.erase_coaching(id)?;
        if let Some(hash) = &row.national_id {
            self.national_ids
                .remove(hash.as_bytes())
                .map_err(|e| map_err(e, "erasing a national id"))?;
        }
        self.identities
            .remove(row.identity.as_bytes())
            .map_err(|e| map_err(e, "erasing an identity"))?;
        self.residents
            .remove(id.as_bytes())
            .map_err(|e| map_err(e, "erasing a resident"))?;
        // A status stored while this erasure ran (its resident still there) goes too.
        self.erase_case_statuses(id)?;
        self.erase_coaching(id)?;
        self.durable().await
    }

    async fn announce_kek(&self, version: u32) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        let meta = self
            .db
            .open_tree("meta")
            .map_err(|e| map_err(e, "opening meta"))?;
        meta.transaction(|meta| {
            let announced = kek_version_in(meta.get(KEK_VERSION)?.as_deref())
                .map_err(ConflictableTransactionError::Abort)?;
            if version > announced {
                meta.insert(KEK_VERSION, &version.to_be_bytes())?;
            }
            Ok(())
        })
        .map_err(|e| map_tx_err(e, "writing meta"))?;
        self.durable().await
    }

    async fn rotation_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let meta = self
            .db
            .open_tree("meta")
            .map_err(|e| map_err(e, "opening meta"))?;
        match meta
            .get("rotation_due")
            .map_err(|e| map_err(e, "reading meta"))?
        {
            None => Ok(None),
            Some(v) => {
                let micros: [u8; 8] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("rotation_due".into()))?;
                Ok(DateTime::from_timestamp_micros(i64::from_be_bytes(micros)))
            }
        }
    }

    async fn replace_rotation_due(
        &self,
        expected: Option<DateTime<Utc>>,
        new: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let _gate = self.write_gate().await;
        let meta = self
            .db
            .open_tree("meta")
            .map_err(|e| map_err(e, "opening meta"))?;
        let bytes = |at: Option<DateTime<Utc>>| at.map(|at| at.timestamp_micros().to_be_bytes());
        let swapped = meta
            .compare_and_swap(
                "rotation_due",
                bytes(expected).as_ref().map(|b| &b[..]),
                bytes(new).as_ref().map(|b| &b[..]),
            )
            .map_err(|e| map_err(e, "writing meta"))?;
        self.durable().await?;
        Ok(swapped.is_ok())
    }

    async fn set_rotation_due(&self, at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        let meta = self
            .db
            .open_tree("meta")
            .map_err(|e| map_err(e, "opening meta"))?;
        match at {
            Some(at) => meta
                .insert("rotation_due", &at.timestamp_micros().to_be_bytes())
                .map(|_| ()),
            None => meta.remove("rotation_due").map(|_| ()),
        }
        .map_err(|e| map_err(e, "writing meta"))?;
        self.durable().await
    }
}

/// The meta key of the newest announced KEK version.
const KEK_VERSION: &str = "kek_version";

/// The announced KEK version in `stored` (none announced: 0).
fn kek_version_in(stored: Option<&[u8]>) -> StoreResult<u32> {
    match stored {
        None => Ok(0),
        Some(bytes) => bytes
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("kek_version".into())),
    }
}
