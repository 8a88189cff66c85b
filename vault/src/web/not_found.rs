//! The page for a path nothing else answers: for a browser outside the API, a portal page
//! with the menu; for anything else, the API's problem+json.

use super::{PortalError, language_of};
use crate::Error;
use crate::language::Texts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

/// Answers an unknown path.
pub async fn not_found(parts: Parts) -> Response {
    let browser = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let api = ["/v1/", "/.well-known/"]
        .iter()
        .any(|prefix| parts.uri.path().starts_with(prefix));
    if browser && !api {
        PortalError {
            error: Error::NotFound("page"),
            texts: Texts {
                language: language_of(&parts),
            },
        }
        .into_response()
    } else {
        Error::NotFound("endpoint").into_response()
    }
}
