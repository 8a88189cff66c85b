//! The proof a department presents with a grant, for a read or a write: the grant token,
//! which must be byte for byte the token the vault issued and keeps, and a fresh DPoP
//! proof for this method and URL, signed by the key the grant is bound to while that key
//! is still registered to the department. The proof's id is recorded once. What it
//! establishes then goes to [`access::decide`](super::access::decide) with the stored grant.
//!
//! One signature is checked: the proof's. The vault's own signature on the grant is not
//! verified again, because the vault keeps the exact token it signed and compares it in
//! constant time; and the proof's key is the registered key with the thumbprint the proof
//! names, parsed once per department key set, never a key built from the request (see
//! `docs/threat-model.md`, "One signature per read").

use super::Consent;
use super::access::Denial;
use super::reads::refusal;
use crate::auth::departments::DepartmentPrincipal;
use crate::jose::keys::KeySet;
use crate::jose::{DpopProof, GrantClaims};
use crate::store::{DepartmentRow, Durability, GrantRow};
use crate::{Error, Result};
use chrono::{DateTime, Utc};

/// A DPoP proof, verified for one request.
pub(super) struct Presented {
    /// The verified proof.
    pub proof: DpopProof,
    /// Whether the proof's id was seen for the first time.
    pub first_use: bool,
}

/// The grant token of a request, or the refusal for its absence.
pub(super) fn required_token(token: Option<&str>) -> Result<&str> {
    token.ok_or_else(|| {
        Error::InvalidGrant("present the grant as `Authorization: DPoP <grant>`".into())
    })
}

/// Whether `token` is exactly the token the vault issued for `grant` (constant time).
pub(super) fn is_issued_token(grant: &GrantRow, token: &str) -> bool {
    crate::crypto::secrets_equal(&grant.token, token)
}

impl Consent {
    /// The stored grant whose id `token` claims, if any. Whether `token` is that grant's
    /// token is for [`is_issued_token`] to say.
    pub(super) async fn stored_grant_of(
        &self,
        token: Option<&str>,
    ) -> Result<Option<(GrantRow, Option<DepartmentRow>)>> {
        match token.and_then(GrantClaims::claimed_id) {
            Some(id) => Ok(self.store.grant_with_department(id).await?),
            None => Ok(None),
        }
    }

    /// The department `grant` was given to, with its registered keys: whom a read without
    /// a client assertion is checked against. A grant always names a registered
    /// department (departments are disabled, never deleted); if not, the grant is refused.
    pub(super) fn grant_department(
        &self,
        registered: Option<DepartmentRow>,
    ) -> Result<DepartmentPrincipal> {
        let row = registered.ok_or_else(|| refusal(Denial::NoSuchGrant))?;
        let keys = self.departments.keys_of(&row)?;
        Ok(DepartmentPrincipal { row, keys })
    }

    /// Verifies `proof` for `method` on `url` at `now`: signed by the key `grant` is
    /// bound to, which `keys` (its department's registered keys) must still hold, and
    /// bound to `token` through `ath`. Records the proof's id for one-time use.
    pub(super) async fn verify_proof(
        &self,
        grant: &GrantRow,
        keys: &KeySet,
        token: &str,
        proof: Option<&str>,
        (method, url): (&str, &str),
        now: DateTime<Utc>,
    ) -> Result<Presented> {
        let proof = proof.ok_or_else(|| {
            Error::InvalidDpopProof("send a DPoP proof in the DPoP header".into())
        })?;
        let unverified =
            DpopProof::parse(proof).map_err(|e| Error::InvalidDpopProof(e.to_string()))?;
        if unverified.jkt != grant.jkt {
            return Err(refusal(Denial::ProofNotByGrantKey));
        }
        let key = keys
            .by_thumbprint(&unverified.jkt)
            .ok_or_else(|| refusal(Denial::KeyNoLongerRegistered))?;
        let proof = unverified
            .verify(key, method, url, token, now)
            .map_err(|e| Error::InvalidDpopProof(e.to_string()))?;
        let first_use = self
            .departments
            .first_use(
                "dpop",
                &proof.jkt,
                &proof.jti,
                proof.expires_at,
                // The read's audit entry is flushed before any data leaves, and the id
                // with it; a refused proof changes nothing a replay could repeat.
                Durability::WithNextWrite,
            )
            .await?;
        Ok(Presented { proof, first_use })
    }
}
