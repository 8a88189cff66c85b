//! The resident's rights over the whole vault: download everything (GDPR art. 20) and
//! erase it (art. 17).
//!
//! Erasure ends every grant (the next read is refused), declines every open request,
//! deletes the records and the resident's wrapped data key (crypto-shredding), ends the
//! resident's sessions, and schedules a key rotation: until it has run, old copies of the
//! wrapped key may survive in the database's files or an old backup; after it, the key
//! that wrapped them no longer exists and nothing of the vault can be opened. The audit
//! log keeps its pseudonymous entries, as the law requires of a processing record.

use super::{Consent, activity_version};
use crate::Result;
use crate::audit::Context;
use crate::audit::entry::{Action, Entry, Outcome};
use crate::residents::ResidentId;
use crate::signals::may_still_hold;
use crate::store::RequestState;
use chrono::TimeDelta;
use kluis_proto::events::EventKind;
use serde_json::{Value, json};

impl Consent {
    /// Everything the vault holds about the resident, readable: every version of every
    /// record, every request and grant, and the audit entries about them.
    pub async fn export_vault(&self, context: &Context, resident: ResidentId) -> Result<Value> {
        let row = self.residents.resident(resident).await?;
        let mut records = serde_json::Map::new();
        for summary in self.residents.overview(resident).await? {
            let mut versions = Vec::new();
            for version in self.residents.versions(resident, &summary.category).await? {
                versions.push(
                    self.residents
                        .read(resident, &summary.category, Some(version.version))
                        .await?,
                );
            }
            records.insert(summary.category, json!(versions));
        }
        let reference = self.residents.audit_reference(resident);
        let history = self.audit.about_resident(&reference).await?;
        let export = json!({
            "format": "kluis-vault-export/1",
            "exported_at": self.clock.now(),
            "vault_created_at": row.created_at,
            "audit_reference": reference,
            "records": records,
            "requests": self.resident_requests(resident, true).await?,
            "grants": self.resident_grants(resident).await?,
            "consent_records": self.consent_records_of(resident).await?,
            "audit": history,
        });
        let mut entry = Entry::new(Action::Export, Outcome::Done, self.resident_actor(resident));
        entry.resident = Some(reference);
        self.audit.record(context, entry).await?;
        Ok(export)
    }

    /// Erases the resident's vault, in one call: revokes every grant, declines every open
    /// request, destroys the records and the data key, and schedules the key rotation that
    /// completes the erasure `rotate_after` from now (running it at once if that is now).
    pub async fn erase_vault(
        &self,
        context: &Context,
        resident: ResidentId,
        rotate_after: TimeDelta,
    ) -> Result<()> {
        self.residents.resident(resident).await?;
        let actor = self.resident_actor(resident);
        let reference = self.residents.audit_reference(resident);
        let grants = self.store.grants_of_resident(resident).await?;
        for grant in &grants {
            if grant.revoked_at.is_none() {
                self.revoke(context, resident, grant.id).await?;
            }
        }
        // Every department that may still hold what it read is asked to delete it (art.
        // 17(2)), before the vault's data is destroyed: the requests outlive the vault.
        let now = self.clock.now();
        let mut requests = Vec::new();
        for grant in &grants {
            let department = self.department_row(&grant.department).await?;
            let activity =
                activity_version(&department, &grant.activity_id, grant.activity_version)?;
            if may_still_hold(grant, activity, now) {
                requests.push(self.grant_notice(
                    grant,
                    EventKind::ErasureRequested {
                        grant: grant.id,
                        read: None,
                        categories: grant.categories.iter().cloned().collect(),
                    },
                )?);
            }
        }
        self.audit.record_all(context, requests).await?;
        let subjects = self.subjects_of(resident).await?;
        for request in self.store.requests_about(&subjects).await? {
            if request.state == RequestState::Pending {
                self.decline(context, resident, request.id).await?;
            }
        }
        let due = self.residents.erase(resident, rotate_after).await?;
        let mut entry = Entry::new(Action::Erasure, Outcome::Done, actor);
        entry.resident = Some(reference);
        entry
            .details
            .insert("key_rotation_due".into(), due.to_rfc3339());
        self.audit.record(context, entry).await?;
        tracing::info!("a vault was erased; a key rotation is due");
        // When the rotation is due at once (`rotate_after` zero), run it now.
        self.residents.rotate_if_due(context).await?;
        Ok(())
    }
}

impl Consent {
    /// The resident asks the department that made read `seq` (an entry of the log) to
    /// delete what that read returned (art. 17(2)): an erasure request limited to that
    /// read. Once per read; a read of another resident is as unknown as none.
    pub async fn ask_erasure_of_read(
        &self,
        context: &Context,
        resident: ResidentId,
        seq: u64,
    ) -> Result<()> {
        let reference = self.residents.audit_reference(resident);
        let unknown = || crate::Error::NotFound("read");
        if seq >= self.audit.size().await {
            return Err(unknown());
        }
        let read = self
            .audit
            .entries(seq, seq + 1)
            .await?
            .pop()
            .filter(|e| {
                e.resident.as_deref() == Some(reference.as_str())
                    && e.action == Action::Read
                    && e.outcome == Outcome::Allowed
            })
            .ok_or_else(unknown)?;
        let grant = self
            .own_grant(resident, read.grant.ok_or_else(unknown)?)
            .await?;
        let _one = self.signals.one_at_a_time().await;
        let asked_before = self.audit.about_grant(grant.id).await?.iter().any(|e| {
            e.action == Action::Notice
                && e.details.get("event").map(String::as_str)
                    == Some(kluis_proto::events::ERASURE_REQUESTED)
                && e.details.get("read").is_none_or(|r| r == &seq.to_string())
        });
        if asked_before {
            return Err(crate::Error::Conflict(
                "you asked this department already to delete what it read",
            ));
        }
        let notice = self.grant_notice(
            &grant,
            EventKind::ErasureRequested {
                grant: grant.id,
                read: Some(seq),
                categories: read.categories.clone(),
            },
        )?;
        self.audit.record_all(context, vec![notice]).await?;
        Ok(())
    }
}
