//! The questions of a life event, one per screen, and the summary before saving. Only the
//! questions that fit are asked; what the vault holds is shown, to confirm or change.
//!
//! The flow keeps no state on the server until it is saved: every screen is a form that
//! carries the answers so far in hidden fields (`a.<question>`, the answer as JSON), so the
//! back button, a reload and keyboard use all work without JavaScript. Saving checks
//! everything again in the domain (`life_events`); a forged answer to a question that does
//! not apply is ignored.

use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::Error;
use crate::http::extract::{ApiPath, Ctx};
use crate::language::Texts;
use crate::life_events::{Answers, Step};
use crate::residents::fields::FieldKind;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// One answer a question offers.
pub struct Answer {
    /// The value sent.
    pub value: String,
    /// What the resident reads.
    pub label: String,
    /// Whether it is chosen now.
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "event_question.html")]
struct QuestionPage {
    page: Page,
    id: String,
    at: usize,
    progress: String,
    held: Option<String>,
    options: Vec<Answer>,
    text_value: String,
    hint: Option<String>,
    error: Option<String>,
    hidden: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "event_summary.html")]
struct SummaryPage {
    page: Page,
    id: String,
    at: usize,
    lines: Vec<(String, String, bool)>,
    hidden: Vec<(String, String)>,
}

/// The first question.
pub async fn first(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let answers = Answers::new();
    let steps = state
        .life_events
        .steps(me.id, &id, &answers)
        .await
        .or_page(me.texts)?;
    Ok(question_or_summary(
        &state, &me, &id, &steps, 0, &answers, None,
    ))
}

/// A screen of the flow was posted: take its answer and show the next, the previous, or
/// the summary.
pub async fn answer(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let form = me.form(&state, request).await?;
    let mut answers = carried(&form).or_page(t)?;
    let at: usize = value_of(&form, "at")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Error::InvalidParameter("the form lost its place".into()))
        .or_page(t)?;
    let steps = state
        .life_events
        .steps(me.id, &id, &answers)
        .await
        .or_page(t)?;
    if value_of(&form, "go") == Some("back") {
        return Ok(if at == 0 {
            see_other(&format!("/portal/events/{id}"))
        } else {
            question_or_summary(&state, &me, &id, &steps, at - 1, &answers, None)
        });
    }
    let Some(step) = steps.get(at) else {
        return Ok(question_or_summary(
            &state,
            &me,
            &id,
            &steps,
            steps.len(),
            &answers,
            None,
        ));
    };
    match read_answer(step, &form, t) {
        Ok(value) => {
            answers.insert(step.question.id.clone(), value);
            // The answer may change which questions follow; answers to questions that no
            // longer apply (or never were questions) are not carried on.
            let steps = state
                .life_events
                .steps(me.id, &id, &answers)
                .await
                .or_page(t)?;
            answers.retain(|question, _| steps.iter().any(|s| &s.question.id == question));
            Ok(question_or_summary(
                &state,
                &me,
                &id,
                &steps,
                at + 1,
                &answers,
                None,
            ))
        }
        Err(message) => Ok(question_or_summary(
            &state,
            &me,
            &id,
            &steps,
            at,
            &answers,
            Some(message),
        )),
    }
}

/// Saves the answers (one new version per changed category) and goes on to who can help.
pub async fn save(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let form = me.form(&state, request).await?;
    let answers = carried(&form).or_page(t)?;
    state
        .life_events
        .save(&context, me.id, &id, &answers)
        .await
        .or_page(t)?;
    Ok(see_other(&format!(
        "/portal/events/{id}/help?done=event_saved"
    )))
}

/// The first value of `name` in a posted form.
fn value_of<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The answers carried in hidden fields (`a.<question>` = the answer as JSON).
fn carried(form: &[(String, String)]) -> Result<Answers, Error> {
    let mut answers = Answers::new();
    for (key, value) in form {
        if let Some(question) = key.strip_prefix("a.") {
            let value: Value = serde_json::from_str(value)
                .map_err(|_| Error::InvalidParameter("the form's answers were changed".into()))?;
            answers.insert(question.to_owned(), value);
        }
    }
    Ok(answers)
}

/// The hidden fields that carry `answers` to the next screen.
fn hidden(answers: &Answers) -> Vec<(String, String)> {
    answers
        .iter()
        .map(|(q, v)| (format!("a.{q}"), v.to_string()))
        .collect()
}

/// The answer on the posted screen for `step`, or the message that says what to fix.
fn read_answer(step: &Step, form: &[(String, String)], t: Texts) -> Result<Value, String> {
    let posted = value_of(form, "answer").map(str::trim).unwrap_or_default();
    match &step.field.kind {
        FieldKind::Choice(_) => {
            let allowed = step.options();
            allowed
                .iter()
                .find(|v| v.as_str() == posted)
                .map(|v| Value::String(v.clone()))
                .ok_or_else(|| t.get("question.choose").to_owned())
        }
        FieldKind::Boolean => match posted {
            "ja" => Ok(Value::Bool(true)),
            "nee" => Ok(Value::Bool(false)),
            _ => Err(t.get("question.choose").to_owned()),
        },
        _ => {
            let mut field = step.field.clone();
            field.required = true;
            let values = [(field.name.clone(), posted.to_owned())]
                .into_iter()
                .collect();
            match super::form::record_of(std::slice::from_ref(&field), &values, t) {
                Ok(record) => Ok(record[&field.name].clone()),
                Err(errors) => Err(errors
                    .into_iter()
                    .map(|(_, message)| message)
                    .next()
                    .unwrap_or_else(|| t.get("question.fill_in").to_owned())),
            }
        }
    }
}

/// How a value reads: a choice's label, yes or no, or the value itself.
fn shown(step: &Step, value: &Value, t: Texts) -> String {
    match (&step.field.kind, value) {
        (FieldKind::Choice(choices), Value::String(v)) => choices
            .iter()
            .find(|(c, _)| c == v)
            .map_or_else(|| v.clone(), |(_, label)| label.get(t.language).to_owned()),
        (_, Value::Bool(yes)) => t.get(if *yes { "yes" } else { "no" }).to_owned(),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// The question at `at`, or the summary when every question is answered.
fn question_or_summary(
    state: &AppState,
    me: &Resident,
    id: &str,
    steps: &[Step],
    at: usize,
    answers: &Answers,
    error: Option<String>,
) -> Response {
    let t = me.texts;
    let Some(step) = steps.get(at) else {
        let lines = steps
            .iter()
            .filter_map(|s| {
                let value = s.value()?;
                Some((
                    s.question.ask.get(t.language).to_owned(),
                    shown(s, value, t),
                    s.changes(),
                ))
            })
            .collect();
        return render(
            &SummaryPage {
                page: me.page(state, t.get("summary.title"), "overview"),
                id: id.to_owned(),
                at: steps.len(),
                lines,
                hidden: hidden(answers),
            },
            StatusCode::OK,
        );
    };
    let current = step.value();
    let options = match &step.field.kind {
        FieldKind::Choice(_) => step
            .options()
            .into_iter()
            .map(|v| Answer {
                label: shown(step, &Value::String(v.clone()), t),
                checked: current == Some(&Value::String(v.clone())),
                value: v,
            })
            .collect(),
        FieldKind::Boolean => [("ja", true), ("nee", false)]
            .into_iter()
            .map(|(value, yes)| Answer {
                value: value.into(),
                label: t.get(if yes { "yes" } else { "no" }).into(),
                checked: current == Some(&Value::Bool(yes)),
            })
            .collect(),
        _ => Vec::new(),
    };
    let text_value = match current {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut others = answers.clone();
    others.remove(&step.question.id);
    let ask = step.question.ask.get(t.language).to_owned();
    let page = me.page(state, &ask, "overview");
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        &QuestionPage {
            page,
            id: id.to_owned(),
            at,
            progress: t.fill(
                "question.progress",
                &[
                    ("n", &(at + 1).to_string()),
                    ("total", &steps.len().to_string()),
                ],
            ),
            held: step.held.as_ref().map(|v| shown(step, v, t)),
            options,
            text_value,
            hint: step.field.label.hint(t.language).map(str::to_owned),
            error,
            hidden: hidden(&others),
        },
        status,
    )
}
