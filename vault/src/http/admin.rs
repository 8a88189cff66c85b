//! The operator's routes: departments, officer credentials, audit exports and
//! checkpoints. Served only on the local admin socket
//! (a Unix socket readable by the vault's user alone), never on the public listener: the
//! operating system's file permissions are the authentication.

use super::AppState;
use super::extract::{ApiJson, ApiPath};
use crate::audit::Context;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
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
        .route("/admin/officers", get(officers).post(add_officer))
        .route("/admin/officers/{id}/revoke", post(revoke_officer))
        .route("/admin/audit/export", get(export))
        .route("/admin/audit/checkpoint", get(checkpoint))
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOfficer {
    id: String,
    name: String,
    #[serde(default = "default_days")]
    days: u32,
}

fn default_days() -> u32 {
    90
}

async fn record_officer_change(state: &AppState, id: &str, change: &str) -> Result<()> {
    let mut entry = Entry::new(Action::OfficerChange, Outcome::Done, Actor::Operator);
    entry.details.insert("officer".into(), id.to_owned());
    entry.details.insert("change".into(), change.to_owned());
    let context = Context::new(state.consent.clock());
    state
        .residents
        .audit()
        .record(&context, entry)
        .await
        .map(|_| ())
}

fn officer_view(row: &crate::store::OfficerRow) -> serde_json::Value {
    serde_json::json!({"id": row.id, "name": row.name, "expires_at": row.expires_at, "revoked": row.revoked})
}

async fn officers(State(state): State<AppState>) -> Result<Json<Vec<serde_json::Value>>> {
    Ok(Json(
        state
            .store
            .officers()
            .await?
            .iter()
            .map(officer_view)
            .collect(),
    ))
}

async fn add_officer(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewOfficer>,
) -> Result<Json<serde_json::Value>> {
    let (row, token) = crate::auth::officers::issue(
        state.store.as_ref(),
        state.consent.clock(),
        &new.id,
        &new.name,
        new.days,
    )
    .await?;
    record_officer_change(&state, &row.id, "credential issued").await?;
    let mut view = officer_view(&row);
    view["token"] = serde_json::json!(token);
    Ok(Json(view))
}

async fn revoke_officer(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>> {
    let row = crate::auth::officers::revoke(state.store.as_ref(), &id).await?;
    record_officer_change(&state, &row.id, "credential withdrawn").await?;
    Ok(Json(officer_view(&row)))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct ExportRange {
    from_seq: Option<u64>,
    to_seq: Option<u64>,
}

async fn export(
    State(state): State<AppState>,
    super::extract::ApiQuery(range): super::extract::ApiQuery<ExportRange>,
) -> Result<String> {
    let audit = state.residents.audit();
    let (from, to) = (
        range.from_seq.unwrap_or(0),
        range.to_seq.unwrap_or(audit.size().await),
    );
    let mut entry = Entry::new(Action::OfficerQuery, Outcome::Done, Actor::Operator);
    entry.details.insert("endpoint".into(), "export".into());
    entry.details.insert("from_seq".into(), from.to_string());
    entry.details.insert("to_seq".into(), to.to_string());
    audit
        .record(&Context::new(state.consent.clock()), entry)
        .await?;
    audit.export(from, to).await
}

async fn checkpoint(State(state): State<AppState>) -> Result<String> {
    state.residents.audit().checkpoint().await
}
