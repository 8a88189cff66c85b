//! The department read pipeline: one call per attempt, exactly one audit entry per call.
//!
//! HTTP hands over the attempt as it arrived ([`ReadAttempt`]): the client assertion (if
//! the department sends one), the grant token, the DPoP proof and the body, or the error
//! met while reading each. In order: the stored grant the token claims is loaded and the
//! token compared with it; a client assertion, if sent, authenticates its department;
//! the DPoP proof is verified (the key the grant is bound to, still registered to the
//! department; method, URL, time, `ath`) and its id recorded once, which authenticates
//! the grant's department when no assertion was sent; and [`access::decide`] weighs all
//! of it. Whatever the outcome (an allowed read, any refusal, a caller that could not even be
//! authenticated) one entry is written. An allowed read is logged durably *before* any
//! record is decrypted: if the log cannot be written, the read is refused and no data
//! leaves the vault. A refusal that cannot be logged stays a refusal; the operator's log
//! reports the failure.

use super::access::{self, Denial, Evidence};
use super::proof::{is_issued_token, required_token};
use super::{Consent, activity_version, with_activity};
use crate::audit::Context;
use crate::audit::entry::{ACCESS_POLICY, Action, Actor, Entry, Outcome};
use crate::auth::departments::DepartmentPrincipal;
use crate::store::GrantRow;
use crate::{Error, Result};
use kluis_proto::consent::{ActivityRef, ReadRecord, ReadRequest, ReadResponse};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The path of the read endpoint (part of the DPoP `htu`).
pub const READ_PATH: &str = "/v1/dept/read";

/// One attempt to read, as it reached the vault: each part, or the error met reading it.
pub struct ReadAttempt<'a> {
    /// The `Client-Assertion` header (absent: `None`).
    pub assertion: Result<Option<&'a str>>,
    /// The grant token from `Authorization: DPoP <grant>`.
    pub grant: Result<Option<&'a str>>,
    /// The `DPoP` header.
    pub proof: Result<Option<&'a str>>,
    /// The body.
    pub body: Result<ReadRequest>,
}

/// What a read answers: the records as JSON, or sealed as a JWE to the department's
/// registered encryption key.
#[derive(Debug)]
pub enum ReadAnswer {
    /// The answer as it is.
    Plain(ReadResponse),
    /// The answer's JSON as a compact JWE (ECDH-ES+A256KW, A256GCM).
    Sealed(String),
}

/// What the pipeline has established so far, for the audit entry.
#[derive(Default)]
struct Known {
    department: Option<DepartmentPrincipal>,
    asked: BTreeSet<String>,
    grant_id: Option<Uuid>,
    grant: Option<GrantRow>,
}

impl Consent {
    /// Reads under a grant: the whole pipeline for one attempt.
    pub async fn read(&self, context: &Context, attempt: ReadAttempt<'_>) -> Result<ReadAnswer> {
        let mut known = Known::default();
        let decision = self.decide_read(attempt, &mut known).await;
        let entry = self.read_entry(&known, decision.as_ref().err());
        let metrics = self.audit.metrics();
        let department = known.department.as_ref().map_or("unknown", |d| d.id());
        if let Err(refusal) = &decision {
            metrics.department_read(department, refusal.code().as_str());
        }
        let grant = match decision {
            Err(refusal) if known.grant.is_none() && known.department.is_none() => {
                // Nothing verified: counted per source and minute, not logged one by one.
                self.audit
                    .count_unattributed(context, refusal.code().as_str());
                return Err(refusal);
            }
            Err(refusal) => {
                if let Err(e) = self.audit.record(context, entry).await {
                    tracing::error!(error = %e, "a refused read could not be logged");
                }
                return Err(refusal);
            }
            Ok(grant) => grant,
        };
        // Fail closed: no entry, no data.
        let logged = self.audit.record(context, entry).await;
        metrics.department_read(
            department,
            logged
                .as_ref()
                .map_or_else(|e| e.code().as_str(), |_| "allowed"),
        );
        logged?;

        let seal_to = known
            .department
            .as_ref()
            .and_then(|d| d.keys.encryption().cloned());
        let asked: Vec<String> = known.asked.into_iter().collect();
        let records = self.residents.read_current(grant.resident, &asked).await?;
        let not_filled_in = asked
            .iter()
            .filter(|c| !records.iter().any(|r| &r.category == *c))
            .cloned()
            .collect();
        let response = ReadResponse {
            grant_id: grant.id,
            resident: grant.reference,
            processing_activity: ActivityRef {
                id: grant.activity_id,
                version: grant.activity_version,
            },
            records: records
                .into_iter()
                .map(|r| ReadRecord {
                    category: r.category,
                    version: r.version,
                    updated_at: r.created_at,
                    data: r.data,
                })
                .collect(),
            not_filled_in,
        };
        let Some(key) = seal_to else {
            return Ok(ReadAnswer::Plain(response));
        };
        let json = serde_json::to_vec(&response)
            .map_err(|e| Error::Internal(format!("encoding a read answer: {e}")))?;
        key.seal(&json)
            .map(ReadAnswer::Sealed)
            .map_err(|e| Error::Internal(format!("sealing a read answer: {e}")))
    }

    /// The one entry of an attempt: everything known about it, and why it was refused.
    fn read_entry(&self, known: &Known, refusal: Option<&Error>) -> Entry {
        let (outcome, reason) = match refusal {
            None => (Outcome::Allowed, None),
            Some(e) => (Outcome::Refused, Some(e.code().as_str().to_owned())),
        };
        let actor = known
            .department
            .as_ref()
            .map_or(Actor::Unknown, |d| Actor::Department {
                id: d.id().to_owned(),
            });
        let mut entry = Entry::new(Action::Read, outcome, actor);
        if let Some(grant) = &known.grant {
            // The activity only when the grant's own department is asking.
            if let Some(department) = known
                .department
                .as_ref()
                .filter(|d| d.id() == grant.department)
                && let Ok(activity) =
                    activity_version(&department.row, &grant.activity_id, grant.activity_version)
            {
                entry = with_activity(entry, department.id(), activity);
            }
            entry.resident = Some(self.residents.audit_reference(grant.resident));
        }
        entry.department = known.department.as_ref().map(|d| d.id().to_owned());
        entry.grant = known.grant_id;
        entry.reason = reason;
        entry.policy = Some(ACCESS_POLICY.to_owned());
        // Only catalogue ids: whatever else a department sends stays out of the log.
        entry.categories = known
            .asked
            .iter()
            .filter(|c| self.residents.catalogue().contains(c))
            .cloned()
            .collect();
        entry
    }

    /// Gathers the evidence of `attempt` and decides; returns the grant it may read under.
    async fn decide_read(&self, attempt: ReadAttempt<'_>, known: &mut Known) -> Result<GrantRow> {
        // A token the vault issued and still holds names its resident, whatever else is
        // wrong with the attempt (whoever sent it, however): the resident and the officer
        // see attempts with a stolen grant too. The stored token matching byte for byte
        // is the proof; the id the token claims only finds it.
        let token = attempt.grant.as_ref().ok().copied().flatten();
        let (stored, registered) = self.stored_grant_of(token).await?.unzip();
        known.grant = stored.filter(|g| token.is_some_and(|t| is_issued_token(g, t)));
        known.grant_id = known.grant.as_ref().map(|g| g.id);

        // A department that sends a client assertion is authenticated by it first.
        if let Some(assertion) = attempt.assertion? {
            known.department = Some(self.departments.authenticate(Some(assertion)).await?);
        }
        let (token, proof, read) = (attempt.grant?, attempt.proof?, attempt.body?);
        known.asked = read.categories.clone();
        let token = required_token(token)?;
        // An unknown grant id and a token that differs from the stored one get the same
        // answer: nobody learns which grant ids exist before proving who they are.
        let Some(grant) = known.grant.clone() else {
            return Err(refusal(Denial::NoSuchGrant));
        };
        // Otherwise the department is the grant's, once a proof by the key the grant is
        // bound to, still registered to it, shows it is asking.
        let known_by_proof = known.department.is_none();
        let department = match &known.department {
            Some(asserted) if asserted.id() != grant.department => {
                return Err(refusal(Denial::OtherDepartment));
            }
            Some(asserted) => asserted.clone(),
            None => self.grant_department(registered.flatten())?,
        };

        let url = format!("{}{READ_PATH}", self.issuer);
        let now = self.clock.now();
        let presented = self
            .verify_proof(&grant, &department.keys, token, proof, ("POST", &url), now)
            .await?;
        // A proof seen before proves nothing about who sends it now: refused before the
        // department is taken as the sender (or told it is disabled).
        if !presented.first_use {
            return Err(refusal(Denial::ProofReplayed));
        }
        let department = known.department.insert(department);
        if department.row.disabled {
            return Err(Error::DepartmentDisabled);
        }
        // An assertion, when sent, was counted when it was checked.
        if known_by_proof {
            self.departments.admit(department.id())?;
        }
        let evidence = Evidence {
            department: department.id(),
            department_keys: &department.keys,
            token,
            proof: &presented.proof,
            proof_first_use: presented.first_use,
            grant: Some(&grant),
            resident: &read.resident,
            categories: &read.categories,
            now,
        };
        access::decide(&evidence).cloned().map_err(refusal)
    }
}

/// The error a department reads for a denial.
pub(super) fn refusal(denial: Denial) -> Error {
    match denial {
        Denial::ProofNotByGrantKey => Error::InvalidDpopProof(
            "the proof is signed by another key than the grant is bound to".into(),
        ),
        Denial::KeyNoLongerRegistered => {
            Error::InvalidDpopProof("the key the grant is bound to is no longer registered".into())
        }
        Denial::ProofReplayed => Error::InvalidDpopProof(
            "this proof was used before; make a new one for every request".into(),
        ),
        Denial::NoSuchGrant | Denial::NotTheIssuedToken => {
            Error::InvalidGrant("the vault holds no grant with this token".into())
        }
        Denial::OtherDepartment => {
            Error::InvalidGrant("the grant is for another department".into())
        }
        Denial::OtherResident => Error::InvalidGrant("the grant is for another resident".into()),
        Denial::Revoked => Error::GrantRevoked,
        Denial::Paused => Error::GrantPaused,
        Denial::NotYetValid => Error::GrantNotYetValid,
        Denial::Expired => Error::GrantExpired,
        Denial::NothingAsked => {
            Error::InvalidParameter("name at least one category to read".into())
        }
        Denial::OutOfScope(category) => Error::OutOfScope(format!(
            "{category} lies outside this grant; ask the resident for it"
        )),
    }
}
