//! Strict parsing of a JWS in compact serialisation, before any signature check.
//!
//! Exactly three segments; strict base64url (RFC 7515 §2: no padding, no characters outside
//! the alphabet, no non-zero trailing bits); a header and a payload that are JSON objects
//! without duplicate keys; an overall size limit. Anything else, including the five
//! segments of a JWE and the JSON serialisation, is refused here.

use super::{JoseError, strict_json};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

/// The largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// RFC 7515 base64url: no padding, strict trailing bits.
pub const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// A parsed, not yet verified, compact JWS.
#[derive(Debug)]
pub struct Compact<'a> {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload bytes (not necessarily JSON; see [`Compact::claims`]).
    pub payload: Vec<u8>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl Compact<'_> {
    /// The payload as a JSON object without duplicate keys.
    pub fn claims(&self) -> Result<Map<String, Value>, JoseError> {
        match strict_json::parse(&self.payload) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(JoseError::Malformed("the payload is not a JSON object")),
            Err(_) => Err(JoseError::Malformed(
                "the payload is not strict JSON (or has duplicate keys)",
            )),
        }
    }
}

/// Decodes one base64url segment strictly.
pub fn decode_segment(segment: &str) -> Result<Vec<u8>, JoseError> {
    B64URL
        .decode(segment)
        .map_err(|_| JoseError::Malformed("a segment is not strict base64url"))
}

/// Parses `token` strictly. Nothing in it has been verified yet.
pub fn parse(token: &str) -> Result<Compact<'_>, JoseError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JoseError::Malformed("the token is too large"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed(
            "a compact JWS has exactly three segments",
        ));
    };
    if header.is_empty() || signature.is_empty() {
        return Err(JoseError::Malformed("an empty header or signature"));
    }
    let header_bytes = decode_segment(header)?;
    let header = match strict_json::parse(&header_bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(JoseError::Malformed("the header is not a JSON object")),
        Err(_) => {
            return Err(JoseError::Malformed(
                "the header is not strict JSON (or has duplicate keys)",
            ));
        }
    };
    Ok(Compact {
        header,
        payload: decode_segment(payload)?,
        signing_input: &token[..token.len() - signature.len() - 1],
        signature: decode_segment(signature)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        B64URL.encode(s)
    }

    #[test]
    fn structure_is_strict() {
        let ok = format!("{}.{}.{}", b64(r#"{"alg":"ES256"}"#), b64("{}"), b64("sig"));
        let parsed = parse(&ok).unwrap();
        assert_eq!(parsed.header["alg"], "ES256");
        assert_eq!(parsed.signing_input, &ok[..ok.rfind('.').unwrap()]);

        for bad in [
            String::new(),
            "a.b".into(),
            format!("{ok}.extra.parts"),
            format!(
                "{}.{}.{}=",
                b64(r#"{"alg":"ES256"}"#),
                b64("{}"),
                b64("sig")
            ),
            format!(
                "{}?.{}.{}",
                b64(r#"{"alg":"ES256"}"#),
                b64("{}"),
                b64("sig")
            ),
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"ES256","alg":"none"}"#),
                b64("{}"),
                b64("sig")
            ),
            format!("{}.{}.{}", b64(r#"["alg"]"#), b64("{}"), b64("sig")),
            format!("{}.{}.", b64(r#"{"alg":"ES256"}"#), b64("{}")),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(parse(&bad).is_err(), "accepted {bad:?}");
        }
        // Non-zero trailing bits: "QR" decodes to one byte with leftover bits set.
        assert!(decode_segment("QR").is_err());
        assert!(decode_segment("QQ").is_ok());
    }
}
