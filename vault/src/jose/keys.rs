//! Keys: departments' public keys (from their registered JWKS), thumbprints (RFC 7638),
//! and one of the vault's own signing keys ([`VaultKey`]; the set and its schedule are in
//! `vault_keys`).
//!
//! Only EC P-256 keys for ES256 are accepted. A JWKS is refused as a whole if it holds
//! anything ambiguous: a private part, a duplicate `kid`, a key of another type or curve,
//! a signing key whose `alg`, `use` or `key_ops` say otherwise, or more than one signing
//! key without a `kid` to tell them apart.

use super::JoseError;
use super::compact::B64URL;
use base64::Engine;
use josekit::jwk::KeyPair;
use josekit::jws::{ES256, JwsSigner, JwsVerifier};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

pub use super::vault_keys::VaultKeys;

/// A string member of a JWK: absent, or a string (anything else is refused).
fn text<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JoseError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(JoseError::Key("a JWK member is not a string")),
    }
}

/// The members of a public EC P-256 JWK that name the key, checked for form only: the
/// key type and curve, no private part, two 32-byte coordinates. Enough to compute the
/// thumbprint and find a registered key by it, without building a verifier.
pub struct CheckedJwk<'a> {
    x: &'a str,
    y: &'a str,
}

impl<'a> CheckedJwk<'a> {
    /// Checks the form of `jwk`.
    pub fn from_map(jwk: &'a Map<String, Value>) -> Result<CheckedJwk<'a>, JoseError> {
        if text(jwk, "kty")? != Some("EC") || text(jwk, "crv")? != Some("P-256") {
            return Err(JoseError::Key("only EC P-256 keys are accepted"));
        }
        if jwk.contains_key("d") {
            return Err(JoseError::Key("a public JWK must not hold a private part"));
        }
        let coordinate = |name: &str| -> Result<&'a str, JoseError> {
            let value = text(jwk, name)?.ok_or(JoseError::Key("an EC key needs x and y"))?;
            match B64URL.decode(value) {
                Ok(bytes) if bytes.len() == 32 => Ok(value),
                _ => Err(JoseError::Key(
                    "an EC P-256 coordinate must be 32 bytes of base64url",
                )),
            }
        };
        Ok(CheckedJwk {
            x: coordinate("x")?,
            y: coordinate("y")?,
        })
    }

    /// The RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> String {
        kluis_proto::jwk::ec_p256_thumbprint(self.x, self.y, crate::crypto::sha256)
    }
}

/// A validated EC P-256 public key for ES256.
#[derive(Clone, Debug)]
pub struct PublicKey {
    /// The key id, if the JWK had one.
    pub kid: Option<String>,
    x: String,
    y: String,
    /// The RFC 7638 thumbprint, computed once.
    thumbprint: String,
    verifier: josekit::jws::alg::ecdsa::EcdsaJwsVerifier,
}

impl PublicKey {
    /// Validates one public JWK (a JSON object).
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<PublicKey, JoseError> {
        let checked = CheckedJwk::from_map(jwk)?;
        if !matches!(text(jwk, "alg")?, None | Some("ES256"))
            || !matches!(text(jwk, "use")?, None | Some("sig"))
        {
            return Err(JoseError::Key("the key is not an ES256 signing key"));
        }
        if let Some(ops) = jwk.get("key_ops") {
            let verifies = ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
            if !verifies {
                return Err(JoseError::Key("the key's key_ops do not include verify"));
            }
        }
        let kid = text(jwk, "kid")?.map(str::to_owned);
        let (x, y) = (checked.x.to_owned(), checked.y.to_owned());
        let mut minimal = Map::new();
        minimal.insert("kty".into(), json!("EC"));
        minimal.insert("crv".into(), json!("P-256"));
        minimal.insert("x".into(), json!(x));
        minimal.insert("y".into(), json!(y));
        let jwk = josekit::jwk::Jwk::from_map(minimal)
            .map_err(|_| JoseError::Key("the JWK is malformed"))?;
        // josekit (OpenSSL) refuses a point that is not on the curve.
        let verifier = ES256
            .verifier_from_jwk(&jwk)
            .map_err(|_| JoseError::Key("the point is not a valid P-256 key"))?;
        Ok(PublicKey {
            kid,
            x,
            y,
            thumbprint: checked.thumbprint(),
            verifier,
        })
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url): what `cnf.jkt` names.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The public JWK, for publishing.
    pub fn to_jwk(&self) -> Value {
        let mut jwk = json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y, "use": "sig", "alg": "ES256"});
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// Checks an ES256 signature (64 bytes, r || s) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        self.verifier
            .verify(message, signature)
            .map_err(|_| JoseError::Signature)
    }
}

/// A department's registered public keys.
#[derive(Clone, Debug)]
pub struct KeySet {
    signing: Vec<PublicKey>,
    /// The key read answers are sealed to, if the department registered one.
    encryption: Option<super::jwe::EncryptionKey>,
}

impl KeySet {
    /// Validates a JWKS (`{"keys": [...]}`): at most one encryption key (`use: enc`, see
    /// `jwe`); everything else must be an unambiguous ES256 signing key.
    pub fn from_jwks(jwks: &Value) -> Result<KeySet, JoseError> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JoseError::Key("a JWKS is an object with a \"keys\" array"))?;
        let mut signing: Vec<PublicKey> = Vec::new();
        let mut encryption = None;
        for key in keys {
            let key = key
                .as_object()
                .ok_or(JoseError::Key("a JWK is a JSON object"))?;
            if key.get("use").and_then(Value::as_str) == Some("enc") {
                if encryption.is_some() {
                    return Err(JoseError::Key("a JWKS holds at most one encryption key"));
                }
                encryption = Some(super::jwe::EncryptionKey::from_jwk(key)?);
                continue;
            }
            let key = PublicKey::from_jwk(key)?;
            if key.kid.is_some() && signing.iter().any(|k| k.kid == key.kid) {
                return Err(JoseError::Key("two keys share a kid"));
            }
            signing.push(key);
        }
        if signing.is_empty() {
            return Err(JoseError::Key("the JWKS holds no ES256 signing key"));
        }
        if signing.len() > 1 && signing.iter().any(|k| k.kid.is_none()) {
            return Err(JoseError::Key(
                "with several signing keys, each needs a kid",
            ));
        }
        Ok(KeySet {
            signing,
            encryption,
        })
    }

    /// The key read answers are sealed to, if one is registered.
    pub fn encryption(&self) -> Option<&super::jwe::EncryptionKey> {
        self.encryption.as_ref()
    }

    /// The key that a token with header `kid` names. Without a `kid`, only a set of one
    /// key answers; an unknown `kid` never falls back to another key.
    pub fn select(&self, kid: Option<&str>) -> Result<&PublicKey, JoseError> {
        match kid {
            Some(kid) => self
                .signing
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(JoseError::Key("no registered key has this kid")),
            None if self.signing.len() == 1 => Ok(&self.signing[0]),
            None => Err(JoseError::Key(
                "the token names no kid and several keys are registered",
            )),
        }
    }

    /// Whether a key with this thumbprint is registered.
    pub fn has_thumbprint(&self, jkt: &str) -> bool {
        self.by_thumbprint(jkt).is_some()
    }

    /// The registered key with this thumbprint.
    pub fn by_thumbprint(&self, jkt: &str) -> Option<&PublicKey> {
        self.signing.iter().find(|k| k.thumbprint() == jkt)
    }

    /// The thumbprints of every signing key.
    pub fn thumbprints(&self) -> Vec<String> {
        self.signing
            .iter()
            .map(|k| k.thumbprint().to_owned())
            .collect()
    }
}

/// One of the vault's own signing keys (ES256), with its published public half.
pub struct VaultKey {
    /// Its key id, as in the JWT header and the JWKS.
    pub kid: String,
    public: PublicKey,
    signer: josekit::jws::alg::ecdsa::EcdsaJwsSigner,
}

impl VaultKey {
    /// A new random key pair: its private key as DER (to be sealed by the caller) and the key.
    pub fn generate(kid: &str) -> Result<(Zeroizing<Vec<u8>>, VaultKey), JoseError> {
        let pair = ES256
            .generate_key_pair()
            .map_err(|_| JoseError::Key("key generation failed"))?;
        let der = Zeroizing::new(pair.to_der_private_key());
        let key = VaultKey::from_pkcs8(kid, &der)?;
        Ok((der, key))
    }

    /// Loads a key from the DER that [`VaultKey::generate`] returned.
    pub fn from_pkcs8(kid: &str, der: &[u8]) -> Result<VaultKey, JoseError> {
        let pair = ES256
            .key_pair_from_der(der)
            .map_err(|_| JoseError::Key("the stored signing key is unreadable"))?;
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        let map: Map<String, Value> = jwk.as_ref().clone();
        let public = PublicKey::from_jwk(&map)?;
        let signer = ES256
            .signer_from_der(der)
            .map_err(|_| JoseError::Key("the stored signing key is unreadable"))?;
        Ok(VaultKey {
            kid: kid.to_owned(),
            public,
            signer,
        })
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs arbitrary header and payload bytes (tests craft hostile tokens with it).
    #[cfg(test)]
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", B64URL.encode(header), B64URL.encode(payload));
        let signature = self.signer.sign(input.as_bytes()).expect("signs");
        format!("{input}.{}", B64URL.encode(signature))
    }

    /// Signs a compact JWS with this key: header `{alg, typ, kid}` and `claims`.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, JoseError> {
        let header = json!({"alg": "ES256", "typ": typ, "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let signature = self
            .signer
            .sign(signing_input.as_bytes())
            .map_err(|_| JoseError::Signature)?;
        Ok(format!("{signing_input}.{}", B64URL.encode(signature)))
    }
}

/// A new ES256 key pair as JWKs with `kid`, `use: sig` and `alg: ES256`: the private JWK
/// (`d`, `x`, `y`) as text and the public JWK. For `kluis dev`'s demo departments.
pub fn generate_department_jwk(kid: &str) -> Result<(Zeroizing<String>, Value), JoseError> {
    let pair = ES256
        .generate_key_pair()
        .map_err(|_| JoseError::Key("key generation failed"))?;
    let mut private = pair.to_jwk_key_pair();
    private.set_key_id(kid);
    private.set_key_use("sig");
    private.set_algorithm("ES256");
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(kid);
    public.set_key_use("sig");
    public.set_algorithm("ES256");
    let public = Value::Object(public.as_ref().clone());
    Ok((
        Zeroizing::new(Value::Object(private.as_ref().clone()).to_string()),
        public,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example_shape() {
        let (_, key) = VaultKey::generate("k1").unwrap();
        let tp = key.public().thumbprint();
        assert_eq!(tp.len(), 43);
        let again = PublicKey::from_jwk(key.public().to_jwk().as_object().unwrap()).unwrap();
        assert_eq!(
            again.thumbprint(),
            tp,
            "kid, use and alg do not change the thumbprint"
        );
    }

    #[test]
    fn ambiguous_key_sets_are_refused() {
        let (_, a) = VaultKey::generate("a").unwrap();
        let (_, b) = VaultKey::generate("a").unwrap();
        assert!(
            KeySet::from_jwks(&json!({"keys": [a.public().to_jwk(), b.public().to_jwk()]}))
                .is_err(),
            "duplicate kid"
        );
        let mut no_kid = b.public().to_jwk();
        no_kid.as_object_mut().unwrap().remove("kid");
        assert!(
            KeySet::from_jwks(&json!({"keys": [a.public().to_jwk(), no_kid.clone()]})).is_err()
        );
        let one = KeySet::from_jwks(&json!({"keys": [no_kid]})).unwrap();
        assert!(one.select(None).is_ok());
        assert!(one.select(Some("../../etc/passwd")).is_err());
        let mut hs = json!({"kty": "oct", "k": "AAAA"});
        assert!(KeySet::from_jwks(&json!({"keys": [hs.take()]})).is_err());
        let mut private = a.public().to_jwk();
        private["d"] = json!("AAAA");
        assert!(KeySet::from_jwks(&json!({"keys": [private]})).is_err());
    }

    #[test]
    fn off_curve_points_are_refused() {
        let (_, a) = VaultKey::generate("a").unwrap();
        let mut jwk = a.public().to_jwk();
        let mut y = B64URL.decode(jwk["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        jwk["y"] = json!(B64URL.encode(y));
        assert!(PublicKey::from_jwk(jwk.as_object().unwrap()).is_err());
    }
}
