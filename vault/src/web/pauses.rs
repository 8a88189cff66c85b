//! Pausing a grant for a while ("tijdelijk stoppen", GDPR art. 18): a page that says what a
//! pause does and asks why, and one button on the grants page that lets it go on.

use super::decisions::{GrantCard, grant_card, parse_id};
use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::Error;
use crate::http::extract::{ApiPath, Ctx};
use crate::language::Texts;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use kluis_proto::consent::{GrantState, PauseReason};
use uuid::Uuid;

/// The resident's words for a reason.
pub fn reason_label(reason: PauseReason, t: Texts) -> &'static str {
    t.get(match reason {
        PauseReason::DataIncorrect => "pause.reason_data_incorrect",
        PauseReason::UseDisputed => "pause.reason_use_disputed",
        PauseReason::NeededForClaim => "pause.reason_needed_for_claim",
        PauseReason::ObjectionMade => "pause.reason_objection_made",
        PauseReason::Other => "pause.reason_other",
    })
}

#[derive(Template)]
#[template(path = "pause.html")]
struct PausePage {
    page: Page,
    grant: GrantCard,
    /// What a pause does, filled with the department's name.
    consequence: String,
    /// (wire name, label) of every reason.
    reasons: Vec<(&'static str, &'static str)>,
    /// (element id, message) of each mistake.
    errors: Vec<(String, String)>,
}

async fn pause_page(
    state: &AppState,
    me: &Resident,
    id: Uuid,
    errors: Vec<(String, String)>,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let grant = state
        .consent
        .resident_grants(me.id)
        .await
        .or_page(t)?
        .into_iter()
        .find(|g| g.id == id && matches!(g.state, GrantState::Active | GrantState::NotYetValid))
        .ok_or(Error::NotFound("grant"))
        .or_page(t)?;
    let grant = grant_card(grant, t);
    let consequence = t.fill("pause.consequence", &[("department", &grant.department)]);
    let mut page = me.page(state, t.get("pause.title"), "grants");
    let status = page.answering(!errors.is_empty());
    Ok(render(
        &PausePage {
            page,
            grant,
            consequence,
            reasons: PauseReason::ALL
                .into_iter()
                .map(|r| (r.as_str(), reason_label(r, t)))
                .collect(),
            errors,
        },
        status,
    ))
}

/// What pausing this grant does, and the reasons to choose from.
pub async fn confirm_pause(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let id = parse_id(&id, me.texts)?;
    pause_page(&state, &me, id, Vec::new()).await
}

/// Pauses the grant: the department's next read is refused until the resident resumes it.
pub async fn pause(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let id = parse_id(&id, me.texts)?;
    let form = me.form(&state, request).await?;
    let chosen = form
        .iter()
        .find(|(k, _)| k == "reason")
        .and_then(|(_, v)| PauseReason::parse(v));
    let Some(reason) = chosen else {
        let message = me.texts.get("pause.reason_missing").to_owned();
        let first = format!("reason-{}", PauseReason::ALL[0].as_str());
        return pause_page(&state, &me, id, vec![(first, message)]).await;
    };
    state
        .consent
        .pause(&context, me.id, id, reason)
        .await
        .or_page(me.texts)?;
    Ok(see_other("/portal/grants?done=paused"))
}

/// Lets a paused grant go on: one button, no questions.
pub async fn resume(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let id = parse_id(&id, me.texts)?;
    me.form(&state, request).await?;
    state
        .consent
        .resume(&context, me.id, id)
        .await
        .or_page(me.texts)?;
    Ok(see_other("/portal/grants?done=resumed"))
}
