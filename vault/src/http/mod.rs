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
//! - [`departments`]: the department API, `/v1/dept/...` (reads, status updates, shares).
//! - `life_events`: the life-event flow, `/v1/life-events`, `/v1/me/life-events/...`.
//! - `schemes`: scheme suggestions and the approach preference, `/v1/me/schemes/...`.
//! - `coaching`: look-alongs, proposals and witness statements, `/v1/me/...` for the
//!   resident and `/v1/coach/...` for the coach.
//! - [`admin`]: the operator's routes, served only on the local admin socket.
//! - [`dev`]: the development login, only when `kluis dev` mounts it.
//! - [`login`]: logins through OpenID Providers, for browsers.
//! - [`officer`]: the privacy officer's API.
//! - [`metrics`]: the request counts, and `/metrics` on its own listener.
//! - [`extract`]: extractors and the cookie and form-origin helpers (which the portal,
//!   `web`, uses too: it imports nothing else from here).
//!
//! [`api`] holds the routes; [`serve`] puts the layers every response gets around a
//! router (the API merged with the portal, in the composition root): `guard` (the limits:
//! header size, concurrency cap, request timeout, refused requests per source), the trace
//! context, logging and headers. [`listener`] accepts connections, with timeouts.

pub mod admin;
mod coaching;
mod consent;
mod departments;
mod dev;
mod events;
pub mod extract;
mod guard;
mod health;
mod life_events;
pub mod listener;
mod login;
pub mod metrics;
mod officer;
pub mod problem;
mod records;
mod schemes;
mod witness;

use crate::clock::Clock;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// The OpenAPI document, served at `/openapi.json` (its source is `docs/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// The API's routes. `dev_login` mounts the development login routes.
pub fn api(dev_login: bool) -> Router<AppState> {
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
        .route(
            "/audit/{seq}/erasure-request",
            post(consent::ask_erasure_of_read),
        )
        .route("/export", get(consent::export))
        .route("/requests", get(consent::requests))
        .route("/requests/{id}", get(consent::request))
        .route("/requests/{id}/approve", post(consent::approve))
        .route("/requests/{id}/decline", post(consent::decline))
        .route("/grants", get(consent::grants).post(consent::grant))
        .route("/grants/{id}/revoke", post(consent::revoke))
        .route("/grants/{id}/pause", post(consent::pause))
        .route("/grants/{id}/resume", post(consent::resume))
        .route("/departments/{id}/revoke", post(consent::revoke_department))
        .route("/life-events/{id}", post(life_events::complete))
        .route("/life-events/{id}/steps", post(life_events::steps))
        .route("/schemes", get(schemes::list))
        .route(
            "/schemes/approach",
            get(schemes::approach).put(schemes::set_approach),
        )
        .route("/schemes/{id}/apply", post(schemes::apply))
        .route("/schemes/{id}/hide", post(schemes::hide))
        .route("/schemes/{id}/unhide", post(schemes::unhide))
        .route(
            "/look-alongs",
            get(coaching::look_alongs).post(coaching::start),
        )
        .route("/look-alongs/{id}", axum::routing::delete(coaching::end))
        .route("/proposals", get(coaching::proposals))
        .route("/proposals/{id}/confirm", post(coaching::confirm))
        .route("/proposals/{id}/decline", post(coaching::decline))
        .route("/witness-statements", get(coaching::statements))
        .route("/witness-statements/{id}/{answer}", post(coaching::answer));

    let coach = Router::new()
        .route("/codes", post(coaching::code))
        .route("/residents", get(coaching::residents))
        .route("/residents/{id}/records/{category}", get(coaching::record))
        .route("/residents/{id}/proposals", post(coaching::propose))
        .route(
            "/residents/{id}/requests/{request}/approve",
            post(coaching::witness),
        );

    let department = Router::new()
        .route("/access-requests", post(departments::create_request))
        .route("/access-requests/{id}", get(departments::request_status))
        .route("/grants", get(departments::grants))
        .route("/grants/{id}", get(departments::grant))
        .route("/grants/{id}/status", post(departments::post_status))
        .route(
            "/grants/{id}/records/{category}",
            axum::routing::put(departments::write_record),
        )
        .route("/shares", get(departments::shares))
        .route("/events", post(events::poll))
        .route(
            "/events/{id}/erasure-confirmation",
            post(events::confirm_erasure),
        )
        .route("/read", post(departments::read));

    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/witness/cosignatures", post(witness::cosign))
        .route("/login", get(login::providers))
        .route("/login/token", post(login::token))
        .route("/login/{provider}", get(login::start))
        .route("/login/{provider}/callback", get(login::callback))
        .route("/session", get(login::session))
        .route("/logout", post(login::logout))
        .route("/v1/categories", get(records::categories))
        .route("/v1/departments", get(consent::departments))
        .route("/v1/life-events", get(life_events::list))
        .route("/v1/session/logout", post(records::logout))
        .nest("/v1/me", me)
        .nest("/v1/dept", department)
        .nest("/v1/coach", coach)
        .nest("/v1/officer", officer_routes());
    if dev_login {
        router = router.route("/dev/login", get(dev::page).post(dev::login));
    }
    router
}

/// Puts around `router` what every response gets: the wrong-method fallback, the body limit,
/// the limits of `guard`, the trace context, request logging by route template,
/// `no-store` and security headers.
pub fn serve(router: Router<AppState>, state: AppState) -> Router {
    let max_body_bytes = state.site.max_body_bytes;
    router
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // Inside the trace, logging and header layers: the guard's own answers (431, 408,
        // 429, 503) carry the trace and security headers and are logged like any other.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // The matched route, never the raw path: no ids or input in the log.
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", |p| p.as_str());
                    // The trace this request belongs to, and its own span as its id.
                    let (trace_id, request_id) = req
                        .extensions()
                        .get::<crate::audit::Context>()
                        .map_or(("", ""), |c| (c.trace_id.as_str(), c.span_id.as_str()));
                    tracing::info_span!("request", method = %req.method(), route, request_id, trace_id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        // Outside the log's span, so that the span carries the request's trace.
        .layer(axum::middleware::from_fn_with_state(
            state.clock.clone(),
            trace_context,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::count,
        ))
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
        .route("/erasure-requests", get(officer::erasure_requests))
        .route("/consent-records/{id}", get(officer::consent_record))
        .route("/checkpoint-note", get(officer::checkpoint_note))
        .route("/checkpoint", get(officer::checkpoint))
        .route("/proofs/inclusion", get(officer::inclusion))
        .route("/proofs/consistency", get(officer::consistency))
        .route("/reports/{name}", get(officer::report))
        .route("/residents/lookup", get(officer::lookup))
}

/// The vault's public keys, which verify grants.
async fn jwks(State(consent): State<crate::consent::Consent>) -> impl axum::response::IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(consent.jwks()),
    )
}

/// Takes the caller's W3C `traceparent` (or starts a trace), makes it available to the
/// handler as the audit context, and passes the trace on in the response.
async fn trace_context(
    State(clock): State<Clock>,
    mut request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let header = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    let mut context = crate::audit::Context::from_traceparent(header, &clock);
    context.source = guard::source_of(&request);
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
