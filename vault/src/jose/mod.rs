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
//! Three kinds of token pass this door, each with its own function:
//! - [`ClientAssertion`]: a department proves who it is (RFC 7523, `private_key_jwt`).
//! - [`DpopProof`]: a department proves it holds the key a grant is bound to (RFC 9449).
//! - [`GrantClaims`]: the vault's signed record of a resident's decision.
//!
//! No JWE is ever accepted from outside (josekit's JWE decryption accepted truncated GCM
//! tags and inflates `zip` without a limit).

pub mod compact;
pub mod keys;
mod strict_json;

use base64::Engine;
use chrono::{DateTime, Utc};
use compact::{B64URL, Compact};
use keys::{KeySet, PublicKey, VaultKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

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
        let ath = B64URL.encode(ring::digest::digest(
            &ring::digest::SHA256,
            access_token.as_bytes(),
        ));
        if string_claim(&claims, "ath")? != ath {
            return Err(JoseError::Claims("ath does not match the grant"));
        }
        let jti = jti_claim(&claims)?;
        key.verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
        Ok(DpopProof {
            jkt: key.thumbprint(),
            jti,
        })
    }
}

/// The processing activity a grant was given under, as carried in the grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantActivity {
    /// The activity's id in the department's register.
    pub id: String,
    /// Its version.
    pub version: u32,
}

/// The claims of a grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantClaims {
    /// The vault's issuer URL.
    pub iss: String,
    /// The resident's pairwise reference for this department.
    pub sub: String,
    /// The department id.
    pub aud: String,
    /// The grant id.
    pub jti: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Not before (seconds).
    pub nbf: i64,
    /// Expires (seconds).
    pub exp: i64,
    /// The granted categories.
    pub categories: Vec<String>,
    /// The processing activity.
    pub activity: GrantActivity,
    /// The thumbprint of the department key the grant is bound to.
    pub jkt: String,
}

impl GrantClaims {
    /// Signs the grant with the vault's current key.
    pub fn sign(&self, key: &VaultKey) -> Result<String, JoseError> {
        let claims = json!({
            "iss": self.iss, "sub": self.sub, "aud": self.aud, "jti": self.jti,
            "iat": self.iat, "nbf": self.nbf, "exp": self.exp,
            "categories": self.categories,
            "processing_activity": self.activity,
            "cnf": {"jkt": self.jkt},
        });
        key.sign(GRANT_TYP, &claims)
    }

    /// Verifies a grant: strict parsing, `typ`, ES256, a `kid` that names one of the vault's
    /// keys exactly, the signature, `iss` = this vault, `aud` = `department` (a string),
    /// every claim present and well-typed. Whether the grant is valid *now* is not decided
    /// here: the stored grant record is the authority (see `consent`).
    pub fn verify(
        token: &str,
        issuer: &str,
        department: &str,
        vault_keys: &[VaultKey],
    ) -> Result<GrantClaims, JoseError> {
        let parsed = compact::parse(token)?;
        check_header(&parsed, Kind::Grant)?;
        let kid = header_kid(&parsed).ok_or(JoseError::Header("a grant names its key in kid"))?;
        let key = vault_keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(JoseError::Key("no vault key has this kid"))?;
        let claims = parsed.claims()?;
        if string_claim(&claims, "iss")? != issuer {
            return Err(JoseError::Claims("the grant was not issued by this vault"));
        }
        let aud = match claims.get("aud") {
            Some(Value::String(aud)) => aud.as_str(),
            _ => return Err(JoseError::Claims("aud must be a single string")),
        };
        if aud != department {
            return Err(JoseError::Claims("the grant is for another department"));
        }
        let required_time = |name: &'static str| {
            time_claim(&claims, name)?.ok_or(JoseError::Claims("a required claim is missing"))
        };
        let categories = claims
            .get("categories")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or(JoseError::Claims("categories must be an array of strings"))?;
        let activity: GrantActivity = claims
            .get("processing_activity")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or(JoseError::Claims("processing_activity is malformed"))?;
        let jkt = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
            .ok_or(JoseError::Claims("cnf.jkt is missing"))?;
        let (iat, nbf, exp) = (
            required_time("iat")?,
            required_time("nbf")?,
            required_time("exp")?,
        );
        key.public()
            .verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
        Ok(GrantClaims {
            iss: issuer.to_owned(),
            sub: string_claim(&claims, "sub")?.to_owned(),
            aud: aud.to_owned(),
            jti: jti_claim(&claims)?,
            iat,
            nbf,
            exp,
            categories,
            activity,
            jkt: jkt.to_owned(),
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

/// A signed statement of the audit log's state: "at `time`, the log of `issuer` held
/// `tree_size` entries with Merkle root `root_hash`".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The vault's issuer URL.
    pub issuer: String,
    /// Entries in the log.
    pub tree_size: u64,
    /// RFC 9162 root of those entries.
    pub root_hash: [u8; 32],
    /// When it was signed (seconds).
    pub time: i64,
    /// The key that signed it.
    pub kid: String,
}

impl Checkpoint {
    /// Signs the checkpoint with `key`.
    pub fn sign(&self, key: &VaultKey) -> Result<String, JoseError> {
        let claims = json!({
            "iss": self.issuer, "tree_size": self.tree_size,
            "root_hash": B64URL.encode(self.root_hash), "time": self.time,
        });
        key.sign(CHECKPOINT_TYP, &claims)
    }

    /// Verifies a checkpoint against a JWKS (the vault's published keys): strict parsing,
    /// `typ`, ES256, the `kid` naming one key exactly, the signature, well-formed claims.
    pub fn verify(token: &str, jwks: &Value) -> Result<Checkpoint, JoseError> {
        let parsed = compact::parse(token)?;
        check_header(&parsed, Kind::Checkpoint)?;
        let kid =
            header_kid(&parsed).ok_or(JoseError::Header("a checkpoint names its key in kid"))?;
        let keys = KeySet::from_jwks(jwks)?;
        let key = keys.select(Some(kid))?;
        let claims = parsed.claims()?;
        let tree_size = match claims.get("tree_size") {
            Some(Value::Number(n)) if !n.is_f64() => n
                .as_u64()
                .ok_or(JoseError::Claims("tree_size is not a count"))?,
            _ => return Err(JoseError::Claims("tree_size is not a count")),
        };
        let root_hash: [u8; 32] = claims
            .get("root_hash")
            .and_then(Value::as_str)
            .and_then(|s| B64URL.decode(s).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or(JoseError::Claims(
                "root_hash is not a base64url SHA-256 hash",
            ))?;
        let time =
            time_claim(&claims, "time")?.ok_or(JoseError::Claims("a required claim is missing"))?;
        let issuer = string_claim(&claims, "iss")?.to_owned();
        key.verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
        Ok(Checkpoint {
            issuer,
            tree_size,
            root_hash,
            time,
            kid: kid.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests;
