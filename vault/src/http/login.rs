//! Logging in and out through OpenID Providers, for browsers.
//!
//! `GET /login/{provider}` sends the browser to the provider; the provider sends it back
//! to `GET /login/{provider}/callback`, which sets the `kluis_session` cookie (HttpOnly,
//! SameSite=Lax, Secure outside loopback). Posts that change state (`/logout`,
//! `/login/token`) need the session's CSRF token (`GET /session` gives it to the page) and
//! must come from the vault's own origin.

use super::extract::{ApiPath, ApiQuery, CookieSession, check_form_origin, cookie, set_cookie};
use crate::auth::oidc::{LOGIN_COOKIE, Oidc};
use crate::auth::{Principal, SESSION_COOKIE, SessionKind, Sessions};
use crate::state::Site;
use crate::{Error, Result};
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

/// Starts a login with `provider`.
pub async fn start(
    State(oidc): State<Oidc>,
    State(site): State<Site>,
    State(throttle): State<std::sync::Arc<crate::throttle::Throttle>>,
    super::extract::Ctx(context): super::extract::Ctx,
    ApiPath(provider): ApiPath<String>,
) -> Result<Response> {
    if let Some(source) = context.source {
        throttle.login_start(source)?;
    }
    let (url, binding) = oidc.start(&provider).await?;
    let cookie = set_cookie(&site, LOGIN_COOKIE, &binding, "/login", Some(600));
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response())
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    #[serde(rename = "iss")]
    _iss: Option<String>,
    #[serde(rename = "session_state")]
    _session_state: Option<String>,
    #[serde(rename = "error_description")]
    _error_description: Option<String>,
}

/// The provider's answer.
pub async fn callback(
    State(oidc): State<Oidc>,
    State(site): State<Site>,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(answer): ApiQuery<Callback>,
    request: Request,
) -> Result<Response> {
    if let Some(error) = answer.error {
        let error: String = error
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .chain(std::iter::once('_'))
            .take(40)
            .collect();
        return Err(Error::LoginFailed(format!(
            "the identity provider did not log you in ({})",
            error.trim_end_matches('_')
        )));
    }
    let (Some(code), Some(login_state)) = (answer.code, answer.state) else {
        return Err(Error::LoginFailed(
            "the identity provider's answer lacks a code or state".into(),
        ));
    };
    let (parts, _) = request.into_parts();
    let binding = cookie(&parts, LOGIN_COOKIE);
    let logged_in = oidc.finish(&provider, &code, &login_state, binding).await?;
    let session = set_cookie(&site, SESSION_COOKIE, &logged_in.session.token, "/", None);
    let clear = set_cookie(&site, LOGIN_COOKIE, "", "/login", Some(0));
    let home = match logged_in.principal {
        Principal::Resident(_) => "/",
        Principal::Officer(_) => "/officer",
        Principal::Coach(_) => "/coach",
    };
    let mut response = Redirect::to(home).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session
            .parse()
            .map_err(|_| Error::Internal("cookie".into()))?,
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        clear
            .parse()
            .map_err(|_| Error::Internal("cookie".into()))?,
    );
    Ok(response)
}

/// Who is logged in in this browser, and the CSRF token its pages must send.
pub async fn session(CookieSession(session): CookieSession) -> Json<serde_json::Value> {
    let who = match &session.principal {
        Principal::Resident(_) => json!({"kind": "resident"}),
        Principal::Officer(o) => json!({"kind": "officer", "id": o.id, "name": o.name}),
        Principal::Coach(c) => {
            json!({"kind": "coach", "id": c.id, "name": c.name, "department": c.department})
        }
    };
    Json(
        json!({"principal": who, "login_method": session.login_method, "csrf_token": session.csrf_token}),
    )
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// Reads an urlencoded form with a `csrf` field; anything else is a 400 or 415.
async fn form(request: Request) -> Result<(HeaderMap, CsrfForm)> {
    let headers = request.headers().clone();
    let axum::Form(form) = axum::Form::<CsrfForm>::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                Error::UnsupportedMediaType
            } else {
                Error::InvalidParameter("the form could not be read".into())
            }
        })?;
    Ok((headers, form))
}

/// Logs out: ends this login's sessions (the cookie and any API token made from it),
/// clears the cookie, and sends the browser to the provider's logout when it has one.
pub async fn logout(
    State(oidc): State<Oidc>,
    State(sessions): State<Sessions>,
    State(site): State<Site>,
    CookieSession(session): CookieSession,
    request: Request,
) -> Result<Response> {
    let (headers, form) = form(request).await?;
    check_form_origin(&headers, &site.public_url, &session, form.csrf.as_deref())?;
    sessions.end(&session).await?;
    let clear = set_cookie(&site, SESSION_COOKIE, "", "/", Some(0));
    let target = oidc.logout_url(&session.login_method);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to(&target)).into_response())
}

/// A bearer token for the resident's API clients, from the browser's login: it ends when
/// the login ends.
pub async fn token(
    State(sessions): State<Sessions>,
    State(site): State<Site>,
    CookieSession(session): CookieSession,
    request: Request,
) -> Result<Response> {
    let (headers, form) = form(request).await?;
    check_form_origin(&headers, &site.public_url, &session, form.csrf.as_deref())?;
    let method = format!("{}:api-token", session.login_method);
    let new = sessions
        .create(
            &session.principal,
            SessionKind::Api,
            &method,
            Some(&session.login_id),
        )
        .await?;
    Ok(
        Json(json!({"token": new.token, "token_type": "Bearer", "expires_at": new.expires_at}))
            .into_response(),
    )
}

/// The login choices, for the portal.
pub async fn providers(State(oidc): State<Oidc>) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = oidc
        .providers()
        .into_iter()
        .map(|(name, label, role)| json!({"name": name, "label_nl": label, "role": if role == crate::config::OidcRole::Resident { "resident" } else { "staff" }, "url": format!("/login/{name}")}))
        .collect();
    Json(json!({"providers": list}))
}
