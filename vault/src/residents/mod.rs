//! Residents' vaults: situation records per category, versioned and sealed.
//!
//! This module holds the rules for records and nothing of HTTP: a write is checked
//! against its category's schema, gets a new version number, and is sealed under the
//! resident's data key bound to (resident, category, version) before the store sees it.
//! Old versions stay readable to the resident. Key rotation (`rotate_keys`) lives here too
//! because it walks every vault. `writing`: storing versions, the resident's and a
//! department's; `proposed`: a coach's proposals, sealed until the resident confirms;
//! `check`: the operator's check that every record opens.

pub mod catalogue;
mod check;
pub mod fields;
pub mod national_id;
mod proposed;
mod rotation;
mod writing;

pub use check::Opened;

use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::audit::{Audit, Context};
use crate::clock::Clock;
use crate::crypto::{DataKey, Keyring, WrappedDataKey, record_aad};
use crate::signals::Signals;
use crate::store::{RecordChange, ResidentRow, StoreError, StoredRecord, VaultStore};
use crate::{Error, Result};
use catalogue::Catalogue;
use chrono::{DateTime, TimeDelta, Utc};
use kluis_proto::records::{Record, RecordSummary, RecordVersion};
use std::sync::Arc;
use uuid::Uuid;

/// A resident's internal id. Random, never shown to departments.
pub type ResidentId = Uuid;

/// The resident record service.
#[derive(Clone)]
pub struct Residents {
    store: Arc<dyn VaultStore>,
    keyring: Arc<Keyring>,
    catalogue: Arc<Catalogue>,
    audit: Arc<Audit>,
    /// Tells departments that read an older version of a changed record.
    signals: Signals,
    clock: Clock,
    /// Held (shared) while a new vault's data key is wrapped and stored, and (exclusive)
    /// while a rotation adds its KEK: so no vault can be stored under a KEK the rotation's
    /// scan has already passed and is about to destroy.
    new_vaults: Arc<tokio::sync::RwLock<()>>,
    /// One rotation at a time.
    rotating: Arc<tokio::sync::Mutex<()>>,
    /// How often the KEK is rotated on schedule (`[keys] rotate_every_days`), if at all.
    rotate_every: Option<TimeDelta>,
}

impl Residents {
    /// A service over `store`, sealing with `keyring`.
    pub fn new(
        store: Arc<dyn VaultStore>,
        keyring: Arc<Keyring>,
        catalogue: Arc<Catalogue>,
        audit: Arc<Audit>,
        signals: Signals,
        clock: Clock,
    ) -> Residents {
        Residents {
            store,
            keyring,
            catalogue,
            audit,
            signals,
            clock,
            new_vaults: Arc::default(),
            rotating: Arc::default(),
            rotate_every: None,
        }
    }

    /// The same service, rotating the KEK every `every` (none: only after erasures and
    /// when the operator asks).
    pub fn rotating_every(self, every: Option<TimeDelta>) -> Residents {
        Residents {
            rotate_every: every,
            ..self
        }
    }

    /// Reads the key directory again, so that this node follows a rotation another node
    /// sharing it made (and forgets the KEKs that rotation destroyed).
    pub fn refresh_keys(&self) -> Result<()> {
        self.keyring
            .refresh()
            .map_err(|e| crate::Error::Internal(format!("refreshing the keyring: {e}")))
    }

    /// The keyring, for the operator's metrics (versions and age of the KEKs).
    pub(crate) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The resident's reference in the audit log: a pseudonym, stable for the resident and
    /// meaningless elsewhere. Residents see it, so officers can find their entries.
    pub fn audit_reference(&self, resident: ResidentId) -> String {
        self.keyring
            .pseudonymiser()
            .pseudonym("audit", &[resident.as_bytes()])
            .0
    }

    /// The entry for an event about the resident's own records, done by the resident.
    fn own_entry(&self, action: Action, resident: ResidentId, category: &str) -> Entry {
        let reference = self.audit_reference(resident);
        let mut entry = Entry::new(
            action,
            Outcome::Done,
            Actor::Resident {
                reference: reference.clone(),
            },
        );
        entry.resident = Some(reference);
        entry.categories = vec![category.to_owned()];
        entry
    }

    /// The catalogue records are checked against.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The keyed hash of a login identity (issuer, subject).
    pub fn identity_pseudonym(&self, issuer: &str, subject: &str) -> String {
        self.keyring.pseudonymiser().identity(issuer, subject).0
    }

    /// The vault of the login identity (issuer, subject), created on first login.
    pub async fn ensure_resident(&self, issuer: &str, subject: &str) -> Result<ResidentRow> {
        let identity = self.keyring.pseudonymiser().identity(issuer, subject).0;
        if let Some(row) = self.store.resident_by_identity(&identity).await? {
            return Ok(row);
        }
        let _creating = self.new_vaults.read().await;
        let id = Uuid::new_v4();
        let mut attempts: u32 = 0;
        loop {
            let (_, wrapped) = self.keyring.new_data_key(&id)?;
            let kek_version = wrapped.kek_version()?;
            let row = ResidentRow {
                id,
                identity: identity.clone(),
                wrapped_key: wrapped.0,
                created_at: self.clock.now(),
                national_id: None,
            };
            match self.store.insert_resident(&row, kek_version).await {
                // Another node is rotating: wrap again under its new KEK.
                Err(StoreError::KekReplaced(newer)) if attempts < 10 => {
                    attempts += 1;
                    tracing::debug!(
                        newer,
                        "a new vault waits for the key rotation of another node"
                    );
                    self.keyring.refresh()?;
                    // A shared volume may show the new KEK a moment later.
                    if self.keyring.current_kek_version() < newer {
                        let pause = std::time::Duration::from_millis(100 * u64::from(attempts));
                        tokio::time::sleep(pause).await;
                    }
                }
                stored => return Ok(stored?),
            }
        }
    }

    /// Records the resident's national identifier (as a keyed hash only), so departments
    /// that hold it lawfully can address their requests.
    pub async fn set_national_id(
        &self,
        resident: ResidentId,
        scheme: &str,
        value: &str,
    ) -> Result<()> {
        let hash = national_id::hash(self.keyring.pseudonymiser(), scheme, value)?;
        Ok(self.store.set_national_id(resident, &hash).await?)
    }

    /// The keyed hash of a national identifier, as stored.
    pub fn national_id_hash(&self, scheme: &str, value: &str) -> Result<String> {
        national_id::hash(self.keyring.pseudonymiser(), scheme, value)
    }

    /// The resident's pairwise reference for `department`: stable, and useless to link
    /// the resident across departments.
    pub fn pairwise_reference(&self, resident: ResidentId, department: &str) -> String {
        self.keyring
            .pseudonymiser()
            .pseudonym("pairwise", &[department.as_bytes(), resident.as_bytes()])
            .0
    }

    /// The vault of `resident`.
    pub async fn resident(&self, resident: ResidentId) -> Result<ResidentRow> {
        self.store
            .resident(resident)
            .await?
            .ok_or(Error::NotFound("vault"))
    }

    async fn data_key(&self, resident: ResidentId) -> Result<DataKey> {
        let row = self.resident(resident).await?;
        self.unwrap_data_key(resident, row.wrapped_key).await
    }

    /// Unwraps `wrapped`, the resident's data key as just read from the store. A key
    /// rotation may have rewrapped it and destroyed the old KEK in between: then the row
    /// is read again, once. (A rotation rewraps the data key; records sealed under it
    /// stay as they are.)
    async fn unwrap_data_key(&self, resident: ResidentId, wrapped: Vec<u8>) -> Result<DataKey> {
        match self.keyring.unwrap(&resident, &WrappedDataKey(wrapped)) {
            Err(crate::crypto::CryptoError::MissingKey { .. }) => {
                let row = self.resident(resident).await?;
                Ok(self
                    .keyring
                    .unwrap(&resident, &WrappedDataKey(row.wrapped_key))?)
            }
            other => Ok(other?),
        }
    }

    /// The current version of a category, or a given `version`.
    pub async fn read(
        &self,
        resident: ResidentId,
        category: &str,
        version: Option<u32>,
    ) -> Result<Record> {
        self.catalogue.get(category)?;
        let stored = self
            .store
            .record(resident, category, version)
            .await?
            .ok_or(Error::NotFound(if version.is_some() {
                "version"
            } else {
                "record"
            }))?;
        let key = self.data_key(resident).await?;
        self.open(resident, category, &key, stored)
    }

    /// The current versions of several categories under one unwrap of the data key, each
    /// category once, in the order asked; categories without a record are left out. (The
    /// department read path.)
    pub async fn read_current(
        &self,
        resident: ResidentId,
        categories: &[String],
    ) -> Result<Vec<Record>> {
        let (row, current) = self
            .store
            .resident_with_current(resident, categories)
            .await?
            .ok_or(Error::NotFound("vault"))?;
        let key = self.unwrap_data_key(resident, row.wrapped_key).await?;
        let mut current: std::collections::HashMap<String, StoredRecord> =
            current.into_iter().collect();
        let mut out = Vec::with_capacity(categories.len());
        for category in categories {
            if let Some(stored) = current.remove(category) {
                out.push(self.open(resident, category, &key, stored)?);
            }
        }
        Ok(out)
    }

    fn open(
        &self,
        resident: ResidentId,
        category: &str,
        key: &DataKey,
        stored: StoredRecord,
    ) -> Result<Record> {
        let plaintext = key
            .open(&record_aad(&resident, category, stored.version), &stored.sealed)
            .inspect_err(|e| tracing::error!(category, version = stored.version, error = %e, "record failed to open"))?;
        let data = serde_json::from_slice(&plaintext)
            .map_err(|_| Error::Internal("a record opened but is not JSON".into()))?;
        Ok(Record {
            category: category.to_owned(),
            version: stored.version,
            created_at: stored.created_at,
            data,
        })
    }

    /// Every version of a category, oldest first.
    pub async fn versions(
        &self,
        resident: ResidentId,
        category: &str,
    ) -> Result<Vec<RecordVersion>> {
        self.catalogue.get(category)?;
        let versions = self.store.record_versions(resident, category).await?;
        if versions.is_empty() {
            return Err(Error::NotFound("record"));
        }
        Ok(versions
            .into_iter()
            .map(|m| RecordVersion {
                version: m.version,
                created_at: m.created_at,
            })
            .collect())
    }

    /// The categories the resident has filled in, with their current version.
    pub async fn overview(&self, resident: ResidentId) -> Result<Vec<RecordSummary>> {
        let mut summaries: Vec<RecordSummary> = self
            .store
            .record_summaries(resident)
            .await?
            .into_iter()
            .map(|(category, m)| RecordSummary {
                category,
                current_version: m.version,
                updated_at: m.created_at,
            })
            .collect();
        summaries.sort_by(|a, b| a.category.cmp(&b.category));
        Ok(summaries)
    }

    /// Deletes every version of a category, together with its audit entry (both or
    /// neither); returns how many versions there were.
    pub async fn delete(
        &self,
        context: &Context,
        resident: ResidentId,
        category: &str,
    ) -> Result<u32> {
        self.refuse_department_kept(category)?;
        let versions: Vec<u32> = self
            .versions(resident, category)
            .await?
            .into_iter()
            .map(|v| v.version)
            .collect();
        let count = versions.len() as u32;
        let change = RecordChange::Delete {
            resident,
            category: category.to_owned(),
            versions,
        };
        let entry = self.own_entry(Action::RecordDelete, resident, category);
        self.audit.record_change(context, entry, change).await?;
        Ok(count)
    }

    /// The vault whose national-identifier hash is `hash`, if there is one.
    pub async fn by_national_id(&self, hash: &str) -> Result<Option<ResidentRow>> {
        Ok(self.store.resident_by_national_id(hash).await?)
    }

    /// Destroys the resident's vault (records, data key, indexes, references, sessions)
    /// and makes sure a key rotation is due within `rotate_after`; returns when it is due.
    /// Until that rotation has run, old copies of the wrapped key may survive in the
    /// database's files.
    pub async fn erase(
        &self,
        resident: ResidentId,
        rotate_after: TimeDelta,
    ) -> Result<DateTime<Utc>> {
        self.store.erase_resident(resident).await?;
        let due = self.clock.now() + rotate_after;
        loop {
            let current = self.store.rotation_due().await?;
            // Always a new value, even when an earlier one is set: a rotation running now
            // (on any node) clears the time only if nobody set it since it began, and this
            // vault's key may already be under the KEK that rotation makes.
            let earlier = current.map_or(due, |d| d.min(due) - TimeDelta::microseconds(1));
            if self
                .store
                .replace_rotation_due(current, Some(earlier))
                .await?
            {
                return Ok(earlier);
            }
        }
    }
}

#[cfg(test)]
mod tests;
