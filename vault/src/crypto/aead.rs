//! AES-256-GCM with a fresh random 96-bit nonce per message (ring).
//!
//! The sealed layout is `[format 0x01][nonce: 12][ciphertext][tag: 16]`. One data key seals
//! the records of one resident only, so the random-nonce limit (2^32 messages per key)
//! is far out of reach.

use super::{CryptoError, random_bytes};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;
/// The length of a GCM tag.
pub(super) const TAG_LEN: usize = 16;

/// A sealed message in the layout above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBytes(pub Vec<u8>);

fn less_safe_key(key: &Zeroizing<[u8; 32]>) -> LessSafeKey {
    // A 32-byte key is always the right length for AES-256-GCM.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.as_ref()).expect("AES-256 key is 32 bytes"))
}

/// Seals `plaintext` under `key`, bound to `aad`.
pub(super) fn seal(
    key: &Zeroizing<[u8; 32]>,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<SealedBytes, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = less_safe_key(key)
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[1 + NONCE_LEN..],
        )
        .map_err(|_| CryptoError::Integrity { what: "seal" })?;
    out.extend_from_slice(tag.as_ref());
    Ok(SealedBytes(out))
}

/// Opens a message sealed by [`seal`]; `what` names it in the error.
pub(super) fn open(
    key: &Zeroizing<[u8; 32]>,
    aad: &[u8],
    sealed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (nonce, ciphertext) = split(sealed, what)?;
    open_raw(key, &nonce, aad, ciphertext).ok_or(CryptoError::Integrity { what })
}

/// The nonce and `ciphertext || tag` of a message in the layout above (sealed here or in a
/// token); `what` names it in the error.
pub(super) fn split<'a>(
    sealed: &'a [u8],
    what: &'static str,
) -> Result<([u8; NONCE_LEN], &'a [u8]), CryptoError> {
    let (&format, rest) = sealed
        .split_first()
        .ok_or(CryptoError::Integrity { what })?;
    if format != FORMAT_V1 {
        return Err(CryptoError::Format {
            what,
            version: format,
        });
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Integrity { what });
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let mut nonce_bytes = [0u8; NONCE_LEN];
    nonce_bytes.copy_from_slice(nonce);
    Ok((nonce_bytes, ciphertext))
}

/// A message in the layout above from its nonce and `ciphertext || tag`.
pub(super) fn join(nonce: &[u8; NONCE_LEN], ciphertext_and_tag: &[u8]) -> SealedBytes {
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext_and_tag.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(nonce);
    out.extend_from_slice(ciphertext_and_tag);
    SealedBytes(out)
}

fn open_raw(
    key: &Zeroizing<[u8; 32]>,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(ciphertext_and_tag.to_vec());
    let len = less_safe_key(key)
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut buf[..],
        )
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

/// Opens raw AES-256-GCM (`ciphertext || tag`) with an explicit nonce. Exists only so the
/// Wycheproof vectors can exercise the exact code path records use (the `test-support`
/// feature); `None` means refused.
#[cfg(any(test, feature = "test-support"))]
pub fn open_with_nonce_for_test_vectors(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Option<Vec<u8>> {
    open_raw(&Zeroizing::new(*key), nonce, aad, ciphertext_and_tag).map(|p| p.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Zeroizing<[u8; 32]> {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn round_trip_and_fresh_nonces() {
        let a = seal(&key(1), b"aad", b"hello").unwrap();
        let b = seal(&key(1), b"aad", b"hello").unwrap();
        assert_ne!(a, b, "each seal uses a fresh nonce");
        assert_eq!(&open(&key(1), b"aad", &a.0, "t").unwrap()[..], b"hello");
    }

    #[test]
    fn every_wrong_input_is_an_integrity_error() {
        let sealed = seal(&key(1), b"aad", b"hello").unwrap().0;
        let integrity = Err(CryptoError::Integrity { what: "t" });
        assert_eq!(open(&key(2), b"aad", &sealed, "t"), integrity);
        assert_eq!(open(&key(1), b"other", &sealed, "t"), integrity);
        for i in 1..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x01;
            assert_eq!(
                open(&key(1), b"aad", &flipped, "t"),
                integrity,
                "bit flip at {i}"
            );
        }
        for len in 0..sealed.len() {
            assert!(
                open(&key(1), b"aad", &sealed[..len], "t").is_err(),
                "truncated to {len}"
            );
        }
        let mut other_format = sealed.clone();
        other_format[0] = 9;
        assert_eq!(
            open(&key(1), b"aad", &other_format, "t"),
            Err(CryptoError::Format {
                what: "t",
                version: 9
            })
        );
    }
}
