//! One read in "Wie keek er": asking the department to delete what it read then ("Vraag om
//! te wissen", GDPR art. 17(2)), and how to complain about it, with the read's reference.

use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::consent::history::HistoryItem;
use crate::http::extract::{ApiPath, Ctx};
use crate::language::stories::Story;
use crate::state::AppState;
use crate::{Error, audit::entry::Action, audit::entry::Outcome};
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

/// The read as the page shows it.
struct ReadView {
    seq: u64,
    lead: String,
    labels: Vec<String>,
}

/// The resident's allowed read at `seq`, with its department's id, from their history.
async fn own_read(
    state: &AppState,
    me: &Resident,
    seq: &str,
) -> Result<(HistoryItem, String), PortalError> {
    let t = me.texts;
    let seq: u64 = seq
        .parse()
        .map_err(|_| Error::NotFound("read"))
        .or_page(t)?;
    let coaches = state.coaching.coaches().names().await.or_page(t)?;
    let (_, items) = state
        .consent
        .resident_history(me.id, &coaches, t)
        .await
        .or_page(t)?;
    items
        .into_iter()
        .find(|i| i.seq == seq && i.action == Action::Read && i.outcome == Outcome::Allowed)
        .and_then(|i| {
            let department = i.department.as_ref()?.id.clone();
            Some((i, department))
        })
        .ok_or(Error::NotFound("read"))
        .or_page(t)
}

fn view(item: &HistoryItem, story: Story, t: crate::language::Texts) -> ReadView {
    ReadView {
        seq: item.seq,
        lead: t.fill(
            "read_erasure.when",
            &[
                ("department", department_name(item)),
                ("date", &t.date_time(item.time)),
            ],
        ),
        labels: story.labels,
    }
}

fn department_name(item: &HistoryItem) -> &str {
    item.department.as_ref().map_or("", |d| d.name.as_str())
}

#[derive(Template)]
#[template(path = "read_erasure.html")]
struct ErasurePage {
    page: Page,
    read: ReadView,
    sent: String,
    consequence: String,
    law: String,
    you_see_it: String,
    button: String,
}

/// What asking for this read's erasure does, and the button that asks.
pub async fn confirm_erasure(
    State(state): State<AppState>,
    ApiPath(seq): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let (item, _) = own_read(&state, &me, &seq).await?;
    if item.erasure.is_some() {
        return Err(Error::Conflict("you asked already")).or_page(t);
    }
    let name = department_name(&item).to_owned();
    let fill = |key: &str| t.fill(key, &[("department", &name)]);
    Ok(render(
        &ErasurePage {
            page: me.page(&state, t.get("read_erasure.title"), "history"),
            sent: fill("read_erasure.sent"),
            consequence: fill("read_erasure.consequence"),
            law: fill("read_erasure.law"),
            you_see_it: fill("read_erasure.you_see_it"),
            button: fill("read_erasure.button"),
            read: view(&item, item.story.clone(), t),
        },
        StatusCode::OK,
    ))
}

/// Sends the department the erasure request for this read.
pub async fn ask_erasure(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(seq): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    let (item, _) = own_read(&state, &me, &seq).await?;
    state
        .consent
        .ask_erasure_of_read(&context, me.id, item.seq)
        .await
        .or_page(t)?;
    Ok(see_other("/portal/history?done=erasure_asked"))
}

#[derive(Template)]
#[template(path = "read_complaint.html")]
struct ComplaintPage {
    page: Page,
    read: ReadView,
    contact: String,
    reference: String,
}

/// How to complain about this read: whom to contact, the reference to give, the
/// Autoriteit Persoonsgegevens.
pub async fn complaint(
    State(state): State<AppState>,
    ApiPath(seq): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let (item, department) = own_read(&state, &me, &seq).await?;
    let officer = state
        .consent
        .departments()
        .await
        .or_page(t)?
        .into_iter()
        .find(|d| d.id == department)
        .map(|d| d.privacy_officer)
        .unwrap_or_default();
    let reference = state.residents.audit_reference(me.id);
    let code = crate::audit::complaint::complaint_code(&reference).unwrap_or(reference);
    Ok(render(
        &ComplaintPage {
            page: me.page(&state, t.get("complaint.title"), "history"),
            contact: t.fill(
                "complaint.contact",
                &[
                    ("department", department_name(&item)),
                    ("officer", &officer),
                ],
            ),
            reference: format!("{code} / {}", item.seq),
            read: view(&item, item.story.clone(), t),
        },
        StatusCode::OK,
    ))
}
