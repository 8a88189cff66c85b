//! Officer credentials, by the hash of the credential.

use super::{PostgresStore, map_err, row, value};
use crate::store::{OfficerRow, OfficerStore, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl OfficerStore for PostgresStore {
    async fn put_officer(&self, officer: &OfficerRow) -> StoreResult<()> {
        let action = "writing an officer";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        // A new credential for an officer replaces the old one.
        tx.execute(
            "DELETE FROM officers WHERE id = $1 AND token_hash <> $2",
            &[&officer.id, &officer.token_hash.as_slice()],
        )
        .await
        .map_err(map_err(action))?;
        tx.execute(
            "INSERT INTO officers (token_hash, id, value) VALUES ($1, $2, $3) \
             ON CONFLICT (token_hash) DO UPDATE SET id = EXCLUDED.id, value = EXCLUDED.value",
            &[&officer.token_hash.as_slice(), &officer.id, &value(officer)],
        )
        .await
        .map_err(map_err(action))?;
        tx.commit().await.map_err(map_err(action))
    }

    async fn officer_by_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<OfficerRow>> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT value FROM officers WHERE token_hash = $1",
                &[&token_hash.as_slice()],
            )
            .await
            .map_err(map_err("reading an officer"))?
            .map(|r| row(r.get::<_, &[u8]>(0), "officer"))
            .transpose()
    }

    async fn officers(&self) -> StoreResult<Vec<OfficerRow>> {
        let client = self.client().await?;
        client
            .query("SELECT value FROM officers ORDER BY id, token_hash", &[])
            .await
            .map_err(map_err("listing officers"))?
            .iter()
            .map(|r| row(r.get::<_, &[u8]>(0), "officer"))
            .collect()
    }
}
