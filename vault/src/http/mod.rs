//! The HTTP API (axum only): routers per audience, extractors, the error mapping.
//!
//! Handlers are thin: they take what the extractors proved (who is calling, a parsed
//! body, a parsed path) and call a domain service. Every error becomes a problem+json
//! response in [`problem`]; every response gets security headers and `no-store`, because
//! nearly every answer holds personal data.
//!
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`records`]: the resident's own vault, `/v1/me/...`.
//! - [`consent`]: the resident's requests and grants, `/v1/me/requests`, `/v1/me/grants`.
//! - [`departments`]: the department API, `/v1/dept/...`.
//! - [`admin`]: the operator's routes, served only on the local admin socket.
//! - [`dev`]: the development login, only when `kluis dev` mounts it.

pub mod admin;
pub(crate) mod consent;
mod departments;
mod dev;
pub(crate) mod extract;
mod health;
pub(crate) mod login;
mod officer;
pub mod problem;
mod records;

use crate::auth::Sessions;
use crate::consent::Consent;
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
    /// Departments, requests, grants, reads.
    pub consent: Consent,
    /// Logins through OpenID Providers.
    pub oidc: crate::auth::oidc::Oidc,
    /// The vault's public base URL (its issuer, and the origin its forms must come from).
    pub public_url: String,
    /// How long after an erasure the completing key rotation runs.
    pub rotate_after_erasure: chrono::TimeDelta,
    /// Whether the development login is on (`kluis dev`).
    pub dev_login: bool,
    /// The store, for readiness.
    pub store: Arc<dyn Store>,
    /// Request limits.
    pub limits: Limits,
}

/// The whole router. `dev_login` mounts the development login routes.
pub fn router(state: AppState, dev_login: bool) -> Router {
    let me = Router::new()
        .route("/", get(records::me).delete(consent::erase))
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
        )
        .route("/audit", get(consent::history))
        .route("/export", get(consent::export))
        .route("/requests", get(consent::requests))
        .route("/requests/{id}", get(consent::request))
        .route("/requests/{id}/approve", post(consent::approve))
        .route("/requests/{id}/decline", post(consent::decline))
        .route("/grants", get(consent::grants).post(consent::grant))
        .route("/grants/{id}/revoke", post(consent::revoke))
        .route("/departments/{id}/revoke", post(consent::revoke_department));

    let department = Router::new()
        .route("/access-requests", post(departments::create_request))
        .route("/access-requests/{id}", get(departments::request_status))
        .route("/grants", get(departments::grants))
        .route("/grants/{id}", get(departments::grant))
        .route("/read", post(departments::read));

    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/login", get(login::providers))
        .route("/login/token", post(login::token))
        .route("/login/{provider}", get(login::start))
        .route("/login/{provider}/callback", get(login::callback))
        .route("/session", get(login::session))
        .route("/logout", post(login::logout))
        .route("/v1/categories", get(records::categories))
        .route("/v1/departments", get(consent::departments))
        .route("/v1/session/logout", post(records::logout))
        .nest("/v1/me", me)
        .nest("/v1/dept", department)
        .nest("/v1/officer", officer_routes())
        .merge(crate::web::routes(dev_login));
    if dev_login {
        router = router.route("/dev/login", get(dev::page).post(dev::login));
    }
    router
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            trace_context,
        ))
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
            HeaderValue::from_static("same-origin"),
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

fn officer_routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(officer::audit))
        .route("/audit/export", get(officer::export))
        .route("/checkpoint", get(officer::checkpoint))
        .route("/proofs/inclusion", get(officer::inclusion))
        .route("/proofs/consistency", get(officer::consistency))
        .route("/reports/{name}", get(officer::report))
        .route("/residents/lookup", get(officer::lookup))
}

/// The vault's public keys, which verify grants.
async fn jwks(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.consent.jwks()),
    )
}

/// Takes the caller's W3C `traceparent` (or starts a trace), makes it available to the
/// handler as the audit context, and passes the trace on in the response.
async fn trace_context(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let header = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    let context = crate::audit::Context::from_traceparent(header, state.consent.clock());
    let traceparent = HeaderValue::from_str(&context.traceparent()).ok();
    request.extensions_mut().insert(context);
    let mut response = next.run(request).await;
    if let Some(value) = traceparent {
        response
            .headers_mut()
            .insert(HeaderName::from_static("traceparent"), value);
    }
    response
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
