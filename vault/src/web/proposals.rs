//! "Uw coach stelt voor:": a coach's proposed change, the old and new values side by
//! side; the resident takes it over (stored as their own new version) or not.

use super::records::blocks_of;
use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::http::extract::{ApiPath, Ctx};
use crate::language::Texts;
use crate::residents::fields::Field;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use uuid::Uuid;

/// One line of the comparison.
pub struct Row {
    /// What ("Schuld 1: Bedrag").
    pub label: String,
    /// As stored now ("" when empty).
    pub now: String,
    /// As proposed.
    pub proposed: String,
    /// Whether the two differ.
    pub changed: bool,
}

/// The facts of a record as (label, value), each under its block's heading.
fn lines(fields: &[Field], data: &Value, t: Texts) -> Vec<(String, String)> {
    blocks_of(fields, data, t)
        .into_iter()
        .flat_map(|block| {
            let heading = block.heading.clone();
            block.facts.into_iter().map(move |(label, value)| {
                let label = match &heading {
                    Some(h) => format!("{h}: {label}"),
                    None => label,
                };
                (label, value)
            })
        })
        .collect()
}

/// The old and new records side by side, in the proposal's order, with lines that only
/// the old one has at the end.
pub fn compare(fields: &[Field], now: &Value, proposed: &Value, t: Texts) -> Vec<Row> {
    let old = lines(fields, now, t);
    let new = lines(fields, proposed, t);
    let mut rows: Vec<Row> = new
        .iter()
        .map(|(label, value)| {
            let before = old
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            // An unticked box the record never held is "no" either way.
            let same = &before == value || (before.is_empty() && value == t.get("no"));
            Row {
                label: label.clone(),
                changed: !same,
                now: before,
                proposed: value.clone(),
            }
        })
        .collect();
    for (label, value) in old {
        if !new.iter().any(|(l, _)| *l == label) {
            rows.push(Row {
                label,
                now: value,
                proposed: String::new(),
                changed: true,
            });
        }
    }
    rows
}

#[derive(Template)]
#[template(path = "proposal.html")]
struct ProposalPage {
    page: Page,
    id: Uuid,
    intro: String,
    rows: Vec<Row>,
}

/// One proposal: what changes, and the two buttons.
pub async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let proposal = state.coaching.proposal(me.id, id).await.or_page(t)?;
    let category = state
        .residents
        .catalogue()
        .get(&proposal.row.category)
        .or_page(t)?;
    let now = proposal
        .current
        .as_ref()
        .map_or(Value::Null, |r| r.data.clone());
    let rows = compare(&category.fields, &now, &proposal.proposed, t);
    let label = category.label(t.language);
    let page = me.page(&state, t.get("proposal.title"), "overview");
    Ok(render(
        &ProposalPage {
            page,
            id,
            intro: t.fill(
                "proposal.intro",
                &[("coach", &proposal.coach.name), ("category", label)],
            ),
            rows,
        },
        StatusCode::OK,
    ))
}

/// Takes the proposal over as the resident's own new version.
pub async fn confirm(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<Uuid>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    let category = state
        .coaching
        .proposal(me.id, id)
        .await
        .or_page(t)?
        .row
        .category;
    state
        .coaching
        .confirm(&context, me.id, id)
        .await
        .or_page(t)?;
    Ok(see_other(&format!(
        "/portal/records/{category}?done=proposal_confirmed"
    )))
}

/// Declines the proposal: nothing is stored.
pub async fn decline(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<Uuid>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    state
        .coaching
        .decline(&context, me.id, id)
        .await
        .or_page(t)?;
    Ok(see_other("/portal?done=proposal_declined"))
}
