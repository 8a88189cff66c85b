//! The department read path.
//!
//! In order: the department is already authenticated (client assertion); the grant token
//! is verified (signature, issuer, audience); the DPoP proof is verified (method, URL,
//! time, `ath`, not replayed) and must be signed by the key the grant is bound to, still
//! registered for the department; the stored grant record must exist and match the token;
//! then [`access::decide`] rules on (grant, read, now); only then are the records
//! decrypted, exactly the categories asked for.

use super::{Consent, access};
use crate::auth::departments::{DepartmentPrincipal, first_use};
use crate::jose::{DPOP_WINDOW_SECS, DpopProof, GrantClaims};
use crate::{Error, Result};
use access::Denial;
use chrono::TimeDelta;
use kluis_proto::consent::{ActivityRef, ReadRecord, ReadRequest, ReadResponse};
use uuid::Uuid;

/// The path of the read endpoint (part of the DPoP `htu`).
pub const READ_PATH: &str = "/v1/dept/read";

impl Consent {
    /// Reads under a grant. `grant_token` comes from `Authorization: DPoP <token>`,
    /// `dpop` from the `DPoP` header.
    pub async fn read(
        &self,
        department: &DepartmentPrincipal,
        grant_token: Option<&str>,
        dpop: Option<&str>,
        read: &ReadRequest,
    ) -> Result<ReadResponse> {
        let token = grant_token.ok_or_else(|| {
            Error::InvalidGrant("present the grant as `Authorization: DPoP <grant>`".into())
        })?;
        let claims =
            GrantClaims::verify(token, &self.issuer, department.id(), self.vault_keys.all())
                .map_err(|e| Error::InvalidGrant(e.to_string()))?;

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

        let id = Uuid::parse_str(&claims.jti)
            .map_err(|_| Error::InvalidGrant("the grant id is malformed".into()))?;
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
}
