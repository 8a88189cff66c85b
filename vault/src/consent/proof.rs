//! The proof a department presents with a grant, for a read or a write: the grant token
//! the vault issued (signature, issuer, audience) and a fresh DPoP proof for this method
//! and URL, whose id is recorded once. What it establishes then goes to
//! [`access::decide`](super::access::decide) with the stored grant.

use super::Consent;
use crate::auth::departments::DepartmentPrincipal;
use crate::jose::{DPOP_WINDOW_SECS, DpopProof, GrantClaims};
use crate::{Error, Result};
use chrono::TimeDelta;
use uuid::Uuid;

/// A grant token and its DPoP proof, verified for one request.
pub(super) struct Presented<'a> {
    /// The token as presented.
    pub token: &'a str,
    /// Its verified claims.
    pub claims: GrantClaims,
    /// The grant id it names.
    pub id: Uuid,
    /// The verified proof.
    pub proof: DpopProof,
    /// Whether the proof's id was seen for the first time.
    pub first_use: bool,
}

impl Consent {
    /// Verifies `token` and `proof` for `method` and `url` at `now`. `grant_id` learns the
    /// grant id as soon as the token verifies, so that a later refusal is logged under it.
    pub(super) async fn verify_presented<'a>(
        &self,
        department: &DepartmentPrincipal,
        token: Option<&'a str>,
        proof: Option<&str>,
        (method, url): (&str, &str),
        now: chrono::DateTime<chrono::Utc>,
        grant_id: &mut Option<Uuid>,
    ) -> Result<Presented<'a>> {
        let token = token.ok_or_else(|| {
            Error::InvalidGrant("present the grant as `Authorization: DPoP <grant>`".into())
        })?;
        let claims =
            GrantClaims::verify(token, &self.issuer, department.id(), self.vault_keys.all())
                .map_err(|e| Error::InvalidGrant(e.to_string()))?;
        let id = Uuid::parse_str(&claims.jti)
            .map_err(|_| Error::InvalidGrant("the grant id is malformed".into()))?;
        *grant_id = Some(id);
        let proof = proof.ok_or_else(|| {
            Error::InvalidDpopProof("send a DPoP proof in the DPoP header".into())
        })?;
        let proof = DpopProof::verify(proof, method, url, token, now)
            .map_err(|e| Error::InvalidDpopProof(e.to_string()))?;
        let until = now + TimeDelta::seconds(2 * DPOP_WINDOW_SECS);
        let first_use = self
            .departments
            .first_use("dpop", &proof.jkt, &proof.jti, until)
            .await?;
        Ok(Presented {
            token,
            claims,
            id,
            proof,
            first_use,
        })
    }
}
