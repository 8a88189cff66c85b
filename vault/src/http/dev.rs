//! The development login's routes (mounted by `kluis dev` only).
//!
//! `POST /dev/login` with `{"subject": "henk"}` returns a bearer token; the same with a
//! form post sets the portal cookie. Every use is logged as a warning.

use super::extract::ApiJson;
use crate::Result;
use crate::auth::dev_login::{DEV_ISSUER, validate_subject};
use crate::auth::{Principal, SESSION_COOKIE, SessionKind, Sessions};
use crate::residents::Residents;
use axum::Json;
use axum::extract::State;
use axum::response::{Html, IntoResponse};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevLogin {
    subject: String,
}

#[derive(Serialize)]
pub struct DevLoginResponse {
    token: String,
    token_type: &'static str,
    expires_at: chrono::DateTime<chrono::Utc>,
    warning: &'static str,
}

const WARNING: &str = "development login: not for production";

/// The page that explains the development login.
pub async fn page() -> Html<&'static str> {
    Html(include_str!("dev_login.html"))
}

/// Logs in as the development resident `subject` and returns a bearer token.
pub async fn login(
    State(residents): State<Residents>,
    State(sessions): State<Sessions>,
    ApiJson(body): ApiJson<DevLogin>,
) -> Result<impl IntoResponse> {
    validate_subject(&body.subject)?;
    tracing::warn!(login_method = "dev", "development login used");
    let resident = residents.ensure_resident(DEV_ISSUER, &body.subject).await?;
    // Two sessions of one login: the bearer token for API clients, and the cookie for a
    // browser that follows on to the portal. Neither is accepted in the other's place.
    let principal = Principal::Resident(resident.id);
    let session = sessions
        .create(&principal, SessionKind::Api, "dev", None)
        .await?;
    let browser = sessions
        .create(
            &principal,
            SessionKind::Browser,
            "dev",
            Some(&session.login_id),
        )
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
        browser.token
    );
    Ok((
        [(axum::http::header::SET_COOKIE, cookie)],
        Json(DevLoginResponse {
            token: session.token,
            token_type: "Bearer",
            expires_at: session.expires_at,
            warning: WARNING,
        }),
    ))
}
