//! `POST /v1/witness/cosignatures`: a witness the operator trusts (`[audit] witnesses`)
//! sends back the vault's checkpoint note with its cosignature (c2sp.org/tlog-cosignature);
//! the vault keeps it and adds it to that note from then on. The cosignature itself is the
//! witness's credential: only one by a trusted key that verifies is kept.

use crate::Result;
use crate::audit::Audit;
use crate::clock::Clock;
use crate::state::Site;
use axum::Json;
use axum::extract::State;
use std::sync::Arc;

/// Keeps the trusted witnesses' cosignatures in the note in the body.
pub async fn cosign(
    State(audit): State<Arc<Audit>>,
    State(site): State<Site>,
    State(clock): State<Clock>,
    note: String,
) -> Result<Json<serde_json::Value>> {
    let now = u64::try_from(clock.now().timestamp()).unwrap_or(0);
    let (size, kept) = audit.add_cosignatures(&note, &site.witnesses, now).await?;
    Ok(Json(serde_json::json!({"size": size, "kept": kept})))
}
