//! The department's private key, and the JWS tokens it signs (ES256, with ring).

use crate::Error;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use std::path::Path;

/// A department's EC P-256 private key.
///
/// ```no_run
/// let key = kluis_sdk::DepartmentKey::from_file("schuldhulpverlening.jwk")?;
/// println!("bound grants name {}", key.thumbprint());
/// # Ok::<(), kluis_sdk::Error>(())
/// ```
pub struct DepartmentKey {
    pair: EcdsaKeyPair,
    kid: Option<String>,
    x: String,
    y: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for DepartmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepartmentKey")
            .field("kid", &self.kid)
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

impl DepartmentKey {
    /// Loads a key from a file: a private JWK (`.jwk`/`.json`) or a PKCS#8 PEM.
    ///
    /// ```no_run
    /// let key = kluis_sdk::DepartmentKey::from_file("/etc/afdeling/kluis.pem")?;
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<DepartmentKey, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Key(format!("cannot read {}: {e}", path.display())))?;
        if text.trim_start().starts_with('{') {
            DepartmentKey::from_jwk(&text)
        } else {
            DepartmentKey::from_pem(&text)
        }
    }

    /// Loads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) holding an EC P-256 key.
    ///
    /// ```no_run
    /// let pem = std::fs::read_to_string("key.pem").unwrap();
    /// let key = kluis_sdk::DepartmentKey::from_pem(&pem)?;
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn from_pem(pem_text: &str) -> Result<DepartmentKey, Error> {
        let block = pem::parse(pem_text)
            .map_err(|_| Error::Key("the file is neither a JWK nor a PEM".into()))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(Error::Key(format!(
                "expected a PKCS#8 \"PRIVATE KEY\" PEM, found \"{}\" (convert with `openssl pkcs8 -topk8 -nocrypt`)",
                block.tag()
            )));
        }
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, block.contents(), &rng)
                .map_err(|_| Error::Key("the PEM is not an EC P-256 PKCS#8 private key".into()))?;
        DepartmentKey::new(pair, None, rng)
    }

    /// Loads a private JWK (`kty: EC`, `crv: P-256`, with `d`, `x`, `y`, optionally `kid`).
    ///
    /// ```no_run
    /// let jwk = std::fs::read_to_string("key.jwk").unwrap();
    /// let key = kluis_sdk::DepartmentKey::from_jwk(&jwk)?;
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn from_jwk(jwk_text: &str) -> Result<DepartmentKey, Error> {
        let jwk: Value =
            serde_json::from_str(jwk_text).map_err(|_| Error::Key("the JWK is not JSON".into()))?;
        if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
            return Err(Error::Key("the JWK is not an EC P-256 key".into()));
        }
        let part = |name: &str| {
            jwk[name]
                .as_str()
                .and_then(|v| B64.decode(v).ok())
                .ok_or_else(|| Error::Key(format!("the JWK lacks a valid \"{name}\"")))
        };
        let (d, x, y) = (part("d")?, part("x")?, part("y")?);
        let public = [&[0x04][..], &x, &y].concat();
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &d,
            &public,
            &rng,
        )
        .map_err(|_| {
            Error::Key("the JWK's private and public parts do not form a P-256 key".into())
        })?;
        DepartmentKey::new(pair, jwk["kid"].as_str().map(str::to_owned), rng)
    }

    fn new(
        pair: EcdsaKeyPair,
        kid: Option<String>,
        rng: SystemRandom,
    ) -> Result<DepartmentKey, Error> {
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err(Error::Key("unexpected public key encoding".into()));
        }
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
        Ok(DepartmentKey {
            pair,
            kid,
            x,
            y,
            rng,
        })
    }

    /// The key id (`kid`) sent in client assertions, if the key has one.
    ///
    /// ```no_run
    /// # let key = kluis_sdk::DepartmentKey::from_file("k.jwk")?;
    /// assert_eq!(key.kid(), Some("schuldhulpverlening-1"));
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Sets the key id, for a PEM key registered with a `kid`.
    ///
    /// ```no_run
    /// # let pem = String::new();
    /// let key = kluis_sdk::DepartmentKey::from_pem(&pem)?.with_kid("afdeling-2026");
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn with_kid(mut self, kid: &str) -> DepartmentKey {
        self.kid = Some(kid.to_owned());
        self
    }

    /// The public JWK (register this with the vault's operator).
    ///
    /// ```no_run
    /// # let key = kluis_sdk::DepartmentKey::from_file("k.jwk")?;
    /// println!("{}", serde_json::json!({"keys": [key.public_jwk()]}));
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn public_jwk(&self) -> Value {
        let mut jwk = json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y, "use": "sig", "alg": "ES256"});
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// The RFC 7638 thumbprint: grants bound to this key carry it as `cnf.jkt`.
    ///
    /// ```no_run
    /// # let key = kluis_sdk::DepartmentKey::from_file("k.jwk")?;
    /// println!("{}", key.thumbprint());
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn thumbprint(&self) -> String {
        kluis_proto::jwk::ec_p256_thumbprint(&self.x, &self.y, |bytes| {
            let mut out = [0u8; 32];
            out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
            out
        })
    }

    /// Signs a compact JWS over exactly the given header and payload text. The client uses
    /// it for assertions and proofs; it is public so integrators can test how the vault
    /// treats unusual tokens.
    ///
    /// ```no_run
    /// # let key = kluis_sdk::DepartmentKey::from_file("k.jwk")?;
    /// let token = key.sign_raw(r#"{"alg":"ES256","typ":"dpop+jwt"}"#, r#"{"htm":"POST"}"#)?;
    /// # Ok::<(), kluis_sdk::Error>(())
    /// ```
    pub fn sign_raw(&self, header_json: &str, payload_json: &str) -> Result<String, Error> {
        let input = format!("{}.{}", B64.encode(header_json), B64.encode(payload_json));
        let signature = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| Error::Key("signing failed".into()))?;
        Ok(format!("{input}.{}", B64.encode(signature.as_ref())))
    }

    /// The public JWK as it goes into a DPoP header (no `kid`, `use` or `alg`).
    pub(crate) fn dpop_jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway test key, as a JWK and as the PKCS#8 PEM of the same key.
    const JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"t-1",
        "d":"s1TwYtw26aeSQYGYMxw3W3hP8QKqfk3ENMUEGuJ96Ic",
        "x":"k5mHMyDyOpSpWeYW42XzcCog0_UolcwzQj35S2phNtE",
        "y":"zYS6_Gewl-v1k8ACaZ4fl7HSsLCeIU6XhoXZWfKLCBc"}"#;
    const PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgs1TwYtw26aeSQYGY
Mxw3W3hP8QKqfk3ENMUEGuJ96IehRANCAASTmYczIPI6lKlZ5hbjZfNwKiDT9SiV
zDNCPflLamE20c2EuvxnsJfr9ZPAAmmeH5ex0rCwniFOl4aF2VnyiwgX
-----END PRIVATE KEY-----
";

    #[test]
    fn pem_and_jwk_of_one_key_agree() {
        let (a, b) = (
            DepartmentKey::from_jwk(JWK).unwrap(),
            DepartmentKey::from_pem(PEM).unwrap(),
        );
        assert_eq!(a.thumbprint(), b.thumbprint());
        assert_eq!(b.kid(), None);
        assert_eq!(b.with_kid("t-1").public_jwk(), a.public_jwk());
    }

    #[test]
    fn jwk_keys_load_and_sign_verifiably() {
        let key = DepartmentKey::from_jwk(JWK).unwrap();
        assert_eq!(key.kid(), Some("t-1"));
        let token = key.sign_raw(r#"{"alg":"ES256"}"#, "{}").unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            key.pair.public_key().as_ref(),
        );
        public
            .verify(input.as_bytes(), &B64.decode(sig).unwrap())
            .unwrap();
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        assert!(matches!(DepartmentKey::from_jwk("{}"), Err(Error::Key(_))));
        assert!(matches!(
            DepartmentKey::from_jwk(&JWK.replace("s1Tw", "t1Tw")),
            Err(Error::Key(_))
        ));
        let err = DepartmentKey::from_pem(
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("pkcs8"), "{err}");
    }
}
