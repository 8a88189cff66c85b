//! The log in the shape of the Dutch government's logging standards.
//!
//! - **Logboek Dataverwerkingen** (Logius): one record per processing of personal data
//!   about one data subject, as an OpenTelemetry-style span: `trace_id`, `span_id`,
//!   `parent_span_id`, `name`, `start_time`, `end_time`, `status_code`, and attributes
//!   `dpl.core.processing_activity_id`, `dpl.core.data_subject_id` (a pseudonym) and
//!   `dpl.core.data_subject_id_type`.
//! - **Authorization Decision Log** (Logius, after OpenID AuthZEN): each access decision
//!   with its subject, action, resource, decision, reason and the policy that decided.
//!
//! The mapping is documented in `docs/audit.md`. Both are views of the same entries: the
//! Merkle-verified log stays the source.

use super::entry::{Action, Entry, Outcome};
use serde_json::{Value, json};

/// The data-subject id type recorded with every processing record.
pub const DATA_SUBJECT_ID_TYPE: &str = "kluis-audit-reference";

/// An entry as a Logboek Dataverwerkingen record, if it is a processing of personal data
/// about one data subject.
pub fn logboek(entry: &Entry) -> Option<Value> {
    let subject = entry.resident.as_ref()?;
    let ok = matches!(
        entry.outcome,
        Outcome::Allowed | Outcome::Approved | Outcome::Done
    );
    let mut attributes = json!({
        "dpl.core.data_subject_id": subject,
        "dpl.core.data_subject_id_type": DATA_SUBJECT_ID_TYPE,
        "kluis.audit.seq": entry.seq,
        "kluis.outcome": entry.outcome,
    });
    // The standard requires a URI for every record: the department's registered activity,
    // or, for what the vault itself does for the resident, the vault's own.
    attributes["dpl.core.processing_activity_id"] =
        json!(match (&entry.department, &entry.processing_activity) {
            (Some(department), Some(activity)) => format!(
                "urn:kluis:activity:{department}:{}:{}",
                activity.id, activity.version
            ),
            _ => format!("urn:kluis:activity:kluis:{}", entry.action.as_str()),
        });
    if let Some(reason) = &entry.reason {
        attributes["kluis.reason"] = json!(reason);
    }
    if !entry.categories.is_empty() {
        attributes["kluis.categories"] = json!(entry.categories);
    }
    Some(json!({
        "trace_id": entry.trace_id,
        "span_id": entry.span_id,
        "parent_span_id": entry.parent_span_id,
        "name": format!("kluis.{}", entry.action.as_str()),
        "start_time": entry.started,
        "end_time": entry.time,
        "status_code": if ok { "STATUS_CODE_OK" } else { "STATUS_CODE_ERROR" },
        "resource": {"name": "kluis", "version": env!("CARGO_PKG_VERSION")},
        "attributes": attributes,
    }))
}

/// An access decision as an Authorization Decision Log record, if the entry is one.
pub fn decision(entry: &Entry) -> Option<Value> {
    if entry.action != Action::Read {
        return None;
    }
    let subject = match &entry.department {
        Some(d) => json!({"type": "department", "id": d}),
        None => json!({"type": "unauthenticated"}),
    };
    Some(json!({
        "type": "authorization_decision",
        "id": format!("{}-{}", entry.trace_id, entry.seq),
        "timestamp": entry.time,
        "request": {
            "subject": subject,
            "action": {"name": "read"},
            "resource": {"type": "vault_records", "id": entry.resident, "properties": {"categories": entry.categories}},
            "context": {"grant": entry.grant, "processing_activity": entry.processing_activity, "purpose": entry.purpose, "legal_basis": entry.legal_basis},
        },
        "response": {"decision": entry.outcome == Outcome::Allowed, "context": {"reason": entry.reason}},
        "policy": {"id": entry.policy},
        "trace_id": entry.trace_id,
        "span_id": entry.span_id,
    }))
}
