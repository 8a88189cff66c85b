//! The only door to josekit: JWS tokens with the policy josekit does not do itself.
//!
//! josekit checks signatures well (it refuses `alg: none`, RS/HS confusion, zero
//! signatures and invalid-curve keys) but it is not a token policy: it lets tokens without
//! `aud` or `exp` pass, never checks `typ`, keeps the last of duplicate header keys,
//! ignores `jku`/`jwk`/`x5u`, and panics on times of about 1e20. So every token is first
//! parsed here ([`compact`]): size limit, three segments, strict base64url, no duplicate
//! JSON keys; then its header is checked against an allow-list for its kind (`alg` pinned
//! to ES256, the expected `typ`, nothing else but `kid`, and `jwk` only in DPoP); then its
//! times are checked as bounded integers; and only then does josekit verify the signature.
//!
//! This file holds the policy every kind shares (header allow-lists, bounded times, claim
//! types); each kind has its own file:
//! - `assertion`: [`ClientAssertion`], a department proves who it is (RFC 7523,
//!   `private_key_jwt`); and the vault's own assertion to an OpenID Provider.
//! - `dpop`: [`DpopProof`], a department proves it holds the key a grant is bound to (RFC 9449).
//! - `grant`: [`GrantClaims`], the vault's signed record of a resident's decision.
//! - `checkpoint`: [`Checkpoint`], the signed state of the audit log.
//! - `secevent`: [`SecurityEvent`], the vault telling a department what happened (RFC 8417).
//! - [`keys`]: department keys, thumbprints, the vault's signing keys.
//!
//! No JWE is ever accepted from outside (josekit's JWE decryption accepted truncated GCM
//! tags and inflates `zip` without a limit).

mod assertion;
mod checkpoint;
pub mod compact;
mod dpop;
mod grant;
pub mod jwe;
pub mod keys;
mod secevent;
pub(crate) mod strict_json;
pub mod vault_keys;

pub use assertion::{ClientAssertion, UnverifiedAssertion, sign_client_assertion};
pub use checkpoint::Checkpoint;
pub use dpop::{DpopProof, UnverifiedProof};
pub use grant::{GrantActivity, GrantClaims};
pub use secevent::SecurityEvent;

use compact::Compact;
use keys::KeySet;
use serde_json::{Map, Value};

/// The most clock skew tolerated between the vault and a department, in seconds.
pub const MAX_SKEW_SECS: i64 = 60;
/// The longest a client assertion may live (`exp - now`), in seconds.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// How far a DPoP proof's `iat` may lie from now, in seconds.
pub const DPOP_WINDOW_SECS: i64 = 60;
/// The largest time value accepted (9999-12-31T23:59:59Z).
const MAX_TIME: i64 = 253_402_300_799;
/// The longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

/// `typ` of a grant.
pub const GRANT_TYP: &str = "kluis-grant+jwt";
/// `typ` of a DPoP proof (RFC 9449).
pub const DPOP_TYP: &str = "dpop+jwt";
/// `typ` of a client assertion (draft-ietf-oauth-rfc7523bis).
pub const CLIENT_ASSERTION_TYP: &str = "client-authentication+jwt";
/// `typ` of a Security Event Token (RFC 8417).
pub const SET_TYP: &str = kluis_proto::events::SET_TYP;
/// `typ` of a signed consent record (ISO/IEC TS 27560).
pub const CONSENT_RECORD_TYP: &str = "kluis-consent-record+jwt";
/// `typ` of a signed audit checkpoint.
pub const CHECKPOINT_TYP: &str = "kluis-checkpoint+jwt";

/// Why a token was refused. Messages are fixed sentences: no token content is echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// The token's structure or encoding.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// A header parameter that is missing, unexpected or forbidden.
    #[error("header: {0}")]
    Header(&'static str),
    /// `alg` is not ES256.
    #[error("the algorithm is not allowed (only ES256)")]
    Algorithm,
    /// `typ` is not the one this kind of token must have.
    #[error("the token type (typ) is wrong for this use")]
    Type,
    /// The key is unknown or unusable.
    #[error("key: {0}")]
    Key(&'static str),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// A claim that is missing or wrong.
    #[error("claims: {0}")]
    Claims(&'static str),
    /// A time claim that says the token is not valid now.
    #[error("time: {0}")]
    Time(&'static str),
}

/// The kinds of token, each with its header allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Grant,
    Dpop,
    ClientAssertion,
    Checkpoint,
    /// Only the signature layer: for known-answer test vectors ([`verify_signature_layer`]).
    Bare,
}

/// Checks the header of `token` for `kind`, in this order: ES256 only, the right `typ`,
/// nothing but the parameters the kind allows, a plain `kid`.
fn check_header(token: &Compact<'_>, kind: Kind) -> Result<(), JoseError> {
    let allowed: &[&str] = match kind {
        Kind::Grant | Kind::ClientAssertion | Kind::Checkpoint => &["alg", "typ", "kid"],
        Kind::Dpop => &["alg", "typ", "jwk"],
        Kind::Bare => &["alg", "typ", "kid"],
    };
    match token.header.get("alg") {
        Some(Value::String(alg)) if alg == "ES256" => {}
        _ => return Err(JoseError::Algorithm),
    }
    let expected_typ = match kind {
        Kind::Grant => Some(GRANT_TYP),
        Kind::Dpop => Some(DPOP_TYP),
        Kind::ClientAssertion => Some(CLIENT_ASSERTION_TYP),
        Kind::Checkpoint => Some(CHECKPOINT_TYP),
        Kind::Bare => None,
    };
    match (expected_typ, token.header.get("typ")) {
        (Some(expected), Some(Value::String(typ))) if typ.eq_ignore_ascii_case(expected) => {}
        (Some(_), _) => return Err(JoseError::Type),
        (None, None | Some(Value::String(_))) => {}
        (None, Some(_)) => return Err(JoseError::Type),
    }
    for name in token.header.keys() {
        if !allowed.contains(&name.as_str()) {
            return Err(match name.as_str() {
                "crit" | "jku" | "x5u" | "x5c" | "jwk" | "zip" | "cty" | "b64" | "enc" => {
                    JoseError::Header("a forbidden header parameter is present")
                }
                _ => JoseError::Header("an unexpected header parameter is present"),
            });
        }
    }
    match token.header.get("kid") {
        None => {}
        Some(Value::String(kid)) if is_safe_kid(kid) => {}
        Some(_) => return Err(JoseError::Header("kid is not a plain key id")),
    }
    Ok(())
}

/// A `kid` of 1 to 128 characters from `[A-Za-z0-9._-]`, not starting with a dot: no
/// paths, URLs or other surprises ever reach a lookup.
fn is_safe_kid(kid: &str) -> bool {
    (1..=128).contains(&kid.len())
        && !kid.starts_with('.')
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn header_kid<'a>(token: &'a Compact<'_>) -> Option<&'a str> {
    token.header.get("kid").and_then(Value::as_str)
}

/// Verifies only the signature layer of `token` against `keys`: strict parsing, the header
/// allow-list (ES256, `kid`, optional `typ`), key selection by `kid`, the signature. No
/// claims are checked. Exposed for the Wycheproof JWS/JWK vectors; every token kind below
/// builds on the same steps and adds its own `typ` and claim checks.
pub fn verify_signature_layer(token: &str, keys: &KeySet) -> Result<Vec<u8>, JoseError> {
    let parsed = compact::parse(token)?;
    check_header(&parsed, Kind::Bare)?;
    keys.select(header_kid(&parsed))?
        .verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
    Ok(parsed.payload)
}

/// A time claim: absent, or an integer in 1..=9999-12-31. Floats (`1e20`, `1.0`), strings,
/// negatives and huge integers are refused before any library sees them.
fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JoseError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) if (1..=MAX_TIME).contains(&t) && !n.is_f64() => Ok(Some(t)),
            _ => Err(JoseError::Claims("a time claim is not an integer in range")),
        },
        Some(_) => Err(JoseError::Claims("a time claim is not an integer")),
    }
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, JoseError> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(JoseError::Claims("a claim has the wrong type")),
        None => Err(JoseError::Claims("a required claim is missing")),
    }
}

fn jti_claim(claims: &Map<String, Value>) -> Result<String, JoseError> {
    let jti = string_claim(claims, "jti")?;
    if jti.len() > MAX_JTI_LEN {
        return Err(JoseError::Claims("jti is too long"));
    }
    Ok(jti.to_owned())
}

#[cfg(test)]
mod tests;
