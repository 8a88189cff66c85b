//! The RFC 7638 thumbprint of an EC P-256 public key: what a grant's `cnf.jkt` names.
//!
//! The vault and the SDK hash with their own crypto library; the canonical form they hash
//! is written once, here.

use base64::Engine;

/// The thumbprint of the P-256 key with base64url coordinates `x` and `y`: SHA-256 (by
/// `sha256`) of the key's required members in lexicographic order without whitespace
/// (RFC 7638 §3.2), base64url without padding.
pub fn ec_p256_thumbprint(x: &str, y: &str, sha256: impl FnOnce(&[u8]) -> [u8; 32]) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_the_canonical_form() {
        let mut seen = String::new();
        let thumbprint = super::ec_p256_thumbprint("X", "Y", |bytes| {
            seen = String::from_utf8(bytes.to_vec()).unwrap();
            [0; 32]
        });
        assert_eq!(seen, r#"{"crv":"P-256","kty":"EC","x":"X","y":"Y"}"#);
        assert_eq!(thumbprint, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    }
}
