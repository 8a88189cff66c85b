//! DPoP proofs (RFC 9449): a department proves it holds the key a grant is bound to.
//!
//! In two steps, so that a proof's key is never built from what the caller sends: [`parse`]
//! checks the token's form and computes the thumbprint of the key in its `jwk` header;
//! the caller finds the *registered* key with that thumbprint (parsed once per department)
//! and [`UnverifiedProof::verify`] checks the claims and the signature with it.
//!
//! [`parse`]: DpopProof::parse

use super::compact::{self, B64URL, Compact};
use super::keys::{CheckedJwk, PublicKey};
use super::{DPOP_WINDOW_SECS, JoseError, Kind, check_header, jti_claim, string_claim, time_claim};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A verified DPoP proof.
#[derive(Clone, Debug)]
pub struct DpopProof {
    /// The thumbprint of the key that signed it (the `jwk` in its header).
    pub jkt: String,
    /// Its `jti`, for the replay check.
    pub jti: String,
    /// From when it is refused as too old (its `iat` plus [`DPOP_WINDOW_SECS`], the second
    /// after): its `jti` need not be remembered past it, and every replay of it has the
    /// same.
    pub expires_at: DateTime<Utc>,
}

/// A DPoP proof whose form is checked and whose key is named, not yet verified.
pub struct UnverifiedProof<'a> {
    parsed: Compact<'a>,
    /// The thumbprint of the key in its `jwk` header.
    pub jkt: String,
}

impl DpopProof {
    /// Parses a DPoP proof: strict form, the DPoP header allow-list, a public EC P-256
    /// key in `jwk`.
    pub fn parse(token: &str) -> Result<UnverifiedProof<'_>, JoseError> {
        let parsed = compact::parse(token)?;
        check_header(&parsed, Kind::Dpop)?;
        let jwk = parsed
            .header
            .get("jwk")
            .and_then(Value::as_object)
            .ok_or(JoseError::Header(
                "a DPoP proof carries its public key in jwk",
            ))?;
        let jkt = CheckedJwk::from_map(jwk)?.thumbprint();
        Ok(UnverifiedProof { parsed, jkt })
    }
}

impl UnverifiedProof<'_> {
    /// Verifies the proof with `key` (the registered key its thumbprint names) for a
    /// request `method` on `url` (scheme, host, port, path; no query), bound to
    /// `access_token` through `ath`. `iat` must lie within [`DPOP_WINDOW_SECS`] of `now`.
    pub fn verify(
        self,
        key: &PublicKey,
        method: &str,
        url: &str,
        access_token: &str,
        now: DateTime<Utc>,
    ) -> Result<DpopProof, JoseError> {
        if key.thumbprint() != self.jkt {
            return Err(JoseError::Key("the proof is signed by another key"));
        }
        let claims = self.parsed.claims()?;
        if string_claim(&claims, "htm")? != method {
            return Err(JoseError::Claims("htm does not match the request method"));
        }
        if string_claim(&claims, "htu")? != url {
            return Err(JoseError::Claims("htu does not match the request URL"));
        }
        let iat =
            time_claim(&claims, "iat")?.ok_or(JoseError::Claims("a required claim is missing"))?;
        if (now.timestamp() - iat).abs() > DPOP_WINDOW_SECS {
            return Err(JoseError::Time("the proof is too old or from the future"));
        }
        for name in ["exp", "nbf"] {
            time_claim(&claims, name)?;
        }
        let ath = B64URL.encode(crate::crypto::sha256(access_token.as_bytes()));
        if string_claim(&claims, "ath")? != ath {
            return Err(JoseError::Claims("ath does not match the grant"));
        }
        let jti = jti_claim(&claims)?;
        key.verify(self.parsed.signing_input.as_bytes(), &self.parsed.signature)?;
        let expires_at = DateTime::from_timestamp(iat + DPOP_WINDOW_SECS + 1, 0)
            .unwrap_or(now + chrono::TimeDelta::seconds(2 * DPOP_WINDOW_SECS + 1));
        Ok(DpopProof {
            jkt: self.jkt,
            jti,
            expires_at,
        })
    }
}
