//! National identifiers (the BSN): validated, then only ever handled as a keyed hash.
//!
//! Departments may name a resident by a BSN they already hold lawfully; the resident's
//! login may carry one. Kluis compares keyed hashes of the two and never stores, logs or
//! returns the number itself.

use crate::Error;
use crate::crypto::Pseudonymiser;

/// The only scheme accepted.
pub const BSN: &str = "bsn";

/// Checks a BSN: nine digits that pass the eleven-test (*elfproef*).
pub fn validate_bsn(value: &str) -> Result<(), Error> {
    let digits: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
    if value.len() != 9 || digits.len() != 9 {
        return Err(Error::InvalidParameter("a BSN is nine digits".into()));
    }
    let sum: i64 = digits[..8]
        .iter()
        .zip((2..=9).rev())
        .map(|(d, w)| i64::from(*d) * w)
        .sum::<i64>()
        - i64::from(digits[8]);
    if sum % 11 != 0 || digits.iter().all(|d| *d == 0) {
        return Err(Error::InvalidParameter(
            "this BSN fails the eleven-test; check the number".into(),
        ));
    }
    Ok(())
}

/// The keyed hash of a national identifier, after validating it.
pub fn hash(pseudonymiser: &Pseudonymiser, scheme: &str, value: &str) -> Result<String, Error> {
    if scheme != BSN {
        return Err(Error::InvalidParameter(
            "the only national identifier scheme is \"bsn\"".into(),
        ));
    }
    validate_bsn(value)?;
    Ok(pseudonymiser
        .pseudonym("national-id/bsn", &[value.as_bytes()])
        .0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleven_test() {
        for good in ["999993653", "999990019", "123456782"] {
            validate_bsn(good).unwrap();
        }
        for bad in [
            "999993654",
            "12345678",
            "1234567890",
            "abcdefghi",
            "000000000",
            "99999365٣",
        ] {
            let err = validate_bsn(bad).unwrap_err().to_string();
            assert!(!err.contains(bad), "the number is echoed: {err}");
        }
    }
}
