//! The HTTP API (axum only): routers per audience, extractors, the error mapping.
//!
//! Handlers are thin: they take what the extractors proved (who is calling, a parsed
//! body, a parsed path) and call a domain service. Every error becomes a problem+json
//! response in [`problem`]; every response gets security headers and `no-store`, because
//! nearly every answer holds personal data.
//!
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`records`]: the resident's own vault, `/v1/me/...`.
//! - [`dev`]: the development login, only when `kluis dev` mounts it.

mod dev;
mod extract;
mod health;
pub mod problem;
mod records;

use crate::auth::Sessions;
use crate::residents::Residents;
use crate::store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// The OpenAPI document, served at `/openapi.json` (its source is `docs/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// Request limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest body accepted.
    pub max_body_bytes: usize,
}

/// What handlers share. Cheap to clone: every field is an `Arc` or a handle around one.
#[derive(Clone)]
pub struct AppState {
    /// Resident records.
    pub residents: Residents,
    /// Sessions.
    pub sessions: Sessions,
    /// The store, for readiness.
    pub store: Arc<dyn Store>,
    /// Request limits.
    pub limits: Limits,
}

/// The whole router. `dev_login` mounts the development login routes.
pub fn router(state: AppState, dev_login: bool) -> Router {
    let me = Router::new()
        .route("/", get(records::me))
        .route("/records", get(records::overview))
        .route(
            "/records/{category}",
            get(records::read)
                .put(records::write)
                .delete(records::delete),
        )
        .route("/records/{category}/versions", get(records::versions))
        .route(
            "/records/{category}/versions/{version}",
            get(records::read_version),
        );

    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi))
        .route("/v1/categories", get(records::categories))
        .route("/v1/session/logout", post(records::logout))
        .nest("/v1/me", me);
    if dev_login {
        router = router.route("/dev/login", get(dev::page).post(dev::login));
    }
    router
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // The matched route, never the raw path: no ids or input in the log.
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", |p| p.as_str());
                    tracing::info_span!("request", method = %req.method(), route)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .with_state(state)
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
