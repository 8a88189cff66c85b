//! "Misschien heeft u recht op...": the schemes the resident's own vault thinks may fit,
//! each with why in the resident's own facts, what it gives and what to do next; what the
//! vault cannot tell yet and which one thing would settle it; "niet voor mij"; applying
//! by sharing with the scheme's department after seeing what will be shared; and whether
//! the municipality may approach the resident.

use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::http::extract::{ApiPath, Ctx};
use crate::language::Texts;
use crate::language::stories;
use crate::schemes::facts::info;
use crate::schemes::rules::{Apply, Outcome};
use crate::schemes::words::Filler;
use crate::schemes::{Evaluation, Suggestion};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Datelike;
use std::collections::HashMap;

/// A suggestion as the resident reads it.
pub struct SuggestionCard {
    /// The scheme's id.
    pub id: String,
    /// Its name.
    pub title: String,
    /// What it is.
    pub what: String,
    /// Why it may fit, in the resident's own facts.
    pub why: Vec<String>,
    /// What it gives.
    pub gives: String,
    /// A national scheme ("may be worth checking").
    pub national: bool,
    /// The department to apply at, when applying is sharing.
    pub department: Option<String>,
    /// The public site, when applying is done there.
    pub link: Option<String>,
}

/// A scheme the vault cannot tell about yet, and what to fill in.
pub struct UnknownCard {
    /// Its name.
    pub title: String,
    /// Links to the categories that would settle it: (href, label).
    pub fill: Vec<(String, String)>,
}

/// A hidden scheme.
pub struct HiddenItem {
    /// Its id.
    pub id: String,
    /// Its name.
    pub title: String,
}

#[derive(Template)]
#[template(path = "schemes.html")]
struct SchemesPage {
    page: Page,
    example: bool,
    suggestions: Vec<SuggestionCard>,
    unknown: Vec<UnknownCard>,
    hidden: Vec<HiddenItem>,
    approach: &'static str,
}

/// The resident's suggestions, computed now in their vault (one receipt in the log).
pub async fn list(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let evaluation = state.schemes.evaluate(&context, me.id).await.or_page(t)?;
    let approach = match state.schemes.approach(me.id).await.or_page(t)? {
        None => "schemes.approach_unset",
        Some(true) => "schemes.approach_yes",
        Some(false) => "schemes.approach_no",
    };
    let names = state.consent.department_names().await.or_page(t)?;
    let page = SchemesPage {
        page: me.page(&state, t.get("schemes.title"), "schemes"),
        example: state.schemes.rules().example(),
        suggestions: evaluation
            .shown()
            .map(|s| card(&state, &evaluation, s, &names, t))
            .collect(),
        unknown: unknown(&state, &evaluation, t),
        hidden: evaluation
            .suggestions
            .iter()
            .filter(|s| s.hidden && s.outcome == Outcome::MayFit)
            .map(|s| HiddenItem {
                id: s.scheme.id.clone(),
                title: s.scheme.title.get(t.language).to_owned(),
            })
            .collect(),
        approach,
    };
    Ok(render(&page, StatusCode::OK))
}

fn card(
    state: &AppState,
    evaluation: &Evaluation,
    s: &Suggestion,
    names: &HashMap<String, String>,
    t: Texts,
) -> SuggestionCard {
    let filler = Filler {
        suggestion: s,
        facts: &evaluation.facts,
        rules: state.schemes.rules(),
        year: state.schemes.today().year(),
    };
    let (department, link) = match &s.scheme.apply {
        Apply::Share { department, .. } => (Some(department.clone()), None),
        Apply::Link { url } => (None, Some(url.clone())),
    };
    SuggestionCard {
        id: s.scheme.id.clone(),
        title: s.scheme.title.get(t.language).to_owned(),
        what: s.scheme.what.get(t.language).to_owned(),
        why: filler.why(t),
        gives: filler.fill(&s.scheme.gives, t),
        national: s.scheme.national,
        department: department.map(|d| names.get(&d).cloned().unwrap_or(d)),
        link,
    }
}

/// The schemes that need one more fact, each with the categories to fill in.
fn unknown(state: &AppState, evaluation: &Evaluation, t: Texts) -> Vec<UnknownCard> {
    evaluation
        .suggestions
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::CannotTell(missing) => Some((s, missing)),
            _ => None,
        })
        .map(|(s, missing)| {
            let mut categories: Vec<&str> = missing
                .iter()
                .filter_map(|fact| info(fact).map(|f| f.category))
                .collect();
            categories.dedup();
            UnknownCard {
                title: s.scheme.title.get(t.language).to_owned(),
                fill: categories
                    .into_iter()
                    .map(|c| {
                        let label = state
                            .residents
                            .catalogue()
                            .get(c)
                            .map(|found| {
                                t.language
                                    .pick(&found.info.label_nl, &found.info.label_en)
                                    .clone()
                            })
                            .unwrap_or_else(|_| c.to_owned());
                        (format!("/portal/records/{c}/edit"), label)
                    })
                    .collect(),
            }
        })
        .collect()
}

/// "Niet voor mij": hides a suggestion while the situation stays as it is.
pub async fn hide(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    state.schemes.hide(&context, me.id, &id).await.or_page(t)?;
    Ok(see_other("/portal/schemes?done=scheme_hidden"))
}

/// Shows a hidden suggestion again.
pub async fn unhide(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    state
        .schemes
        .unhide(&context, me.id, &id)
        .await
        .or_page(t)?;
    Ok(see_other("/portal/schemes?done=scheme_shown"))
}

#[derive(Template)]
#[template(path = "scheme_apply.html")]
struct ApplyPage {
    page: Page,
    id: String,
    department: String,
    purpose: String,
    law: String,
    categories: Vec<String>,
    duration: String,
    retention: String,
    /// Who is responsible, to whom the data goes, the data protection officer.
    notice: super::privacy::PrivacyNotice,
}

/// What applying will share, with whom, why and for how long; the button that shares.
pub async fn confirm_apply(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let scheme = state.schemes.scheme(&id).or_page(t)?.clone();
    let offer = state.schemes.application(&id).await.or_page(t)?;
    let title = t.fill(
        "schemes.apply_title",
        &[("scheme", scheme.title.get(t.language))],
    );
    Ok(render(
        &ApplyPage {
            page: me.page(&state, &title, "schemes"),
            id,
            department: offer.department.name.clone(),
            purpose: offer.activity.purpose.trim_end().to_owned(),
            law: format!(
                "{}, {}",
                offer.activity.legal_basis.law, offer.activity.legal_basis.article
            ),
            categories: offer
                .categories
                .iter()
                .map(|c| t.language.pick(&c.label_nl, &c.label_en).clone())
                .collect(),
            duration: stories::days(offer.duration_days, t),
            retention: stories::days(offer.activity.retention_days, t),
            notice: super::privacy::notice(&state, &offer.department, &offer.activity, t),
        },
        StatusCode::OK,
    ))
}

/// Applies: shares what the scheme needs with its department, in one step.
pub async fn apply(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    state.schemes.apply(&context, me.id, &id).await.or_page(t)?;
    Ok(see_other("/portal/cases?done=scheme_applied"))
}

#[derive(Template)]
#[template(path = "scheme_approach.html")]
struct ApproachPage {
    page: Page,
    current: Option<bool>,
    error: bool,
}

/// "Mag de gemeente u benaderen?": one choice.
pub async fn approach(
    State(state): State<AppState>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let current = state.schemes.approach(me.id).await.or_page(t)?;
    Ok(render(
        &ApproachPage {
            page: me.page(&state, t.get("schemes.approach_title"), "schemes"),
            current,
            error: false,
        },
        StatusCode::OK,
    ))
}

/// Saves the choice.
pub async fn save_approach(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let form = me.form(&state, request).await?;
    let choice = form
        .iter()
        .find(|(k, _)| k == "benaderen")
        .map(|(_, v)| v.as_str());
    let may = match choice {
        Some("ja") => true,
        Some("nee") => false,
        _ => {
            let page = ApproachPage {
                page: me.page(&state, t.get("schemes.approach_title"), "schemes"),
                current: None,
                error: true,
            };
            return Ok(render(&page, StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    state
        .schemes
        .set_approach(&context, me.id, may)
        .await
        .or_page(t)?;
    Ok(see_other("/portal/schemes?done=approach_saved"))
}
