//! The root key inside a PKCS#11 token (a hardware security module, or SoftHSM2 in the
//! tests): an AES-256 key that is sensitive and not extractable, so it never leaves the
//! token. Sealing and opening happen inside it (`CKM_AES_GCM`, with the same layout and
//! associated data as the file key: `[0x01][nonce: 12][ciphertext][tag: 16]`), so that
//! the key directory holds nothing that opens without the token.

use super::root::RootKeyPort;
use crate::crypto::aead::{self, SealedBytes, TAG_LEN};
use crate::crypto::{CryptoError, random_bytes};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// Where the root key is: the PKCS#11 module, the token's label, the key's label and the
/// user PIN (never printed).
#[derive(Clone)]
pub struct TokenSettings {
    /// The PKCS#11 module (for SoftHSM2: `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The label of the AES key in the token.
    pub key: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSettings")
            .field("module", &self.module)
            .field("token", &self.token)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A logged-in session with the token and the handle of the root key in it, and the
/// settings to open a new one when the token drops the session (a restarted HSM).
pub(super) struct TokenRootKey {
    settings: TokenSettings,
    session: Mutex<(Session, ObjectHandle)>,
}

impl TokenSettings {
    /// A logged-in read-write session on the token; each failure is one line saying what
    /// to check.
    fn session(&self) -> Result<Session, String> {
        let module = self.module.display();
        let pkcs11 = loaded(&self.module)?;
        let slots = pkcs11
            .get_slots_with_token()
            .map_err(|e| format!("the PKCS#11 module {module} lists no slots: {e}"))?;
        let slot = slots
            .into_iter()
            .find(|slot| {
                pkcs11
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == self.token)
            })
            .ok_or_else(|| {
                format!(
                    "the token {:?} is not present in {module}: insert it, or correct the token label",
                    self.token
                )
            })?;
        let session = pkcs11
            .open_rw_session(slot)
            .map_err(|e| format!("cannot open a session with the token {:?}: {e}", self.token))?;
        // Logins are per token and process: another session of this process may hold one.
        match session.login(
            UserType::User,
            Some(&AuthPin::new(self.pin.as_str().into())),
        ) {
            Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            other => other,
        }
        .map_err(|e| {
            format!(
                "cannot log in to the token {:?} (is the PIN right?): {e}",
                self.token
            )
        })?;
        Ok(session)
    }

    fn key_template(&self) -> Vec<Attribute> {
        vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(self.key.as_bytes().to_vec()),
        ]
    }

    /// Opens the root key in the token: it must be there, once, and seal and open.
    pub(super) fn open(&self) -> Result<TokenRootKey, String> {
        let opened = TokenRootKey {
            settings: self.clone(),
            session: Mutex::new(self.find_key()?),
        };
        // A token that seals but cannot open what it sealed (one that ignores the IV it is
        // given, say) would lose every key written under it: found out now, not later.
        match opened.round_trips() {
            Ok(true) => Ok(opened),
            Ok(false) => Err(format!(
                "the token {:?} cannot open what it sealed with AES-GCM; it cannot hold the root key",
                self.token
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A logged-in session and the root key's handle in it.
    fn find_key(&self) -> Result<(Session, ObjectHandle), String> {
        let session = self.session()?;
        let found = session
            .find_objects(&self.key_template())
            .map_err(|e| format!("cannot search the token {:?}: {e}", self.token))?;
        let key = match found[..] {
            [key] => key,
            [] => {
                return Err(format!(
                    "the token {:?} holds no AES key labelled {:?}; create it with `kluis keys generate-root --pkcs11`",
                    self.token, self.key
                ));
            }
            _ => {
                return Err(format!(
                    "the token {:?} holds several AES keys labelled {:?}; keep one",
                    self.token, self.key
                ));
            }
        };
        // Fail closed: a root key the token would hand out, or ever could have, is not a
        // root key in a token.
        let held = session
            .get_attributes(
                key,
                &[
                    AttributeType::Sensitive,
                    AttributeType::AlwaysSensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::ValueLen,
                ],
            )
            .map_err(|e| format!("cannot read the root key's attributes: {e}"))?;
        let stays_inside = held.contains(&Attribute::Sensitive(true))
            && held.contains(&Attribute::AlwaysSensitive(true))
            && held.contains(&Attribute::Extractable(false))
            && held.contains(&Attribute::NeverExtractable(true))
            && held.contains(&Attribute::ValueLen(32.into()));
        if !stays_inside {
            return Err(format!(
                "the key {:?} in the token {:?} can be exported, or once could (it must be a 256-bit AES key, always sensitive, never extractable); create one with `kluis keys generate-root --pkcs11`",
                self.key, self.token
            ));
        }
        Ok((session, key))
    }

    /// Creates the root key in the token: AES-256, sensitive, never extractable, kept in
    /// the token. Refuses when a key of that label exists.
    pub fn generate(&self) -> Result<(), String> {
        let session = self.session()?;
        let existing = session
            .find_objects(&self.key_template())
            .map_err(|e| format!("cannot search the token {:?}: {e}", self.token))?;
        if !existing.is_empty() {
            return Err(format!(
                "the token {:?} already holds a key labelled {:?}; it is not replaced",
                self.token, self.key
            ));
        }
        let mut template = self.key_template();
        template.extend([
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ]);
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| format!("the token {:?} did not create the key: {e}", self.token))?;
        Ok(())
    }
}

/// The module at `path`, loaded and initialised once per process (a module is initialised
/// once per process) and kept for the process's life.
fn loaded(path: &Path) -> Result<Pkcs11, String> {
    static LOADED: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, pkcs11)) = loaded.iter().find(|(p, _)| p == path) {
        return Ok(pkcs11.clone());
    }
    let module = path.display();
    let pkcs11 =
        Pkcs11::new(path).map_err(|e| format!("cannot load the PKCS#11 module {module}: {e}"))?;
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| format!("the PKCS#11 module {module} does not start: {e}"))?;
    loaded.push((path.to_owned(), pkcs11.clone()));
    Ok(pkcs11)
}

/// Whether `error` says the session is gone (the token or its service restarted), so a
/// new session may succeed.
fn session_lost(error: &cryptoki::error::Error) -> bool {
    matches!(
        error,
        cryptoki::error::Error::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent,
            _
        )
    )
}

impl TokenRootKey {
    /// Runs `operation` in the session; once more in a new session if the token lost it.
    fn with_session<T>(
        &self,
        operation: impl Fn(&Session, ObjectHandle) -> cryptoki::error::Result<T>,
    ) -> Result<T, cryptoki::error::Error> {
        let mut held = self.session.lock().unwrap_or_else(|p| p.into_inner());
        match operation(&held.0, held.1) {
            Err(e) if session_lost(&e) => match self.settings.find_key() {
                Ok(fresh) => {
                    tracing::warn!(token = %self.settings.token, "the root key's token lost its session; a new one was opened");
                    *held = fresh;
                    operation(&held.0, held.1)
                }
                Err(why) => {
                    tracing::error!(reason = %why, "the root key's token cannot be reached");
                    Err(e)
                }
            },
            other => other,
        }
    }
}

/// A token failure that is not about the sealed bytes: the keyring cannot be used now.
fn unavailable(error: cryptoki::error::Error) -> CryptoError {
    CryptoError::KeyringIo {
        action: "using the root key in the token",
        reason: error.to_string(),
    }
}

impl RootKeyPort for TokenRootKey {
    fn token(&self) -> Option<&TokenSettings> {
        Some(&self.settings)
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<SealedBytes, CryptoError> {
        let mut fresh = [0u8; NONCE_LEN];
        random_bytes(&mut fresh)?;
        let (nonce, sealed) = self
            .with_session(|session, key| {
                let mut iv = fresh;
                let sealed = {
                    let params = GcmParams::new(&mut iv, aad, (TAG_LEN as u64 * 8).into())?;
                    session.encrypt(&Mechanism::AesGcm(params), key, plaintext)?
                };
                // Some tokens make their own IV and write it back: keep the one used.
                Ok((iv, sealed))
            })
            .map_err(unavailable)?;
        Ok(aead::join(&nonce, &sealed))
    }

    fn open(
        &self,
        aad: &[u8],
        sealed: &[u8],
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (nonce, ciphertext) = aead::split(sealed, what)?;
        match self.decrypt(aad, nonce, ciphertext) {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            // The bytes (or their associated data) are not what the key sealed.
            Err(cryptoki::error::Error::Pkcs11(
                RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange,
                _,
            )) => Err(CryptoError::Integrity { what }),
            // Some tokens (SoftHSM2) answer a failed tag check with a general error: if
            // the token still opens what it seals, the bytes were not sealed by this key.
            Err(cryptoki::error::Error::Pkcs11(RvError::GeneralError, _))
                if self.round_trips().unwrap_or(false) =>
            {
                Err(CryptoError::Integrity { what })
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl TokenRootKey {
    /// AES-GCM decryption inside the token, errors as the token gave them.
    fn decrypt(
        &self,
        aad: &[u8],
        nonce: [u8; NONCE_LEN],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, cryptoki::error::Error> {
        self.with_session(|session, key| {
            let mut iv = nonce;
            let params = GcmParams::new(&mut iv, aad, (TAG_LEN as u64 * 8).into())?;
            session.decrypt(&Mechanism::AesGcm(params), key, ciphertext)
        })
    }

    /// Whether the token opens what it has just sealed.
    fn round_trips(&self) -> Result<bool, CryptoError> {
        let probe = b"kluis/root-key-probe";
        let sealed = self.seal(probe, probe)?;
        let (nonce, ciphertext) = aead::split(&sealed.0, "probe")?;
        Ok(matches!(self.decrypt(probe, nonce, ciphertext), Ok(back) if back.as_slice() == probe))
    }
}
