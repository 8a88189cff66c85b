//! The department API: `/v1/dept/...`. Every call but a read carries a client assertion
//! (`Client-Assertion` header); a read carries the grant (`Authorization: DPoP <grant>`)
//! and a DPoP proof (`DPoP` header), which authenticates it, and optionally an assertion.

use super::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::auth::departments::{DepartmentAuth, DepartmentPrincipal};
use crate::cases::Cases;
use crate::consent::Consent;
use crate::consent::reads::ReadAttempt;
use crate::consent::writes::WriteAttempt;
use crate::{Error, Result};
use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use kluis_proto::cases::{CaseStatusView, NewCaseStatus, SharesPage};
use kluis_proto::consent::{
    CLIENT_ASSERTION_HEADER, DepartmentGrant, DepartmentRequestStatus, NewAccessRequest,
    ReadRequest,
};
use uuid::Uuid;

/// The authenticated department calling.
pub struct Department(pub DepartmentPrincipal);

/// The one value of header `name`, if sent; sent twice or not text is an error.
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

/// The grant from `Authorization: DPoP <grant>`, if sent.
fn dpop_grant(headers: &HeaderMap) -> Result<Option<&str>> {
    match header(headers, header::AUTHORIZATION.as_str())? {
        None => Ok(None),
        Some(value) => match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") => Ok(Some(token.trim())),
            _ => Err(Error::InvalidGrant(
                "present the grant as `Authorization: DPoP <grant>`".into(),
            )),
        },
    }
}

impl<S> FromRequestParts<S> for Department
where
    S: Send + Sync,
    DepartmentAuth: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let assertion = header(&parts.headers, CLIENT_ASSERTION_HEADER)?;
        DepartmentAuth::from_ref(state)
            .authenticate(assertion)
            .await
            .map(Department)
    }
}

/// Asks a resident for access.
pub async fn create_request(
    Ctx(context): Ctx,
    Department(department): Department,
    State(consent): State<Consent>,
    ApiJson(ask): ApiJson<NewAccessRequest>,
) -> Result<impl IntoResponse> {
    let created = consent.create_request(&context, &department, &ask).await?;
    let location = format!("/v1/dept/access-requests/{}", created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    ))
}

/// The state of one of the department's requests.
pub async fn request_status(
    Department(department): Department,
    State(consent): State<Consent>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DepartmentRequestStatus>> {
    Ok(Json(consent.department_request(&department, id).await?))
}

/// The department's grants.
pub async fn grants(
    Department(department): Department,
    State(consent): State<Consent>,
) -> Result<Json<Vec<DepartmentGrant>>> {
    Ok(Json(consent.department_grants(&department).await?))
}

/// One of the department's grants.
pub async fn grant(
    Department(department): Department,
    State(consent): State<Consent>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DepartmentGrant>> {
    Ok(Json(consent.department_grant(&department, id).await?))
}

/// Reads under a grant. The attempt goes to the read pipeline as it arrived, including
/// whatever was wrong with it, so that every attempt is logged once.
pub async fn read(
    Ctx(context): Ctx,
    State(consent): State<Consent>,
    headers: HeaderMap,
    body: std::result::Result<ApiJson<ReadRequest>, Error>,
) -> Result<axum::response::Response> {
    let attempt = ReadAttempt {
        assertion: header(&headers, CLIENT_ASSERTION_HEADER),
        grant: dpop_grant(&headers),
        proof: header(&headers, "dpop"),
        body: body.map(|ApiJson(read)| read),
    };
    use crate::consent::reads::ReadAnswer;
    Ok(match consent.read(&context, attempt).await? {
        ReadAnswer::Plain(response) => Json(response).into_response(),
        ReadAnswer::Sealed(jwe) => {
            ([(header::CONTENT_TYPE, "application/jose")], jwe).into_response()
        }
    })
}

/// Writes a category the department keeps for the resident (debt-help step, scores),
/// under a grant the department holds that covers it, proven like a read (grant token and
/// DPoP proof).
pub async fn write_record(
    Ctx(context): Ctx,
    Department(department): Department,
    State(consent): State<Consent>,
    headers: HeaderMap,
    ApiPath((id, category)): ApiPath<(Uuid, String)>,
    ApiJson(data): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<kluis_proto::records::RecordWritten>)> {
    if !crate::residents::catalogue::is_category_id(&category) {
        return Err(Error::UnknownCategory("(not a category id)".into()));
    }
    let attempt = WriteAttempt {
        grant: id,
        category: &category,
        token: dpop_grant(&headers)?,
        proof: header(&headers, "dpop")?,
        data: &data,
    };
    let written = consent
        .department_write(&context, &department, attempt)
        .await?;
    Ok((StatusCode::CREATED, Json(written)))
}

/// Tells the resident where their case stands, under a grant the department holds.
pub async fn post_status(
    Ctx(context): Ctx,
    Department(department): Department,
    State(cases): State<Cases>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Box<serde_json::value::RawValue>>,
) -> Result<(StatusCode, Json<CaseStatusView>)> {
    let status = strict_status(body.get())?;
    let posted = cases.post(&context, &department, id, &status).await?;
    Ok((StatusCode::CREATED, Json(posted)))
}

/// The status in `body`, refusing a field its kind does not have: serde passes over
/// unknown fields inside an internally tagged enum, so every field sent must come back
/// when the parsed status is written out again.
fn strict_status(body: &str) -> Result<NewCaseStatus> {
    let status: NewCaseStatus = serde_json::from_str(body).map_err(|_| {
        Error::InvalidJson("the body does not have the fields and types this endpoint takes")
    })?;
    let sent: serde_json::Value = serde_json::from_str(body)
        .map_err(|_| Error::InvalidJson("the body is not well-formed JSON"))?;
    let known = serde_json::to_value(&status.status)
        .map_err(|e| Error::Internal(format!("writing a status out: {e}")))?;
    let unknown = sent["status"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(name, value)| !value.is_null() && known.get(name).is_none());
    if unknown {
        return Err(Error::InvalidJson(
            "the status has a field its kind does not have; see the API description",
        ));
    }
    Ok(status)
}

/// The query of `/v1/dept/shares`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SharesQuery {
    after: Option<String>,
}

/// Grants residents gave the department on their own initiative, after a cursor.
pub async fn shares(
    Department(department): Department,
    State(consent): State<Consent>,
    ApiQuery(query): ApiQuery<SharesQuery>,
) -> Result<Json<SharesPage>> {
    Ok(Json(
        consent
            .department_shares(&department, query.after.as_deref())
            .await?,
    ))
}
