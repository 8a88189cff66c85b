//! The development login of `kluis dev`: log in as any resident by a short name.
//!
//! It exists so a newcomer can click through Henk's vault without an identity provider.
//! It is switched on only by `kluis dev` (in code; no setting can enable it), its route
//! does not exist otherwise, its sessions are marked `dev`, and every use is logged as a
//! warning. Identities it creates have the issuer [`DEV_ISSUER`], which no real provider
//! can have, so a development vault can never be mistaken for a real login.

use crate::Error;

/// The issuer of identities made by the development login.
pub const DEV_ISSUER: &str = "urn:kluis:development-login";

/// The demo resident's subject.
pub const HENK: &str = "henk";

/// Checks a development subject: 1 to 32 lowercase letters, digits or dashes.
pub fn validate_subject(subject: &str) -> Result<(), Error> {
    let ok = (1..=32).contains(&subject.len())
        && subject
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParameter(
            "subject must be 1 to 32 lowercase letters, digits or dashes, such as \"henk\"".into(),
        ))
    }
}
