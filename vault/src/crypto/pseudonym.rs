//! Keyed hashes (HMAC-SHA256) that stand in for identifiers Kluis must never store in
//! the clear: a login identity (issuer, subject), a national identifier such as a BSN.
//!
//! The key is generated once per installation and lives in the keyring, so the same input
//! always gives the same pseudonym here and a useless one anywhere else. Each use has its
//! own domain label, so a pseudonym of one kind never equals one of another.

use super::CryptoError;
use base64::Engine;
use ring::hmac;

/// A keyed hash, base64url without padding (43 characters).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Pseudonym(pub String);

/// Computes pseudonyms under the installation's key.
pub struct Pseudonymiser {
    key: hmac::Key,
}

impl Pseudonymiser {
    pub(super) fn new(key: &[u8]) -> Result<Pseudonymiser, CryptoError> {
        if key.len() != 32 {
            return Err(CryptoError::Integrity {
                what: "pseudonym key",
            });
        }
        Ok(Pseudonymiser {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        })
    }

    /// The pseudonym of `parts` under the domain `label`. Parts are length-prefixed, so
    /// ("ab", "c") and ("a", "bc") differ.
    pub fn pseudonym(&self, label: &str, parts: &[&[u8]]) -> Pseudonym {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&(label.len() as u32).to_be_bytes());
        ctx.update(label.as_bytes());
        for part in parts {
            ctx.update(&(part.len() as u32).to_be_bytes());
            ctx.update(part);
        }
        Pseudonym(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ctx.sign().as_ref()))
    }

    /// The pseudonym of a login identity.
    pub fn identity(&self, issuer: &str, subject: &str) -> Pseudonym {
        self.pseudonym("identity", &[issuer.as_bytes(), subject.as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_domain_separated_and_unambiguous() {
        let a = Pseudonymiser::new(&[1u8; 32]).unwrap();
        let b = Pseudonymiser::new(&[2u8; 32]).unwrap();
        assert_eq!(a.identity("iss", "sub"), a.identity("iss", "sub"));
        assert_ne!(a.identity("iss", "sub"), b.identity("iss", "sub"));
        assert_ne!(a.identity("is", "ssub"), a.identity("iss", "sub"));
        assert_ne!(
            a.pseudonym("bsn", &[b"x"]),
            a.pseudonym("identity", &[b"x"])
        );
        assert_eq!(a.identity("iss", "sub").0.len(), 43);
    }
}
