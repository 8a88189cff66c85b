//! The operator's routes: department registration. Served only on the local admin socket
//! (a Unix socket readable by the vault's user alone), never on the public listener: the
//! operating system's file permissions are the authentication.

use super::AppState;
use super::extract::{ApiJson, ApiPath};
use crate::audit::Context;
use crate::audit::entry::Actor;
use crate::{Error, Result};
use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use kluis_proto::consent::{DepartmentInfo, DepartmentSpec};

/// The admin router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/admin/departments", get(list))
        .route("/admin/departments/{id}", put(register))
        .route("/admin/departments/{id}/disable", post(disable))
        .route("/admin/departments/{id}/enable", post(enable))
        .fallback(super::problem::not_found)
        .with_state(state)
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<DepartmentInfo>>> {
    Ok(Json(state.consent.departments().await?))
}

async fn register(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(spec): ApiJson<DepartmentSpec>,
) -> Result<Json<DepartmentInfo>> {
    if spec.id != id {
        return Err(Error::InvalidParameter(
            "the id in the path and in the file differ".into(),
        ));
    }
    let info = state
        .consent
        .register_department(&Context::new(state.consent.clock()), Actor::Operator, &spec)
        .await?;
    tracing::info!(department = %info.id, "department registered or updated");
    Ok(Json(info))
}

async fn disable(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DepartmentInfo>> {
    let info = state
        .consent
        .set_department_disabled(
            &Context::new(state.consent.clock()),
            Actor::Operator,
            &id,
            true,
        )
        .await?;
    tracing::warn!(department = %info.id, "department disabled");
    Ok(Json(info))
}

async fn enable(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DepartmentInfo>> {
    let info = state
        .consent
        .set_department_disabled(
            &Context::new(state.consent.clock()),
            Actor::Operator,
            &id,
            false,
        )
        .await?;
    tracing::info!(department = %info.id, "department enabled");
    Ok(Json(info))
}
