//! The one place that turns an [`Error`] into an HTTP response.
//!
//! Every error leaves the vault as `application/problem+json` (RFC 9457) with the stable
//! `type` of its code, the code's fixed status, and the caller-safe detail. A 401 always
//! carries `WWW-Authenticate`. Server-side failures are logged here, with their cause,
//! once; 4xx are logged at debug level only.

use crate::Error;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kluis_proto::Problem;
use kluis_proto::error::PROBLEM_CONTENT_TYPE;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = self.code();
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = %code, cause = %self, "request failed");
        } else {
            tracing::debug!(code = %code, cause = %self, "request refused");
        }
        let from_store = matches!(self, Error::Store(_));
        let problem = Problem::new(code, self.detail());
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        let retry_after = match &self {
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            Error::Overloaded | Error::AuditUnavailable => Some(1),
            Error::TooManyLogins => Some(60),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        // For the metrics layer: which problem this was, without its detail.
        response
            .extensions_mut()
            .insert(Answered { code, from_store });
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match code {
                kluis_proto::ErrorCode::InvalidDpopProof => r#"DPoP algs="ES256""#,
                _ => r#"Bearer realm="kluis""#,
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The problem a response carries, for counting: its code, and whether the store failed.
#[derive(Clone, Copy, Debug)]
pub struct Answered {
    /// The error code.
    pub code: kluis_proto::ErrorCode,
    /// Whether the store failed (the audit writer counts its own failures).
    pub from_store: bool,
}

/// The router's fallback: an unknown path.
pub async fn not_found() -> Error {
    Error::NotFound("endpoint")
}

/// The router's fallback for a known path with the wrong method.
pub async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
