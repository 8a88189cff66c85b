//! The department API: `/v1/dept/...`. Every call carries a client assertion
//! (`Client-Assertion` header); a read also carries the grant (`Authorization: DPoP
//! <grant>`) and a DPoP proof (`DPoP` header).

use super::AppState;
use super::extract::{ApiJson, ApiPath, Ctx};
use crate::auth::departments::{DepartmentPrincipal, authenticate};
use crate::{Error, Result};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use kluis_proto::consent::{
    CLIENT_ASSERTION_HEADER, DepartmentGrant, DepartmentRequestStatus, NewAccessRequest,
    ReadRequest, ReadResponse,
};
use uuid::Uuid;

/// The authenticated department calling.
pub struct DepartmentAuth(pub DepartmentPrincipal);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v
            .to_str()
            .map(Some)
            .map_err(|_| Error::InvalidParameter(format!("the {name} header is not text"))),
        (Some(_), Some(_)) => Err(Error::InvalidParameter(format!(
            "send the {name} header once"
        ))),
    }
}

impl FromRequestParts<AppState> for DepartmentAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let assertion = header(&parts.headers, CLIENT_ASSERTION_HEADER)?;
        let consent = &state.consent;
        authenticate(
            consent.store(),
            consent.clock(),
            consent.issuer(),
            assertion,
        )
        .await
        .map(DepartmentAuth)
    }
}

/// Asks a resident for access.
pub async fn create_request(
    Ctx(context): Ctx,
    DepartmentAuth(department): DepartmentAuth,
    State(state): State<AppState>,
    ApiJson(ask): ApiJson<NewAccessRequest>,
) -> Result<impl IntoResponse> {
    let created = state
        .consent
        .create_request(&context, &department, &ask)
        .await?;
    let location = format!("/v1/dept/access-requests/{}", created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    ))
}

/// The state of one of the department's requests.
pub async fn request_status(
    DepartmentAuth(department): DepartmentAuth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DepartmentRequestStatus>> {
    Ok(Json(
        state.consent.department_request(&department, id).await?,
    ))
}

/// The department's grants.
pub async fn grants(
    DepartmentAuth(department): DepartmentAuth,
    State(state): State<AppState>,
) -> Result<Json<Vec<DepartmentGrant>>> {
    Ok(Json(state.consent.department_grants(&department).await?))
}

/// One of the department's grants.
pub async fn grant(
    DepartmentAuth(department): DepartmentAuth,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DepartmentGrant>> {
    Ok(Json(state.consent.department_grant(&department, id).await?))
}

/// Reads under a grant. Every attempt is logged, including those refused before the
/// department is known.
pub async fn read(
    Ctx(context): Ctx,
    auth: std::result::Result<DepartmentAuth, Error>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<ApiJson<ReadRequest>, Error>,
) -> Result<Json<ReadResponse>> {
    let department = match auth {
        Ok(DepartmentAuth(department)) => department,
        Err(refusal) => {
            state
                .consent
                .record_refused_read(&context, None, &refusal)
                .await;
            return Err(refusal);
        }
    };
    let prepared = (|| {
        let grant = match header(&headers, header::AUTHORIZATION.as_str())? {
            Some(value) => match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") => Some(token.trim()),
                _ => {
                    return Err(Error::InvalidGrant(
                        "present the grant as `Authorization: DPoP <grant>`".into(),
                    ));
                }
            },
            None => None,
        };
        let dpop = header(&headers, "dpop")?;
        let ApiJson(read) = body?;
        Ok((grant, dpop, read))
    })();
    let (grant, dpop, read) = match prepared {
        Ok(prepared) => prepared,
        Err(refusal) => {
            state
                .consent
                .record_refused_read(&context, Some(&department), &refusal)
                .await;
            return Err(refusal);
        }
    };
    Ok(Json(
        state
            .consent
            .read(&context, &department, grant, dpop, &read)
            .await?,
    ))
}
