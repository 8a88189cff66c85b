//! The privacy officer's API: `/v1/officer/...`. Officers see the log's metadata, its
//! proofs and reports, never vault contents. Every call is itself logged, before it is
//! answered (if it cannot be logged, it is refused).

use super::AppState;
use super::extract::{ApiPath, ApiQuery, Ctx, OfficerAuth};
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::audit::{Context, Filter, reports, standards};
use crate::jose::compact::B64URL;
use crate::{Error, Result};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Logs the officer's query (fail closed), with the resident it concerns if any.
async fn log_query(
    state: &AppState,
    context: &Context,
    officer: &OfficerAuth,
    endpoint: &str,
    mut details: BTreeMap<String, String>,
) -> Result<()> {
    let mut entry = Entry::new(
        Action::OfficerQuery,
        Outcome::Done,
        Actor::Officer {
            id: officer.0.id.clone(),
        },
    );
    entry.resident = details.get("resident").cloned();
    entry.department = details.get("department").cloned();
    details.insert("endpoint".into(), endpoint.into());
    entry.details = details;
    state
        .residents
        .audit()
        .record(context, entry)
        .await
        .map(|_| ())
}

fn parse_enum<T: serde::de::DeserializeOwned>(
    value: &Option<String>,
    what: &str,
) -> Result<Option<T>> {
    value
        .as_ref()
        .map(|v| {
            serde_json::from_value(Value::String(v.clone()))
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
        Ok(Filter {
            resident: self.resident.clone(),
            department: self.department.clone(),
            grant: self.grant,
            purpose: self.purpose.clone(),
            action: parse_enum(&self.action, "action")?,
            outcome: parse_enum(&self.outcome, "outcome")?,
            from: self.from,
            to: self.to,
        })
    }
}

/// Entries matching the filter, a page at a time.
pub async fn audit(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Value>> {
    let filter = query.filter()?;
    log_query(&state, &context, &officer, "audit", filter.as_details()).await?;
    let audit = state.residents.audit();
    let (entries, next) = audit
        .query(
            &filter,
            query.cursor.unwrap_or(0),
            query.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(
        json!({"entries": entries, "next_cursor": next, "tree_size": audit.size().await}),
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
    async fn seqs(&self, state: &AppState) -> Result<(u64, u64)> {
        let audit = state.residents.audit();
        let size = audit.size().await;
        let from = match (self.from_seq, self.from) {
            (Some(s), _) => s,
            (None, Some(t)) => audit.seq_at(t).await?,
            (None, None) => 0,
        };
        let to = match (self.to_seq, self.to) {
            (Some(s), _) => s,
            (None, Some(t)) => audit.seq_at(t).await?,
            (None, None) => size,
        };
        if from > to || to > size {
            return Err(Error::InvalidParameter(format!(
                "the range must lie within 0..{size}"
            )));
        }
        Ok((from, to))
    }

    fn details(&self, from: u64, to: u64) -> BTreeMap<String, String> {
        let mut details = BTreeMap::from([
            ("from_seq".to_owned(), from.to_string()),
            ("to_seq".to_owned(), to.to_string()),
        ]);
        if let Some(format) = &self.format {
            details.insert("format".into(), format.clone());
        }
        details
    }
}

/// An export of a range: `format=kluis` (default; verifiable offline with
/// `kluis audit verify`), `logboek` (Logboek Dataverwerkingen) or `adl` (Authorization
/// Decision Log), as JSON Lines.
pub async fn export(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> Result<impl IntoResponse> {
    let (from, to) = query.seqs(&state).await?;
    let format = query.format.clone().unwrap_or_else(|| "kluis".into());
    if !matches!(format.as_str(), "kluis" | "logboek" | "adl") {
        return Err(Error::InvalidParameter(
            "format is kluis, logboek or adl".into(),
        ));
    }
    log_query(
        &state,
        &context,
        &officer,
        "export",
        query.details(from, to),
    )
    .await?;
    let audit = state.residents.audit();
    let body = match format.as_str() {
        "kluis" => audit.export(from, to).await?,
        shape => {
            let mut out = String::new();
            for entry in audit.entries(from, to).await? {
                let record = if shape == "logboek" {
                    standards::logboek(&entry)
                } else {
                    standards::decision(&entry)
                };
                if let Some(record) = record {
                    out.push_str(&record.to_string());
                    out.push('\n');
                }
            }
            out
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body))
}

/// A fresh signed checkpoint of the whole log (also saved by the vault).
pub async fn checkpoint(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(state): State<AppState>,
) -> Result<Json<Value>> {
    log_query(&state, &context, &officer, "checkpoint", BTreeMap::new()).await?;
    let token = state.residents.audit().checkpoint().await?;
    let verified = crate::jose::Checkpoint::verify(&token, &state.consent.jwks())
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Json(
        json!({"checkpoint": token, "tree_size": verified.tree_size, "root_hash": B64URL.encode(verified.root_hash)}),
    ))
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
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Json<Value>> {
    log_query(
        &state,
        &context,
        &officer,
        "inclusion_proof",
        BTreeMap::from([("seq".into(), q.seq.to_string())]),
    )
    .await?;
    let audit = state.residents.audit();
    let proof = audit.inclusion_proof(q.seq, q.size).await?;
    let entry = audit
        .raw_entries(q.seq, q.seq + 1)
        .await?
        .pop()
        .ok_or(Error::NotFound("entry"))?;
    Ok(Json(json!({
        "seq": q.seq, "size": q.size,
        "leaf_hash": B64URL.encode(crate::audit::merkle::leaf_hash(&entry)),
        "root_hash": B64URL.encode(audit.root_at(q.size).await?),
        "proof": proof.iter().map(|h| B64URL.encode(h)).collect::<Vec<_>>(),
    })))
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
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<Value>> {
    log_query(
        &state,
        &context,
        &officer,
        "consistency_proof",
        BTreeMap::new(),
    )
    .await?;
    let audit = state.residents.audit();
    let proof = audit.consistency_proof(q.old, q.new).await?;
    Ok(Json(json!({
        "old": q.old, "new": q.new,
        "old_root": B64URL.encode(audit.root_at(q.old).await?),
        "new_root": B64URL.encode(audit.root_at(q.new).await?),
        "proof": proof.iter().map(|h| B64URL.encode(h)).collect::<Vec<_>>(),
    })))
}

/// A report: `unauthorized-reads`, `late-attempts`, `refusals`, `categories` or `volume`,
/// over a time range, with the signed checkpoint of the log it was computed from.
pub async fn report(
    Ctx(context): Ctx,
    officer: OfficerAuth,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> Result<Json<Value>> {
    if !matches!(
        name.as_str(),
        "unauthorized-reads" | "late-attempts" | "refusals" | "categories" | "volume"
    ) {
        return Err(Error::NotFound("report"));
    }
    let (from, to) = query.seqs(&state).await?;
    let mut details = query.details(from, to);
    details.insert("report".into(), name.clone());
    log_query(&state, &context, &officer, "report", details).await?;
    let audit = state.residents.audit();
    // Reports that replay grants need the whole history up to the end of the range.
    let history = audit.entries(0, to).await?;
    let in_range = &history[from as usize..];
    let window = |seq: u64| history.get(seq as usize).map(|e| e.time);
    let body = match name.as_str() {
        "unauthorized-reads" => {
            let start = window(from).unwrap_or(DateTime::<Utc>::MAX_UTC);
            json!(reports::unauthorized_reads(
                &history,
                start,
                DateTime::<Utc>::MAX_UTC
            ))
        }
        "late-attempts" => json!(reports::attempts_after_revocation_or_expiry(in_range)),
        "refusals" => json!(reports::refusals_by_department(in_range)),
        "categories" => json!(reports::categories_by_department(
            in_range,
            &state.store.departments().await?
        )),
        _ => json!(reports::volume_by_day(in_range)),
    };
    Ok(Json(
        json!({"report": name, "from_seq": from, "to_seq": to, "checkpoint": audit.checkpoint_at(to).await?, "result": body}),
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
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> Result<Json<Value>> {
    let resident = state
        .store
        .resident_by_reference(&q.department, &q.reference)
        .await?
        .ok_or(Error::NotFound("resident reference"))?;
    let reference = state.residents.audit_reference(resident);
    let details = BTreeMap::from([
        ("department".to_owned(), q.department.clone()),
        ("resident".to_owned(), reference.clone()),
    ]);
    log_query(&state, &context, &officer, "resident_lookup", details).await?;
    Ok(Json(json!({"resident": reference})))
}
