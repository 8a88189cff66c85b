//! Encrypted read answers: a department's registered encryption key (`use: enc`, EC P-256,
//! `alg: ECDH-ES+A256KW`) and sealing a read answer to it as a compact JWE with A256GCM
//! (RFC 7516, RFC 7518 §4.6), with josekit. No compression, ever.

use super::JoseError;
use super::keys::CheckedJwk;
use josekit::jwe::{ECDH_ES_A256KW, JweHeader};
use josekit::jwk::Jwk;
use serde_json::{Map, Value};

/// The one key-management algorithm accepted for encryption keys.
pub const ALG: &str = "ECDH-ES+A256KW";
/// The one content encryption used.
pub const ENC: &str = "A256GCM";

/// A department's public encryption key.
#[derive(Clone, Debug)]
pub struct EncryptionKey {
    jwk: Jwk,
}

impl EncryptionKey {
    /// Checks a registered `use: enc` JWK: EC P-256 on the curve, `alg` ECDH-ES+A256KW, no
    /// private part, no `key_ops` other than for deriving or wrapping.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<EncryptionKey, JoseError> {
        CheckedJwk::from_map(jwk)?;
        if jwk.get("alg").and_then(Value::as_str) != Some(ALG) {
            return Err(JoseError::Key(
                "an encryption key needs \"alg\": \"ECDH-ES+A256KW\"",
            ));
        }
        if jwk.contains_key("key_ops") {
            return Err(JoseError::Key("an encryption key takes no key_ops"));
        }
        let jwk = Jwk::from_map(jwk.clone())
            .map_err(|_| JoseError::Key("the encryption key is not a JWK"))?;
        // Building the encrypter checks the point lies on the curve.
        ECDH_ES_A256KW
            .encrypter_from_jwk(&jwk)
            .map_err(|_| JoseError::Key("the encryption key is not a P-256 public key"))?;
        Ok(EncryptionKey { jwk })
    }

    /// Seals `plaintext` (a JSON answer) to this key as a compact JWE.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, JoseError> {
        let mut header = JweHeader::new();
        header.set_content_encryption(ENC);
        header.set_content_type("json");
        if let Some(kid) = self.jwk.key_id() {
            header.set_key_id(kid);
        }
        let encrypter = ECDH_ES_A256KW
            .encrypter_from_jwk(&self.jwk)
            .map_err(|_| JoseError::Key("the encryption key is not a P-256 public key"))?;
        josekit::jwe::serialize_compact(plaintext, &header, &encrypter)
            .map_err(|_| JoseError::Key("sealing the answer failed"))
    }
}
