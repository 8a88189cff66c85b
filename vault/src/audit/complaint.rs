//! The complaint code: eight characters a resident can read out on the phone ("K7QM-3XPA"),
//! from which the privacy officer finds the resident's entries without learning who they
//! are. It is the first 40 bits of the resident's audit reference (itself a keyed hash), in
//! RFC 4648 base 32: letters and the digits 2 to 7, so no 0/O or 1/I mix-ups. Among 280,000
//! residents the chance that any two share a code is about 3.5%; from about 1.5 million on,
//! expect one shared code. The officer's search then shows both residents' entries, and the
//! full reference on each entry tells them apart.

use base64::Engine;
use data_encoding::BASE32_NOPAD;

/// The complaint code of an audit reference, as "ABCD-EFGH"; `None` for a value that is
/// not an audit reference.
pub fn complaint_code(reference: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(reference)
        .ok()?;
    let code = BASE32_NOPAD.encode(bytes.get(..5)?);
    Some(format!("{}-{}", &code[..4], &code[4..]))
}

/// A complaint code as someone typed it ("k7qm 3xpa", "K7QM-3XPA"), in the form
/// [`complaint_code`] gives; `None` when it cannot be one.
pub fn parse_complaint_code(typed: &str) -> Option<String> {
    crate::ids::parse_spoken_code(typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_eight_characters_from_the_reference_and_reads_back() {
        let reference = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
        let code = complaint_code(&reference).unwrap();
        assert_eq!(code.len(), 9);
        assert_eq!(code, "A4DQ-OBYH");
        assert_eq!(
            parse_complaint_code("a4dq obyh").as_deref(),
            Some("A4DQ-OBYH")
        );
        assert_eq!(
            parse_complaint_code("A4DQOBYH").as_deref(),
            Some("A4DQ-OBYH")
        );
        for wrong in ["", "A4DQ-OBY", "A4DQ-OBYH1", "A0DQ-OBYH", "BSN 111222333"] {
            assert_eq!(parse_complaint_code(wrong), None, "{wrong}");
        }
        assert_eq!(complaint_code("not base64!"), None);
        assert_eq!(complaint_code("AAAA"), None, "too short");
    }
}
