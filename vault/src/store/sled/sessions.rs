//! Server-side sessions.

use super::{SledStore, decode_session, encode_json, map_err};
use crate::store::{SessionRow, SessionStore, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl SessionStore for SledStore {
    async fn put_session(&self, token_hash: &[u8; 32], row: &SessionRow) -> StoreResult<()> {
        self.sessions
            .insert(token_hash, encode_json(row))
            .map_err(|e| map_err(e, "writing a session"))?;
        self.durable().await
    }

    async fn session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRow>> {
        self.sessions
            .get(token_hash)
            .map_err(|e| map_err(e, "reading a session"))?
            .map(|v| decode_session(&v))
            .transpose()
    }

    async fn touch_session(&self, token_hash: &[u8; 32], at: DateTime<Utc>) -> StoreResult<()> {
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
        self.sessions
            .remove(token_hash)
            .map_err(|e| map_err(e, "ending a session"))?;
        self.durable().await
    }
}
