//! The log in the shape of the Dutch government's logging standards.
//!
//! - **Logboek Dataverwerkingen** (Logius): one record per processing of personal data
//!   about one data subject, as an OpenTelemetry-style span: `trace_id`, `span_id`,
//!   `parent_span_id`, `name`, `start_time`, `end_time`, `status_code`, and attributes
//!   `dpl.core.processing_activity_id`, `dpl.core.data_subject_id` (a pseudonym) and
//!   `dpl.core.data_subject_id_type`.
//! - **Authorization Decision Log** (Logius ADL 1.0.0, after OpenID AuthZEN): each access
//!   decision as a span-like record whose body holds the AuthZEN request (subject, action,
//!   resource, context) and response (decision, reason), with the policy that decided.
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

/// An access decision as an Authorization Decision Log record (ADL 1.0.0), if the entry is
/// one: a span-like record (`trace_id`, `span_id`, `event_name`, `timestamp` in
/// milliseconds, `status`) whose body holds the AuthZEN request and response. A refusal is
/// a decision too (`status` `Unset`: the evaluation ran; `Error` is for a PDP that could
/// not decide, which fails closed before anything is logged as a read).
pub fn decision(entry: &Entry) -> Option<Value> {
    if entry.action != Action::Read {
        return None;
    }
    let subject = match &entry.department {
        Some(d) => json!({"type": "department", "id": d}),
        None => json!({"type": "unauthenticated", "id": "anonymous"}),
    };
    let mut attributes = json!({"kluis.audit.seq": entry.seq});
    if let Some(resident) = &entry.resident {
        attributes["dpl.core.data_subject_id"] = json!(resident);
    }
    if let Some(policy) = &entry.policy {
        attributes["adl.core.policies"] = json!({"kluis": policy});
    }
    // One entry may count a minute's unattributed refusals from one source (`audit::tally`):
    // the record says so, with the counts per reason.
    if let Some(reasons) = entry.details.get("reasons") {
        attributes["kluis.counted_reasons"] = json!(reasons);
    }
    let mut context = serde_json::Map::new();
    if let Some(grant) = entry.grant {
        context.insert("grant".into(), json!(grant));
    }
    if let Some(activity) = &entry.processing_activity {
        context.insert("processing_activity".into(), json!(activity));
    }
    if let Some(purpose) = &entry.purpose {
        context.insert("purpose".into(), json!(purpose));
    }
    if let Some(basis) = &entry.legal_basis {
        context.insert("legal_basis".into(), json!(basis));
    }
    let mut response = json!({"decision": entry.outcome == Outcome::Allowed});
    if let Some(reason) = &entry.reason {
        response["context"] = json!({"reason": reason});
    }
    let mut record = json!({
        "trace_id": entry.trace_id,
        "span_id": entry.span_id,
        "event_name": "adl.access_evaluation",
        "timestamp": entry.time.timestamp_millis(),
        "status": "Unset",
        "attributes": attributes,
        "body": {
            "adl.core.request": {
                "subject": subject,
                "action": {"name": "read"},
                "resource": {
                    "type": "vault_records",
                    "id": entry.resident.as_deref().unwrap_or("unknown"),
                    "properties": {"categories": entry.categories},
                },
                "context": context,
            },
            "adl.core.response": response,
        },
        "resource": {"name": "kluis", "version": env!("CARGO_PKG_VERSION")},
    });
    if let Some(parent) = &entry.parent_span_id {
        record["parent_span_id"] = json!(parent);
    }
    Some(record)
}
