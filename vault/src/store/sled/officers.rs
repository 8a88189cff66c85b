//! Officer credentials.

use super::{SledStore, decode_json, encode_json, map_err};
use crate::store::{OfficerRow, OfficerStore, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl OfficerStore for SledStore {
    async fn put_officer(&self, row: &OfficerRow) -> StoreResult<()> {
        let _gate = self.write_gate().await;
        // One credential per officer id: drop any older one first.
        for item in self.officers.iter() {
            let (key, value) = item.map_err(|e| map_err(e, "listing officers"))?;
            let old: OfficerRow = decode_json(&value, "officer")?;
            if old.id == row.id && old.token_hash != row.token_hash {
                self.officers
                    .remove(key)
                    .map_err(|e| map_err(e, "replacing an officer"))?;
            }
        }
        self.officers
            .insert(row.token_hash, encode_json(row))
            .map_err(|e| map_err(e, "writing an officer"))?;
        self.durable().await
    }

    async fn officer_by_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<OfficerRow>> {
        self.officers
            .get(token_hash)
            .map_err(|e| map_err(e, "reading an officer"))?
            .map(|v| decode_json(&v, "officer"))
            .transpose()
    }

    async fn officers(&self) -> StoreResult<Vec<OfficerRow>> {
        let mut all: Vec<OfficerRow> = self
            .officers
            .iter()
            .values()
            .map(|v| decode_json(&v.map_err(|e| map_err(e, "listing officers"))?, "officer"))
            .collect::<StoreResult<_>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }
}
