//! Life events over the JSON API: the list (public: it holds no personal data), the
//! questions that apply to the calling resident, and completing a flow (save and share).

use super::extract::{ApiJson, ApiPath, Ctx, ResidentAuth};
use crate::Result;
use crate::life_events::LifeEvents;
use axum::Json;
use axum::extract::State;
use kluis_proto::life_events::{Answers, Completed, Completion, LifeEventInfo, StepView};

/// Every life event.
pub async fn list(State(events): State<LifeEvents>) -> Json<Vec<LifeEventInfo>> {
    Json(
        events
            .events()
            .iter()
            .map(|e| LifeEventInfo {
                id: e.id.clone(),
                title_nl: e.title.nl.clone(),
                title_en: e.title.en.clone(),
                description_nl: e.description.nl.clone(),
            })
            .collect(),
    )
}

/// The questions of an event that apply to me, given the answers so far.
pub async fn steps(
    auth: ResidentAuth,
    State(events): State<LifeEvents>,
    ApiPath(id): ApiPath<String>,
    ApiJson(given): ApiJson<Answers>,
) -> Result<Json<Vec<StepView>>> {
    let steps = events.steps(auth.resident, &id, &given.answers).await?;
    Ok(Json(
        steps
            .into_iter()
            .map(|s| StepView {
                question: s.question.id.clone(),
                field: s.question.field.clone(),
                ask_nl: s.question.ask.nl.clone(),
                options: s.options(),
                held: s.held,
                answer: s.answer,
            })
            .collect(),
    ))
}

/// Saves my answers to an event and shares with the departments I chose.
pub async fn complete(
    Ctx(context): Ctx,
    auth: ResidentAuth,
    State(events): State<LifeEvents>,
    ApiPath(id): ApiPath<String>,
    ApiJson(completion): ApiJson<Completion>,
) -> Result<Json<Completed>> {
    let (saved, grants) = events
        .complete(
            &context,
            auth.resident,
            &id,
            &completion.answers,
            &completion.share_with,
        )
        .await?;
    Ok(Json(Completed {
        written: saved.written,
        confirmed: saved.confirmed,
        grants,
    }))
}
