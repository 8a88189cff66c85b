//! Consent: departments ask, residents grant or refuse, grants are signed, revocation is
//! immediate, and reads get exactly what was granted.
//!
//! Every rule about a grant lives in this module and nowhere else:
//! - [`departments`]: registering departments and their processing activities, versioned
//!   so that a changed activity never widens what was granted under the old one.
//! - [`requests`]: a department asks for categories under one activity; the resident sees
//!   it in plain words and approves all, part, or nothing.
//! - [`grants`]: the signed grant (a JWT bound to the department's key), grants on the
//!   resident's own initiative, and revocation.
//! - [`access`]: whether a read may happen, as a pure function of the evidence (grant
//!   record, token claims, proof, the department's keys, the read, now).
//! - `proof`: the grant token and DPoP proof a read or a write presents, verified.
//! - [`reads`]: the department read pipeline: one call per attempt, from the raw
//!   credentials to records, writing exactly one audit entry.
//! - [`writes`]: a department writing a category it keeps (debt-help step, scores), under
//!   a grant that covers it.
//! - [`portability`]: downloading and erasing the whole vault.
//! - [`consent_records`]: each grant and its history as a signed ISO/IEC TS 27560 record.
//! - [`history`]: the resident's plain-language view of the audit log.
//!
//! Why both a legal basis and the resident's decision: in the Dutch social domain consent
//! is rarely a valid legal basis on its own, because the resident depends on the
//! municipality. A department therefore always names its own legal basis and purpose (its
//! processing activity), and the resident's grant is the added, withdrawable decision to
//! make their own data available for it.

pub mod access;
pub mod consent_records;
pub mod departments;
pub mod grants;
pub mod history;
pub mod offers;
pub mod pauses;
pub mod portability;
mod proof;
pub mod reads;
pub mod requests;
pub mod signing_keys;
pub mod writes;

use crate::audit::Audit;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::auth::departments::DepartmentAuth;
use crate::clock::Clock;
use crate::jose::keys::VaultKeys;
use crate::residents::Residents;
use crate::signals::{Notice, Signals};
use crate::store::{ActivityRow, ConsentStorage, DepartmentRow, GrantRow};
use crate::{Error, Result};
use kluis_proto::consent::{CategoryLabel, DepartmentRef, LegalBasis, ProcessingActivity};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The longest a grant may run, in days.
pub const MAX_DURATION_DAYS: u32 = 730;

/// The consent service.
#[derive(Clone)]
pub struct Consent {
    store: Arc<dyn ConsentStorage>,
    residents: Residents,
    audit: Arc<Audit>,
    departments: DepartmentAuth,
    vault_keys: Arc<VaultKeys>,
    signals: Signals,
    issuer: String,
    clock: Clock,
}

/// What the consent service is built from.
pub struct ConsentParts {
    /// Departments, requests, grants, one-time token ids.
    pub store: Arc<dyn ConsentStorage>,
    /// The record service (records, references, vault lookups).
    pub residents: Residents,
    /// The log every decision and read is written to.
    pub audit: Arc<Audit>,
    /// Department authentication (shared with the department API's extractor).
    pub departments: DepartmentAuth,
    /// The keys that sign grants.
    pub vault_keys: Arc<VaultKeys>,
    /// The events that tell departments of the resident's decisions.
    pub signals: Signals,
    /// The vault's issuer URL (its public URL).
    pub issuer: String,
    /// The clock.
    pub clock: Clock,
}

impl Consent {
    /// A consent service from its parts.
    pub fn new(parts: ConsentParts) -> Consent {
        Consent {
            store: parts.store,
            residents: parts.residents,
            audit: parts.audit,
            departments: parts.departments,
            vault_keys: parts.vault_keys,
            signals: parts.signals,
            issuer: parts.issuer,
            clock: parts.clock,
        }
    }

    /// The vault's issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The vault's signing keys (for benchmarks of grant verification).
    pub fn vault_keys(&self) -> &VaultKeys {
        &self.vault_keys
    }

    /// The published keys that verify grants.
    pub fn jwks(&self) -> serde_json::Value {
        self.vault_keys.published_jwks()
    }

    async fn department_row(&self, id: &str) -> Result<DepartmentRow> {
        self.store
            .department(id)
            .await?
            .ok_or(Error::NotFound("department"))
    }

    /// The catalogue labels of `categories` (an unknown id labels itself).
    pub fn labels<'a>(
        &self,
        categories: impl IntoIterator<Item = &'a String>,
    ) -> Vec<CategoryLabel> {
        categories
            .into_iter()
            .map(|id| match self.residents.catalogue().get(id) {
                Ok(c) => CategoryLabel {
                    id: id.clone(),
                    label_nl: c.info.label_nl.clone(),
                    label_en: c.info.label_en.clone(),
                    special_category: c.info.special_category,
                },
                Err(_) => CategoryLabel {
                    id: id.clone(),
                    label_nl: id.clone(),
                    label_en: id.clone(),
                    special_category: false,
                },
            })
            .collect()
    }
}

/// Fills in the department and processing activity of an audit entry.
fn with_activity(mut entry: Entry, department: &str, activity: &ActivityRow) -> Entry {
    entry.department = Some(department.to_owned());
    entry.processing_activity = Some(kluis_proto::consent::ActivityRef {
        id: activity.id.clone(),
        version: activity.version,
    });
    entry.purpose = Some(activity.purpose.clone());
    entry.legal_basis = Some(format!("{}, {}", activity.law, activity.article));
    entry
}

impl Consent {
    /// An audit entry about `grant`, with its activity, resident and validity.
    fn grant_entry(
        &self,
        action: Action,
        outcome: Outcome,
        actor: Actor,
        grant: &GrantRow,
        activity: &ActivityRow,
    ) -> Entry {
        let mut entry = with_activity(
            Entry::new(action, outcome, actor),
            &grant.department,
            activity,
        );
        entry.resident = Some(self.residents.audit_reference(grant.resident));
        entry.grant = Some(grant.id);
        entry.request = grant.request_id;
        entry.categories = grant.categories.iter().cloned().collect();
        entry.valid_from = Some(grant.not_before);
        entry.valid_until = Some(grant.expires_at);
        entry
    }

    /// The resident's own grant `id` (another resident's is as unknown as none).
    async fn own_grant(
        &self,
        resident: crate::residents::ResidentId,
        id: uuid::Uuid,
    ) -> Result<GrantRow> {
        match self.store.grant(id).await? {
            Some(grant) if grant.resident == resident => Ok(grant),
            _ => Err(Error::NotFound("grant")),
        }
    }

    /// The event about `grant` for its department, caused by its resident, with the entry
    /// that reports it.
    fn grant_notice(
        &self,
        grant: &GrantRow,
        kind: kluis_proto::events::EventKind,
    ) -> Result<(Entry, Option<crate::store::RecordChange>)> {
        let reference = self.residents.audit_reference(grant.resident);
        self.signals.notice(
            self.resident_actor(grant.resident),
            Notice::about_grant(grant, &reference, kind),
        )
    }

    /// The resident as an audit actor.
    fn resident_actor(&self, resident: crate::residents::ResidentId) -> Actor {
        Actor::Resident {
            reference: self.residents.audit_reference(resident),
        }
    }
}

/// The version `version` of activity `id` of a department.
pub fn activity_version<'a>(
    department: &'a DepartmentRow,
    id: &str,
    version: u32,
) -> Result<&'a ActivityRow> {
    department
        .activities
        .iter()
        .find(|a| a.id == id && a.version == version)
        .ok_or(Error::NotFound("processing activity"))
}

/// The current (newest, not retired) version of activity `id`.
fn current_activity<'a>(department: &'a DepartmentRow, id: &str) -> Result<&'a ActivityRow> {
    department
        .activities
        .iter()
        .filter(|a| a.id == id)
        .max_by_key(|a| a.version)
        .filter(|a| !a.retired)
        .ok_or(Error::NotFound("processing activity"))
}

fn activity_view(row: &ActivityRow) -> ProcessingActivity {
    ProcessingActivity {
        id: row.id.clone(),
        version: row.version,
        name: row.name.clone(),
        purpose: row.purpose.clone(),
        explanation: row.explanation.clone(),
        if_no: row.if_no.clone(),
        contact: row.contact.clone(),
        next_step: row.next_step.clone(),
        legal_basis: LegalBasis {
            law: row.law.clone(),
            article: row.article.clone(),
            necessary: row.necessary,
        },
        categories: row.categories.clone(),
        writes: row.writes.clone(),
        retention_days: row.retention_days,
        recipients: row.recipients.clone(),
    }
}

fn department_ref(row: &DepartmentRow) -> DepartmentRef {
    DepartmentRef {
        id: row.id.clone(),
        name: row.name.clone(),
        privacy_officer: row.privacy_officer.clone(),
    }
}

/// Checks a duration in days.
fn check_duration(days: u32) -> Result<()> {
    if (1..=MAX_DURATION_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(Error::InvalidParameter(format!(
            "duration_days must be 1 to {MAX_DURATION_DAYS}"
        )))
    }
}

/// Checks that `categories` is a non-empty list of distinct catalogue ids inside
/// `allowed`, and returns them as a set.
fn check_categories(
    categories: &[String],
    allowed: &[String],
    residents: &Residents,
) -> Result<BTreeSet<String>> {
    if categories.is_empty() {
        return Err(Error::InvalidParameter("name at least one category".into()));
    }
    let mut set = BTreeSet::new();
    for category in categories {
        residents.catalogue().get(category)?;
        if !set.insert(category.clone()) {
            return Err(Error::InvalidParameter("a category is named twice".into()));
        }
        if !allowed.contains(category) {
            return Err(Error::OutOfScope(format!(
                "{category} is not among the categories of this processing activity"
            )));
        }
    }
    Ok(set)
}

#[async_trait::async_trait]
impl crate::audit::officer::ReferenceResolver for Consent {
    async fn audit_reference(&self, department: &str, reference: &str) -> Result<Option<String>> {
        Ok(self
            .store
            .resident_by_reference(department, reference)
            .await?
            .map(|resident| self.residents.audit_reference(resident)))
    }

    async fn audit_reference_by_national_id(
        &self,
        scheme: &str,
        value: &str,
    ) -> Result<Option<String>> {
        let hash = self.residents.national_id_hash(scheme, value)?;
        Ok(self
            .residents
            .by_national_id(&hash)
            .await?
            .map(|row| self.residents.audit_reference(row.id)))
    }
}

#[cfg(test)]
mod tests;
