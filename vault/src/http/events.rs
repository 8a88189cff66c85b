//! Events for departments: `POST /v1/dept/events` (poll and acknowledge, RFC 8936) and
//! `POST /v1/dept/events/{id}/erasure-confirmation`, each with a client assertion.

use super::departments::Department;
use super::extract::{ApiJson, ApiPath, Ctx};
use crate::Result;
use crate::signals::Signals;
use axum::Json;
use axum::extract::State;
use kluis_proto::events::{ErasureConfirmed, PollRequest, PollResponse};
use uuid::Uuid;

/// Acknowledges what the department processed and returns the oldest events still
/// waiting for it.
pub async fn poll(
    Department(department): Department,
    State(signals): State<Signals>,
    ApiJson(request): ApiJson<PollRequest>,
) -> Result<Json<PollResponse>> {
    Ok(Json(signals.poll(department.id(), &request).await?))
}

/// The department confirms it deleted what erasure request `id` asked.
pub async fn confirm_erasure(
    Ctx(context): Ctx,
    Department(department): Department,
    State(signals): State<Signals>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ErasureConfirmed>> {
    Ok(Json(
        signals
            .confirm_erasure(&context, department.id(), id)
            .await?,
    ))
}
