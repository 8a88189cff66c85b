//! The operator's metrics over HTTP: the layer that counts every request by its route
//! template (never its path), and the router of the separate metrics listener
//! (`[metrics] listen`), which serves `/metrics` in the Prometheus text format.

use super::problem::Answered;
use crate::state::AppState;
use crate::telemetry::{Gauges, Metrics};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Instant;

/// Counts the request: method, route template, status class and time, and the problem
/// code of a refusal.
pub(super) async fn count(
    State(metrics): State<Metrics>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    if !metrics.is_on() {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let route = route.as_deref().unwrap_or("unmatched");
    let response = next.run(request).await;
    metrics.request(method, route, response.status().as_u16(), started.elapsed());
    if let Some(answered) = response.extensions().get::<Answered>() {
        metrics.problem(route, answered.code, answered.from_store);
    }
    response
}

/// The method as a label: one of the standard methods, or "other".
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// The metrics listener's router: `/metrics` and nothing else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(super::problem::not_found)
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    let keyring = state.residents.keyring();
    let now = state.clock.now();
    let gauges = Gauges {
        open_sessions: state
            .sessions
            .count()
            .await
            .ok()
            .map(|n| u64::try_from(n).unwrap_or(u64::MAX)),
        kek_versions: keyring.kek_versions().len(),
        kek_current_version: keyring.current_kek_version(),
        kek_age: keyring.current_kek_written().and_then(|written| {
            (now - chrono::DateTime::<chrono::Utc>::from(written))
                .to_std()
                .ok()
        }),
        signing_keys: state.consent.jwks()["keys"].as_array().map_or(0, Vec::len),
        audit_entries: state.audit.size().await,
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&gauges),
    )
        .into_response()
}
