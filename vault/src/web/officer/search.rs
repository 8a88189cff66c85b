//! "Zoeken in het logboek": the log's entries that match what the officer fills in, fifty
//! at a time. A resident is found by their audit reference or complaint code, by a
//! department's reference (that department's own number for them), or by BSN through its
//! keyed hash; the log records the lookup and the filter as kinds and ids only.
//!
//! The form is a GET form, so a search is a link the officer can keep (the BSN search is a
//! post of its own: [`super::bsn`]). A field that cannot be read is named with its fix,
//! and nothing is searched or logged.

use super::Officer;
use crate::Error;
use crate::audit::Filter;
use crate::audit::entry::{Action, Entry, Outcome};
use crate::http::extract::{ApiQuery, Ctx};
use crate::state::AppState;
use crate::web::form::dutch;
use crate::web::{Page, render};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{NaiveDate, TimeDelta};
use serde::Deserialize;

/// Entries per page.
const PAGE_SIZE: usize = 50;

/// The search form as sent (every field text, as typed).
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct SearchForm {
    department: String,
    reference: String,
    resident: String,
    grant: String,
    purpose: String,
    action: String,
    outcome: String,
    from: String,
    to: String,
    coach: String,
    cursor: Option<u64>,
}

impl SearchForm {
    fn is_empty(&self) -> bool {
        [
            &self.department,
            &self.reference,
            &self.resident,
            &self.grant,
            &self.purpose,
            &self.action,
            &self.outcome,
            &self.from,
            &self.to,
            &self.coach,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    }

    /// The query string of this search from `cursor` on.
    fn href_from(&self, cursor: u64) -> String {
        let mut query = Vec::new();
        for (name, value) in [
            ("department", &self.department),
            ("reference", &self.reference),
            ("resident", &self.resident),
            ("grant", &self.grant),
            ("purpose", &self.purpose),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
            ("coach", &self.coach),
        ] {
            if !value.trim().is_empty() {
                let value = percent_encoding::utf8_percent_encode(
                    value.trim(),
                    percent_encoding::NON_ALPHANUMERIC,
                );
                query.push(format!("{name}={value}"));
            }
        }
        query.push(format!("cursor={cursor}"));
        format!("/officer/search?{}", query.join("&"))
    }
}

/// A field that could not be read: its id and the message key of its fix.
pub(super) struct Mistake {
    pub(super) field: &'static str,
    pub(super) message: &'static str,
}

/// One entry as a row of the results table.
struct Row {
    seq: u64,
    time: String,
    action: &'static str,
    outcome: String,
    department: String,
    categories: String,
    activity: String,
    grant: String,
    reason: String,
}

impl Row {
    fn of(entry: &Entry, texts: crate::language::Texts) -> Row {
        let outcome = serde_json::to_value(entry.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Row {
            seq: entry.seq,
            time: texts.date_time(entry.time),
            action: entry.action.as_str(),
            outcome,
            department: entry.department.clone().unwrap_or_default(),
            categories: entry.categories.join(", "),
            activity: entry
                .processing_activity
                .as_ref()
                .map(|a| a.id.clone())
                .unwrap_or_default(),
            grant: entry.grant.map(|g| g.to_string()).unwrap_or_default(),
            reason: entry.reason.clone().unwrap_or_default(),
        }
    }
}

/// A field of the form as shown: label, hint, what was typed, its fix if it is wrong.
struct FieldView {
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
    error: Option<&'static str>,
    /// The choices of a drop-down (the first is "any"); empty for a text box.
    options: Vec<String>,
}

impl FieldView {
    /// The ids the field's `aria-describedby` names.
    fn described_by(&self) -> String {
        match self.error {
            Some(_) => format!("{0}-hint {0}-error", self.id),
            None => format!("{}-hint", self.id),
        }
    }
}

#[derive(Template)]
#[template(path = "officer_search.html")]
struct SearchPage {
    page: Page,
    fields: Vec<FieldView>,
    /// The error summary: (field id, fix).
    errors: Vec<(&'static str, &'static str)>,
    /// The fix of the BSN search, if it failed.
    bsn_error: Option<&'static str>,
    /// `None` before a search; the rows found otherwise.
    rows: Option<Vec<Row>>,
    next: Option<String>,
    tree_size: u64,
}

/// The search form, and what it found.
pub async fn search(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    officer: Officer,
    ApiQuery(form): ApiQuery<SearchForm>,
) -> Response {
    if form.is_empty() {
        return show(&state, &officer, &form, Vec::new(), None);
    }
    let (mut filter, mut mistakes) = read(&form);
    let actor = officer.actor();
    let reference = form.reference.trim();
    if mistakes.is_empty() && !reference.is_empty() {
        // The department's own number for a resident: found through that department, then
        // every entry about the resident, with any department.
        match filter.department.take() {
            None => mistakes.push(Mistake {
                field: "department",
                message: "officer.fix_reference_department",
            }),
            Some(department) => {
                match state
                    .desk
                    .lookup(&context, &actor, &department, reference)
                    .await
                {
                    Ok(lookup) => filter.resident = Some(lookup.resident),
                    Err(Error::NotFound(_) | Error::InvalidParameter(_)) => {
                        mistakes.push(Mistake {
                            field: "reference",
                            message: "officer.fix_unknown_resident",
                        })
                    }
                    Err(error) => return officer.error(error),
                }
            }
        }
    }
    if !mistakes.is_empty() {
        return show(&state, &officer, &form, mistakes, None);
    }
    let cursor = form.cursor.unwrap_or(0);
    match state
        .desk
        .page(&context, &actor, &filter, cursor, PAGE_SIZE)
        .await
    {
        Ok(found) => {
            // Later pages name the resident by the reference found, not the department's.
            let mut later = form.clone();
            if !reference.is_empty() {
                later.reference.clear();
                later.department.clear();
                later.resident = filter.resident.clone().unwrap_or_default();
            }
            let results = Results {
                rows: found
                    .entries
                    .iter()
                    .map(|e| Row::of(e, officer.texts))
                    .collect(),
                next: found.next_cursor.map(|next| later.href_from(next)),
                tree_size: found.tree_size,
            };
            show(&state, &officer, &form, Vec::new(), Some(results))
        }
        Err(error) => officer.error(error),
    }
}

/// What a search found.
pub(super) struct Results {
    rows: Vec<Row>,
    next: Option<String>,
    tree_size: u64,
}

/// The search page: the form as typed, its mistakes, and what was found.
pub(super) fn show(
    state: &AppState,
    officer: &Officer,
    form: &SearchForm,
    mistakes: Vec<Mistake>,
    results: Option<Results>,
) -> Response {
    let texts = officer.texts;
    let mut page = officer.page(state, texts.get("officer.search_title"), "officer-search");
    let status = page.answering(!mistakes.is_empty());
    let bsn_error = mistakes
        .iter()
        .find(|m| m.field == "bsn")
        .map(|m| texts.get(m.message));
    let (rows, next, tree_size) = match results {
        Some(r) => (Some(r.rows), r.next, r.tree_size),
        None => (None, None, 0),
    };
    render(
        &SearchPage {
            page,
            fields: fields(form, &mistakes, texts),
            errors: mistakes
                .iter()
                .map(|m| (m.field, texts.get(m.message)))
                .collect(),
            bsn_error,
            rows,
            next,
            tree_size,
        },
        status,
    )
}

/// The filter the form asks for, and every field that could not be read.
fn read(form: &SearchForm) -> (Filter, Vec<Mistake>) {
    let mut mistakes = Vec::new();
    let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let mut filter = Filter {
        resident: text(&form.resident),
        department: text(&form.department),
        coach: text(&form.coach),
        purpose: text(&form.purpose),
        ..Filter::default()
    };
    if let Some(grant) = text(&form.grant) {
        match uuid::Uuid::parse_str(&grant) {
            Ok(id) => filter.grant = Some(id),
            Err(_) => mistakes.push(Mistake {
                field: "grant",
                message: "officer.fix_grant",
            }),
        }
    }
    if let Some(action) = text(&form.action) {
        match Action::ALL.iter().find(|a| a.as_str() == action) {
            Some(a) => filter.action = Some(*a),
            None => mistakes.push(Mistake {
                field: "action",
                message: "officer.fix_choice",
            }),
        }
    }
    if let Some(outcome) = text(&form.outcome) {
        match serde_json::from_value::<Outcome>(serde_json::Value::String(outcome)) {
            Ok(o) => filter.outcome = Some(o),
            Err(_) => mistakes.push(Mistake {
                field: "outcome",
                message: "officer.fix_choice",
            }),
        }
    }
    let day = |value: &str| {
        dutch::date(value).or_else(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
    };
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    for (field, value) in [("from", &form.from), ("to", &form.to)] {
        let Some(value) = text(value) else { continue };
        match day(&value).and_then(midnight) {
            Some(start) if field == "from" => filter.from = Some(start),
            // "to" includes the whole day it names.
            Some(start) if start.checked_add_signed(TimeDelta::days(1)).is_some() => {
                filter.to = start.checked_add_signed(TimeDelta::days(1));
            }
            _ => mistakes.push(Mistake {
                field: if field == "from" { "from" } else { "to" },
                message: "officer.fix_date",
            }),
        }
    }
    if let Some((part, _)) = filter.problem() {
        let (field, message) = match part {
            "resident" => ("resident", "officer.fix_resident"),
            "department" => ("department", "officer.fix_department"),
            "coach" => ("coach", "officer.fix_coach"),
            _ => ("purpose", "officer.fix_text"),
        };
        mistakes.push(Mistake { field, message });
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from >= to
    {
        mistakes.push(Mistake {
            field: "to",
            message: "officer.fix_order",
        });
    }
    (filter, mistakes)
}

/// The form's fields in order: id, label and hint.
const FIELDS: [(&str, &str, &str); 10] = [
    (
        "department",
        "officer.field_department",
        "officer.hint_department",
    ),
    (
        "reference",
        "officer.field_reference",
        "officer.hint_reference",
    ),
    (
        "resident",
        "officer.field_resident",
        "officer.hint_resident",
    ),
    ("grant", "officer.field_grant", "officer.hint_grant"),
    ("purpose", "officer.field_purpose", "officer.hint_purpose"),
    ("action", "officer.field_action", "officer.hint_action"),
    ("outcome", "officer.field_outcome", "officer.hint_outcome"),
    ("from", "officer.field_from", "officer.hint_date"),
    ("to", "officer.field_to", "officer.hint_date"),
    ("coach", "officer.field_coach", "officer.hint_coach"),
];

/// The form's fields, with what was typed and each field's fix.
fn fields(
    form: &SearchForm,
    mistakes: &[Mistake],
    texts: crate::language::Texts,
) -> Vec<FieldView> {
    let outcomes = [
        Outcome::Allowed,
        Outcome::Refused,
        Outcome::Approved,
        Outcome::Declined,
        Outcome::Done,
    ]
    .iter()
    .filter_map(|o| serde_json::to_value(o).ok()?.as_str().map(str::to_owned));
    let any = || std::iter::once(String::new());
    let actions = any().chain(Action::ALL.iter().map(|a| a.as_str().to_owned()));
    let choices = |id| match id {
        "action" => actions.clone().collect(),
        "outcome" => any().chain(outcomes.clone()).collect(),
        _ => Vec::new(),
    };
    let value = |id| match id {
        "department" => &form.department,
        "reference" => &form.reference,
        "resident" => &form.resident,
        "grant" => &form.grant,
        "purpose" => &form.purpose,
        "action" => &form.action,
        "outcome" => &form.outcome,
        "from" => &form.from,
        "to" => &form.to,
        _ => &form.coach,
    };
    FIELDS
        .into_iter()
        .map(|(id, label, hint)| FieldView {
            id,
            label: texts.get(label),
            hint: texts.get(hint),
            value: value(id).trim().to_owned(),
            error: mistakes
                .iter()
                .find(|m| m.field == id)
                .map(|m| texts.get(m.message)),
            options: choices(id),
        })
        .collect()
}
