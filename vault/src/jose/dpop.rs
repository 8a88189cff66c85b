//! DPoP proofs (RFC 9449): a department proves it holds the key a grant is bound to.

use super::compact::{self, B64URL};
use super::keys::PublicKey;
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
}

impl DpopProof {
    /// Verifies a DPoP proof for a request `method` on `url` (scheme, host, port, path; no
    /// query), bound to `access_token` through `ath`. `iat` must lie within
    /// [`DPOP_WINDOW_SECS`] of `now`.
    pub fn verify(
        token: &str,
        method: &str,
        url: &str,
        access_token: &str,
        now: DateTime<Utc>,
    ) -> Result<DpopProof, JoseError> {
        let parsed = compact::parse(token)?;
        check_header(&parsed, Kind::Dpop)?;
        let jwk = parsed
            .header
            .get("jwk")
            .and_then(Value::as_object)
            .ok_or(JoseError::Header(
                "a DPoP proof carries its public key in jwk",
            ))?;
        let key = PublicKey::from_jwk(jwk)?;
        let claims = parsed.claims()?;
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
        key.verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
        Ok(DpopProof {
            jkt: key.thumbprint().to_owned(),
            jti,
        })
    }
}
