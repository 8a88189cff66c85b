//! Encrypted reads: a department that registers an encryption key (`use: enc`, EC P-256,
//! `alg: ECDH-ES+A256KW`) receives read answers as a compact JWE (RFC 7516) that only its
//! own system can open, past any TLS-terminating proxy.
//!
//! [`decrypt`] takes exactly one form: `alg` ECDH-ES+A256KW, `enc` A256GCM, an ephemeral
//! EC P-256 key on the curve, no `zip` (refused before anything is decrypted), no `crit`,
//! a 40-byte wrapped key, a 12-byte IV and a 16-byte tag (a truncated tag is refused, not
//! checked over fewer bytes). The key agreement is RFC 7518 §4.6: ECDH with the
//! department's static key, Concat KDF over SHA-256, AES key unwrap; the content is opened
//! with ring's AES-256-GCM.

use crate::Error;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

const ALG: &str = "ECDH-ES+A256KW";
const ENC: &str = "A256GCM";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// AES-KW of a 32-byte content key: the key and one 8-byte integrity block.
const WRAPPED_KEY_LEN: usize = 40;
/// The largest JWE accepted (a read answer of the largest records, base64url).
const MAX_JWE_BYTES: usize = 16 * 1024 * 1024;

/// A department's private encryption key (EC P-256), which opens its encrypted reads.
pub struct DecryptionKey {
    secret: p256::SecretKey,
    kid: Option<String>,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DecryptionKey {
    /// Loads a private JWK (`kty: EC`, `crv: P-256`, `d`, `x`, `y`), such as
    /// [`generate_encryption_jwk`] makes.
    pub fn from_jwk(jwk_text: &str) -> Result<DecryptionKey, Error> {
        let jwk: Value = serde_json::from_str(jwk_text)
            .map_err(|_| Error::Key("the encryption JWK is not JSON".into()))?;
        if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
            return Err(Error::Key(
                "the encryption JWK is not an EC P-256 key".into(),
            ));
        }
        if jwk.get("use").is_some_and(|u| u != "enc") {
            return Err(Error::Key(
                "the encryption JWK says it is not for encryption".into(),
            ));
        }
        let d = jwk["d"]
            .as_str()
            .and_then(|d| B64.decode(d).ok())
            .ok_or_else(|| Error::Key("the encryption JWK lacks its private part \"d\"".into()))?;
        let secret = p256::SecretKey::from_slice(&d).map_err(|_| {
            Error::Key("the encryption JWK's \"d\" is not a P-256 private key".into())
        })?;
        let public = jwk_point(jwk.as_object().unwrap_or(&Map::new())).map_err(|_| {
            Error::Key("the encryption JWK's x and y are not its public key".into())
        })?;
        if public != secret.public_key() {
            return Err(Error::Key(
                "the encryption JWK's x and y do not belong to its d".into(),
            ));
        }
        Ok(DecryptionKey {
            secret,
            kid: jwk["kid"].as_str().map(str::to_owned),
        })
    }

    /// Loads the private JWK in `path`.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<DecryptionKey, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Key(format!("cannot read {}: {e}", path.display())))?;
        DecryptionKey::from_jwk(&text)
    }
}

/// A new encryption key pair: the private JWK (keep it in the department's system) and
/// the public JWK to add to the department's registered JWKS (`use: enc`,
/// `alg: ECDH-ES+A256KW`).
pub fn generate_encryption_jwk(kid: &str) -> Result<(String, Value), Error> {
    use ring::rand::SecureRandom;
    let random = ring::rand::SystemRandom::new();
    let secret = loop {
        let mut d = [0u8; 32];
        random
            .fill(&mut d)
            .map_err(|_| Error::Key("no randomness for a new key".into()))?;
        // Almost every 32-byte string is a valid scalar; try again on the rare one that is not.
        if let Ok(secret) = p256::SecretKey::from_slice(&d) {
            break secret;
        }
    };
    // Uncompressed SEC1: 0x04, x, y.
    let point = secret.public_key().to_sec1_bytes();
    let (x, y) = (&point[1..33], &point[33..65]);
    let public = serde_json::json!({
        "kty": "EC", "crv": "P-256", "use": "enc", "alg": ALG, "kid": kid,
        "x": B64.encode(x), "y": B64.encode(y),
    });
    let mut private = public.clone();
    private["d"] = Value::String(B64.encode(secret.to_bytes()));
    Ok((private.to_string(), public))
}

/// Why a JWE was refused (the vault's answer is then not used).
fn refused(why: &str) -> Error {
    Error::Protocol(format!("the encrypted answer was refused: {why}"))
}

/// The public point of an EC P-256 JWK (`x`, `y`), checked to lie on the curve.
fn jwk_point(jwk: &Map<String, Value>) -> Result<p256::PublicKey, Error> {
    if jwk.get("kty").and_then(Value::as_str) != Some("EC")
        || jwk.get("crv").and_then(Value::as_str) != Some("P-256")
    {
        return Err(refused("the ephemeral key is not EC P-256"));
    }
    let coordinate = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|v| B64.decode(v).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| refused("an ephemeral key coordinate is not 32 bytes of base64url"))
    };
    let mut sec1 = vec![0x04];
    sec1.extend(coordinate("x")?);
    sec1.extend(coordinate("y")?);
    p256::PublicKey::from_sec1_bytes(&sec1)
        .map_err(|_| refused("the ephemeral key is not on the curve"))
}

/// A Concat KDF input field: its length (32-bit big-endian) and its bytes.
fn length_prefixed(bytes: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(bytes.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(bytes);
    out
}

/// Opens a compact JWE sealed to `key`; returns the plaintext.
pub fn decrypt(token: &str, key: &DecryptionKey) -> Result<Vec<u8>, Error> {
    if token.len() > MAX_JWE_BYTES {
        return Err(refused("it is too large"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, wrapped_b64, iv_b64, ciphertext_b64, tag_b64] = parts[..] else {
        return Err(refused("a compact JWE has exactly five parts"));
    };
    let segment = |s: &str, what: &str| {
        B64.decode(s)
            .map_err(|_| refused(&format!("the {what} is not base64url")))
    };
    let header: Map<String, Value> = serde_json::from_slice(&segment(header_b64, "header")?)
        .map_err(|_| refused("the header is not a JSON object"))?;
    // Checked before anything is decrypted or decompressed.
    if header.contains_key("zip") {
        return Err(refused(
            "it is compressed (zip), which this SDK never accepts",
        ));
    }
    if header.contains_key("crit") {
        return Err(refused("it names critical header parameters"));
    }
    if header.get("alg").and_then(Value::as_str) != Some(ALG) {
        return Err(refused("its alg is not ECDH-ES+A256KW"));
    }
    if header.get("enc").and_then(Value::as_str) != Some(ENC) {
        return Err(refused("its enc is not A256GCM"));
    }
    if let (Some(kid), Some(ours)) = (header.get("kid").and_then(Value::as_str), &key.kid)
        && kid != ours
    {
        return Err(refused("it is sealed to another key"));
    }
    let iv = segment(iv_b64, "IV")?;
    if iv.len() != IV_LEN {
        return Err(refused("its IV is not 12 bytes"));
    }
    let tag = segment(tag_b64, "tag")?;
    if tag.len() != TAG_LEN {
        return Err(refused("its authentication tag is not 16 bytes"));
    }
    let wrapped = segment(wrapped_b64, "encrypted key")?;
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(refused("its encrypted key is not 40 bytes"));
    }
    let epk = header
        .get("epk")
        .and_then(Value::as_object)
        .ok_or_else(|| refused("it has no ephemeral public key (epk)"))?;
    if epk.contains_key("d") {
        return Err(refused("its ephemeral key holds a private part"));
    }
    let ephemeral = jwk_point(epk)?;
    let optional = |name: &str| match header.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(v)) => segment(v, name),
        Some(_) => Err(refused("apu or apv is not a string")),
    };
    let (apu, apv) = (optional("apu")?, optional("apv")?);

    // RFC 7518 §4.6.2: Z, then Concat KDF to the AES-256 key-wrapping key.
    let shared = p256::ecdh::diffie_hellman(key.secret.to_nonzero_scalar(), ephemeral.as_affine());
    let mut other_info = length_prefixed(ALG.as_bytes());
    other_info.extend(length_prefixed(&apu));
    other_info.extend(length_prefixed(&apv));
    other_info.extend(256u32.to_be_bytes());
    let mut kek = [0u8; 32];
    concat_kdf::derive_key_into::<sha2::Sha256>(shared.raw_secret_bytes(), &other_info, &mut kek)
        .map_err(|_| refused("the key agreement failed"))?;
    use aes_kw::KeyInit;
    let unwrapper =
        aes_kw::KwAes256::new_from_slice(&kek).map_err(|_| refused("the key agreement failed"))?;
    let mut cek = [0u8; 32];
    unwrapper
        .unwrap_key(&wrapped, &mut cek)
        .map_err(|_| refused("its content key does not unwrap with this key"))?;

    let opening = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &cek)
            .map_err(|_| refused("the content key is unusable"))?,
    );
    let nonce = ring::aead::Nonce::try_assume_unique_for_key(&iv)
        .map_err(|_| refused("its IV is not 12 bytes"))?;
    let mut in_out = segment(ciphertext_b64, "ciphertext")?;
    in_out.extend_from_slice(&tag);
    let plaintext = opening
        .open_in_place(
            nonce,
            ring::aead::Aad::from(header_b64.as_bytes()),
            &mut in_out,
        )
        .map_err(|_| refused("it does not open: altered, or sealed to another key"))?;
    Ok(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_must_be_a_whole_p256_private_jwk() {
        let (private, public) = generate_encryption_jwk("enc-1").unwrap();
        assert!(DecryptionKey::from_jwk(&private).is_ok());
        assert!(
            DecryptionKey::from_jwk(&public.to_string()).is_err(),
            "no d"
        );
        let mut other: Value =
            serde_json::from_str(&generate_encryption_jwk("enc-2").unwrap().0).unwrap();
        other["x"] = public["x"].clone();
        assert!(
            DecryptionKey::from_jwk(&other.to_string()).is_err(),
            "x of another key"
        );
        let mut signing: Value = serde_json::from_str(&private).unwrap();
        signing["use"] = Value::String("sig".into());
        assert!(DecryptionKey::from_jwk(&signing.to_string()).is_err());
    }

    #[test]
    fn malformed_jwes_are_refused_before_decryption() {
        // Each reason as the error says it (every error starts "the encrypted answer...").
        let (private, _) = generate_encryption_jwk("enc-1").unwrap();
        let key = DecryptionKey::from_jwk(&private).unwrap();
        let header = |h: Value| B64.encode(h.to_string());
        let epk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": B64.encode([1u8; 32]), "y": B64.encode([2u8; 32])});
        for (token, why) in [
            ("a.b.c".to_owned(), "exactly five parts"),
            (
                format!(
                    "{}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
                    header(serde_json::json!({"alg": ALG, "enc": ENC, "zip": "DEF"}))
                ),
                "compressed (zip)",
            ),
            (
                format!(
                    "{}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
                    header(serde_json::json!({"alg": "RSA-OAEP", "enc": ENC}))
                ),
                "its alg is not",
            ),
            (
                format!(
                    "{}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
                    header(serde_json::json!({"alg": ALG, "enc": "A128CBC-HS256"}))
                ),
                "its enc is not",
            ),
            (
                format!(
                    "{}.AAAA.AAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
                    header(serde_json::json!({"alg": ALG, "enc": ENC, "epk": epk}))
                ),
                "its IV is not 12 bytes",
            ),
            (
                format!(
                    "{}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAA",
                    header(serde_json::json!({"alg": ALG, "enc": ENC, "epk": epk}))
                ),
                "tag is not 16 bytes",
            ),
            (
                format!(
                    "{}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
                    header(serde_json::json!({"alg": ALG, "enc": ENC, "epk": epk}))
                ),
                "encrypted key is not 40 bytes",
            ),
        ] {
            let err = decrypt(&token, &key).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
