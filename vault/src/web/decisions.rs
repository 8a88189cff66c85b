//! Deciding who may see what: open requests (approve all, approve some, decline), the
//! grants I gave, and withdrawing one, which is as easy as giving it (GDPR art. 7(3)).

use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::Error;
use crate::http::extract::{ApiPath, Ctx};
use crate::language::{Texts, stories};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use kluis_proto::consent::{Approval, GrantState, GrantView, ProcessingActivity, RequestView};
use uuid::Uuid;

/// An open request, as the resident reads it.
pub struct RequestCard {
    /// Its id (for the link and the forms).
    pub id: Uuid,
    /// Who asks.
    pub department: String,
    /// The activity's name.
    pub activity: String,
    /// Why, in the department's words (at most 15 words).
    pub purpose: String,
    /// The longer explanation, folded under "Meer uitleg"; may be empty.
    pub explanation: String,
    /// The law and article it rests on.
    pub law: String,
    /// The parts asked for: (id, label).
    pub categories: Vec<(String, String)>,
    /// Of those, the parts the department fills in for the resident, by label.
    pub writes: Vec<String>,
    /// Until when a yes would last.
    pub until: String,
    /// How long the department keeps what it reads, in words.
    pub kept: String,
    /// What happens after a no.
    pub if_no: String,
    /// How to reach a person; may be empty for activities registered before it was asked.
    pub contact: String,
    /// What happens after a yes; may be empty likewise.
    pub next_step: String,
    /// When it was asked.
    pub asked_on: String,
    /// Who is responsible, to whom the data goes, the data protection officer.
    pub notice: super::privacy::PrivacyNotice,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    page: Page,
    requests: Vec<RequestCard>,
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    page: Page,
    request: RequestCard,
    /// The first line: who asks what.
    lead: String,
    /// What is wrong with the last answer to it, if anything.
    error: Option<&'static str>,
}

/// A request or grant id from the path; anything else is simply not found.
pub(super) fn parse_id(raw: &str, t: Texts) -> Result<Uuid, PortalError> {
    raw.parse()
        .map_err(|_| Error::NotFound("request or grant"))
        .or_page(t)
}

fn law(activity: &ProcessingActivity) -> String {
    format!(
        "{}, {}",
        activity.legal_basis.law, activity.legal_basis.article
    )
}

fn card(request: RequestView, state: &AppState, t: Texts) -> RequestCard {
    let until = state.clock.now() + chrono::TimeDelta::days(i64::from(request.duration_days));
    let activity = request.processing_activity;
    let notice = super::privacy::notice(state, &request.department, &activity, t);
    let if_no = if activity.if_no.trim().is_empty() {
        t.get("requests.no_consequence").to_owned()
    } else {
        activity.if_no.clone()
    };
    RequestCard {
        id: request.id,
        department: request.department.name,
        law: law(&activity),
        activity: activity.name,
        purpose: activity.purpose,
        explanation: activity.explanation,
        writes: request
            .categories
            .iter()
            .filter(|c| activity.writes.contains(&c.id))
            .map(|c| t.language.pick(&c.label_nl, &c.label_en).to_owned())
            .collect(),
        categories: request
            .categories
            .into_iter()
            .map(|c| {
                let label = t.language.pick(c.label_nl, c.label_en);
                (c.id, label)
            })
            .collect(),
        until: t.date(until),
        kept: stories::days(activity.retention_days, t),
        if_no,
        contact: activity.contact,
        next_step: activity.next_step,
        asked_on: t.date(request.requested_at),
        notice,
    }
}

/// The open requests, one line each, each a link to its own page.
pub async fn requests(
    State(state): State<AppState>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let requests: Vec<RequestCard> = state
        .consent
        .resident_requests(me.id, false)
        .await
        .or_page(t)?
        .into_iter()
        .map(|r| card(r, &state, t))
        .collect();
    Ok(render(
        &RequestsPage {
            page: me.page(&state, t.get("requests.title"), "requests"),
            requests,
        },
        StatusCode::OK,
    ))
}

/// One open request with everything needed to decide, and the three answers.
pub async fn request(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let id = parse_id(&id, me.texts)?;
    request_page(&state, &me, id, None).await
}

async fn request_page(
    state: &AppState,
    me: &Resident,
    id: Uuid,
    error: Option<&'static str>,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let request = state
        .consent
        .resident_requests(me.id, false)
        .await
        .or_page(t)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(Error::NotFound("request"))
        .or_page(t)?;
    let request = card(request, state, t);
    let lead = t.fill("request.lead", &[("department", &request.department)]);
    let mut page = me.page(state, &request.activity, "requests");
    let status = if error.is_some() {
        page.alert = Some(t.get("edit.error_title_prefix"));
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(
        &RequestPage {
            page,
            request,
            lead,
            error,
        },
        status,
    ))
}

/// Approves a request: all of it, or the categories ticked.
pub async fn approve(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let id = parse_id(&id, me.texts)?;
    let t = me.texts;
    let form = me.form(&state, request).await?;
    let some = form.iter().any(|(k, v)| k == "scope" && v == "some");
    let chosen: Vec<String> = form
        .into_iter()
        .filter(|(k, _)| k == "category")
        .map(|(_, v)| v)
        .collect();
    if some && chosen.is_empty() {
        return request_page(&state, &me, id, Some(t.get("requests.choose_one"))).await;
    }
    let approval = Approval {
        categories: some.then_some(chosen),
        duration_days: None,
    };
    state
        .consent
        .approve(&context, me.id, id, &approval)
        .await
        .or_page(t)?;
    Ok(see_other(if some {
        "/portal/requests?done=approved_part"
    } else {
        "/portal/requests?done=approved"
    }))
}

/// Declines a request.
pub async fn decline(
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
        .decline(&context, me.id, id)
        .await
        .or_page(me.texts)?;
    Ok(see_other("/portal/requests?done=declined"))
}

/// A grant, as the resident reads it.
pub struct GrantCard {
    /// Its id.
    pub id: Uuid,
    /// Who may see.
    pub department: String,
    /// For what.
    pub activity: String,
    /// Why, in the department's words.
    pub purpose: String,
    /// The law and article.
    pub law: String,
    /// What, by label.
    pub categories: Vec<String>,
    /// Since when.
    pub since: String,
    /// Until when (or when it ended).
    pub until: String,
    /// Active, withdrawn, expired, paused.
    pub state: &'static str,
    /// While paused: since when and why, in a sentence.
    pub paused: Option<String>,
}

pub(super) fn grant_card(grant: GrantView, t: Texts) -> GrantCard {
    let labels: Vec<String> = grant
        .categories
        .into_iter()
        .map(|c| t.language.pick(c.label_nl, c.label_en))
        .collect();
    let state = match grant.state {
        GrantState::Active => "grants.state_active",
        GrantState::Revoked => "grants.state_revoked",
        GrantState::Expired => "grants.state_expired",
        GrantState::NotYetValid => "grants.state_later",
        GrantState::Paused => "grants.state_paused",
    };
    let paused = grant.paused.map(|p| {
        t.fill(
            "grants.paused_since",
            &[
                ("date", &t.date(p.since)),
                ("reason", super::pauses::reason_label(p.reason, t)),
            ],
        )
    });
    GrantCard {
        id: grant.id,
        department: grant.department.name,
        activity: grant.processing_activity.name.clone(),
        purpose: grant.processing_activity.purpose.clone(),
        law: law(&grant.processing_activity),
        categories: labels,
        since: t.date(grant.issued_at),
        until: t.date(grant.revoked_at.unwrap_or(grant.expires_at)),
        state: t.get(state),
        paused,
    }
}

#[derive(Template)]
#[template(path = "grants.html")]
struct GrantsPage {
    page: Page,
    active: Vec<GrantCard>,
    ended: Vec<GrantCard>,
}

/// The grants I gave: who may see what, until when; and those that ended.
pub async fn grants(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    let t = me.texts;
    let (active, ended): (Vec<GrantView>, Vec<GrantView>) = state
        .consent
        .resident_grants(me.id)
        .await
        .or_page(t)?
        .into_iter()
        .partition(|g| {
            matches!(
                g.state,
                GrantState::Active | GrantState::NotYetValid | GrantState::Paused
            )
        });
    Ok(render(
        &GrantsPage {
            page: me.page(&state, t.get("grants.title"), "grants"),
            active: active.into_iter().map(|g| grant_card(g, t)).collect(),
            ended: ended.into_iter().map(|g| grant_card(g, t)).collect(),
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "revoke.html")]
struct RevokePage {
    page: Page,
    grant: GrantCard,
    consequence: String,
}

/// What withdrawing this grant will do, and the button that does it.
pub async fn confirm_revoke(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let id = parse_id(&id, me.texts)?;
    let t = me.texts;
    let grant = state
        .consent
        .resident_grants(me.id)
        .await
        .or_page(t)?
        .into_iter()
        .find(|g| {
            g.id == id
                && matches!(
                    g.state,
                    GrantState::Active | GrantState::NotYetValid | GrantState::Paused
                )
        })
        .ok_or(Error::NotFound("grant"))
        .or_page(t)?;
    let grant = grant_card(grant, t);
    let consequence = t.fill("revoke.consequence", &[("department", &grant.department)]);
    Ok(render(
        &RevokePage {
            page: me.page(&state, t.get("revoke.title"), "grants"),
            grant,
            consequence,
        },
        StatusCode::OK,
    ))
}

/// Withdraws the grant: the department's next read is refused.
pub async fn revoke(
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
        .revoke(&context, me.id, id)
        .await
        .or_page(me.texts)?;
    Ok(see_other("/portal/grants?done=revoked"))
}
