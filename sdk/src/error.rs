//! The SDK's error: what happened, typed, so a department's system can act on it.

use kluis_proto::ErrorCode;

/// Everything a call can end in besides success.
///
/// ```no_run
/// # async fn demo(client: kluis_sdk::Client, grant: kluis_sdk::Grant) {
/// use kluis_sdk::Error;
/// match client.read(&grant, &["inkomen.bronnen"]).await {
///     Ok(read) => println!("{} records", read.records.len()),
///     Err(Error::Revoked | Error::Expired) => println!("ask the resident again"),
///     Err(Error::OutOfScope(why)) => println!("not granted: {why}"),
///     Err(e) if e.is_transient() => println!("try again later: {e}"),
///     Err(e) => println!("failed: {e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resident revoked the grant. Ask again if the data is still needed.
    #[error("the resident revoked this grant")]
    Revoked,
    /// The resident paused the grant (GDPR art. 18): do not use what was read under it
    /// until a read succeeds again.
    #[error("the resident paused this grant")]
    Paused,
    /// The grant has ended.
    #[error("the grant has expired")]
    Expired,
    /// The grant starts later.
    #[error("the grant is not valid yet")]
    NotYetValid,
    /// Something asked for lies outside the grant or the processing activity.
    #[error("out of scope: {0}")]
    OutOfScope(String),
    /// The resident declined the request.
    #[error("the resident declined the request")]
    Declined,
    /// No such resident reference, request, grant or activity (or not yours).
    #[error("not found: {0}")]
    NotFound(String),
    /// The vault did not accept the department's credentials or proof; the code says which.
    #[error("unauthorized ({code}): {detail}")]
    Unauthorized {
        /// The vault's error code.
        code: ErrorCode,
        /// Its explanation.
        detail: String,
    },
    /// An event from the vault did not verify (signature, type, issuer, audience or
    /// shape): it was not acknowledged and is not to be trusted.
    #[error("an event did not verify: {0}")]
    UnverifiedEvent(String),
    /// The operator disabled this department.
    #[error("this department is disabled")]
    Disabled,
    /// The vault refused the request as malformed or conflicting; the code says why.
    #[error("rejected ({code}): {detail}")]
    Rejected {
        /// The vault's error code.
        code: ErrorCode,
        /// Its explanation.
        detail: String,
    },
    /// The vault could not be reached or is temporarily unavailable. Safe calls were
    /// already retried.
    #[error("the vault is unavailable: {0}")]
    Unavailable(String),
    /// Waiting for the resident's decision took longer than allowed.
    #[error("no decision within the time allowed")]
    Timeout,
    /// The private key could not be loaded or used.
    #[error("key: {0}")]
    Key(String),
    /// The vault answered something this SDK does not understand.
    #[error("unexpected answer from the vault: {0}")]
    Protocol(String),
}

impl Error {
    /// The error for a problem document with `code` and `detail`.
    pub(crate) fn from_problem(code: Option<ErrorCode>, status: u16, detail: String) -> Error {
        match code {
            Some(ErrorCode::GrantRevoked) => Error::Revoked,
            Some(ErrorCode::GrantPaused) => Error::Paused,
            Some(ErrorCode::GrantExpired) => Error::Expired,
            Some(ErrorCode::GrantNotYetValid) => Error::NotYetValid,
            Some(ErrorCode::OutOfScope) => Error::OutOfScope(detail),
            Some(ErrorCode::RequestDeclined) => Error::Declined,
            Some(ErrorCode::NotFound | ErrorCode::UnknownCategory) => Error::NotFound(detail),
            Some(ErrorCode::DepartmentDisabled) => Error::Disabled,
            Some(ErrorCode::Unavailable) => Error::Unavailable(detail),
            Some(
                code @ (ErrorCode::InvalidClient
                | ErrorCode::InvalidDpopProof
                | ErrorCode::InvalidGrant
                | ErrorCode::Unauthenticated
                | ErrorCode::Forbidden),
            ) => Error::Unauthorized { code, detail },
            Some(code) => Error::Rejected { code, detail },
            None if status == 503 || status == 502 || status == 504 => {
                Error::Unavailable(format!("HTTP {status}"))
            }
            None => Error::Protocol(format!("HTTP {status} without a problem document")),
        }
    }

    /// Whether repeating the same call later may succeed.
    ///
    /// ```
    /// assert!(kluis_sdk::Error::Unavailable("down".into()).is_transient());
    /// assert!(!kluis_sdk::Error::Revoked.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_happened() {
        assert!(matches!(
            Error::from_problem(Some(ErrorCode::GrantRevoked), 403, String::new()),
            Error::Revoked
        ));
        assert!(matches!(
            Error::from_problem(Some(ErrorCode::GrantPaused), 403, String::new()),
            Error::Paused
        ));
        assert!(matches!(
            Error::from_problem(Some(ErrorCode::GrantExpired), 403, String::new()),
            Error::Expired
        ));
        assert!(matches!(
            Error::from_problem(Some(ErrorCode::OutOfScope), 403, "x".into()),
            Error::OutOfScope(_)
        ));
        assert!(matches!(
            Error::from_problem(Some(ErrorCode::RequestDeclined), 403, String::new()),
            Error::Declined
        ));
        assert!(matches!(
            Error::from_problem(Some(ErrorCode::InvalidDpopProof), 401, String::new()),
            Error::Unauthorized {
                code: ErrorCode::InvalidDpopProof,
                ..
            }
        ));
        assert!(Error::from_problem(None, 503, String::new()).is_transient());
        assert!(!Error::from_problem(Some(ErrorCode::Conflict), 409, String::new()).is_transient());
    }
}
