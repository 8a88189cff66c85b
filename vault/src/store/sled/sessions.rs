//! Server-side sessions.

use super::{SledStore, decode_json, decode_session, encode_json, map_err};
use crate::store::{PendingLoginRow, SessionRow, SessionStore, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

fn subject_index_key(row: &SessionRow, token_hash: &[u8]) -> Vec<u8> {
    [row.subject.key().as_bytes(), &[0], token_hash].concat()
}

impl SledStore {
    /// Removes a session and its index entries (not flushed).
    fn remove_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        let removed = self
            .sessions
            .remove(token_hash)
            .map_err(|e| map_err(e, "ending a session"))?;
        if let Some(row) = removed.and_then(|v| decode_session(&v).ok()) {
            self.session_subjects
                .remove(subject_index_key(&row, token_hash))
                .map_err(|e| map_err(e, "ending a session"))?;
            if !row.login_id.is_empty() {
                self.session_logins
                    .remove([row.login_id.as_bytes(), &[0], token_hash].concat())
                    .map_err(|e| map_err(e, "ending a session"))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for SledStore {
    async fn put_session(&self, token_hash: &[u8; 32], row: &SessionRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        if !row.login_id.is_empty() {
            self.session_logins
                .insert([row.login_id.as_bytes(), &[0], token_hash].concat(), &[])
                .map_err(|e| map_err(e, "indexing a session"))?;
        }
        self.session_subjects
            .insert(
                subject_index_key(row, token_hash),
                &row.created_at.timestamp_micros().to_be_bytes(),
            )
            .map_err(|e| map_err(e, "indexing a session"))?;
        self.sessions
            .insert(token_hash, encode_json(row))
            .map_err(|e| map_err(e, "writing a session"))?;
        self.durable().await
    }

    async fn sessions_of(&self, subject: &str) -> StoreResult<Vec<([u8; 32], DateTime<Utc>)>> {
        let prefix = [subject.as_bytes(), &[0]].concat();
        let mut found = Vec::new();
        for item in self.session_subjects.scan_prefix(&prefix) {
            let (key, value) = item.map_err(|e| map_err(e, "listing a person's sessions"))?;
            let (Ok(hash), Ok(micros)) = (
                <[u8; 32]>::try_from(&key[prefix.len()..]),
                <[u8; 8]>::try_from(value.as_ref()),
            ) else {
                continue;
            };
            let created = DateTime::from_timestamp_micros(i64::from_be_bytes(micros))
                .unwrap_or(DateTime::UNIX_EPOCH);
            found.push((hash, created));
        }
        found.sort_by_key(|(hash, created)| (*created, *hash));
        Ok(found)
    }

    async fn session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRow>> {
        self.sessions
            .get(token_hash)
            .map_err(|e| map_err(e, "reading a session"))?
            .map(|v| decode_session(&v))
            .transpose()
    }

    async fn touch_session(&self, token_hash: &[u8; 32], at: DateTime<Utc>) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        let mut decode_error = None;
        self.sessions
            .fetch_and_update(token_hash, |old| {
                let old = old?;
                match decode_session(old) {
                    Ok(mut row) => {
                        row.last_seen = row.last_seen.max(at);
                        Some(encode_json(&row))
                    }
                    Err(e) => {
                        decode_error = Some(e);
                        Some(old.to_vec())
                    }
                }
            })
            .map_err(|e| map_err(e, "touching a session"))?;
        decode_error.map_or(Ok(()), Err)
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.remove_session(token_hash)?;
        self.durable().await
    }

    async fn delete_login(&self, login_id: &str) -> StoreResult<usize> {
        let _gate = self.write_gate().await;
        let prefix = [login_id.as_bytes(), &[0]].concat();
        let mut ended = 0;
        for key in self.session_logins.scan_prefix(&prefix).keys() {
            let key = key.map_err(|e| map_err(e, "listing a login's sessions"))?;
            self.remove_session(&key[prefix.len()..])?;
            self.session_logins
                .remove(&key)
                .map_err(|e| map_err(e, "ending a session"))?;
            ended += 1;
        }
        self.durable().await?;
        Ok(ended)
    }

    async fn purge_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let _gate = self.write_gate().await;
        let mut purged = 0;
        for item in self.sessions.iter() {
            let (token_hash, value) = item.map_err(|e| map_err(e, "listing sessions"))?;
            let row = decode_session(&value).ok();
            if row
                .as_ref()
                .is_some_and(|r| r.last_seen >= idle_before && r.created_at >= created_before)
            {
                continue;
            }
            self.remove_session(&token_hash)?;
            purged += 1;
        }
        Ok(purged)
    }

    async fn put_pending_login(
        &self,
        state_hash: &[u8; 32],
        row: &PendingLoginRow,
    ) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.pending_logins
            .insert(state_hash, encode_json(row))
            .map_err(|e| map_err(e, "storing a login"))?;
        self.durable().await
    }

    async fn take_pending_login(
        &self,
        state_hash: &[u8; 32],
    ) -> StoreResult<Option<PendingLoginRow>> {
        let _gate = self.write_gate().await;
        let taken = self
            .pending_logins
            .remove(state_hash)
            .map_err(|e| map_err(e, "taking a login"))?;
        self.durable().await?;
        taken.map(|v| decode_json(&v, "pending login")).transpose()
    }

    async fn purge_pending_logins(&self, started_before: DateTime<Utc>) -> StoreResult<usize> {
        let _gate = self.write_gate().await;
        let mut batch = sled::Batch::default();
        let mut purged = 0;
        for item in self.pending_logins.iter() {
            let (key, value) = item.map_err(|e| map_err(e, "listing logins in progress"))?;
            // A row that does not decode can never finish a login either: it goes too.
            let expired = decode_json::<PendingLoginRow>(&value, "pending login")
                .map_or(true, |row| row.created_at < started_before);
            if expired {
                batch.remove(key);
                purged += 1;
            }
        }
        self.pending_logins
            .apply_batch(batch)
            .map_err(|e| map_err(e, "purging logins in progress"))?;
        Ok(purged)
    }

    async fn pending_login_count(&self) -> StoreResult<usize> {
        Ok(self.pending_logins.len())
    }

    async fn session_count(&self) -> StoreResult<usize> {
        Ok(self.sessions.len())
    }
}
