//! Errors on portal pages: each shown as a page with the menu in the resident's language,
//! never as JSON, and drawn in the municipality's theme.

use super::{Page, render, see_other};
use crate::language::Texts;
use crate::state::AppState;
use crate::{Error, Result};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error on a portal page: shown as a page in the resident's language, never as JSON.
#[derive(Debug)]
pub struct PortalError {
    /// What went wrong.
    pub error: Error,
    /// In which language to say so.
    pub texts: Texts,
}

/// Attaches the language to a domain error.
pub trait OrPage<T> {
    /// The error as a portal page in `texts`' language.
    fn or_page(self, texts: Texts) -> Result<T, PortalError>;
}

impl<T> OrPage<T> for Result<T> {
    fn or_page(self, texts: Texts) -> Result<T, PortalError> {
        self.map_err(|error| PortalError { error, texts })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Page,
    message: &'static str,
}

/// What an error page says, kept on its response so that [`theme_error_page`] can draw it
/// again in the municipality's theme (an error does not carry the vault's state).
#[derive(Clone, Copy)]
struct ErrorPageParts {
    texts: Texts,
    message: &'static str,
}

impl ErrorPageParts {
    fn page(self, municipality: std::sync::Arc<crate::config::Municipality>) -> ErrorPage {
        let texts = self.texts;
        ErrorPage {
            page: Page {
                texts,
                title: texts.get("error.title").to_owned(),
                section: "",
                csrf: None,
                path: "/portal".into(),
                notice: None,
                dev: false,
                alert: None,
                menu: true,
                staff: false,
                municipality,
            },
            message: self.message,
        }
    }
}

/// Draws an error page again with the municipality's name and theme, keeping its status
/// and headers.
pub async fn theme_error_page(State(state): State<AppState>, response: Response) -> Response {
    let Some(parts) = response.extensions().get::<ErrorPageParts>().copied() else {
        return response;
    };
    let (mut head, _) = response.into_parts();
    let themed = render(&parts.page(state.site.municipality.clone()), head.status);
    let (themed_head, body) = themed.into_parts();
    head.headers.extend(themed_head.headers);
    head.extensions.remove::<ErrorPageParts>();
    Response::from_parts(head, body)
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let code = self.error.code();
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = %code, cause = %self.error, "a portal page failed");
        }
        let key = match self.error {
            Error::Unauthenticated(_) => return see_other("/?done=log_in_again"),
            Error::CsrfRejected => "error.csrf",
            Error::NotFound(_) | Error::UnknownCategory(_) => "error.not_found",
            Error::Forbidden(_) => "error.forbidden",
            Error::Conflict(_) => "error.conflict",
            _ if status.is_server_error() => "error.server",
            _ => "error.bad_request",
        };
        let parts = ErrorPageParts {
            texts: self.texts,
            message: self.texts.get(key),
        };
        let page = parts.page(Default::default());
        let mut response = render(&page, status);
        response.extensions_mut().insert(parts);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
