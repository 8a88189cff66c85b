//! What a coach proposes for a resident's record: checked against the category's schema,
//! sealed under the resident's data key until the resident decides, and, once confirmed,
//! stored as the resident's own new version with the coach named in its audit entry.

use super::Residents;
use crate::audit::Context;
use crate::audit::entry::Action;
use crate::crypto::proposal_aad;
use crate::residents::ResidentId;
use crate::{Error, Result};
use kluis_proto::records::RecordWritten;
use uuid::Uuid;

impl Residents {
    /// Checks a proposed record for `category` (the resident fills it in; it passes the
    /// schema) and seals it for proposal `id`.
    pub async fn seal_proposal(
        &self,
        resident: ResidentId,
        id: Uuid,
        category: &str,
        data: &serde_json::Value,
    ) -> Result<Vec<u8>> {
        self.refuse_department_kept(category)?;
        self.catalogue.get(category)?.validate(data)?;
        let plaintext = zeroize::Zeroizing::new(
            serde_json::to_vec(data)
                .map_err(|e| Error::Internal(format!("encoding a proposal: {e}")))?,
        );
        let key = self.data_key(resident).await?;
        Ok(key
            .seal(&proposal_aad(&resident, &id, category), &plaintext)?
            .0)
    }

    /// Opens a sealed proposal.
    pub async fn open_proposal(
        &self,
        resident: ResidentId,
        id: Uuid,
        category: &str,
        sealed: &[u8],
    ) -> Result<serde_json::Value> {
        let key = self.data_key(resident).await?;
        let plaintext = key.open(&proposal_aad(&resident, &id, category), sealed)?;
        serde_json::from_slice(&plaintext)
            .map_err(|_| Error::Internal("a proposal opened but is not JSON".into()))
    }

    /// Stores a confirmed proposal as the resident's own new version; the audit entry
    /// names the coach who proposed it and the proposal.
    pub async fn write_proposed(
        &self,
        context: &Context,
        resident: ResidentId,
        category: &str,
        data: &serde_json::Value,
        (coach, proposal): (&str, Uuid),
    ) -> Result<RecordWritten> {
        self.refuse_department_kept(category)?;
        let mut written = self
            .store_versions(context, resident, &[(category, data)], |category| {
                let mut entry = self.own_entry(Action::RecordWrite, resident, category);
                entry.details.insert("proposed_by".into(), coach.to_owned());
                entry
                    .details
                    .insert("proposal".into(), proposal.to_string());
                entry
            })
            .await?;
        written
            .pop()
            .ok_or_else(|| Error::Internal("a write stored nothing".into()))
    }
}
