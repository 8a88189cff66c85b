//! The root key behind a port: the key that seals every KEK, the pseudonym key and the
//! vault's own secrets in the key directory. Two implementations: a 32-byte key from a
//! file or the environment (sealing with ring, in this process), and an AES key inside a
//! PKCS#11 token ([`super::token`]), which never leaves the token.

use super::token::TokenSettings;
use crate::crypto::aead::{self, SealedBytes};
use crate::crypto::{CryptoError, random_bytes};
use base64::Engine;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What the keyring asks of a root key: seal and open small secrets, bound to `aad`.
pub(super) trait RootKeyPort: Send + Sync {
    /// The token that holds the key, for a key inside one.
    fn token(&self) -> Option<&TokenSettings> {
        None
    }
    /// Seals `plaintext` bound to `aad`.
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<SealedBytes, CryptoError>;
    /// Opens what [`RootKeyPort::seal`] sealed; `what` names it in the error.
    fn open(
        &self,
        aad: &[u8],
        sealed: &[u8],
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
}

/// The operator's root key: a key file's, or one in a PKCS#11 token. Cheap to clone.
#[derive(Clone)]
pub struct RootKey(Arc<dyn RootKeyPort>);

/// A root key given as 32 bytes (a file or `KLUIS_ROOT_KEY`).
struct FileRootKey(Zeroizing<[u8; 32]>);

impl RootKeyPort for FileRootKey {
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<SealedBytes, CryptoError> {
        aead::seal(&self.0, aad, plaintext)
    }

    fn open(
        &self,
        aad: &[u8],
        sealed: &[u8],
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        aead::open(&self.0, aad, sealed, what)
    }
}

impl RootKey {
    /// Decodes a base64 (standard or URL-safe, padding optional) 32-byte key. The error
    /// says what is wrong without echoing the input.
    pub fn from_encoded(encoded: &str) -> Result<RootKey, String> {
        let trimmed = encoded.trim();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|e| e.decode(trimmed).ok())
            .map(Zeroizing::new)
            .ok_or("the root key is not base64; create one with `kluis keys generate-root`")?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "the root key must be 32 bytes, this one is {}; create one with `kluis keys generate-root`",
                bytes.len()
            )
        })?;
        Ok(RootKey::file(key))
    }

    /// A fresh random root key, base64-encoded, for the operator's key file.
    pub fn generate_encoded() -> Result<Zeroizing<String>, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(key.as_mut())?;
        Ok(Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(key.as_ref()),
        ))
    }

    /// A fresh random root key (tests and throwaway vaults).
    pub fn generate() -> Result<RootKey, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        random_bytes(key.as_mut())?;
        Ok(RootKey(Arc::new(FileRootKey(key))))
    }

    /// Another key in the token that holds this one (for a root key change inside an
    /// HSM): the key labelled `label`, with the same module, token and PIN.
    pub fn other_in_same_token(&self, label: &str) -> Result<RootKey, String> {
        let mut settings = self
            .0
            .token()
            .ok_or("the root key is not in a PKCS#11 token; give the new key as a file")?
            .clone();
        if settings.key == label {
            return Err(format!(
                "the root key is already {label:?}; name the new key"
            ));
        }
        settings.key = label.to_owned();
        RootKey::in_token(&settings)
    }

    /// The root key in a PKCS#11 token; the error is one line saying what to check.
    pub fn in_token(settings: &TokenSettings) -> Result<RootKey, String> {
        Ok(RootKey(Arc::new(settings.open()?)))
    }

    pub(super) fn file(key: [u8; 32]) -> RootKey {
        RootKey(Arc::new(FileRootKey(Zeroizing::new(key))))
    }

    pub(super) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<SealedBytes, CryptoError> {
        self.0.seal(aad, plaintext)
    }

    pub(super) fn open(
        &self,
        aad: &[u8],
        sealed: &[u8],
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.0.open(aad, sealed, what)
    }
}
