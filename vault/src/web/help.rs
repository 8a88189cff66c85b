//! "Ik wil hulp van mijn coach" (a link on every page of the portal): the resident picks a
//! reason from a fixed list, and every coach who looks along now sees it first.

use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::http::extract::Ctx;
use crate::language::Texts;
use crate::state::AppState;
use crate::store::HelpReason;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;

/// A reason to ask for help, for the form.
struct Reason {
    value: &'static str,
    label: &'static str,
}

const REASONS: [(HelpReason, &str, &str); 5] = [
    (
        HelpReason::Understand,
        "understand",
        "coach_help.reason_understand",
    ),
    (HelpReason::FillIn, "fill_in", "coach_help.reason_fill_in"),
    (HelpReason::Request, "request", "coach_help.reason_request"),
    (HelpReason::Urgent, "urgent", "coach_help.reason_urgent"),
    (HelpReason::Call, "call", "coach_help.reason_call"),
];

/// The words of a help reason.
pub fn reason_text(reason: HelpReason, t: Texts) -> &'static str {
    let key = REASONS
        .iter()
        .find(|(r, _, _)| *r == reason)
        .map_or("coach_help.reason_call", |(_, _, key)| key);
    t.get(key)
}

#[derive(Template)]
#[template(path = "coach_help.html")]
struct HelpPage {
    page: Page,
    has_coach: bool,
    reasons: Vec<Reason>,
    errors: Vec<(String, String)>,
}

async fn help_page(
    state: &AppState,
    me: &Resident,
    errors: Vec<(String, String)>,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let has_coach = !state
        .coaching
        .of_resident(me.id)
        .await
        .or_page(t)?
        .is_empty();
    let mut page = me.page(state, t.get("coach_help.title"), "coach");
    let status = page.answering(!errors.is_empty());
    let reasons = REASONS
        .iter()
        .map(|(_, value, key)| Reason {
            value,
            label: t.get(key),
        })
        .collect();
    Ok(render(
        &HelpPage {
            page,
            has_coach,
            reasons,
            errors,
        },
        status,
    ))
}

/// "Ik wil hulp van mijn coach": why, from a fixed list.
pub async fn help(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    help_page(&state, &me, Vec::new()).await
}

/// Sends the help signal to every coach who looks along now.
pub async fn ask_help(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let pairs = me.form(&state, request).await?;
    let chosen = pairs
        .iter()
        .find(|(k, _)| k == "reason")
        .and_then(|(_, v)| {
            REASONS
                .iter()
                .find(|(_, value, _)| value == v)
                .map(|(reason, _, _)| *reason)
        });
    let Some(reason) = chosen else {
        let errors = vec![(
            "reason-understand".to_owned(),
            t.get("coach_help.no_reason").to_owned(),
        )];
        return help_page(&state, &me, errors).await;
    };
    state
        .coaching
        .ask_help(&context, me.id, reason)
        .await
        .or_page(t)?;
    Ok(see_other("/portal/coach?done=help_asked"))
}
