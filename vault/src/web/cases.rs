//! "Waar sta ik?": per department, the steps of the resident's case so far and the
//! department's status updates, in plain words, with a picture of how far it got.

use super::{OrPage, Page, PortalError, Resident, render};
use crate::cases::{Case, Step};
use crate::language::Texts;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kluis_proto::cases::CaseStatus;

/// The stages a case goes through, for the picture.
const STAGES: [&str; 4] = [
    "case.stage_shared",
    "case.stage_read",
    "case.stage_busy",
    "case.stage_decided",
];

/// One line of a case.
pub struct Line {
    /// When.
    pub date: String,
    /// What happened, in a sentence.
    pub text: String,
    /// Categories to fill in, with their page (for "more information needed").
    pub to_fill: Vec<(String, String)>,
}

/// A case as the resident reads it.
pub struct CaseCard {
    /// The department's id (for anchors).
    pub id: String,
    /// The department's name.
    pub department: String,
    /// The stages, each with whether it happened.
    pub stages: Vec<(String, bool)>,
    /// The stages that happened, in words (the picture's text).
    pub reached: String,
    /// The steps, oldest first.
    pub lines: Vec<Line>,
    /// How to reach the department.
    pub contact: Vec<String>,
}

impl CaseCard {
    /// The x position of stage `i` in the picture.
    pub fn x(&self, i: &usize) -> usize {
        40 + i * 93
    }
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    page: Page,
    cases: Vec<CaseCard>,
}

/// Every case of the resident; their news counts as seen once shown.
pub async fn cases(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    let t = me.texts;
    let cases = state.cases.of_resident(me.id).await.or_page(t)?;
    state.cases.seen(me.id, &cases).await.or_page(t)?;
    let cards = cases.iter().map(|case| card(&state, case, t)).collect();
    Ok(render(
        &CasesPage {
            page: me.page(&state, t.get("case.title"), "cases"),
            cases: cards,
        },
        StatusCode::OK,
    ))
}

fn card(state: &AppState, case: &Case, t: Texts) -> CaseCard {
    let name = case.department.name.as_str();
    // Each stage is filled only when it happened: a status does not mean they looked.
    let mut happened = [false; STAGES.len()];
    let lines = case
        .steps
        .iter()
        .map(|(at, step)| {
            match step {
                Step::Approved | Step::Shared => happened[0] = true,
                Step::Read => happened[1] = true,
                Step::Status(CaseStatus::DecisionMade) => {
                    happened[2] = true;
                    happened[3] = true;
                }
                Step::Status(_) => happened[2] = true,
                _ => {}
            }
            line(state, name, at, step, t)
        })
        .collect();
    let mut contact = Vec::new();
    if let Some(c) = &case.contact {
        if let Some(phone) = &c.phone {
            contact.push(t.fill("case.contact_phone", &[("phone", phone)]));
        }
        if let Some(desk) = &c.desk {
            contact.push(t.fill("case.contact_desk", &[("desk", desk)]));
        }
    }
    CaseCard {
        id: case.department.id.clone(),
        department: name.to_owned(),
        stages: STAGES
            .iter()
            .zip(happened)
            .map(|(key, done)| (t.get(key).to_owned(), done))
            .collect(),
        reached: STAGES
            .iter()
            .zip(happened)
            .filter(|(_, done)| *done)
            .map(|(key, _)| t.get(key))
            .collect::<Vec<_>>()
            .join(", "),
        lines,
        contact,
    }
}

fn line(
    state: &AppState,
    department: &str,
    at: &chrono::DateTime<chrono::Utc>,
    step: &Step,
    t: Texts,
) -> Line {
    let dept = [("department", department)];
    let day =
        |date: &chrono::NaiveDate| t.date(date.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc());
    let mut to_fill = Vec::new();
    let text = match step {
        Step::Asked => t.fill("case.asked", &dept),
        Step::Approved => t.get("case.approved").to_owned(),
        Step::Declined => t.get("case.declined").to_owned(),
        Step::Shared => t.fill("case.shared", &dept),
        Step::Read => t.fill("case.read", &dept),
        Step::Revoked => t.get("case.revoked").to_owned(),
        Step::Status(CaseStatus::Received) => t.fill("case.received", &dept),
        Step::Status(CaseStatus::AppointmentPlanned { date, time, place }) => {
            let when = match time {
                Some(time) => t.fill(
                    "case.appointment_at",
                    &[("date", &day(date)), ("time", time)],
                ),
                None => t.fill("case.appointment", &[("date", &day(date))]),
            };
            format!("{when} {}", t.fill("case.place", &[("place", place)]))
        }
        Step::Status(CaseStatus::MoreInformationNeeded { categories }) => {
            to_fill = categories
                .iter()
                .map(|id| {
                    let label = state
                        .residents
                        .catalogue()
                        .get(id)
                        .map(|c| c.label(t.language).to_owned())
                        .unwrap_or_else(|_| id.clone());
                    (format!("/portal/records/{id}/edit"), label)
                })
                .collect();
            t.fill("case.more_information", &dept)
        }
        Step::Status(CaseStatus::DecisionExpected { by }) => t.fill(
            "case.decision_expected",
            &[("department", department), ("date", &day(by))],
        ),
        Step::Status(CaseStatus::DecisionMade) => t.fill("case.decision_made", &dept),
    };
    Line {
        date: t.date(*at),
        text,
        to_fill,
    }
}
