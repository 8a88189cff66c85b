//! Writing records: the resident's own categories, and the categories a department keeps
//! for them (written under a grant the consent service checked). Every version is sealed
//! under the resident's data key and stored in one transaction with its audit entry.

use super::Residents;
use crate::audit::Context;
use crate::audit::entry::{Action, Entry};
use crate::crypto::record_aad;
use crate::residents::ResidentId;
use crate::store::{RecordChange, StoredRecord};
use crate::{Error, Result};
use kluis_proto::records::RecordWritten;

impl Residents {
    /// Checks `data` against the category's schema and stores it as a new version,
    /// together with its audit entry: if the entry cannot be written, neither is the
    /// record (the caller gets `AuditUnavailable` and the vault is as it was).
    pub async fn write(
        &self,
        context: &Context,
        resident: ResidentId,
        category: &str,
        data: &serde_json::Value,
    ) -> Result<RecordWritten> {
        let mut written = self
            .write_all(context, resident, &[(category, data)])
            .await?;
        written
            .pop()
            .ok_or_else(|| Error::Internal("a write stored nothing".into()))
    }

    /// Checks every one of `records` (category, data) against its schema, then stores
    /// them all as new versions with their audit entries in one transaction: all, or
    /// (on any bad record or failure) none. A category a department keeps is refused: the
    /// resident sees it but asks the department to change it.
    pub async fn write_all(
        &self,
        context: &Context,
        resident: ResidentId,
        records: &[(&str, &serde_json::Value)],
    ) -> Result<Vec<RecordWritten>> {
        for (category, _) in records {
            self.refuse_department_kept(category)?;
        }
        self.store_versions(context, resident, records, |category| {
            self.own_entry(Action::RecordWrite, resident, category)
        })
        .await
    }

    /// Stores a record of a category a department keeps, written by that department; the
    /// caller has checked its grant and made its audit `entry`.
    pub async fn write_for_department(
        &self,
        context: &Context,
        resident: ResidentId,
        category: &str,
        data: &serde_json::Value,
        entry: Entry,
    ) -> Result<RecordWritten> {
        if !self.catalogue.get(category)?.kept_by_department() {
            return Err(Error::Forbidden(
                "the resident fills this category in; a department can only read it",
            ));
        }
        let mut written = self
            .store_versions(context, resident, &[(category, data)], |_| entry.clone())
            .await?;
        written
            .pop()
            .ok_or_else(|| Error::Internal("a write stored nothing".into()))
    }

    /// Refuses (`Forbidden`) a category a department keeps: the resident may see it, not
    /// change it.
    pub fn refuse_department_kept(&self, category: &str) -> Result<()> {
        if self.catalogue.get(category)?.kept_by_department() {
            return Err(Error::Forbidden(
                "a department keeps this category; ask the department to change it",
            ));
        }
        Ok(())
    }

    pub(super) async fn store_versions(
        &self,
        context: &Context,
        resident: ResidentId,
        records: &[(&str, &serde_json::Value)],
        entry_for: impl Fn(&str) -> Entry,
    ) -> Result<Vec<RecordWritten>> {
        for (category, data) in records {
            self.catalogue.get(category)?.validate(data)?;
        }
        let key = self.data_key(resident).await?;
        let created_at = self.clock.now();
        let mut changes = Vec::with_capacity(records.len());
        let mut written = Vec::with_capacity(records.len());
        for (category, data) in records {
            let version = self
                .store
                .reserve_record_version(resident, category)
                .await?;
            let plaintext = zeroize::Zeroizing::new(
                serde_json::to_vec(data)
                    .map_err(|e| Error::Internal(format!("encoding a record: {e}")))?,
            );
            let sealed = key.seal(&record_aad(&resident, category, version), &plaintext)?;
            let change = RecordChange::Put {
                resident,
                category: (*category).to_owned(),
                record: StoredRecord {
                    version,
                    created_at,
                    sealed: sealed.0,
                },
            };
            changes.push((entry_for(category), change));
            written.push(RecordWritten {
                category: (*category).to_owned(),
                version,
                created_at,
            });
        }
        // Departments that read an older version hear of the new one in the same
        // transaction (GDPR art. 19).
        let actor = changes.first().map(|(entry, _)| entry.actor.clone());
        let mut entries: Vec<(Entry, Option<RecordChange>)> = changes
            .into_iter()
            .map(|(entry, change)| (entry, Some(change)))
            .collect();
        if let Some(actor) = actor {
            let reference = self.audit_reference(resident);
            entries.extend(
                self.signals
                    .rectified(&actor, resident, &reference, &written)
                    .await?,
            );
        }
        self.audit.record_all(context, entries).await?;
        Ok(written)
    }
}
