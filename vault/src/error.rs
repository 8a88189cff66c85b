//! The vault's one error type, from domain rules to the HTTP response.
//!
//! Every fallible operation in the domain modules returns [`Error`]. Each variant has one
//! stable [`ErrorCode`] (shared with the SDK through `kluis-proto`), and `http::problem` is
//! the single place that turns it into an `application/problem+json` response.
//!
//! Two messages are kept apart (the habit of vaultwarden's `error.rs`): [`Error::detail`]
//! is what the caller may read, and the `Display` text is what the operator's log gets.
//! Neither ever holds personal data, record contents or key material; variants carry ids,
//! counts and fixed sentences only.

use crate::crypto::CryptoError;
use crate::store::StoreError;
use kluis_proto::ErrorCode;

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not JSON, or not of the shape the endpoint takes.
    #[error("invalid JSON body: {0}")]
    InvalidJson(&'static str),
    /// A query or form parameter is wrong.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A path segment is not a valid id.
    #[error("invalid path segment: {0}")]
    InvalidPath(&'static str),
    /// A record does not satisfy its category's schema (places and rules only).
    #[error("schema violation: {0}")]
    SchemaViolation(String),
    /// The category is not in the catalogue.
    #[error("unknown category {0}")]
    UnknownCategory(String),
    /// Nothing found (or nothing the caller may see).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The method is not allowed on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body exceeds the limit.
    #[error("request body over {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The request took longer than the configured request timeout.
    #[error("request timeout after {seconds} s")]
    RequestTimeout {
        /// The configured timeout.
        seconds: u64,
    },
    /// The headers exceed the configured limit.
    #[error("headers over {limit} bytes")]
    HeadersTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Over a rate limit; `retry_after` seconds until the next request is taken.
    #[error("rate limited: {what}")]
    RateLimited {
        /// Which limit: "this department" or "refused requests from this address".
        what: &'static str,
        /// Seconds until a request is taken again.
        retry_after: u64,
    },
    /// Too many logins are in progress (the cap on pending logins).
    #[error("too many logins in progress")]
    TooManyLogins,
    /// Every request slot is taken (the concurrency cap): try again in a moment.
    #[error("overloaded")]
    Overloaded,
    /// The body's content type is not accepted.
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// No valid session or token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// Authenticated, but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A login through an identity provider failed; the message says why, for the user.
    #[error("login failed: {0}")]
    LoginFailed(String),
    /// The identity provider cannot be reached, so nobody can log in through it now.
    #[error("login provider unavailable")]
    LoginUnavailable,
    /// A form post without a valid CSRF token, or from another origin.
    #[error("CSRF check failed")]
    CsrfRejected,
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The department could not be authenticated (client assertion).
    #[error("invalid client: {0}")]
    InvalidClient(String),
    /// The DPoP proof is missing, replayed or does not fit the request or the grant.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(String),
    /// The grant token is not a valid grant for this department and resident.
    #[error("invalid grant: {0}")]
    InvalidGrant(String),
    /// The grant was revoked.
    #[error("grant revoked")]
    GrantRevoked,
    /// The resident paused the grant.
    #[error("grant paused")]
    GrantPaused,
    /// The grant has expired.
    #[error("grant expired")]
    GrantExpired,
    /// The grant is not valid yet.
    #[error("grant not yet valid")]
    GrantNotYetValid,
    /// Something asked for lies outside the grant or the processing activity.
    #[error("out of scope: {0}")]
    OutOfScope(String),
    /// The resident declined the request.
    #[error("request declined")]
    RequestDeclined,
    /// The department is disabled.
    #[error("department disabled")]
    DepartmentDisabled,
    /// A stored value failed its integrity check: tampering, corruption, or a value moved.
    #[error("integrity failure: {0}")]
    Integrity(CryptoError),
    /// The audit log could not be written: the request is refused (fail closed).
    #[error("audit log unavailable")]
    AuditUnavailable,
    /// Storage failed or is unavailable.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Something unexpected; the message is for the log only.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Error {
        match e {
            CryptoError::Integrity { .. }
            | CryptoError::Format { .. }
            | CryptoError::MissingKey { .. } => Error::Integrity(e),
            CryptoError::Random | CryptoError::KeyringIo { .. } => Error::Internal(e.to_string()),
        }
    }
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidJson(_) => ErrorCode::InvalidJson,
            Error::InvalidParameter(_) => ErrorCode::InvalidParameter,
            Error::InvalidPath(_) => ErrorCode::InvalidPath,
            Error::SchemaViolation(_) => ErrorCode::SchemaViolation,
            Error::UnknownCategory(_) => ErrorCode::UnknownCategory,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::RequestTimeout { .. } => ErrorCode::RequestTimeout,
            Error::HeadersTooLarge { .. } => ErrorCode::HeadersTooLarge,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Overloaded | Error::TooManyLogins => ErrorCode::Unavailable,
            Error::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Error::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Error::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::CsrfRejected => ErrorCode::CsrfRejected,
            Error::LoginFailed(_) => ErrorCode::LoginFailed,
            Error::LoginUnavailable => ErrorCode::Unavailable,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::InvalidClient(_) => ErrorCode::InvalidClient,
            Error::InvalidDpopProof(_) => ErrorCode::InvalidDpopProof,
            Error::InvalidGrant(_) => ErrorCode::InvalidGrant,
            Error::GrantRevoked => ErrorCode::GrantRevoked,
            Error::GrantPaused => ErrorCode::GrantPaused,
            Error::GrantExpired => ErrorCode::GrantExpired,
            Error::GrantNotYetValid => ErrorCode::GrantNotYetValid,
            Error::OutOfScope(_) => ErrorCode::OutOfScope,
            Error::RequestDeclined => ErrorCode::RequestDeclined,
            Error::DepartmentDisabled => ErrorCode::DepartmentDisabled,
            Error::Integrity(_) => ErrorCode::IntegrityFailure,
            Error::AuditUnavailable => ErrorCode::Unavailable,
            Error::Store(StoreError::Corrupt(_)) => ErrorCode::IntegrityFailure,
            Error::Store(_) => ErrorCode::Unavailable,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The sentence the caller reads. Server-side failures say only what the caller can do
    /// about them; their cause goes to the log.
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::InvalidJson(why) => Some((*why).to_owned()),
            Error::InvalidParameter(why) => Some(why.clone()),
            Error::InvalidPath(why) => Some((*why).to_owned()),
            Error::SchemaViolation(problems) => Some(problems.clone()),
            Error::UnknownCategory(id) => Some(format!("{id} is not in the catalogue; GET /v1/categories lists them")),
            Error::NotFound(what) => Some(format!("no such {what}")),
            Error::RequestTimeout { seconds } => Some(format!(
                "the request was not received and answered within {seconds} seconds"
            )),
            Error::HeadersTooLarge { limit } => Some(format!(
                "the request headers may be at most {limit} bytes in all"
            )),
            Error::RateLimited { what, retry_after } => Some(format!(
                "too many requests for {what}; try again in {retry_after} seconds"
            )),
            Error::TooManyLogins => Some(
                "too many logins are in progress; try again in a few minutes".to_owned(),
            ),
            Error::Overloaded => Some(
                "the vault is handling as many requests as it takes at once; try again in a second"
                    .to_owned(),
            ),
            Error::MethodNotAllowed => None,
            Error::PayloadTooLarge { limit } => Some(format!("the body may be at most {limit} bytes")),
            Error::UnsupportedMediaType => Some("send the body as application/json".to_owned()),
            Error::Unauthenticated(why) => Some((*why).to_owned()),
            Error::Forbidden(why) => Some((*why).to_owned()),
            Error::CsrfRejected => None,
            Error::LoginFailed(why) => Some(why.clone()),
            Error::LoginUnavailable => Some("the identity provider cannot be reached; logging in is not possible right now".to_owned()),
            Error::Conflict(why) => Some((*why).to_owned()),
            Error::InvalidClient(why) | Error::InvalidDpopProof(why) | Error::InvalidGrant(why) => Some(why.clone()),
            Error::GrantRevoked => Some("the resident withdrew this grant; ask again if you still need the data".to_owned()),
            Error::GrantPaused => Some("the resident paused this grant: do not use what you read under it until they let it go on (GDPR art. 18)".to_owned()),
            Error::GrantExpired => Some("the grant has ended; ask the resident again if you still need the data".to_owned()),
            Error::GrantNotYetValid => Some("the grant does not start yet".to_owned()),
            Error::OutOfScope(why) => Some(why.clone()),
            Error::RequestDeclined => Some("the resident said no to this request".to_owned()),
            Error::DepartmentDisabled => Some("the operator has disabled this department; contact them".to_owned()),
            Error::Integrity(_) | Error::Store(StoreError::Corrupt(_)) => Some(
                "a stored value failed its integrity check; the operator has been alerted in the log".to_owned(),
            ),
            Error::Store(_) => Some("storage is unavailable; nothing was changed, try again later".to_owned()),
            Error::AuditUnavailable => Some(
                "the access log cannot be written right now, so nothing is answered; try again later".to_owned(),
            ),
            Error::Internal(_) => None,
        }
    }
}

/// Shorthand for results with the vault's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_side_causes_stay_out_of_the_detail() {
        let e = Error::Store(StoreError::Unavailable("/var/lib/kluis: disk full".into()));
        assert_eq!(e.code(), ErrorCode::Unavailable);
        assert!(!e.detail().unwrap().contains("/var/lib"));
        let e = Error::Internal("secret cause".into());
        assert_eq!(e.detail(), None);
        let e: Error = CryptoError::Integrity { what: "record" }.into();
        assert_eq!(e.code(), ErrorCode::IntegrityFailure);
    }
}
