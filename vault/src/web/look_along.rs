//! "Iemand laten meekijken": the resident lets a coach look along (by the coach's code, or
//! a coach from before), chooses what and how long, sees who looks along now, and ends it
//! with one click.

use super::form::{self, dutch};
use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::Error;
use crate::coaching::{Choice, Length, Via};
use crate::http::extract::{ApiPath, Ctx};
use crate::language::Texts;
use crate::state::AppState;
use crate::store::CoachRow;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

/// Who looks along now, for the list.
struct Looking {
    id: Uuid,
    coach: String,
    department: String,
    until: String,
    parts: Vec<String>,
    may_propose: bool,
}

#[derive(Template)]
#[template(path = "look_along.html")]
struct LookAlongPage {
    page: Page,
    looking: Vec<Looking>,
}

/// The coaches who look along now, and the way to let one in.
pub async fn list(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    let t = me.texts;
    let rows = state.coaching.of_resident(me.id).await.or_page(t)?;
    let mut looking = Vec::new();
    for row in rows {
        let coach = coach_row(&state, &row.coach, t).await?;
        looking.push(Looking {
            id: row.id,
            coach: coach.name,
            department: department_name(&state, &coach.department, t).await?,
            until: t.date_time(row.ends_at),
            parts: labels(&state, &row.categories, t),
            may_propose: row.may_propose,
        });
    }
    let page = me.page(&state, t.get("look.title"), "coach");
    Ok(render(&LookAlongPage { page, looking }, StatusCode::OK))
}

async fn coach_row(state: &AppState, id: &str, t: Texts) -> Result<CoachRow, PortalError> {
    state
        .coaching
        .coaches()
        .get(id)
        .await
        .or_page(t)?
        .ok_or(Error::NotFound("coach"))
        .or_page(t)
}

async fn department_name(state: &AppState, id: &str, t: Texts) -> Result<String, PortalError> {
    let names = state.consent.department_names().await.or_page(t)?;
    Ok(names.get(id).cloned().unwrap_or_else(|| id.to_owned()))
}

fn labels(state: &AppState, ids: &[String], t: Texts) -> Vec<String> {
    let catalogue = state.residents.catalogue();
    ids.iter()
        .map(|id| {
            catalogue
                .get(id)
                .map(|c| c.label(t.language).to_owned())
                .unwrap_or_else(|_| id.clone())
        })
        .collect()
}

#[derive(Template)]
#[template(path = "look_along_code.html")]
struct CodePage {
    page: Page,
    code: String,
    earlier: Vec<CoachRow>,
    errors: Vec<(String, String)>,
}

/// Step 1: the coach's code, or a coach from before.
pub async fn new(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    code_page(&state, &me, "", Vec::new()).await
}

async fn code_page(
    state: &AppState,
    me: &Resident,
    code: &str,
    errors: Vec<(String, String)>,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let earlier = state.coaching.earlier_coaches(me.id).await.or_page(t)?;
    let mut page = me.page(state, t.get("look.new_title"), "coach");
    let status = page.answering(!errors.is_empty());
    Ok(render(
        &CodePage {
            page,
            code: code.to_owned(),
            earlier,
            errors,
        },
        status,
    ))
}

/// One part to tick on the choice page.
struct Part {
    id: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "look_along_choose.html")]
struct ChoosePage {
    page: Page,
    coach: CoachRow,
    department: String,
    /// The hidden field that names the coach: `code` or `coach`.
    via: (&'static str, String),
    all: bool,
    parts: Vec<Part>,
    special: Vec<Part>,
    conversation: bool,
    until: String,
    may_propose: bool,
    may_see_schemes: bool,
    errors: Vec<(String, String)>,
}

/// What the choice page was filled in with.
#[derive(Default)]
struct Chosen {
    all: bool,
    categories: Vec<String>,
    conversation: bool,
    until: String,
    may_propose: bool,
    may_see_schemes: bool,
}

impl Chosen {
    fn of(pairs: &[(String, String)]) -> Chosen {
        let value = |name: &str| form::field(pairs, name).map(str::to_owned);
        Chosen {
            all: value("parts").as_deref() != Some("chosen"),
            categories: pairs
                .iter()
                .filter(|(k, _)| k == "category")
                .map(|(_, v)| v.clone())
                .collect(),
            conversation: value("length").as_deref() != Some("until"),
            until: value("until").unwrap_or_default(),
            may_propose: value("may_propose").is_some(),
            may_see_schemes: value("may_see_schemes").is_some(),
        }
    }
}

async fn choose_page(
    state: &AppState,
    me: &Resident,
    (coach, via): (CoachRow, (&'static str, String)),
    chosen: &Chosen,
    errors: Vec<(String, String)>,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let department = department_name(state, &coach.department, t).await?;
    let (special, parts): (Vec<_>, Vec<_>) = state
        .residents
        .catalogue()
        .iter()
        .partition(|c| c.info.special_category);
    let part = |c: &&crate::residents::catalogue::Category| Part {
        id: c.info.id.clone(),
        label: c.label(t.language).to_owned(),
        checked: chosen.categories.contains(&c.info.id),
    };
    let title = t.fill("look.choose_title", &[("coach", &coach.name)]);
    let mut page = me.page(state, &title, "coach");
    let status = page.answering(!errors.is_empty());
    Ok(render(
        &ChoosePage {
            page,
            coach,
            department,
            via,
            all: chosen.all,
            parts: parts.iter().map(part).collect(),
            special: special.iter().map(part).collect(),
            conversation: chosen.conversation,
            until: chosen.until.clone(),
            may_propose: chosen.may_propose,
            may_see_schemes: chosen.may_see_schemes,
            errors,
        },
        status,
    ))
}

/// A coach who looked along with the resident before, by id.
async fn earlier_coach(state: &AppState, me: &Resident, id: &str) -> Result<CoachRow, PortalError> {
    state
        .coaching
        .earlier_coaches(me.id)
        .await
        .or_page(me.texts)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(Error::NotFound("coach"))
        .or_page(me.texts)
}

fn code_error(t: Texts, key: &str) -> Vec<(String, String)> {
    vec![("code".into(), t.get(key).to_owned())]
}

/// Step 2: the code is checked (not used up yet); the resident chooses what and how long.
pub async fn choose(
    State(state): State<AppState>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let pairs = me.form(&state, request).await?;
    let value = |name: &str| form::field(&pairs, name).map(str::to_owned);
    let initial = Chosen {
        all: true,
        conversation: true,
        may_propose: true,
        ..Chosen::default()
    };
    if let Some(id) = value("coach") {
        let coach = earlier_coach(&state, &me, &id).await?;
        return choose_page(&state, &me, (coach, ("coach", id)), &initial, Vec::new()).await;
    }
    let typed = value("code").unwrap_or_default();
    if typed.is_empty() {
        return code_page(&state, &me, &typed, code_error(t, "look.code_missing")).await;
    }
    if crate::ids::parse_spoken_code(&typed).is_none() {
        return code_page(&state, &me, &typed, code_error(t, "look.code_malformed")).await;
    }
    match state.coaching.coach_of_code(&typed).await.or_page(t)? {
        Some(coach) => {
            choose_page(&state, &me, (coach, ("code", typed)), &initial, Vec::new()).await
        }
        None => code_page(&state, &me, &typed, code_error(t, "look.code_refused")).await,
    }
}

/// Step 3: lets the coach look along as chosen (the code is used up now).
pub async fn start(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let pairs = me.form(&state, request).await?;
    let value = |name: &str| form::field(&pairs, name).map(str::to_owned);
    let chosen = Chosen::of(&pairs);
    let (via, coach) = match (value("code"), value("coach")) {
        (Some(code), None) => {
            let Some(coach) = state.coaching.coach_of_code(&code).await.or_page(t)? else {
                return code_page(&state, &me, &code, code_error(t, "look.code_refused")).await;
            };
            ((("code"), code.clone()), coach)
        }
        (None, Some(id)) => {
            let coach = earlier_coach(&state, &me, &id).await?;
            (("coach", id), coach)
        }
        _ => return Err(Error::InvalidParameter("no coach chosen".into())).or_page(t),
    };
    // The parts: "everything" is every part that is not special; a special part only
    // when ticked.
    let catalogue = state.residents.catalogue();
    let mut categories: Vec<String> = chosen
        .categories
        .iter()
        .filter(|id| catalogue.contains(id))
        .filter(|id| !chosen.all || catalogue.get(id).is_ok_and(|c| c.info.special_category))
        .cloned()
        .collect();
    if chosen.all {
        categories.extend(
            catalogue
                .iter()
                .filter(|c| !c.info.special_category)
                .map(|c| c.info.id.clone()),
        );
    }
    let mut errors = Vec::new();
    if categories.is_empty() {
        errors.push(("parts-chosen".to_owned(), t.get("look.no_parts").to_owned()));
    }
    let length = if chosen.conversation {
        Some(Length::Conversation)
    } else {
        match dutch::date(&chosen.until) {
            Some(date) => Some(Length::Until(date)),
            None => {
                errors.push(("until".to_owned(), t.get("look.until_invalid").to_owned()));
                None
            }
        }
    };
    let Some(length) = length.filter(|_| errors.is_empty()) else {
        return choose_page(&state, &me, (coach, via), &chosen, errors).await;
    };
    let choice = Choice {
        via: match via.0 {
            "code" => Via::Code(via.1.clone()),
            _ => Via::Earlier(via.1.clone()),
        },
        categories,
        length,
        may_propose: chosen.may_propose,
        may_see_schemes: chosen.may_see_schemes,
    };
    match state.coaching.start(&context, me.id, &choice).await {
        Ok(_) => Ok(see_other("/portal/coach?done=look_along_started")),
        Err(Error::InvalidParameter(_)) if !chosen.conversation => {
            let errors = vec![("until".to_owned(), t.get("look.until_range").to_owned())];
            choose_page(&state, &me, (coach, via), &chosen, errors).await
        }
        Err(Error::Forbidden(_)) if via.0 == "code" => {
            code_page(&state, &me, &via.1, code_error(t, "look.code_refused")).await
        }
        Err(error) => Err(error).or_page(t),
    }
}

/// Ends a look-along at once.
pub async fn end(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<Uuid>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    state.coaching.end(&context, me.id, id).await.or_page(t)?;
    Ok(see_other("/portal/coach?done=look_along_ended"))
}
