//! Witness statements on the pages: the coach approves a pending request on the
//! resident's behalf, saying how the resident said yes; the resident sees it on their
//! home page and answers "Dit klopt" or "Dit klopt niet" (which stops the permission).

use super::coach::Coach;
use super::{OrPage, Page, PortalError, Resident, read_form, render, see_other};
use crate::Error;
use crate::http::extract::{ApiPath, Ctx};
use crate::language::{Texts, stories};
use crate::state::AppState;
use crate::store::WitnessRow;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kluis_proto::coaching::Channel;
use uuid::Uuid;

/// The channels, as the form offers them: value, message key.
const CHANNELS: [(Channel, &str, &str); 3] = [
    (Channel::Phone, "phone", "witness.channel_phone"),
    (Channel::Desk, "desk", "witness.channel_desk"),
    (Channel::Video, "video", "witness.channel_video"),
];

#[derive(Template)]
#[template(path = "coach_witness.html")]
struct WitnessPage {
    page: Page,
    action: String,
    back: String,
    summary: String,
    special: bool,
    channels: Vec<(&'static str, &'static str)>,
    errors: Vec<(String, String)>,
}

async fn witness_page(
    state: &AppState,
    context: &crate::audit::Context,
    me: &Coach,
    (id, request): (Uuid, Uuid),
    errors: Vec<(String, String)>,
) -> Result<Response, Response> {
    let t = me.texts;
    let (_, _, view) = state
        .coaching
        .look_at_request(context, &me.principal, (id, request))
        .await
        .map_err(me.refusal(state))?;
    let mut page = me.page(state, t.get("witness.title"));
    let status = page.answering(!errors.is_empty());
    Ok(render(
        &WitnessPage {
            page,
            action: format!("/coach/residents/{id}/requests/{request}"),
            back: format!("/coach/residents/{id}"),
            summary: stories::request_summary(&view, t),
            special: view.categories.iter().any(|c| c.special_category),
            channels: CHANNELS
                .iter()
                .map(|(_, value, key)| (*value, t.get(key)))
                .collect(),
            errors,
        },
        status,
    ))
}

/// The exact request, and the form to approve it on the resident's behalf.
pub async fn form(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath((id, request)): ApiPath<(Uuid, Uuid)>,
    me: Coach,
) -> Result<Response, Response> {
    witness_page(&state, &context, &me, (id, request), Vec::new()).await
}

/// Approves the request on the resident's behalf, or says what is missing.
pub async fn approve(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath((id, request)): ApiPath<(Uuid, Uuid)>,
    me: Coach,
    request_body: Request,
) -> Result<Response, Response> {
    let t = me.texts;
    let pairs = read_form(&state, &me.session, t, request_body)
        .await
        .map_err(IntoResponse::into_response)?;
    let value = |name: &str| super::form::field(&pairs, name);
    let channel = value("channel").and_then(|v| {
        CHANNELS
            .iter()
            .find(|(_, value, _)| *value == v)
            .map(|(c, _, _)| *c)
    });
    let mut errors = Vec::new();
    if channel.is_none() {
        errors.push((
            "channel-phone".to_owned(),
            t.get("witness.no_channel").to_owned(),
        ));
    }
    if value("said_yes").is_none() {
        errors.push((
            "said_yes".to_owned(),
            t.get("witness.not_confirmed").to_owned(),
        ));
    }
    let Some(channel) = channel.filter(|_| errors.is_empty()) else {
        return witness_page(&state, &context, &me, (id, request), errors).await;
    };
    state
        .coaching
        .approve_as_witness(&context, &me.principal, (id, request), channel)
        .await
        .map_err(|e| match e {
            Error::Forbidden(why) if why == crate::coaching::ONLY_THE_RESIDENT => {
                super::coach::refused(&state, t, "witness.special_refused", StatusCode::FORBIDDEN)
            }
            e => me.refusal(&state)(e),
        })?;
    Ok(see_other(&format!("/coach/residents/{id}?done=witnessed")))
}

/// A statement as the resident's home page tells it.
pub struct Statement {
    /// Its id.
    pub id: Uuid,
    /// What the coach said for them, in words.
    pub text: String,
    /// The data shared, as labels.
    pub labels: Vec<String>,
}

/// The resident's open statements, told.
pub async fn statements(state: &AppState, me: &Resident) -> Result<Vec<Statement>, PortalError> {
    let t: Texts = me.texts;
    let names = state.consent.department_names().await.or_page(t)?;
    let coaches = state.coaching.coaches().names().await.or_page(t)?;
    let catalogue = state.residents.catalogue();
    let rows: Vec<WitnessRow> = state.coaching.open_statements(me.id).await.or_page(t)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            // Mid-sentence: "aan de telefoon".
            let channel = CHANNELS.iter().find(|(c, _, _)| *c == row.channel).map_or(
                String::new(),
                |(_, _, key)| {
                    let label = t.get(key);
                    let mut chars = label.chars();
                    chars
                        .next()
                        .map(|first| first.to_lowercase().chain(chars).collect())
                        .unwrap_or_default()
                },
            );
            Statement {
                id: row.id,
                text: t.fill(
                    "witness.home_text",
                    &[
                        ("coach", coaches.get(&row.coach).unwrap_or(&row.coach)),
                        (
                            "department",
                            names.get(&row.department).unwrap_or(&row.department),
                        ),
                        ("when", &t.date_time(row.recorded_at)),
                        ("channel", &channel),
                    ],
                ),
                labels: row
                    .categories
                    .iter()
                    .map(|c| {
                        catalogue
                            .get(c)
                            .map(|c| c.label(t.language).to_owned())
                            .unwrap_or_else(|_| c.clone())
                    })
                    .collect(),
            }
        })
        .collect())
}

/// "Dit klopt" or "Dit klopt niet".
pub async fn answer(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath((id, answer)): ApiPath<(Uuid, String)>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    let correct = match answer.as_str() {
        "correct" => true,
        "wrong" => false,
        _ => return Err(Error::NotFound("answer")).or_page(t),
    };
    state
        .coaching
        .answer_statement(&context, me.id, id, correct)
        .await
        .or_page(t)?;
    Ok(see_other(if correct {
        "/portal?done=witness_confirmed"
    } else {
        "/portal?done=witness_disputed"
    }))
}
