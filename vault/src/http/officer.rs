//! The privacy officer's API: `/v1/officer/...`. Officers see the log's metadata, its
//! proofs and reports, never vault contents. The questions and their logging live in
//! `audit::officer`; this maps query strings to them.

use super::extract::{ApiPath, ApiQuery, Ctx, OfficerAuth};
use crate::audit::Filter;
use crate::audit::officer::{ExportFormat, OfficerDesk, Range};
use crate::{Error, Result};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use kluis_proto::audit::{
    AuditPage, CheckpointView, ConsistencyProof, InclusionProof, ReportAnswer, ResidentLookup,
};
use serde::Deserialize;

fn parse_enum<T: serde::de::DeserializeOwned>(
    value: &Option<String>,
    what: &str,
) -> Result<Option<T>> {
    value
        .as_ref()
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.clone()))
                .map_err(|_| Error::InvalidParameter(format!("unknown {what} {v:?}")))
        })
        .transpose()
}

/// The query parameters of `/v1/officer/audit`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuditQuery {
    resident: Option<String>,
    department: Option<String>,
    coach: Option<String>,
    grant: Option<uuid::Uuid>,
    purpose: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    cursor: Option<u64>,
    limit: Option<usize>,
}

impl AuditQuery {
    fn filter(&self) -> Result<Filter> {
        let filter = Filter {
            resident: self.resident.clone(),
            department: self.department.clone(),
            coach: self.coach.clone(),
            grant: self.grant,
            purpose: self.purpose.clone(),
            action: parse_enum(&self.action, "action")?,
            outcome: parse_enum(&self.outcome, "outcome")?,
            from: self.from,
            to: self.to,
        };
        filter.check()?;
        Ok(filter)
    }
}

/// Entries matching the filter, a page at a time.
pub async fn audit(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>> {
    let filter = query.filter()?;
    let cursor = query.cursor.unwrap_or(0);
    let limit = query.limit.unwrap_or(100);
    Ok(Json(
        desk.page(&context, &officer.actor(), &filter, cursor, limit)
            .await?,
    ))
}

/// The query parameters of exports and reports: a range by sequence number or time.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RangeQuery {
    from_seq: Option<u64>,
    to_seq: Option<u64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    format: Option<String>,
}

impl RangeQuery {
    fn range(&self) -> Range {
        Range {
            from_seq: self.from_seq,
            to_seq: self.to_seq,
            from: self.from,
            to: self.to,
        }
    }
}

/// An export of a range: `format=kluis` (default; verifiable offline with
/// `kluis audit verify`), `logboek` (Logboek Dataverwerkingen) or `adl` (Authorization
/// Decision Log), as JSON Lines.
pub async fn export(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> Result<impl IntoResponse> {
    let format = ExportFormat::from_name(query.format.as_deref().unwrap_or("kluis"))?;
    let body = desk
        .export(&context, &officer.actor(), &query.range(), format)
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body))
}

/// A fresh signed checkpoint of the whole log (also saved by the vault).
pub async fn checkpoint(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
) -> Result<Json<CheckpointView>> {
    Ok(Json(desk.checkpoint(&context, &officer.actor()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    seq: u64,
    size: u64,
}

/// An inclusion proof for one entry.
pub async fn inclusion(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionProof>> {
    Ok(Json(
        desk.inclusion(&context, &officer.actor(), q.seq, q.size)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    old: u64,
    new: u64,
}

/// A consistency proof between two sizes.
pub async fn consistency(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>> {
    Ok(Json(
        desk.consistency(&context, &officer.actor(), q.old, q.new)
            .await?,
    ))
}

/// A report: `unauthorized-reads`, `late-attempts`, `refusals`, `categories`, `volume`,
/// `scheme-uptake` or `witness-statements`,
/// over a range, with the signed checkpoint of the log it was computed from.
pub async fn report(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> Result<Json<ReportAnswer>> {
    Ok(Json(
        desk.report(&context, &officer.actor(), &name, &query.range())
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    department: String,
    reference: String,
}

/// The audit reference of the resident a department knows by a pairwise reference.
pub async fn lookup(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> Result<Json<ResidentLookup>> {
    Ok(Json(
        desk.lookup(&context, &officer.actor(), &q.department, &q.reference)
            .await?,
    ))
}

/// Every erasure request the vault sent departments, with whether each confirmed it.
pub async fn erasure_requests(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
) -> Result<Json<Vec<kluis_proto::audit::ErasureRequestStatus>>> {
    Ok(Json(
        desk.erasure_requests(&context, &officer.actor()).await?,
    ))
}

/// The signed consent record (ISO/IEC TS 27560) of one grant. The question is logged under
/// the resident it is about.
pub async fn consent_record(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
    State(consent): State<crate::consent::Consent>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<Json<serde_json::Value>> {
    let (record, resident) = consent.consent_record_of_grant(id).await?;
    let details = std::collections::BTreeMap::from([
        ("grant".to_owned(), id.to_string()),
        ("resident".to_owned(), resident),
    ]);
    desk.log_question(&context, &officer.actor(), "consent_record", details)
        .await?;
    Ok(Json(record))
}

/// The query of `/v1/officer/checkpoint-note`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteQuery {
    size: Option<u64>,
}

/// The checkpoint (of `size` entries, or all) as a C2SP signed note with its
/// cosignatures, as text.
pub async fn checkpoint_note(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(desk): State<OfficerDesk>,
    ApiQuery(q): ApiQuery<NoteQuery>,
) -> Result<impl IntoResponse> {
    let note = desk
        .checkpoint_note(&context, &officer.actor(), q.size)
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note))
}
