//! Error codes and the problem document (RFC 9457, `application/problem+json`).
//!
//! Every error the vault returns carries one [`ErrorCode`]. Its `type` URI
//! (`urn:kluis:problem:<code>`) and its HTTP status never change once published, so
//! clients can match on them; the `title` is a short English sentence for developers, and
//! `detail` says what was wrong with *this* request without ever repeating personal data.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The prefix of every problem `type` URI.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:kluis:problem:";

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $title:literal), )*) => {
        /// A stable, machine-readable error code. Shared by vault and SDK.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in declaration order (for documentation and tests).
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The snake_case code, as it appears in the `type` URI and the `code` member.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The HTTP status this code is always returned with.
            pub fn status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* }
            }

            /// A short, fixed English title.
            pub fn title(self) -> &'static str {
                match self { $( ErrorCode::$variant => $title, )* }
            }

            /// Parses a snake_case code; `None` for a code this version does not know.
            pub fn from_code(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    /// The request body is not well-formed JSON, or not the JSON shape the endpoint takes.
    InvalidJson = ("invalid_json", 400, "The request body is not valid JSON for this endpoint"),
    /// A query or form parameter is missing or malformed.
    InvalidParameter = ("invalid_parameter", 400, "A request parameter is missing or malformed"),
    /// A path segment that must be an id (a version number, a UUID) is not one.
    InvalidPath = ("invalid_path", 400, "A path segment is not a valid identifier"),
    /// The record does not satisfy its category's schema.
    SchemaViolation = ("schema_violation", 422, "The record does not match its category's schema"),
    /// The category is not in the catalogue.
    UnknownCategory = ("unknown_category", 404, "There is no such category"),
    /// The thing asked for does not exist (or is not yours to see).
    NotFound = ("not_found", 404, "Not found"),
    /// The HTTP method is not allowed on this path.
    MethodNotAllowed = ("method_not_allowed", 405, "Method not allowed"),
    /// The body is larger than the vault accepts.
    PayloadTooLarge = ("payload_too_large", 413, "The request body is too large"),
    /// The request took longer than the vault allows (sending it included).
    RequestTimeout = ("request_timeout", 408, "The request took too long"),
    /// The request's headers are larger than the vault accepts.
    HeadersTooLarge = ("headers_too_large", 431, "The request headers are too large"),
    /// Too many requests from this department, or too many refused ones from this address;
    /// `Retry-After` says when to try again.
    RateLimited = ("rate_limited", 429, "Too many requests"),
    /// The body has a content type this endpoint does not take.
    UnsupportedMediaType = ("unsupported_media_type", 415, "Unsupported content type"),
    /// No valid credentials were presented (missing, unknown or expired session or token).
    Unauthenticated = ("unauthenticated", 401, "Authentication is required"),
    /// The caller is known but may not do this.
    Forbidden = ("forbidden", 403, "Not allowed"),
    /// A login through an identity provider did not succeed (see the detail).
    LoginFailed = ("login_failed", 401, "The login did not succeed"),
    /// A state-changing form was posted without a valid CSRF token or from another origin.
    CsrfRejected = ("csrf_rejected", 403, "The form could not be verified; reload the page and try again"),
    /// The request conflicts with the current state (for example, deciding a request twice).
    Conflict = ("conflict", 409, "The request conflicts with the current state"),
    /// The department's client assertion or DPoP proof is invalid.
    InvalidClient = ("invalid_client", 401, "The department could not be authenticated"),
    /// The DPoP proof is missing, replayed or does not match the request.
    InvalidDpopProof = ("invalid_dpop_proof", 401, "The DPoP proof is missing or invalid"),
    /// The grant token is malformed, forged, or not valid for this department.
    InvalidGrant = ("invalid_grant", 401, "The grant is not valid"),
    /// The grant was revoked by the resident.
    GrantRevoked = ("grant_revoked", 403, "The grant has been revoked"),
    /// The resident paused the grant (GDPR art. 18): no reads until they let it go on.
    GrantPaused = ("grant_paused", 403, "The resident has paused the grant"),
    /// The grant has expired.
    GrantExpired = ("grant_expired", 403, "The grant has expired"),
    /// The grant is not valid yet.
    GrantNotYetValid = ("grant_not_yet_valid", 403, "The grant is not valid yet"),
    /// A requested category lies outside the grant or the processing activity.
    OutOfScope = ("out_of_scope", 403, "The request lies outside what was granted"),
    /// The resident declined the access request.
    RequestDeclined = ("request_declined", 403, "The resident declined the request"),
    /// The access request has not been decided yet.
    RequestPending = ("request_pending", 409, "The resident has not decided yet"),
    /// The department is disabled by the operator.
    DepartmentDisabled = ("department_disabled", 403, "The department is disabled"),
    /// A stored value failed its integrity check (tampering or corruption).
    IntegrityFailure = ("integrity_failure", 500, "Stored data failed its integrity check"),
    /// The vault cannot serve now (storage or audit log unavailable); retrying later may work.
    Unavailable = ("unavailable", 503, "The vault is temporarily unavailable"),
    /// An unexpected error inside the vault.
    Internal = ("internal", 500, "Internal error"),
}

impl ErrorCode {
    /// The problem `type` URI: `urn:kluis:problem:<code>`.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 9457 problem document as the vault sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:kluis:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The fixed title of the code.
    pub title: String,
    /// The HTTP status, repeated in the body.
    pub status: u16,
    /// What was wrong with this request, for a developer. Never personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The error code, repeated as a plain member for clients that prefer it.
    pub code: ErrorCode,
}

impl Problem {
    /// Builds the problem document for `code` with an optional detail sentence.
    pub fn new(code: ErrorCode, detail: Option<String>) -> Problem {
        Problem {
            type_uri: code.type_uri(),
            title: code.title().to_owned(),
            status: code.status(),
            detail,
            code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(*code));
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!((400..600).contains(&code.status()));
        }
        assert_eq!(ErrorCode::from_code("no_such_code"), None);
    }

    #[test]
    fn problem_serialises_as_rfc9457() {
        let p = Problem::new(ErrorCode::GrantRevoked, Some("grant g1".into()));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:kluis:problem:grant_revoked");
        assert_eq!(v["status"], 403);
        assert_eq!(v["code"], "grant_revoked");
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }
}
