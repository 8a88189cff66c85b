//! The portal's static files: the bundled NL Design System stylesheet, and the
//! municipality's own theme stylesheet and logo when it configured them. None holds anything
//! personal, so all may be cached.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The bundled stylesheet (see `vault/build.rs`).
const STYLESHEET: &str = include_str!(concat!(env!("OUT_DIR"), "/portal.css"));

/// The stylesheet, cacheable: it holds nothing personal.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The municipality's own NL Design System theme, if it set one.
pub async fn theme_stylesheet(State(state): State<AppState>) -> Response {
    match &state.site.municipality.theme {
        Some(theme) => (
            [
                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            theme.stylesheet.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The municipality's logo, if it set one. Served with a policy that runs nothing, in
/// case someone opens it on its own.
pub async fn logo(State(state): State<AppState>) -> Response {
    match &state.site.municipality.logo_svg {
        Some(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
                (
                    header::HeaderName::from_static("content-security-policy"),
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            svg.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
