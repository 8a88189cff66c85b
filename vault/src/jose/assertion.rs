//! Client assertions: a department proves who it is on every call but a read (RFC 7523,
//! `private_key_jwt`), and the vault proves who it is to an OpenID Provider the same way.

use super::compact::{self, B64URL};
use super::keys::KeySet;
use super::{
    JoseError, Kind, MAX_ASSERTION_LIFETIME_SECS, MAX_SKEW_SECS, check_header, header_kid,
    jti_claim, string_claim, time_claim,
};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// A client assertion that is well-formed and whose claims hold, but whose signature is
/// not checked yet: the caller looks the department up by [`UnverifiedAssertion::department`]
/// and calls [`UnverifiedAssertion::verify`] with its keys.
#[derive(Debug)]
pub struct UnverifiedAssertion {
    /// The department the assertion claims to come from (`iss` = `sub`).
    pub department: String,
    token: String,
    jti: String,
    exp: DateTime<Utc>,
}

/// A verified client assertion.
#[derive(Clone, Debug)]
pub struct ClientAssertion {
    /// The authenticated department.
    pub department: String,
    /// Its `jti`, for the replay check.
    pub jti: String,
    /// When it expires: the replay check remembers the `jti` until then.
    pub exp: DateTime<Utc>,
}

impl ClientAssertion {
    /// Parses and checks a client assertion for the vault `issuer` at `now`: `typ`, ES256,
    /// `iss` = `sub`, `aud` exactly the issuer (a string, not an array, not a token URL),
    /// `exp` in the future but at most five minutes away, `iat`/`nbf` not in the future,
    /// a `jti`. All within [`MAX_SKEW_SECS`].
    pub fn parse(
        token: &str,
        issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<UnverifiedAssertion, JoseError> {
        let parsed = compact::parse(token)?;
        check_header(&parsed, Kind::ClientAssertion)?;
        let claims = parsed.claims()?;
        let (iss, sub) = (string_claim(&claims, "iss")?, string_claim(&claims, "sub")?);
        if iss != sub {
            return Err(JoseError::Claims(
                "iss and sub must both be the department id",
            ));
        }
        match claims.get("aud") {
            Some(Value::String(aud)) if aud == issuer => {}
            Some(Value::String(_)) => {
                return Err(JoseError::Claims("aud is not this vault's issuer"));
            }
            Some(_) => {
                return Err(JoseError::Claims(
                    "aud must be a single string, the vault's issuer",
                ));
            }
            None => return Err(JoseError::Claims("a required claim is missing")),
        }
        let now_s = now.timestamp();
        let exp =
            time_claim(&claims, "exp")?.ok_or(JoseError::Claims("a required claim is missing"))?;
        if exp <= now_s - MAX_SKEW_SECS {
            return Err(JoseError::Time("the assertion has expired"));
        }
        if exp > now_s + MAX_ASSERTION_LIFETIME_SECS + MAX_SKEW_SECS {
            return Err(JoseError::Time(
                "the assertion lives longer than five minutes",
            ));
        }
        for name in ["iat", "nbf"] {
            if time_claim(&claims, name)?.is_some_and(|t| t > now_s + MAX_SKEW_SECS) {
                return Err(JoseError::Time("the assertion is not valid yet"));
            }
        }
        let exp =
            DateTime::from_timestamp(exp, 0).ok_or(JoseError::Claims("exp is out of range"))?;
        Ok(UnverifiedAssertion {
            department: iss.to_owned(),
            token: token.to_owned(),
            jti: jti_claim(&claims)?,
            exp,
        })
    }
}

impl UnverifiedAssertion {
    /// Checks the signature with the department's registered keys.
    pub fn verify(self, keys: &KeySet) -> Result<ClientAssertion, JoseError> {
        let parsed = compact::parse(&self.token)?;
        keys.select(header_kid(&parsed))?
            .verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
        Ok(ClientAssertion {
            department: self.department,
            jti: self.jti,
            exp: self.exp,
        })
    }
}

/// A `private_key_jwt` client assertion (RFC 7523) that the vault sends to an OpenID
/// Provider: signed with the vault's client key there (`private_jwk`: an EC P-256 private
/// JWK), `iss` = `sub` = `client_id`, `aud` = the provider's issuer, valid one minute.
pub fn sign_client_assertion(
    private_jwk: &str,
    client_id: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<String, JoseError> {
    let jwk = josekit::jwk::Jwk::from_bytes(private_jwk.as_bytes())
        .map_err(|_| JoseError::Key("the client key is not a JWK"))?;
    let signer = josekit::jws::ES256
        .signer_from_jwk(&jwk)
        .map_err(|_| JoseError::Key("the client key is not an EC P-256 private key"))?;
    let mut header = json!({"alg": "ES256", "typ": "JWT"});
    if let Some(kid) = jwk.key_id() {
        header["kid"] = json!(kid);
    }
    let now = now.timestamp();
    let jti = B64URL.encode(crate::crypto::sha256(
        format!("{client_id}{now}{}", uuid::Uuid::new_v4()).as_bytes(),
    ));
    let claims = json!({"iss": client_id, "sub": client_id, "aud": audience, "jti": jti, "iat": now, "exp": now + 60});
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let signature = josekit::jws::JwsSigner::sign(&signer, input.as_bytes())
        .map_err(|_| JoseError::Signature)?;
    Ok(format!("{input}.{}", B64URL.encode(signature)))
}
