//! "Wat is er gebeurd?": the life-event flow in the portal. Pick what happened (this
//! file), answer one question per screen and save (`questions`), then choose who may help
//! (this file). A forged share is refused by the domain with nothing changed.

use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::http::extract::{ApiPath, Ctx};
use crate::language::{Texts, stories};
use crate::life_events::catalogue::LifeEvent;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

/// An event on the list.
pub struct EventItem {
    /// Its id.
    pub id: String,
    /// What happened.
    pub title: String,
    /// One sentence more.
    pub description: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    page: Page,
    events: Vec<EventItem>,
}

/// Every life event to start from.
pub async fn list(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    let t = me.texts;
    let events = state
        .life_events
        .events()
        .iter()
        .map(|e| EventItem {
            id: e.id.clone(),
            title: e.title.get(t.language).to_owned(),
            description: e.description.get(t.language).to_owned(),
        })
        .collect();
    Ok(render(
        &EventsPage {
            page: me.page(&state, t.get("events.title"), "overview"),
            events,
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "event_start.html")]
struct StartPage {
    page: Page,
    id: String,
    description: String,
}

/// What will happen, and the button that starts the questions.
pub async fn start(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let event = state.life_events.event(&id).or_page(t)?;
    Ok(render(
        &StartPage {
            page: me.page(&state, event.title.get(t.language), "overview"),
            id,
            description: event.description.get(t.language).to_owned(),
        },
        StatusCode::OK,
    ))
}

/// A department that can help, as the resident reads it.
pub struct HelperCard {
    /// Its id (the checkbox's value).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Why it would look: its purpose.
    pub purpose: String,
    /// The law that allows it.
    pub law: String,
    /// What it would see.
    pub categories: Vec<String>,
    /// How long it may look.
    pub duration: String,
    /// How long it keeps what it reads.
    pub retention: String,
    /// Who is responsible, to whom the data goes, the data protection officer.
    pub notice: super::privacy::PrivacyNotice,
}

/// A tip, or help in the neighbourhood.
pub struct Tip {
    /// Its title or name.
    pub title: String,
    /// What it is.
    pub text: String,
    /// A link, or how to reach it.
    pub reach: String,
    /// Whether `reach` is a link.
    pub link: bool,
}

#[derive(Template)]
#[template(path = "event_help.html")]
struct HelpPage {
    page: Page,
    id: String,
    helpers: Vec<HelperCard>,
    tips: Vec<Tip>,
    neighbours: Vec<Tip>,
}

/// "Wie kan u helpen?": the departments that can help, what each would see, why and for
/// how long; what the resident can do themselves; help in the neighbourhood.
pub async fn help(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let event = state.life_events.event(&id).or_page(t)?.clone();
    let helpers = state.life_events.helpers(&id).await.or_page(t)?;
    let helpers = helpers
        .into_iter()
        .map(|h| HelperCard {
            notice: super::privacy::notice(&state, &h.department, &h.activity, t),
            id: h.department.id,
            name: h.department.name,
            purpose: h.activity.purpose.trim_end().to_owned(),
            law: format!(
                "{}, {}",
                h.activity.legal_basis.law, h.activity.legal_basis.article
            ),
            categories: h
                .categories
                .iter()
                .map(|c| t.language.pick(&c.label_nl, &c.label_en).clone())
                .collect(),
            duration: stories::days(h.duration_days, t),
            retention: stories::days(h.activity.retention_days, t),
        })
        .collect();
    Ok(render(
        &HelpPage {
            page: me.page(&state, t.get("help.title"), "overview"),
            id,
            helpers,
            tips: tips(&event, t),
            neighbours: neighbours(&event, t),
        },
        StatusCode::OK,
    ))
}

fn tips(event: &LifeEvent, t: Texts) -> Vec<Tip> {
    event
        .self_help
        .iter()
        .map(|h| Tip {
            title: h.title.get(t.language).to_owned(),
            text: h.text.get(t.language).to_owned(),
            reach: h.url.clone(),
            link: true,
        })
        .collect()
}

fn neighbours(event: &LifeEvent, t: Texts) -> Vec<Tip> {
    event
        .neighbourhood
        .iter()
        .map(|n| Tip {
            title: n.name.clone(),
            text: n.what.get(t.language).to_owned(),
            reach: n.contact.clone(),
            link: false,
        })
        .collect()
}

/// Shares with the departments ticked, in one step.
pub async fn share(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let form = me.form(&state, request).await?;
    let departments: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "share")
        .map(|(_, v)| v.clone())
        .collect();
    if departments.is_empty() {
        return Ok(see_other("/portal?done=nothing_shared"));
    }
    state
        .life_events
        .share(&context, me.id, &id, &departments)
        .await
        .or_page(t)?;
    Ok(see_other("/portal/cases?done=shared"))
}
