//! The resident's side of consent: `/v1/me/requests`, `/v1/me/grants`, and the public
//! list of departments a resident can grant to on their own initiative.

use super::extract::{ApiJson, ApiPath, ApiQuery, Ctx, ResidentAuth};
use crate::Result;
use crate::auth::Sessions;
use crate::consent::Consent;
use crate::language::{Language, Texts};
use crate::state::Site;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kluis_proto::consent::{
    Approval, DepartmentInfo, GrantView, OwnInitiativeGrant, PauseRequest, RequestView,
};
use serde::Deserialize;
use uuid::Uuid;

/// Registered departments and their processing activities.
pub async fn departments(State(consent): State<Consent>) -> Result<Json<Vec<DepartmentInfo>>> {
    let mut all = consent.departments().await?;
    all.retain(|d| !d.disabled);
    Ok(Json(all))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct RequestFilter {
    all: bool,
}

/// My requests: open ones, or all with `?all=true`.
pub async fn requests(
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiQuery(filter): ApiQuery<RequestFilter>,
) -> Result<Json<Vec<RequestView>>> {
    Ok(Json(
        consent.resident_requests(auth.resident, filter.all).await?,
    ))
}

/// One of my requests.
pub async fn request(
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RequestView>> {
    Ok(Json(consent.resident_request(auth.resident, id).await?))
}

/// Approve a request, wholly or in part.
pub async fn approve(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(approval): ApiJson<Approval>,
) -> Result<(StatusCode, Json<GrantView>)> {
    Ok((
        StatusCode::CREATED,
        Json(
            consent
                .approve(&context, auth.resident, id, &approval)
                .await?,
        ),
    ))
}

/// Decline a request.
pub async fn decline(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RequestView>> {
    Ok(Json(consent.decline(&context, auth.resident, id).await?))
}

/// My grants.
pub async fn grants(
    auth: ResidentAuth,
    State(consent): State<Consent>,
) -> Result<Json<Vec<GrantView>>> {
    Ok(Json(consent.resident_grants(auth.resident).await?))
}

/// Grant access on my own initiative.
pub async fn grant(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiJson(grant): ApiJson<OwnInitiativeGrant>,
) -> Result<(StatusCode, Json<GrantView>)> {
    Ok((
        StatusCode::CREATED,
        Json(
            consent
                .grant_own_initiative(&context, auth.resident, &grant)
                .await?,
        ),
    ))
}

/// Revoke one grant.
pub async fn revoke(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<GrantView>> {
    Ok(Json(consent.revoke(&context, auth.resident, id).await?))
}

/// Ask the department that made read `seq` to delete what that read returned.
pub async fn ask_erasure_of_read(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiPath(seq): ApiPath<u64>,
) -> Result<StatusCode> {
    consent
        .ask_erasure_of_read(&context, auth.resident, seq)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Pause one grant (GDPR art. 18): reads are refused until it is resumed.
pub async fn pause(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(pause): ApiJson<PauseRequest>,
) -> Result<Json<GrantView>> {
    Ok(Json(
        consent
            .pause(&context, auth.resident, id, pause.reason)
            .await?,
    ))
}

/// Let a paused grant go on.
pub async fn resume(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<GrantView>> {
    Ok(Json(consent.resume(&context, auth.resident, id).await?))
}

/// Who did what with my data: my entries in the audit log, in plain Dutch, newest first.
pub async fn history(
    auth: ResidentAuth,
    State(consent): State<Consent>,
    State(coaching): State<crate::coaching::Coaching>,
) -> Result<Json<serde_json::Value>> {
    let coaches = coaching.coaches().names().await?;
    let (reference, items) = consent
        .resident_history(
            auth.resident,
            &coaches,
            Texts {
                language: Language::Nl,
            },
        )
        .await?;
    let items: Vec<serde_json::Value> = items
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "seq": e.seq,
                "time": e.time,
                "action": e.action,
                "outcome": e.outcome,
                "department": e.department,
                "categories": e.categories,
                "purpose": e.purpose,
                "summary_nl": e.story.sentence(),
                "erasure": e.erasure.map(|asked| serde_json::json!({
                    "asked_at": asked.asked_at,
                    "confirmed_at": asked.confirmed_at,
                })),
            })
        })
        .collect();
    Ok(Json(
        serde_json::json!({"reference": reference, "entries": items}),
    ))
}

/// Download everything in my vault (GDPR art. 20).
pub async fn export(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
) -> Result<impl axum::response::IntoResponse> {
    let export = consent.export_vault(&context, auth.resident).await?;
    let disposition = "attachment; filename=\"mijn-kluis.json\"";
    Ok((
        [(axum::http::header::CONTENT_DISPOSITION, disposition)],
        Json(export),
    ))
}

/// Erase my vault (GDPR art. 17): grants end, requests are declined, records and keys
/// are destroyed, and this login ends.
pub async fn erase(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    State(sessions): State<Sessions>,
    State(site): State<Site>,
) -> Result<StatusCode> {
    consent
        .erase_vault(&context, auth.resident, site.rotate_after_erasure)
        .await?;
    sessions.end(&auth.session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke every grant I gave one department.
pub async fn revoke_department(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(consent): State<Consent>,
    ApiPath(department): ApiPath<String>,
) -> Result<Json<Vec<GrantView>>> {
    Ok(Json(
        consent
            .revoke_department(&context, auth.resident, &department)
            .await?,
    ))
}
