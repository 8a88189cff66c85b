//! The resident's own records: `/v1/me/...`.
//!
//! Every route takes the resident from the session ([`ResidentAuth`]); no path carries a
//! resident id, so no request can even name another resident's vault.

use super::extract::{ApiJson, ApiPath, Ctx, ResidentAuth};
use crate::auth::Sessions;
use crate::residents::Residents;
use crate::residents::catalogue::is_category_id;
use crate::{Error, Result};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use kluis_proto::records::{CategoryInfo, Record, RecordSummary, RecordVersion};
use serde::Serialize;

/// The catalogue (public: it holds no personal data).
pub async fn categories(State(residents): State<Residents>) -> Json<Vec<CategoryInfo>> {
    Json(
        residents
            .catalogue()
            .iter()
            .map(|c| c.info.clone())
            .collect(),
    )
}

#[derive(Serialize)]
pub struct Me {
    created_at: chrono::DateTime<chrono::Utc>,
    login_method: String,
    records: Vec<RecordSummary>,
}

/// Who am I and what is in my vault (no contents).
pub async fn me(auth: ResidentAuth, State(residents): State<Residents>) -> Result<Json<Me>> {
    let row = residents.resident(auth.resident).await?;
    let records = residents.overview(auth.resident).await?;
    Ok(Json(Me {
        created_at: row.created_at,
        login_method: auth.session.login_method,
        records,
    }))
}

/// The categories I have filled in.
pub async fn overview(
    auth: ResidentAuth,
    State(residents): State<Residents>,
) -> Result<Json<Vec<RecordSummary>>> {
    Ok(Json(residents.overview(auth.resident).await?))
}

fn checked(category: &str) -> Result<&str> {
    if is_category_id(category) {
        Ok(category)
    } else {
        Err(Error::UnknownCategory("(not a category id)".into()))
    }
}

/// Writes a new version of a category.
pub async fn write(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(residents): State<Residents>,
    ApiPath(category): ApiPath<String>,
    ApiJson(data): ApiJson<serde_json::Value>,
) -> Result<impl IntoResponse> {
    let written = residents
        .write(&context, auth.resident, checked(&category)?, &data)
        .await?;
    let location = format!(
        "/v1/me/records/{}/versions/{}",
        written.category, written.version
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(written),
    ))
}

/// The current version of a category.
pub async fn read(
    auth: ResidentAuth,
    State(residents): State<Residents>,
    ApiPath(category): ApiPath<String>,
) -> Result<Json<Record>> {
    Ok(Json(
        residents
            .read(auth.resident, checked(&category)?, None)
            .await?,
    ))
}

/// Every version of a category.
pub async fn versions(
    auth: ResidentAuth,
    State(residents): State<Residents>,
    ApiPath(category): ApiPath<String>,
) -> Result<Json<Vec<RecordVersion>>> {
    Ok(Json(
        residents
            .versions(auth.resident, checked(&category)?)
            .await?,
    ))
}

/// One old version of a category.
pub async fn read_version(
    auth: ResidentAuth,
    State(residents): State<Residents>,
    ApiPath((category, version)): ApiPath<(String, u32)>,
) -> Result<Json<Record>> {
    Ok(Json(
        residents
            .read(auth.resident, checked(&category)?, Some(version))
            .await?,
    ))
}

/// Deletes a category with all its versions.
pub async fn delete(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(residents): State<Residents>,
    ApiPath(category): ApiPath<String>,
) -> Result<StatusCode> {
    residents
        .delete(&context, auth.resident, checked(&category)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the calling session.
pub async fn logout(auth: ResidentAuth, State(sessions): State<Sessions>) -> Result<StatusCode> {
    sessions.end(&auth.session).await?;
    Ok(StatusCode::NO_CONTENT)
}
