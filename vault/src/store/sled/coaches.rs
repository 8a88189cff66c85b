//! Coaches, their one-time codes, look-alongs, proposals and witness statements.

use super::{SledStore, decode_json, encode_json, map_err};
use crate::store::{
    CoachCodeRow, CoachRow, CoachStore, LookAlongChange, LookAlongRow, ProposalRow, ProposalState,
    StoreError, StoreResult, WitnessRow,
};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// The key of `id` under `owner` in a by-owner index: the owner, `0x00`, the id.
fn owned(owner: &[u8], id: Uuid) -> Vec<u8> {
    [owner, &[0], id.as_bytes()].concat()
}

impl SledStore {
    /// Every row of `tree` indexed under `owner` in `index`, oldest first by `at`.
    fn rows_of<T: DeserializeOwned>(
        &self,
        index: &sled::Tree,
        tree: &sled::Tree,
        owner: &[u8],
        what: &str,
    ) -> StoreResult<Vec<T>> {
        let prefix = [owner, &[0]].concat();
        let mut out = Vec::new();
        for key in index.scan_prefix(&prefix).keys() {
            let key = key.map_err(|e| map_err(e, what))?;
            let value = tree
                .get(&key[prefix.len()..])
                .map_err(|e| map_err(e, what))?
                .ok_or_else(|| StoreError::Corrupt(format!("{what} index")))?;
            out.push(decode_json(&value, what)?);
        }
        Ok(out)
    }

    /// Removes a resident's look-alongs, proposals and witness statements (part of an
    /// erasure; flushed by the caller).
    pub(super) fn erase_coaching(&self, resident: Uuid) -> StoreResult<()> {
        let owner = [resident.as_bytes().as_slice(), &[0]].concat();
        for key in self.look_alongs_by_resident.scan_prefix(&owner).keys() {
            let key = key.map_err(|e| map_err(e, "listing look-alongs"))?;
            let id = &key[owner.len()..];
            if let Some(value) = self
                .look_alongs
                .remove(id)
                .map_err(|e| map_err(e, "erasing a look-along"))?
            {
                let row: LookAlongRow = decode_json(&value, "look-along")?;
                self.look_alongs_by_coach
                    .remove(owned(row.coach.as_bytes(), row.id))
                    .map_err(|e| map_err(e, "erasing a look-along"))?;
            }
            self.look_alongs_by_resident
                .remove(&key)
                .map_err(|e| map_err(e, "erasing a look-along"))?;
        }
        for (index, tree) in [
            (&self.proposals_by_resident, &self.proposals),
            (&self.witnesses_by_resident, &self.witnesses),
        ] {
            for key in index.scan_prefix(&owner).keys() {
                let key = key.map_err(|e| map_err(e, "listing a vault's coaching"))?;
                tree.remove(&key[owner.len()..])
                    .map_err(|e| map_err(e, "erasing a vault's coaching"))?;
                index
                    .remove(&key)
                    .map_err(|e| map_err(e, "erasing a vault's coaching"))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl CoachStore for SledStore {
    async fn put_coach(&self, row: &CoachRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.coaches
            .insert(row.id.as_bytes(), encode_json(row))
            .map_err(|e| map_err(e, "writing a coach"))?;
        self.durable().await
    }

    async fn coach(&self, id: &str) -> StoreResult<Option<CoachRow>> {
        self.coaches
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading a coach"))?
            .map(|v| decode_json(&v, "coach"))
            .transpose()
    }

    async fn coaches(&self) -> StoreResult<Vec<CoachRow>> {
        self.coaches
            .iter()
            .values()
            .map(|v| decode_json(&v.map_err(|e| map_err(e, "listing coaches"))?, "coach"))
            .collect()
    }

    async fn put_coach_code(&self, code_hash: &[u8; 32], row: &CoachCodeRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.coach_codes
            .insert(code_hash, encode_json(row))
            .map_err(|e| map_err(e, "writing a coach code"))?;
        self.durable().await
    }

    async fn coach_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<CoachCodeRow>> {
        self.coach_codes
            .get(code_hash)
            .map_err(|e| map_err(e, "reading a coach code"))?
            .map(|v| decode_json(&v, "coach code"))
            .transpose()
    }

    async fn take_coach_code(&self, code_hash: &[u8; 32]) -> StoreResult<Option<CoachCodeRow>> {
        let _gate = self.write_gate().await;
        // `remove` is atomic: of two concurrent redemptions, one gets the row.
        let taken = self
            .coach_codes
            .remove(code_hash)
            .map_err(|e| map_err(e, "using a coach code"))?
            .map(|v| decode_json(&v, "coach code"))
            .transpose()?;
        self.durable().await?;
        Ok(taken)
    }

    async fn put_look_along(&self, row: &LookAlongRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.look_alongs_by_resident
            .insert(owned(row.resident.as_bytes(), row.id), &[])
            .map_err(|e| map_err(e, "indexing a look-along"))?;
        self.look_alongs_by_coach
            .insert(owned(row.coach.as_bytes(), row.id), &[])
            .map_err(|e| map_err(e, "indexing a look-along"))?;
        self.look_alongs
            .insert(row.id.as_bytes(), encode_json(row))
            .map_err(|e| map_err(e, "writing a look-along"))?;
        self.durable().await
    }

    async fn change_look_along(
        &self,
        id: Uuid,
        change: &LookAlongChange,
    ) -> StoreResult<Option<LookAlongRow>> {
        let _gate = self.write_gate().await;
        // `update_and_fetch` retries the closure until its compare-and-swap holds: no
        // concurrent change is lost. A value that does not decode is left as it is.
        let updated = self
            .look_alongs
            .update_and_fetch(id.as_bytes(), |old| {
                let old = old?;
                match decode_json::<LookAlongRow>(old, "look-along") {
                    Ok(row) => Some(encode_json(&change.apply(row))),
                    Err(_) => Some(old.to_vec()),
                }
            })
            .map_err(|e| map_err(e, "changing a look-along"))?
            .map(|v| decode_json(&v, "look-along"))
            .transpose()?;
        self.durable().await?;
        Ok(updated)
    }

    async fn look_along(&self, id: Uuid) -> StoreResult<Option<LookAlongRow>> {
        self.look_alongs
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading a look-along"))?
            .map(|v| decode_json(&v, "look-along"))
            .transpose()
    }

    async fn look_alongs_of_resident(&self, resident: Uuid) -> StoreResult<Vec<LookAlongRow>> {
        let mut rows: Vec<LookAlongRow> = self.rows_of(
            &self.look_alongs_by_resident,
            &self.look_alongs,
            resident.as_bytes(),
            "look-along",
        )?;
        rows.sort_by_key(|r| r.started_at);
        Ok(rows)
    }

    async fn look_alongs_of_coach(&self, coach: &str) -> StoreResult<Vec<LookAlongRow>> {
        let mut rows: Vec<LookAlongRow> = self.rows_of(
            &self.look_alongs_by_coach,
            &self.look_alongs,
            coach.as_bytes(),
            "look-along",
        )?;
        rows.sort_by_key(|r| r.started_at);
        Ok(rows)
    }

    async fn put_proposal(&self, row: &ProposalRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.proposals_by_resident
            .insert(owned(row.resident.as_bytes(), row.id), &[])
            .map_err(|e| map_err(e, "indexing a proposal"))?;
        self.proposals
            .insert(row.id.as_bytes(), encode_json(row))
            .map_err(|e| map_err(e, "writing a proposal"))?;
        self.durable().await
    }

    async fn proposal(&self, id: Uuid) -> StoreResult<Option<ProposalRow>> {
        self.proposals
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading a proposal"))?
            .map(|v| decode_json(&v, "proposal"))
            .transpose()
    }

    async fn proposals_of_resident(&self, resident: Uuid) -> StoreResult<Vec<ProposalRow>> {
        let mut rows: Vec<ProposalRow> = self.rows_of(
            &self.proposals_by_resident,
            &self.proposals,
            resident.as_bytes(),
            "proposal",
        )?;
        rows.sort_by_key(|r| r.created_at);
        Ok(rows)
    }

    async fn purge_coaching(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<usize> {
        let _gate = self.write_gate().await;
        let mut purged = 0;
        for item in self.coach_codes.iter() {
            let (key, value) = item.map_err(|e| map_err(e, "listing coach codes"))?;
            let code: CoachCodeRow = decode_json(&value, "coach code")?;
            if code.expires_at <= now {
                self.coach_codes
                    .remove(key)
                    .map_err(|e| map_err(e, "forgetting a coach code"))?;
                purged += 1;
            }
        }
        for item in self.proposals.iter() {
            let (key, value) = item.map_err(|e| map_err(e, "listing proposals"))?;
            let row: ProposalRow = decode_json(&value, "proposal")?;
            if row.state == ProposalState::Open && row.expires_at <= now {
                let lapsed = ProposalRow {
                    state: ProposalState::Lapsed,
                    sealed: Vec::new(),
                    ..row
                };
                self.proposals
                    .insert(key, encode_json(&lapsed))
                    .map_err(|e| map_err(e, "marking a proposal lapsed"))?;
                purged += 1;
            }
        }
        if purged > 0 {
            self.durable().await?;
        }
        Ok(purged)
    }

    async fn put_witness(&self, row: &WitnessRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        self.witnesses_by_resident
            .insert(owned(row.resident.as_bytes(), row.id), &[])
            .map_err(|e| map_err(e, "indexing a witness statement"))?;
        self.witnesses
            .insert(row.id.as_bytes(), encode_json(row))
            .map_err(|e| map_err(e, "writing a witness statement"))?;
        self.durable().await
    }

    async fn witness(&self, id: Uuid) -> StoreResult<Option<WitnessRow>> {
        self.witnesses
            .get(id.as_bytes())
            .map_err(|e| map_err(e, "reading a witness statement"))?
            .map(|v| decode_json(&v, "witness statement"))
            .transpose()
    }

    async fn witnesses_of_resident(&self, resident: Uuid) -> StoreResult<Vec<WitnessRow>> {
        let mut rows: Vec<WitnessRow> = self.rows_of(
            &self.witnesses_by_resident,
            &self.witnesses,
            resident.as_bytes(),
            "witness statement",
        )?;
        rows.sort_by_key(|r| r.recorded_at);
        Ok(rows)
    }
}
