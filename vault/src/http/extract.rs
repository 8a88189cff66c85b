//! Extractors that turn every bad input into the vault's [`Error`], so that no request
//! gets axum's plain-text rejections: the JSON body, the path, the query, the trace, the
//! calling resident, officer or coach, the browser's session; and the cookie and form-origin
//! helpers the portal shares. The portal (`web`) uses these and nothing else of `http`.

use crate::Error;
use crate::auth::Sessions;
use crate::auth::officers::Officers;
use crate::auth::{Principal, Session, SessionKind};
use crate::residents::ResidentId;
use crate::state::Site;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body. Wrong content type: 415; over the limit: 413; malformed or of the wrong
/// shape: 400. The detail never quotes the body back.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    Site: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let content_type = req.headers().get(axum::http::header::CONTENT_TYPE);
        if !content_type
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_content_type)
        {
            return Err(Error::UnsupportedMediaType);
        }
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::UnsupportedMediaType),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(Error::InvalidJson("the body is not well-formed JSON"))
            }
            Err(JsonRejection::JsonDataError(_)) => Err(Error::InvalidJson(
                "the body does not have the fields and types this endpoint takes",
            )),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::PayloadTooLarge {
                    limit: Site::from_ref(state).max_body_bytes,
                })
            }
            Err(_) => Err(Error::InvalidJson("the body could not be read")),
        }
    }
}

/// Whether a `Content-Type` is `application/json`, with at most `charset=utf-8`: axum
/// would also take any `application/*+json` and any charset, and read them all as UTF-8.
fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|parameter| {
            parameter.split_once('=').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("charset")
                    && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            })
        })
}

/// Path parameters; a segment that does not parse is a 400 `invalid_path`.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|_| {
                Error::InvalidPath("a path segment is not a valid identifier for this endpoint")
            })
    }
}

/// The request's trace context (set by the `trace_context` middleware).
pub struct Ctx(pub crate::audit::Context);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<crate::audit::Context>()
            .cloned()
            .map(Ctx)
            .ok_or_else(|| Error::Internal("the trace context middleware is missing".into()))
    }
}

/// Query parameters; anything malformed or unknown is a 400 `invalid_parameter`.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|_| {
                Error::InvalidParameter(
                    "the query parameters are not valid for this endpoint".into(),
                )
            })
    }
}

/// The bearer token of the request, if any.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// A privacy officer: an operator-issued credential, or a session from a staff login, as
/// a bearer token. A resident's session is refused.
pub struct OfficerAuth(pub crate::auth::officers::OfficerPrincipal);

impl OfficerAuth {
    /// The officer as the log's actor.
    pub fn actor(&self) -> crate::audit::entry::Actor {
        crate::audit::entry::Actor::Officer {
            id: self.0.id.clone(),
        }
    }
}

impl<S> FromRequestParts<S> for OfficerAuth
where
    S: Send + Sync,
    Officers: FromRef<S>,
    Sessions: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let token = bearer_token(parts).ok_or(Error::Unauthenticated(
            "send the officer credential as `Authorization: Bearer <token>`",
        ))?;
        match Officers::from_ref(state).authenticate(token).await {
            Ok(officer) => Ok(OfficerAuth(officer)),
            Err(refusal) => match Sessions::from_ref(state)
                .resolve(token, SessionKind::Api)
                .await
            {
                Ok(Session {
                    principal: Principal::Officer(officer),
                    ..
                }) => Ok(OfficerAuth(officer)),
                Ok(_) => Err(Error::Forbidden(
                    "only privacy officers can use the privacy officer's endpoints",
                )),
                Err(_) => Err(refusal),
            },
        }
    }
}

/// The logged-in resident calling the API, authenticated by a bearer session token.
///
/// The JSON API takes bearer tokens only, never the portal's cookie: a browser never sends
/// a bearer token by itself, so the API needs no CSRF defence of its own.
pub struct ResidentAuth {
    /// The resident.
    pub resident: ResidentId,
    /// The session, for logout.
    pub session: Session,
}

impl<S> FromRequestParts<S> for ResidentAuth
where
    S: Send + Sync,
    Sessions: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let token = bearer_token(parts).ok_or(Error::Unauthenticated(
            "send the session token as `Authorization: Bearer <token>`",
        ))?;
        let session = Sessions::from_ref(state)
            .resolve(token, SessionKind::Api)
            .await?;
        match session.principal {
            Principal::Resident(resident) => Ok(ResidentAuth { resident, session }),
            Principal::Officer(_) => Err(Error::Forbidden(
                "a privacy officer cannot reach residents' data",
            )),
            Principal::Coach(_) => Err(Error::Forbidden(
                "a coach sees what residents let them see on the coach's pages only",
            )),
        }
    }
}

/// A coach calling the API with a bearer token of their staff login (`/login/token`),
/// while they are on the operator's list. A resident's or officer's session is refused.
pub struct CoachAuth(pub crate::auth::coaches::CoachPrincipal);

impl<S> FromRequestParts<S> for CoachAuth
where
    S: Send + Sync,
    Sessions: FromRef<S>,
    crate::coaching::Coaching: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let token = bearer_token(parts).ok_or(Error::Unauthenticated(
            "send the coach's session token as `Authorization: Bearer <token>`",
        ))?;
        let session = Sessions::from_ref(state)
            .resolve(token, SessionKind::Api)
            .await?;
        let Principal::Coach(coach) = session.principal else {
            return Err(Error::Forbidden(
                "only coaches can use the coach's endpoints",
            ));
        };
        crate::coaching::Coaching::from_ref(state)
            .coaches()
            .current(&coach.id)
            .await?;
        Ok(CoachAuth(coach))
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The session behind the browser's `kluis_session` cookie (logins through a provider,
/// and the portal). Pages that change state must also pass [`check_form_origin`] and a
/// CSRF token.
pub struct CookieSession(pub Session);

impl<S> FromRequestParts<S> for CookieSession
where
    S: Send + Sync,
    Sessions: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let token = cookie(parts, crate::auth::SESSION_COOKIE)
            .ok_or(Error::Unauthenticated("log in first"))?;
        Ok(CookieSession(
            Sessions::from_ref(state)
                .resolve(token, SessionKind::Browser)
                .await?,
        ))
    }
}

/// A `Set-Cookie` value for this vault: HttpOnly, SameSite=Lax, and `Secure` unless the
/// vault is served on loopback over plain HTTP.
pub fn set_cookie(
    site: &Site,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
) -> String {
    let url = &site.public_url;
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| url.starts_with(p));
    let mut cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if !loopback {
        cookie.push_str("; Secure");
    }
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    cookie
}

/// Checks that a browser's state-changing post comes from this vault's own pages: its
/// `Origin` (or, without one, its `Referer`) is the vault's public origin, and its CSRF
/// token is the session's. Anything else is `csrf_rejected`, and nothing changes.
pub fn check_form_origin(
    headers: &axum::http::HeaderMap,
    public_url: &str,
    session: &Session,
    csrf: Option<&str>,
) -> Result<(), Error> {
    let origin = public_url.trim_end_matches('/');
    let same_origin = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(o) => o == origin,
        None => headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|r| r.starts_with(&format!("{origin}/"))),
    };
    let token_matches = csrf.is_some_and(|t| crate::crypto::secrets_equal(t, &session.csrf_token));
    if same_origin && token_matches {
        Ok(())
    } else {
        Err(Error::CsrfRejected)
    }
}
