//! Security Event Tokens (RFC 8417): the vault's signed statement to one department that
//! something happened about a resident it serves.

use super::keys::VaultKey;
use super::{JoseError, SET_TYP};
use serde_json::{Value, json};

/// The claims of one event token.
#[derive(Clone, Debug, PartialEq)]
pub struct SecurityEvent {
    /// The vault's issuer URL.
    pub iss: String,
    /// The department it is for.
    pub aud: String,
    /// The event id.
    pub jti: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// The resident's pairwise reference for the department, if it is about a resident
    /// (as an RFC 9493 `opaque` subject identifier).
    pub subject: Option<String>,
    /// The event type URI.
    pub event_type: String,
    /// The event's fields.
    pub fields: Value,
}

impl SecurityEvent {
    /// Signs the event with `key` (`typ: secevent+jwt`; no `exp`, as RFC 8417 §2.2 asks).
    pub fn sign(&self, key: &VaultKey) -> Result<String, JoseError> {
        let mut claims = json!({
            "iss": self.iss, "aud": self.aud, "jti": self.jti, "iat": self.iat,
            "events": { self.event_type.as_str(): self.fields },
        });
        if let (Some(subject), Some(map)) = (&self.subject, claims.as_object_mut()) {
            map.insert("sub_id".into(), json!({"format": "opaque", "id": subject}));
        }
        key.sign(SET_TYP, &claims)
    }
}
