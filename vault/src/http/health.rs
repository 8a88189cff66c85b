//! Liveness and readiness for orchestrators and monitoring.
//!
//! `/healthz` answers while the process runs. `/readyz` answers 200 only when the vault can
//! serve: the store is open and its last flush succeeded. Neither needs authentication and
//! neither reveals anything but check names.

use super::AppState;
use crate::Error;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.check().await {
        Ok(()) => Json(json!({"status": "ready", "checks": {"store": "ok"}})).into_response(),
        Err(e) => Error::Store(e).into_response(),
    }
}
