//! Server-side sessions and logins in progress, shared by every node.
//!
//! A session's `last_seen` lives in its own column (a touch updates only that); the row's
//! value keeps the rest.

use super::{PostgresStore, map_err, row, value};
use crate::store::{PendingLoginRow, SessionRow, SessionStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn put_session(&self, token_hash: &[u8; 32], session: &SessionRow) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sessions (token_hash, subject, login_id, created_at, last_seen, value) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO UPDATE SET \
                 subject = EXCLUDED.subject, login_id = EXCLUDED.login_id, \
                 created_at = EXCLUDED.created_at, last_seen = EXCLUDED.last_seen, \
                 value = EXCLUDED.value",
                &[
                    &token_hash.as_slice(),
                    &session.subject.key(),
                    &session.login_id,
                    &session.created_at,
                    &session.last_seen,
                    &value(session),
                ],
            )
            .await
            .map_err(map_err("writing a session"))?;
        Ok(())
    }

    async fn session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value, last_seen FROM sessions WHERE token_hash = $1")
            .await
            .map_err(map_err("reading a session"))?;
        let Some(found) = client
            .query_opt(&stmt, &[&token_hash.as_slice()])
            .await
            .map_err(map_err("reading a session"))?
        else {
            return Ok(None);
        };
        let mut session: SessionRow = row(found.get::<_, &[u8]>(0), "session")?;
        session.last_seen = found.get(1);
        Ok(Some(session))
    }

    async fn touch_session(&self, token_hash: &[u8; 32], at: DateTime<Utc>) -> StoreResult<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE sessions SET last_seen = greatest(last_seen, $2) WHERE token_hash = $1",
            )
            .await
            .map_err(map_err("touching a session"))?;
        client
            .execute(&stmt, &[&token_hash.as_slice(), &at])
            .await
            .map_err(map_err("touching a session"))?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM sessions WHERE token_hash = $1",
                &[&token_hash.as_slice()],
            )
            .await
            .map_err(map_err("ending a session"))?;
        Ok(())
    }

    async fn delete_login(&self, login_id: &str) -> StoreResult<usize> {
        if login_id.is_empty() {
            return Ok(0);
        }
        let client = self.client().await?;
        let ended = client
            .execute(
                // The second condition lets a generic plan use the partial index.
                "DELETE FROM sessions WHERE login_id = $1 AND login_id <> ''",
                &[&login_id],
            )
            .await
            .map_err(map_err("ending a login's sessions"))?;
        Ok(count(ended))
    }

    async fn sessions_of(&self, subject: &str) -> StoreResult<Vec<([u8; 32], DateTime<Utc>)>> {
        let client = self.client().await?;
        client
            .query(
                "SELECT token_hash, created_at FROM sessions WHERE subject = $1 \
                 ORDER BY created_at, token_hash",
                &[&subject],
            )
            .await
            .map_err(map_err("listing a person's sessions"))?
            .iter()
            .map(|r| {
                let hash = <[u8; 32]>::try_from(r.get::<_, &[u8]>(0))
                    .map_err(|_| StoreError::Corrupt("session key".into()))?;
                Ok((hash, r.get(1)))
            })
            .collect()
    }

    async fn purge_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let client = self.client().await?;
        let purged = client
            .execute(
                "DELETE FROM sessions WHERE last_seen < $1 OR created_at < $2",
                &[&idle_before, &created_before],
            )
            .await
            .map_err(map_err("purging sessions"))?;
        Ok(count(purged))
    }

    async fn put_pending_login(
        &self,
        state_hash: &[u8; 32],
        login: &PendingLoginRow,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO pending_logins (state_hash, created_at, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (state_hash) DO UPDATE SET created_at = EXCLUDED.created_at, \
                 value = EXCLUDED.value",
                &[&state_hash.as_slice(), &login.created_at, &value(login)],
            )
            .await
            .map_err(map_err("storing a login"))?;
        Ok(())
    }

    async fn take_pending_login(
        &self,
        state_hash: &[u8; 32],
    ) -> StoreResult<Option<PendingLoginRow>> {
        let client = self.client().await?;
        client
            .query_opt(
                "DELETE FROM pending_logins WHERE state_hash = $1 RETURNING value",
                &[&state_hash.as_slice()],
            )
            .await
            .map_err(map_err("taking a login"))?
            .map(|r| row(r.get::<_, &[u8]>(0), "pending login"))
            .transpose()
    }

    async fn purge_pending_logins(&self, started_before: DateTime<Utc>) -> StoreResult<usize> {
        let client = self.client().await?;
        let purged = client
            .execute(
                "DELETE FROM pending_logins WHERE created_at < $1",
                &[&started_before],
            )
            .await
            .map_err(map_err("purging logins in progress"))?;
        Ok(count(purged))
    }

    async fn pending_login_count(&self) -> StoreResult<usize> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one("SELECT count(*) FROM pending_logins", &[])
            .await
            .map_err(map_err("counting logins in progress"))?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn session_count(&self) -> StoreResult<usize> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one("SELECT count(*) FROM sessions", &[])
            .await
            .map_err(map_err("counting sessions"))?
            .get(0);
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
