//! The vault's Ed25519 key for signed notes (C2SP signed-note), in which it signs its
//! audit checkpoints for the tools of the transparency ecosystem; sealed in the keyring like
//! the other signing keys. And Ed25519 verification, for notes and witnesses'
//! cosignatures.

use super::{CryptoError, Keyring};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

const SECRET: (&str, &str) = ("note-00000001.key", "kluis/note/v1/1");

/// The Ed25519 key that signs the vault's notes.
pub struct NoteKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for NoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteKey").finish_non_exhaustive()
    }
}

impl NoteKey {
    /// Loads the key from the keyring, creating it the first time.
    pub fn load_or_create(keyring: &Keyring) -> Result<NoteKey, CryptoError> {
        let (name, label) = SECRET;
        let pkcs8 = match keyring.load_secret(name, label)? {
            Some(pkcs8) => pkcs8,
            None => {
                let rng = ring::rand::SystemRandom::new();
                let fresh =
                    Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| CryptoError::Random)?;
                keyring.store_secret(name, label, fresh.as_ref())?;
                zeroize::Zeroizing::new(fresh.as_ref().to_vec())
            }
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| CryptoError::Integrity {
            what: "the note key",
        })?;
        Ok(NoteKey { pair })
    }

    /// Its 32-byte public key.
    pub fn public(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

/// Whether `signature` is `public`'s Ed25519 signature of `message`.
pub fn ed25519_verifies(public: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public)
        .verify(message, signature)
        .is_ok()
}
