//! Coaches, their one-time codes, look-alongs, proposals and witness statements.

use super::{PostgresStore, map_err, row, value};
use crate::store::{
    CoachCodeRow, CoachRow, CoachStore, LookAlongChange, LookAlongRow, ProposalRow, ProposalState,
    StoreResult, WitnessRow,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use uuid::Uuid;

impl PostgresStore {
    /// Every row `sql` selects (its first column the value), decoded as `what`.
    async fn rows<T: DeserializeOwned>(
        &self,
        sql: &str,
        key: &(dyn tokio_postgres::types::ToSql + Sync),
        what: &str,
    ) -> StoreResult<Vec<T>> {
        let client = self.client().await?;
        client
            .query(sql, &[key])
            .await
            .map_err(map_err(what))?
            .iter()
            .map(|r| row(r.get::<_, &[u8]>(0), what))
            .collect()
    }

    async fn one<T: DeserializeOwned>(
        &self,
        sql: &str,
        key: &(dyn tokio_postgres::types::ToSql + Sync),
        what: &str,
    ) -> StoreResult<Option<T>> {
        let client = self.client().await?;
        client
            .query_opt(sql, &[key])
            .await
            .map_err(map_err(what))?
            .map(|r| row(r.get::<_, &[u8]>(0), what))
            .transpose()
    }

    async fn write(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        what: &str,
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        client.execute(sql, params).await.map_err(map_err(what))
    }
}

/// When an open proposal lapses (none once it is answered or lapsed).
fn open_until(proposal: &ProposalRow) -> Option<DateTime<Utc>> {
    (proposal.state == ProposalState::Open).then_some(proposal.expires_at)
}

#[async_trait]
impl CoachStore for PostgresStore {
    async fn put_coach(&self, coach: &CoachRow) -> StoreResult<()> {
        self.write(
            "INSERT INTO coaches (id, value) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
            &[&coach.id, &value(coach)],
            "writing a coach",
        )
        .await?;
        Ok(())
    }

    async fn coach(&self, id: &str) -> StoreResult<Option<CoachRow>> {
        self.one("SELECT value FROM coaches WHERE id = $1", &id, "coach")
            .await
    }

    async fn coaches(&self) -> StoreResult<Vec<CoachRow>> {
        let client = self.client().await?;
        client
            .query("SELECT value FROM coaches ORDER BY id", &[])
            .await
            .map_err(map_err("listing coaches"))?
            .iter()
            .map(|r| row(r.get::<_, &[u8]>(0), "coach"))
            .collect()
    }

    async fn put_coach_code(&self, code_hash: &[u8; 32], code: &CoachCodeRow) -> StoreResult<()> {
        self.write(
            "INSERT INTO coach_codes (code_hash, expires_at, value) VALUES ($1, $2, $3) \
             ON CONFLICT (code_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at, \
             value = EXCLUDED.value",
            &[&code_hash.as_slice(), &code.expires_at, &value(code)],
            "writing a coach code",
        )
        .await?;
        Ok(())
    }

    async fn coach_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<CoachCodeRow>> {
        self.one(
            "SELECT value FROM coach_codes WHERE code_hash = $1",
            &code_hash.as_slice(),
            "coach code",
        )
        .await
    }

    async fn take_coach_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<CoachCodeRow>> {
        self.one(
            "DELETE FROM coach_codes WHERE code_hash = $1 RETURNING value",
            &code_hash.as_slice(),
            "coach code",
        )
        .await
    }

    async fn put_look_along(&self, look_along: &LookAlongRow) -> StoreResult<()> {
        self.write(
            "INSERT INTO look_alongs (id, resident, coach, started_at, value) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
            &[
                &look_along.id,
                &look_along.resident,
                &look_along.coach,
                &look_along.started_at,
                &value(look_along),
            ],
            "writing a look-along",
        )
        .await?;
        Ok(())
    }

    async fn change_look_along(
        &self,
        id: Uuid,
        change: &LookAlongChange,
    ) -> StoreResult<Option<LookAlongRow>> {
        let action = "changing a look-along";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        let Some(current) = tx
            .query_opt(
                "SELECT value FROM look_alongs WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(map_err(action))?
        else {
            return Ok(None);
        };
        let changed = change.apply(row(current.get::<_, &[u8]>(0), "look-along")?);
        tx.execute(
            "UPDATE look_alongs SET value = $2 WHERE id = $1",
            &[&id, &value(&changed)],
        )
        .await
        .map_err(map_err(action))?;
        tx.commit().await.map_err(map_err(action))?;
        Ok(Some(changed))
    }

    async fn look_along(&self, id: Uuid) -> StoreResult<Option<LookAlongRow>> {
        self.one(
            "SELECT value FROM look_alongs WHERE id = $1",
            &id,
            "look-along",
        )
        .await
    }

    async fn look_alongs_of_resident(&self, resident: Uuid) -> StoreResult<Vec<LookAlongRow>> {
        self.rows(
            "SELECT value FROM look_alongs WHERE resident = $1 ORDER BY started_at, id",
            &resident,
            "look-along",
        )
        .await
    }

    async fn look_alongs_of_coach(&self, coach: &str) -> StoreResult<Vec<LookAlongRow>> {
        self.rows(
            "SELECT value FROM look_alongs WHERE coach = $1 ORDER BY started_at, id",
            &coach,
            "look-along",
        )
        .await
    }

    async fn put_proposal(&self, proposal: &ProposalRow) -> StoreResult<()> {
        self.write(
            "INSERT INTO proposals (id, resident, created_at, open_until, value) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
             open_until = EXCLUDED.open_until, value = EXCLUDED.value",
            &[
                &proposal.id,
                &proposal.resident,
                &proposal.created_at,
                &open_until(proposal),
                &value(proposal),
            ],
            "writing a proposal",
        )
        .await?;
        Ok(())
    }

    async fn proposal(&self, id: Uuid) -> StoreResult<Option<ProposalRow>> {
        self.one("SELECT value FROM proposals WHERE id = $1", &id, "proposal")
            .await
    }

    async fn proposals_of_resident(&self, resident: Uuid) -> StoreResult<Vec<ProposalRow>> {
        self.rows(
            "SELECT value FROM proposals WHERE resident = $1 ORDER BY created_at, id",
            &resident,
            "proposal",
        )
        .await
    }

    async fn purge_coaching(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let action = "purging coaching";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        let codes = tx
            .execute("DELETE FROM coach_codes WHERE expires_at <= $1", &[&now])
            .await
            .map_err(map_err(action))?;
        let lapsing = tx
            .query(
                "SELECT value FROM proposals WHERE open_until <= $1 FOR UPDATE",
                &[&now],
            )
            .await
            .map_err(map_err(action))?;
        for found in &lapsing {
            let proposal: ProposalRow = row(found.get::<_, &[u8]>(0), "proposal")?;
            let lapsed = ProposalRow {
                state: ProposalState::Lapsed,
                sealed: Vec::new(),
                ..proposal
            };
            tx.execute(
                "UPDATE proposals SET open_until = NULL, value = $2 WHERE id = $1",
                &[&lapsed.id, &value(&lapsed)],
            )
            .await
            .map_err(map_err(action))?;
        }
        tx.commit().await.map_err(map_err(action))?;
        Ok(usize::try_from(codes).unwrap_or(usize::MAX) + lapsing.len())
    }

    async fn put_witness(&self, witness: &WitnessRow) -> StoreResult<()> {
        self.write(
            "INSERT INTO witnesses (id, resident, recorded_at, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
            &[
                &witness.id,
                &witness.resident,
                &witness.recorded_at,
                &value(witness),
            ],
            "writing a witness statement",
        )
        .await?;
        Ok(())
    }

    async fn witness(&self, id: Uuid) -> StoreResult<Option<WitnessRow>> {
        self.one(
            "SELECT value FROM witnesses WHERE id = $1",
            &id,
            "witness statement",
        )
        .await
    }

    async fn witnesses_of_resident(&self, resident: Uuid) -> StoreResult<Vec<WitnessRow>> {
        self.rows(
            "SELECT value FROM witnesses WHERE resident = $1 ORDER BY recorded_at, id",
            &resident,
            "witness statement",
        )
        .await
    }
}
