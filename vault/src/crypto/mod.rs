//! Envelope encryption and keyed hashes: the only door to ring's AEAD and HMAC (and to
//! the ring provider of rustls, `tls`, for the vault's connections to PostgreSQL).
//!
//! The key hierarchy (see `docs/crypto.md`):
//!
//! ```text
//! root key (operator: file or env)          never stored by Kluis
//!   └─ key-encryption keys kek-N (key_dir)   versioned, sealed under the root key
//!        └─ data key per resident (store)    wrapped under the current KEK
//!             └─ records (store)             AES-256-GCM, AAD = (resident, category, version)
//! ```
//!
//! Destroying a resident's wrapped data key, then rotating the KEK (which deletes the old
//! KEK file), makes every stale copy of that resident's records unreadable, including
//! copies left in sled's log-structured files and in old backups.
//!
//! Every secret lives in a `Zeroizing` buffer and is wiped on drop. ring expands AES keys
//! into its own structures for the length of one operation; those are not under our
//! control (documented in the threat model).

mod aead;
mod keyring;
mod note_key;
mod pseudonym;
pub mod signed_note;
mod tls;

pub use aead::SealedBytes;
#[cfg(any(test, feature = "test-support"))]
pub use aead::open_with_nonce_for_test_vectors;
pub use keyring::{DataKey, Keyring, RootKey, TokenSettings, WrappedDataKey};
pub use note_key::{NoteKey, ed25519_verifies};
pub use pseudonym::{Pseudonym, Pseudonymiser};
pub use tls::tls_client_config;

/// What can go wrong in the crypto layer. Messages carry no key material and no plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// A ciphertext failed authentication: tampered, corrupted, moved to another place, or
    /// sealed under another key.
    #[error("integrity check failed for {what}")]
    Integrity {
        /// What was being opened (a record, a wrapped key), never its contents.
        what: &'static str,
    },
    /// A stored value has a format version this build does not know.
    #[error("unsupported format version {version} for {what}")]
    Format {
        /// What was being read.
        what: &'static str,
        /// The version byte found.
        version: u8,
    },
    /// The key needed to open a value no longer exists (destroyed by rotation or erasure).
    #[error("key-encryption key {version} does not exist (destroyed or never created)")]
    MissingKey {
        /// The KEK version named by the value.
        version: u32,
    },
    /// The operating system's random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The keyring directory could not be read or written.
    #[error("keyring {action} failed: {reason}")]
    KeyringIo {
        /// What was being done.
        action: &'static str,
        /// The OS error (paths only, no key material).
        reason: String,
    },
}

/// Fills `buf` from the operating system's random generator.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Random)
}

/// A random 32-byte token, base64url without padding (session tokens, CSRF tokens).
pub fn random_token() -> Result<String, CryptoError> {
    use base64::Engine;
    let mut buf = [0u8; 32];
    random_bytes(&mut buf)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    // Comparing digests makes the lengths equal too.
    sha256(a.as_bytes()).ct_eq(&sha256(b.as_bytes())).into()
}

/// SHA-256 of `data`: for storing session tokens by digest, never in the clear.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha256_of_parts(&[data])
}

/// SHA-256 of the concatenation of `parts`, without copying them together (Merkle nodes,
/// thumbprints).
pub fn sha256_of_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part);
    }
    digest.finish()
}

/// SHA-256 over data that arrives in pieces (a file read in chunks).
pub struct Sha256(ring::digest::Context);

impl Sha256 {
    /// An empty digest.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Sha256 {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::hmac::sign(&key, data).as_ref());
    out
}

/// The associated data that binds a coach's sealed proposal to its resident, its id and
/// its category: a proposal moved to another resident or proposal fails to open.
pub fn proposal_aad(resident: &uuid::Uuid, proposal: &uuid::Uuid, category: &str) -> Vec<u8> {
    [
        b"kluis/proposal/v1\0".as_slice(),
        resident.as_bytes(),
        proposal.as_bytes(),
        category.as_bytes(),
    ]
    .concat()
}

/// The associated data that binds a sealed record to its place: resident, category and
/// version. A record moved to any other place fails to open.
pub fn record_aad(resident: &uuid::Uuid, category: &str, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + 16 + 2 + category.len() + 4);
    aad.extend_from_slice(b"kluis/record/v1\0");
    aad.extend_from_slice(resident.as_bytes());
    // Length-prefixed so that no two (category, version) pairs share an encoding.
    aad.extend_from_slice(&(category.len() as u16).to_be_bytes());
    aad.extend_from_slice(category.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}
