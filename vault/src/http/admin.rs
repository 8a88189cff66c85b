//! The operator's routes: departments, officer credentials, coaches, audit exports and
//! checkpoints, the key rotation a running vault does online, and backups. Served only on the local admin socket
//! (a Unix socket readable by the vault's user alone), never on the public listener: the
//! operating system's file permissions are the authentication.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::audit::Context;
use crate::audit::entry::Actor;
use crate::audit::officer::OfficerDesk;
use crate::auth::officers::Officers;
use crate::clock::Clock;
use crate::coaching::Coaching;
use crate::consent::Consent;
use crate::state::AppState;
use crate::store::{CoachRow, OfficerRow};
use crate::{Error, Result};
use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use kluis_proto::consent::{DepartmentInfo, DepartmentSpec};

/// The admin router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/admin/departments", get(list))
        .route("/admin/departments/{id}", put(register))
        .route("/admin/departments/{id}/disable", post(disable))
        .route("/admin/departments/{id}/enable", post(enable))
        .route("/admin/officers", get(officers).post(add_officer))
        .route("/admin/officers/{id}/revoke", post(revoke_officer))
        .route("/admin/coaches", get(coaches).post(add_coach))
        .route("/admin/coaches/{id}/remove", post(remove_coach))
        .route("/admin/audit/export", get(export))
        .route("/admin/audit/checkpoint", get(checkpoint))
        .route("/admin/keys/rotate", post(rotate_keys))
        .route("/admin/keys/rotate-signing", post(rotate_signing_key))
        .route("/admin/keys/rotate-root", post(rotate_root_key))
        .route("/admin/backup", post(backup))
        .fallback(super::problem::not_found)
        .with_state(state)
}

async fn list(State(consent): State<Consent>) -> Result<Json<Vec<DepartmentInfo>>> {
    Ok(Json(consent.departments().await?))
}

async fn register(
    State(consent): State<Consent>,
    State(clock): State<Clock>,
    ApiPath(id): ApiPath<String>,
    ApiJson(spec): ApiJson<DepartmentSpec>,
) -> Result<Json<DepartmentInfo>> {
    if spec.id != id {
        return Err(Error::InvalidParameter(
            "the id in the path and in the file differ".into(),
        ));
    }
    let info = consent
        .register_department(&Context::new(&clock), Actor::Operator, &spec)
        .await?;
    tracing::info!(department = %info.id, "department registered or updated");
    Ok(Json(info))
}

async fn set_disabled(
    consent: &Consent,
    clock: &Clock,
    id: &str,
    disabled: bool,
) -> Result<DepartmentInfo> {
    consent
        .set_department_disabled(&Context::new(clock), Actor::Operator, id, disabled)
        .await
}

async fn disable(
    State(consent): State<Consent>,
    State(clock): State<Clock>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DepartmentInfo>> {
    let info = set_disabled(&consent, &clock, &id, true).await?;
    tracing::warn!(department = %info.id, "department disabled");
    Ok(Json(info))
}

async fn enable(
    State(consent): State<Consent>,
    State(clock): State<Clock>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DepartmentInfo>> {
    let info = set_disabled(&consent, &clock, &id, false).await?;
    tracing::info!(department = %info.id, "department enabled");
    Ok(Json(info))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOfficer {
    id: String,
    name: String,
    #[serde(default = "default_days")]
    days: u32,
}

fn default_days() -> u32 {
    90
}

fn officer_view(row: &OfficerRow) -> serde_json::Value {
    serde_json::json!({"id": row.id, "name": row.name, "expires_at": row.expires_at, "revoked": row.revoked})
}

async fn officers(State(officers): State<Officers>) -> Result<Json<Vec<serde_json::Value>>> {
    Ok(Json(
        officers.list().await?.iter().map(officer_view).collect(),
    ))
}

async fn add_officer(
    State(officers): State<Officers>,
    ApiJson(new): ApiJson<NewOfficer>,
) -> Result<Json<serde_json::Value>> {
    let (row, token) = officers.issue(&new.id, &new.name, new.days).await?;
    let mut view = officer_view(&row);
    view["token"] = serde_json::json!(token);
    Ok(Json(view))
}

async fn revoke_officer(
    State(officers): State<Officers>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>> {
    Ok(Json(officer_view(&officers.revoke(&id).await?)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCoach {
    id: String,
    name: String,
    department: String,
    provider: String,
    subject: String,
}

fn coach_view(row: &CoachRow) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "name": row.name,
        "department": row.department,
        "provider": row.provider,
        "subject": row.subject,
        "created_at": row.created_at,
        "removed_at": row.removed_at,
    })
}

async fn coaches(State(coaching): State<Coaching>) -> Result<Json<Vec<serde_json::Value>>> {
    Ok(Json(
        coaching
            .coaches()
            .list()
            .await?
            .iter()
            .map(coach_view)
            .collect(),
    ))
}

async fn add_coach(
    State(coaching): State<Coaching>,
    ApiJson(new): ApiJson<NewCoach>,
) -> Result<Json<serde_json::Value>> {
    let row = coaching
        .coaches()
        .add(&crate::auth::coaches::NewCoach {
            id: &new.id,
            name: &new.name,
            department: &new.department,
            provider: &new.provider,
            subject: &new.subject,
        })
        .await?;
    tracing::info!(coach = %row.id, "coach registered");
    Ok(Json(coach_view(&row)))
}

async fn remove_coach(
    State(coaching): State<Coaching>,
    State(clock): State<Clock>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>> {
    let row = coaching.remove_coach(&Context::new(&clock), &id).await?;
    tracing::info!(coach = %row.id, "coach removed");
    Ok(Json(coach_view(&row)))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct ExportRange {
    from_seq: Option<u64>,
    to_seq: Option<u64>,
}

async fn export(
    State(desk): State<OfficerDesk>,
    State(clock): State<Clock>,
    ApiQuery(range): ApiQuery<ExportRange>,
) -> Result<String> {
    desk.operator_export(&Context::new(&clock), range.from_seq, range.to_seq)
        .await
}

async fn checkpoint(State(desk): State<OfficerDesk>) -> Result<String> {
    desk.operator_checkpoint().await
}

/// Rotates the key-encryption key while the vault serves: a new KEK, every living data
/// key rewrapped, the old KEK destroyed, one `key_rotation` audit entry.
async fn rotate_keys(
    State(residents): State<crate::residents::Residents>,
    State(clock): State<Clock>,
) -> Result<Json<serde_json::Value>> {
    let (version, rewrapped) = residents.rotate_keys(&Context::new(&clock)).await?;
    Ok(Json(
        serde_json::json!({"kek_version": version, "vaults_rewrapped": rewrapped}),
    ))
}

/// How long a new grant-signing key is published before it signs.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SigningLead {
    lead_seconds: i64,
}

/// Stages a new grant-signing key: published in the JWKS now, signing after the lead.
async fn rotate_signing_key(
    State(consent): State<Consent>,
    State(clock): State<Clock>,
    ApiJson(lead): ApiJson<SigningLead>,
) -> Result<Json<serde_json::Value>> {
    let (kid, signs_from) = consent
        .rotate_signing_key(
            &Context::new(&clock),
            chrono::TimeDelta::try_seconds(lead.lead_seconds).unwrap_or(chrono::TimeDelta::MAX),
        )
        .await?;
    Ok(Json(
        serde_json::json!({"kid": kid, "signs_from": signs_from}),
    ))
}

/// Where the new root key is.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRootKey {
    /// A file holding it, as `kluis keys generate-root` writes (an absolute path).
    key_file: Option<std::path::PathBuf>,
    /// Or the label of another key in the PKCS#11 token that holds the root key now.
    pkcs11_key: Option<String>,
}

/// Seals the key directory again under a new root key while the vault serves.
async fn rotate_root_key(
    State(residents): State<crate::residents::Residents>,
    State(clock): State<Clock>,
    ApiJson(new): ApiJson<NewRootKey>,
) -> Result<Json<serde_json::Value>> {
    let root = match (new.key_file, new.pkcs11_key) {
        (Some(file), None) => {
            let unreadable = |why: String| {
                Error::InvalidParameter(format!("the new root key {}: {why}", file.display()))
            };
            let encoded = read_key_file(&file).map_err(|e| unreadable(e.to_string()))?;
            crate::crypto::RootKey::from_encoded(&encoded).map_err(unreadable)?
        }
        (None, Some(label)) => residents.root_key_in_same_token(&label)?,
        _ => {
            return Err(Error::InvalidParameter(
                "name the new root key: key_file or pkcs11_key, one of them".into(),
            ));
        }
    };
    let files = residents
        .rotate_root_key(&Context::new(&clock), root)
        .await?;
    Ok(Json(serde_json::json!({ "files": files })))
}

/// A key file's text (at most 4 KiB), wiped from memory when dropped.
fn read_key_file(path: &std::path::Path) -> std::io::Result<zeroize::Zeroizing<String>> {
    use std::io::Read;
    let mut text = zeroize::Zeroizing::new(String::new());
    std::fs::File::open(path)?
        .take(4096)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Where `kluis backup` wants the backup.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupTarget {
    /// An absolute path, absent or empty.
    to: std::path::PathBuf,
}

/// Writes a consistent backup of the running vault into a new directory and answers with
/// its manifest (without the file list).
async fn backup(
    State(backups): State<crate::backup::Backups>,
    ApiJson(target): ApiJson<BackupTarget>,
) -> Result<Json<serde_json::Value>> {
    let taken = backups.take(&target.to).await?;
    let manifest = taken.manifest;
    Ok(Json(serde_json::json!({
        "writes_waited_ms": taken.writes_waited.as_millis() as u64,
        "created": manifest.created,
        "files": manifest.files.len(),
        "bytes": manifest.total_bytes(),
        "audit_entries": manifest.audit.size,
        "rows": manifest.rows,
    })))
}
