//! The department read path.
//!
//! In order: the department is already authenticated (client assertion); the grant token
//! is verified (signature, issuer, audience); the DPoP proof is verified (method, URL,
//! time, `ath`, not replayed) and must be signed by the key the grant is bound to, still
//! registered for the department; the stored grant record must exist and match the token;
//! then [`access::decide`] rules on (grant, read, now). Every outcome is logged. An allowed
//! read is logged durably *before* any record is decrypted: if the log cannot be written,
//! the read is refused and no data leaves the vault.

use super::{Consent, access, activity_version, with_activity};
use crate::audit::Context;
use crate::audit::entry::{ACCESS_POLICY, Action, Actor, Entry, Outcome};
use crate::auth::departments::{DepartmentPrincipal, first_use};
use crate::jose::{DPOP_WINDOW_SECS, DpopProof, GrantClaims};
use crate::store::GrantRow;
use crate::{Error, Result};
use access::Denial;
use chrono::TimeDelta;
use kluis_proto::consent::{ActivityRef, ReadRecord, ReadRequest, ReadResponse};
use uuid::Uuid;

/// The path of the read endpoint (part of the DPoP `htu`).
pub const READ_PATH: &str = "/v1/dept/read";

/// What the read path has established so far, for the audit entry.
#[derive(Default)]
struct Known {
    grant_id: Option<Uuid>,
    grant: Option<GrantRow>,
}

impl Consent {
    /// Reads under a grant. `grant_token` comes from `Authorization: DPoP <token>`,
    /// `dpop` from the `DPoP` header.
    pub async fn read(
        &self,
        context: &Context,
        department: &DepartmentPrincipal,
        grant_token: Option<&str>,
        dpop: Option<&str>,
        read: &ReadRequest,
    ) -> Result<ReadResponse> {
        let mut known = Known::default();
        let decision = self
            .decide_read(department, grant_token, dpop, read, &mut known)
            .await;
        let entry = self.read_entry(department, read, &known, decision.as_ref().err());
        let grant = match decision {
            Err(refusal) => {
                if let Err(e) = self.residents.audit().record(context, entry).await {
                    tracing::error!(error = %e, "a refused read could not be logged");
                }
                return Err(refusal);
            }
            Ok(grant) => grant,
        };
        // Fail closed: no entry, no data.
        self.residents.audit().record(context, entry).await?;

        let mut asked = read.categories.clone();
        asked.dedup();
        let records = self.residents.read_current(grant.resident, &asked).await?;
        let not_filled_in = asked
            .iter()
            .filter(|c| !records.iter().any(|r| &r.category == *c))
            .cloned()
            .collect();
        Ok(ReadResponse {
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
        })
    }

    /// Logs a read refused before it reached the grant: the department could not be
    /// authenticated (`None`), or its request was malformed.
    pub async fn record_refused_read(
        &self,
        context: &Context,
        department: Option<&DepartmentPrincipal>,
        refusal: &Error,
    ) {
        let actor = department.map_or(Actor::Unknown, |d| Actor::Department {
            id: d.id().to_owned(),
        });
        let mut entry = Entry::new(Action::Read, Outcome::Refused, actor);
        entry.department = department.map(|d| d.id().to_owned());
        entry.reason = Some(refusal.code().as_str().to_owned());
        entry.policy = Some(ACCESS_POLICY.to_owned());
        if let Err(e) = self.residents.audit().record(context, entry).await {
            tracing::error!(error = %e, "a refused read could not be logged");
        }
    }

    fn read_entry(
        &self,
        department: &DepartmentPrincipal,
        read: &ReadRequest,
        known: &Known,
        refusal: Option<&Error>,
    ) -> Entry {
        let (outcome, reason) = match refusal {
            None => (Outcome::Allowed, None),
            Some(e) => (Outcome::Refused, Some(e.code().as_str().to_owned())),
        };
        let actor = Actor::Department {
            id: department.id().to_owned(),
        };
        let mut entry = Entry::new(Action::Read, outcome, actor);
        if let Some(grant) = &known.grant {
            if let Ok(activity) =
                activity_version(&department.row, &grant.activity_id, grant.activity_version)
            {
                entry = with_activity(entry, department.id(), activity);
            }
            entry.resident = Some(self.residents.audit_reference(grant.resident));
        }
        entry.department = Some(department.id().to_owned());
        entry.grant = known.grant_id;
        entry.reason = reason;
        entry.policy = Some(ACCESS_POLICY.to_owned());
        // Only catalogue ids: whatever else a department sends stays out of the log.
        let mut categories: Vec<String> = read
            .categories
            .iter()
            .filter(|c| self.residents.catalogue().contains(c))
            .cloned()
            .collect();
        categories.dedup();
        entry.categories = categories;
        entry
    }

    async fn decide_read(
        &self,
        department: &DepartmentPrincipal,
        grant_token: Option<&str>,
        dpop: Option<&str>,
        read: &ReadRequest,
        known: &mut Known,
    ) -> Result<GrantRow> {
        let token = grant_token.ok_or_else(|| {
            Error::InvalidGrant("present the grant as `Authorization: DPoP <grant>`".into())
        })?;
        let claims =
            GrantClaims::verify(token, &self.issuer, department.id(), self.vault_keys.all())
                .map_err(|e| Error::InvalidGrant(e.to_string()))?;
        let id = Uuid::parse_str(&claims.jti)
            .map_err(|_| Error::InvalidGrant("the grant id is malformed".into()))?;
        known.grant_id = Some(id);

        let now = self.clock.now();
        let proof = dpop.ok_or_else(|| {
            Error::InvalidDpopProof("send a DPoP proof in the DPoP header".into())
        })?;
        let url = format!("{}{READ_PATH}", self.issuer);
        let proof = DpopProof::verify(proof, "POST", &url, token, now)
            .map_err(|e| Error::InvalidDpopProof(e.to_string()))?;
        if proof.jkt != claims.jkt {
            return Err(Error::InvalidDpopProof(
                "the proof is signed by another key than the grant is bound to".into(),
            ));
        }
        if !department.keys.has_thumbprint(&proof.jkt) {
            return Err(Error::InvalidDpopProof(
                "the key the grant is bound to is no longer registered".into(),
            ));
        }
        let until = now + TimeDelta::seconds(2 * DPOP_WINDOW_SECS);
        if !first_use(self.store.as_ref(), "dpop", &proof.jkt, &proof.jti, until).await? {
            return Err(Error::InvalidDpopProof(
                "this proof was used before; make a new one for every request".into(),
            ));
        }

        let grant = self
            .store
            .grant(id)
            .await?
            .ok_or_else(|| Error::InvalidGrant("the vault has no such grant".into()))?;
        if grant.token != token {
            return Err(Error::InvalidGrant(
                "the grant does not match the vault's record".into(),
            ));
        }
        known.grant = Some(grant.clone());
        access::decide(
            &grant,
            department.id(),
            &read.resident,
            &proof.jkt,
            &read.categories,
            now,
        )
        .map_err(|denial| match denial {
            Denial::OtherDepartment => {
                Error::InvalidGrant("the grant is for another department".into())
            }
            Denial::OtherResident => {
                Error::InvalidGrant("the grant is for another resident".into())
            }
            Denial::OtherKey => Error::InvalidDpopProof(
                "the proof is signed by another key than the grant is bound to".into(),
            ),
            Denial::Revoked => Error::GrantRevoked,
            Denial::NotYetValid => Error::GrantNotYetValid,
            Denial::Expired => Error::GrantExpired,
            Denial::NothingAsked => {
                Error::InvalidParameter("name at least one category to read".into())
            }
            Denial::OutOfScope(category) => Error::OutOfScope(format!(
                "{category} lies outside this grant; ask the resident for it"
            )),
        })?;
        Ok(grant)
    }
}
