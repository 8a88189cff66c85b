//! Liveness and readiness for orchestrators and monitoring.
//!
//! `/healthz` answers while the process runs. `/readyz` answers 200 only when the vault can
//! serve: the store is open and its last flush succeeded, the audit log's last append
//! succeeded, and the full check of the log has not found a rewritten entry (while it
//! runs, `audit` says how far it is).
//! Neither needs authentication and neither reveals anything but check names and counts.

use crate::audit::{AuditHealth, CheckState};
use crate::auth::oidc::Oidc;
use crate::store::Health;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(
    State(store): State<Arc<dyn Health>>,
    State(oidc): State<Oidc>,
    State(audit): State<AuditHealth>,
) -> Response {
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    let audit = match audit.state() {
        CheckState::Failed(why) => {
            ready = false;
            why
        }
        _ if audit.appends_failing().await => {
            ready = false;
            "the log cannot be written: every read is refused until it can".to_owned()
        }
        CheckState::Passed { of } => format!("ok; all {of} entries checked"),
        CheckState::Running { checked, of } => {
            format!("ok; checking every entry: {checked} of {of} done")
        }
    };
    checks.insert("audit".into(), json!(audit));
    match store.check().await {
        Ok(()) => {
            checks.insert("store".into(), json!("ok"));
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness: the store is not ready");
            checks.insert("store".into(), json!("unavailable"));
            ready = false;
        }
    }
    for (name, status) in oidc.readiness() {
        let value = match status {
            Ok(()) => "ok".to_owned(),
            Err(why) => {
                ready = false;
                why
            }
        };
        checks.insert(format!("oidc:{name}"), json!(value));
    }
    if ready {
        return Json(json!({"status": "ready", "checks": checks})).into_response();
    }
    // A problem document, with the checks as an extension member (RFC 9457 §3.2).
    let mut problem = serde_json::to_value(kluis_proto::Problem::new(
        kluis_proto::ErrorCode::Unavailable,
        Some("not every part of the vault is ready; see checks".into()),
    ))
    .unwrap_or_default();
    problem["checks"] = serde_json::Value::Object(checks);
    let mut response = (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(problem)).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(kluis_proto::error::PROBLEM_CONTENT_TYPE),
    );
    response
}
