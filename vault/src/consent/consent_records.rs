//! Consent records (ISO/IEC TS 27560, in the W3C Data Privacy Vocabulary): one signed,
//! machine-readable record per grant with its whole history, for the resident's download
//! and the privacy officer. It says who asked and for what (the department, its purpose
//! and law, the categories, how long it keeps what it reads, to whom it passes it on), who
//! decided, and every change since: given, paused, resumed, withdrawn, expired. No record
//! value and no national identifier: the resident is named by their audit reference.
//!
//! The record is JSON-LD: each element of 27560 is the DPV term the DPV guide for 27560
//! maps it to (noted at each field below); `kluis:ConsentSuspended` stands for a pause,
//! which DPV has no status for (a subclass of `dpv:ConsentStatusInvalidForProcessing`).

use super::{Consent, activity_version};
use crate::Result;
use crate::audit::entry::{Action, Actor, Entry};
use crate::store::{ActivityRow, DepartmentRow, GrantRow};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// `dct:conformsTo` of every record: the DPV profile of 27560 for the GDPR.
pub const PROFILE: &str = "https://w3id.org/dpv/schema/dpv-27560#record-eu-gdpr";

/// One change of a grant's state, as 27560 records an event.
struct StateChange {
    /// `event_state`: the DPV consent status.
    status: &'static str,
    /// `event_time`.
    at: DateTime<Utc>,
    /// `entity_id`: who caused it.
    by: String,
    /// Why (a pause's reason, a witness statement).
    why: Option<String>,
}

/// An ISO 8601 duration of whole seconds, never negative.
fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!("PT{}S", (to - from).num_seconds().max(0))
}

fn entity(actor: &Actor) -> String {
    match actor {
        Actor::Resident { .. } => "dpv:DataSubject".into(),
        Actor::Coach { id, .. } => format!("kluis:coach/{id}"),
        Actor::Department { id } => format!("kluis:department/{id}"),
        _ => "kluis:vault".into(),
    }
}

/// The grant's state changes from its log entries (oldest first), and its expiry if it
/// ran out before `now`.
fn state_changes(grant: &GrantRow, entries: &[Entry], now: DateTime<Utc>) -> Vec<StateChange> {
    let mut changes = Vec::new();
    for entry in entries {
        let (status, why) = match (
            entry.action,
            entry.details.get("change").map(String::as_str),
        ) {
            (Action::Grant, _) => ("dpv:ConsentGiven", entry.details.get("witness_statement")),
            (Action::Pause, Some("paused")) => {
                ("kluis:ConsentSuspended", entry.details.get("reason"))
            }
            (Action::Pause, Some("resumed")) => ("dpv:RenewedConsentGiven", None),
            (Action::Revocation, _) => ("dpv:ConsentWithdrawn", None),
            _ => continue,
        };
        changes.push(StateChange {
            status,
            at: entry.time,
            by: entity(&entry.actor),
            why: why.cloned(),
        });
    }
    if grant.revoked_at.is_none() && grant.expires_at <= now {
        changes.push(StateChange {
            status: "dpv:ConsentExpired",
            at: grant.expires_at,
            by: "kluis:vault".into(),
            why: None,
        });
    }
    changes
}

impl Consent {
    /// The consent record of `grant`, as JSON-LD, from the grant, its department's register
    /// entry and the log.
    pub async fn consent_record(&self, grant: &GrantRow) -> Result<Value> {
        let department = self.department_row(&grant.department).await?;
        let activity = activity_version(&department, &grant.activity_id, grant.activity_version)?;
        let entries = self.audit.about_grant(grant.id).await?;
        let now = self.clock.now();
        let mut changes = Vec::new();
        if let Some(request) = grant.request_id
            && let Some(asked) = self.store.request(request).await?
        {
            changes.push(StateChange {
                status: "dpv:ConsentRequested",
                at: asked.created_at,
                by: format!("kluis:department/{}", grant.department),
                why: None,
            });
        }
        changes.extend(state_changes(grant, &entries, now));
        let modified = changes.last().map_or(grant.issued_at, |c| c.at);
        Ok(json!({
            "@context": {
                "dpv": "https://w3id.org/dpv#",
                "dct": "http://purl.org/dc/terms/",
                "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
                "skos": "http://www.w3.org/2004/02/skos/core#",
                "loc": "https://w3id.org/dpv/loc#",
                "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
                "legal-eu": "https://w3id.org/dpv/legal/eu#",
                "kluis": format!("{}/ns#", self.issuer),
            },
            "@id": format!("urn:uuid:{}", grant.id),
            "@type": "dpv:ConsentRecord",
            // schema_version
            "dct:conformsTo": PROFILE,
            // record_id
            "dct:identifier": grant.id.to_string(),
            "dct:created": grant.issued_at,
            "dct:modified": modified,
            // pii_principal_id: the resident's audit reference (a pseudonym)
            "dpv:hasDataSubject": {
                "@type": "dpv:DataSubject",
                "dct:identifier": self.residents.audit_reference(grant.resident),
            },
            // jurisdiction
            "dpv:hasJurisdiction": "loc:NL",
            "dpv:hasApplicableLaw": "legal-eu:law-GDPR",
            // privacy_notice, language: what the request or share screen told the
            // resident, from this version of the department's register entry
            "dpv:hasNotice": {
                "@id": format!("kluis:notice/{}/{}/{}", department.id, activity.id, activity.version),
                "@type": "dpv:ConsentNotice",
                "dct:language": "nl",
                "dct:description": activity.explanation,
                "kluis:ifNo": activity.if_no,
                "kluis:contact": activity.contact,
                "kluis:nextStep": activity.next_step,
            },
            "dpv:hasProcess": [process(grant, &department, activity, &self.issuer)],
            // pii_controllers (party_*)
            "dpv:hasEntity": [{
                "@id": format!("kluis:department/{}", department.id),
                "@type": ["dpv:Organisation", "dpv:DataController"],
                "dct:identifier": department.id,
                "dpv:hasName": department.name,
                "dpv:hasContact": department.privacy_officer,
            }],
            // events: event_state, event_time, entity_id, validity_duration, event_type
            "dpv:hasConsentStatus": changes.iter().map(|c| {
                let mut event = json!({
                    "@type": c.status,
                    "dpv:isIndicatedAtTime": c.at,
                    "dpv:isIndicatedBy": c.by,
                    "dpv:hasDuration": {"@type": "dpv:TemporalDuration", "rdf:value": duration(c.at, grant.expires_at)},
                    "dpv:hasIndicationMethod": "kluis:VaultPortalOrApi",
                });
                if let Some(why) = &c.why {
                    event["dpv:hasJustification"] = json!(why);
                }
                event
            }).collect::<Vec<_>>(),
        }))
    }

    /// Signs `record` with the vault's key: a compact JWS whose payload is the record.
    pub fn sign_consent_record(&self, record: &Value) -> Result<String> {
        self.vault_keys
            .current()
            .sign(crate::jose::CONSENT_RECORD_TYP, record)
            .map_err(|e| crate::Error::Internal(format!("signing a consent record: {e}")))
    }

    /// The resident's consent records, each with its signature, oldest grant first.
    pub async fn consent_records_of(
        &self,
        resident: crate::residents::ResidentId,
    ) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for grant in self.store.grants_of_resident(resident).await? {
            let record = self.consent_record(&grant).await?;
            let signed = self.sign_consent_record(&record)?;
            out.push(json!({"record": record, "jws": signed}));
        }
        Ok(out)
    }
}

/// The processing the resident consented to (27560's per-purpose elements).
fn process(
    grant: &GrantRow,
    department: &DepartmentRow,
    activity: &ActivityRow,
    issuer: &str,
) -> Value {
    let controller = format!("kluis:department/{}", department.id);
    json!({
        "@type": "dpv:Process",
        // purpose
        "dpv:hasPurpose": {
            "@type": "dpv:Purpose",
            "dct:identifier": activity.id,
            "dct:hasVersion": activity.version,
            "dct:title": activity.name,
            "dct:description": activity.purpose,
        },
        // lawful_basis: the department's own (the resident's grant adds their decision)
        "dpv:hasLegalBasis": [{
            "@type": "dpv:LegalBasis",
            "dct:description": format!("{}, {}", activity.law, activity.article),
        }],
        // pii_information (pii_type)
        "dpv:hasPersonalData": grant.categories.iter().map(|c| json!({
            "@id": format!("kluis:category/{c}"),
            "dct:identifier": c,
        })).collect::<Vec<_>>(),
        // pii_controllers
        "dpv:hasDataController": controller,
        // recipient_third_parties
        "dpv:hasRecipient": [{"dct:description": activity.recipients}],
        // storage_locations, retention_period
        "dpv:hasStorageCondition": [
            {"@type": "dpv:StorageLocation", "dpv:hasLocation": "loc:NL"},
            {"@type": "dpv:StorageDuration", "dpv:hasDuration": {
                "@type": "dpv:TemporalDuration",
                "rdf:value": format!("P{}D", activity.retention_days),
            }},
        ],
        // withdrawal_method
        "dpv:hasConsentControl": {
            "@type": "dpv:WithdrawConsent",
            "dpv:isExercisedAt": format!("{issuer}/portal/grants/{}/revoke", grant.id),
        },
        // privacy_rights
        "dpv:hasRight": [
            {"@type": "eu-gdpr:A7-3", "dpv:isExercisedAt": format!("{issuer}/portal/grants")},
            {"@type": "eu-gdpr:A15", "dpv:isExercisedAt": format!("{issuer}/portal/history")},
            {"@type": "eu-gdpr:A17", "dpv:isExercisedAt": format!("{issuer}/portal/account")},
            {"@type": "eu-gdpr:A18", "dpv:isExercisedAt": format!("{issuer}/portal/grants")},
            {"@type": "eu-gdpr:A20", "dpv:isExercisedAt": format!("{issuer}/portal/account")},
            {"@type": "eu-gdpr:A77", "dpv:isExercisedAt": "https://autoriteitpersoonsgegevens.nl/"},
        ],
    })
}

impl Consent {
    /// The signed consent record of grant `id` (for the privacy officer), and the audit
    /// reference of the resident it is about (to log the question under).
    pub async fn consent_record_of_grant(&self, id: uuid::Uuid) -> Result<(Value, String)> {
        let grant = self
            .store
            .grant(id)
            .await?
            .ok_or(crate::Error::NotFound("grant"))?;
        let record = self.consent_record(&grant).await?;
        let signed = self.sign_consent_record(&record)?;
        Ok((
            json!({"record": record, "jws": signed}),
            self.residents.audit_reference(grant.resident),
        ))
    }
}
