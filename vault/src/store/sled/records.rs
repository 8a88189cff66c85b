//! Versioned, sealed records.

use super::{FORMAT_V1, SledStore, map_err};
use crate::store::{RecordMeta, RecordStore, ResidentRow, StoreError, StoreResult, StoredRecord};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// `resident (16) | category length (1) | category`: the prefix of all versions.
fn prefix(resident: Uuid, category: &str) -> StoreResult<Vec<u8>> {
    let len = u8::try_from(category.len())
        .map_err(|_| StoreError::Corrupt("category id longer than 255 bytes".into()))?;
    let mut key = Vec::with_capacity(17 + category.len() + 4);
    key.extend_from_slice(resident.as_bytes());
    key.push(len);
    key.extend_from_slice(category.as_bytes());
    Ok(key)
}

pub(super) fn record_key(resident: Uuid, category: &str, version: u32) -> StoreResult<Vec<u8>> {
    let mut key = prefix(resident, category)?;
    key.extend_from_slice(&version.to_be_bytes());
    Ok(key)
}

fn version_of(key: &[u8]) -> StoreResult<u32> {
    key.len()
        .checked_sub(4)
        .and_then(|at| key[at..].try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt("record key".into()))
}

pub(super) fn encode_record(record: &StoredRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + record.sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&record.created_at.timestamp_micros().to_be_bytes());
    out.extend_from_slice(&record.sealed);
    out
}

fn decode_header(value: &[u8]) -> StoreResult<DateTime<Utc>> {
    match value {
        [FORMAT_V1, rest @ ..] if rest.len() >= 8 => {
            let micros = i64::from_be_bytes(
                rest[..8]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("record".into()))?,
            );
            DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| StoreError::Corrupt("record time".into()))
        }
        [FORMAT_V1, ..] | [] => Err(StoreError::Corrupt("record header".into())),
        [v, ..] => Err(StoreError::Corrupt(format!("record: unknown format {v}"))),
    }
}

fn decode_record(key: &[u8], value: &[u8]) -> StoreResult<StoredRecord> {
    Ok(StoredRecord {
        version: version_of(key)?,
        created_at: decode_header(value)?,
        sealed: value[9..].to_vec(),
    })
}

#[async_trait]
impl RecordStore for SledStore {
    async fn reserve_record_version(&self, resident: Uuid, category: &str) -> StoreResult<u32> {
        let _gate = self.write_gate().await;
        let key = prefix(resident, category)?;
        let mut overflow = false;
        let next = self
            .record_counters
            .update_and_fetch(&key, |old| {
                let last = old
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0);
                let next = last.checked_add(1);
                overflow = next.is_none();
                Some(next.unwrap_or(last).to_be_bytes().to_vec())
            })
            .map_err(|e| map_err(e, "reserving a version"))?;
        if overflow {
            return Err(StoreError::Unavailable(
                "record version counter exhausted".into(),
            ));
        }
        let bytes: [u8; 4] = next
            .as_deref()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| StoreError::Corrupt("record counter".into()))?;
        // The counter needs no flush of its own: it is updated before the record it numbers
        // is written, and sled recovers a prefix of its log, so any flush that keeps the
        // record keeps the counter too.
        let version = u32::from_be_bytes(bytes);
        Ok(version)
    }

    async fn record(
        &self,
        resident: Uuid,
        category: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<StoredRecord>> {
        let found = match version {
            Some(v) => {
                let key = record_key(resident, category, v)?;
                self.records
                    .get(&key)
                    .map_err(|e| map_err(e, "reading a record"))?
                    .map(|value| (key.into(), value))
            }
            None => self
                .records
                .scan_prefix(prefix(resident, category)?)
                .next_back()
                .transpose()
                .map_err(|e| map_err(e, "reading a record"))?,
        };
        found.map(|(k, v)| decode_record(&k, &v)).transpose()
    }

    async fn record_versions(
        &self,
        resident: Uuid,
        category: &str,
    ) -> StoreResult<Vec<RecordMeta>> {
        self.records
            .scan_prefix(prefix(resident, category)?)
            .map(|item| {
                let (k, v) = item.map_err(|e| map_err(e, "listing versions"))?;
                Ok(RecordMeta {
                    version: version_of(&k)?,
                    created_at: decode_header(&v)?,
                })
            })
            .collect()
    }

    async fn record_summaries(&self, resident: Uuid) -> StoreResult<Vec<(String, RecordMeta)>> {
        let mut out: Vec<(String, RecordMeta)> = Vec::new();
        for item in self.records.scan_prefix(resident.as_bytes()) {
            let (k, v) = item.map_err(|e| map_err(e, "listing records"))?;
            let len = *k
                .get(16)
                .ok_or_else(|| StoreError::Corrupt("record key".into()))?
                as usize;
            let category = k
                .get(17..17 + len)
                .and_then(|c| std::str::from_utf8(c).ok())
                .ok_or_else(|| StoreError::Corrupt("record key".into()))?;
            let meta = RecordMeta {
                version: version_of(&k)?,
                created_at: decode_header(&v)?,
            };
            // Keys sort by version within a category, so the last one seen is current.
            match out.last_mut() {
                Some((c, m)) if c == category => *m = meta,
                _ => out.push((category.to_owned(), meta)),
            }
        }
        Ok(out)
    }

    async fn resident_with_current(
        &self,
        resident: Uuid,
        categories: &[String],
    ) -> StoreResult<Option<(ResidentRow, Vec<(String, StoredRecord)>)>> {
        crate::store::local_lookups::resident_with_current_by_lookups(self, resident, categories)
            .await
    }
}

#[cfg(any(test, feature = "test-support"))]
impl SledStore {
    /// Writes a record version with no audit entry, as an attacker with write access to
    /// the database files could: for tests that prove such a record does not open.
    pub fn plant_record(
        &self,
        resident: Uuid,
        category: &str,
        record: &StoredRecord,
    ) -> StoreResult<()> {
        self.records
            .insert(
                record_key(resident, category, record.version)?,
                encode_record(record),
            )
            .map(|_| ())
            .map_err(|e| map_err(e, "planting a record"))
    }
}
