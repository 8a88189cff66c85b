// Long: the coach's pages (residents, one resident, one part, schemes, a proposal) share one extractor and one refusal page.
//! The coach's pages: "Mijn inwoners" (who lets them look along now, help signals first,
//! and a one-time code to show a resident), one resident's allowed parts, one part
//! read-only with the resident's own labels, and the form to propose a change.
//!
//! Only a logged-in coach still on the operator's list gets here; every page about a
//! resident goes through `coaching`, which checks the look-along and logs the look. A
//! refusal is a page that says why, in the coach's language.

use super::form::{self, Control, Errors, Values, Widget};
use super::help::reason_text;
use super::records::{Block, blocks_of};
use super::{Page, PortalError, read_form, render, see_other};
use crate::Error;
use crate::auth::coaches::CoachPrincipal;
use crate::auth::{Principal, Session, SessionKind};
use crate::cases::OpenAction;
use crate::http::extract::{ApiPath, ApiQuery, Ctx, cookie};
use crate::language::Texts;
use crate::residents::catalogue::Category;
use crate::residents::fields::Field;
use crate::state::AppState;
use crate::store::LookAlongRow;
use askama::Template;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// A logged-in coach on one of their pages.
pub struct Coach {
    /// Who.
    pub principal: CoachPrincipal,
    /// Their session (CSRF token, logout).
    pub session: Session,
    /// The words in their language.
    pub texts: Texts,
    /// The path asked for.
    pub path: String,
    /// The notice asked for by a redirect (`?done=proposed`), as a message key.
    pub done: Option<String>,
}

impl FromRequestParts<AppState> for Coach {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let texts = Texts {
            language: super::language_of(parts),
        };
        let fail = |error| PortalError { error, texts }.into_response();
        let token = cookie(parts, crate::auth::SESSION_COOKIE)
            .ok_or_else(|| fail(Error::Unauthenticated("log in first")))?;
        let session = state
            .sessions
            .resolve(token, SessionKind::Browser)
            .await
            .map_err(fail)?;
        let Principal::Coach(principal) = session.principal.clone() else {
            return Err(refused(
                state,
                texts,
                "coach.only_coaches",
                StatusCode::FORBIDDEN,
            ));
        };
        state
            .coaching
            .coaches()
            .current(&principal.id)
            .await
            .map_err(fail)?;
        Ok(Coach {
            principal,
            session,
            texts,
            path: parts.uri.path().to_owned(),
            done: parts.uri.query().and_then(super::done_message),
        })
    }
}

impl Coach {
    /// The frame of a coach's page.
    pub(super) fn page(&self, state: &AppState, title: &str) -> Page {
        Page {
            texts: self.texts,
            title: title.to_owned(),
            section: "coach",
            csrf: Some(self.session.csrf_token.clone()),
            path: self.path.clone(),
            notice: self
                .done
                .as_deref()
                .map(|key| self.texts.get(key).to_owned()),
            dev: state.site.dev_login,
            municipality: state.site.municipality.clone(),
            alert: None,
            menu: false,
            staff: true,
        }
    }

    /// Turns a domain error into the page a coach sees.
    pub(super) fn refusal(&self, state: &AppState) -> impl Fn(Error) -> Response + '_ {
        let state = state.clone();
        move |error| match error {
            Error::Forbidden(_) => {
                refused(&state, self.texts, "coach.refused", StatusCode::FORBIDDEN)
            }
            Error::NotFound(_) | Error::UnknownCategory(_) => {
                refused(&state, self.texts, "coach.not_found", StatusCode::NOT_FOUND)
            }
            Error::Conflict(_) => {
                refused(&state, self.texts, "coach.conflict", StatusCode::CONFLICT)
            }
            error => PortalError {
                error,
                texts: self.texts,
            }
            .into_response(),
        }
    }
}

#[derive(Template)]
#[template(path = "coach_refused.html")]
struct RefusedPage {
    page: Page,
    message: &'static str,
    /// The way back: "Mijn inwoners" for a coach, the start page for anyone else.
    back: (&'static str, &'static str),
}

/// A refusal on a coach's page: what is not allowed, and the way back.
pub(super) fn refused(state: &AppState, texts: Texts, key: &str, status: StatusCode) -> Response {
    let page = Page {
        texts,
        title: texts.get("coach.refused_title").to_owned(),
        section: "coach",
        csrf: None,
        path: "/coach".into(),
        notice: None,
        dev: state.site.dev_login,
        municipality: state.site.municipality.clone(),
        alert: None,
        menu: false,
        staff: true,
    };
    let back = if key == "coach.only_coaches" {
        ("/", texts.get("coach.to_start"))
    } else {
        ("/coach", texts.get("coach.back_home"))
    };
    render(
        &RefusedPage {
            page,
            message: texts.get(key),
            back,
        },
        status,
    )
}

/// A resident in the coach's list.
struct ResidentLine {
    href: String,
    name: String,
    since: String,
    until: String,
    help: Option<String>,
    open: Vec<String>,
}

#[derive(Template)]
#[template(path = "coach_home.html")]
struct HomePage {
    page: Page,
    residents: Vec<ResidentLine>,
    code: Option<(String, String)>,
}

/// The short name a coach knows a look-along by ("Inwoner 3F2A").
fn short_name(row: &LookAlongRow, t: Texts) -> String {
    let id = row.id.simple().to_string().to_uppercase();
    t.fill("coach.resident_name", &[("code", &id[..4])])
}

/// What is open for a resident: requests, information asked, proposals waiting.
async fn open_items(state: &AppState, row: &LookAlongRow, t: Texts) -> crate::Result<Vec<String>> {
    let mut open = Vec::new();
    for action in state.cases.open_actions(row.resident).await? {
        match action {
            OpenAction::AnswerRequests(n) => {
                open.push(t.fill("coach.open_requests", &[("n", &n.to_string())]));
            }
            OpenAction::Complete { category, .. } => {
                let label = state
                    .residents
                    .catalogue()
                    .get(&category)
                    .map(|c| c.label(t.language).to_owned())
                    .unwrap_or(category);
                open.push(t.fill("coach.open_complete", &[("category", &label)]));
            }
            OpenAction::News(_) => {}
        }
    }
    let proposals = state.coaching.open_proposals(row.resident).await?;
    let mine = proposals.iter().filter(|p| p.look_along == row.id).count();
    if mine > 0 {
        open.push(t.fill("coach.open_proposals", &[("n", &mine.to_string())]));
    }
    Ok(open)
}

async fn home_page(
    state: &AppState,
    me: &Coach,
    code: Option<(String, String)>,
) -> Result<Response, Response> {
    let t = me.texts;
    let fail = me.refusal(state);
    let rows = state
        .coaching
        .of_coach(&me.principal)
        .await
        .map_err(&fail)?;
    let mut residents = Vec::new();
    for row in rows {
        residents.push(ResidentLine {
            href: format!("/coach/residents/{}", row.id),
            name: short_name(&row, t),
            since: t.date_time(row.started_at),
            until: t.date_time(row.ends_at),
            help: row
                .help
                .as_ref()
                .map(|h| reason_text(h.reason, t).to_owned()),
            open: open_items(state, &row, t).await.map_err(&fail)?,
        });
    }
    let title = t.get("coach.home_title");
    Ok(render(
        &HomePage {
            page: me.page(state, title),
            residents,
            code,
        },
        StatusCode::OK,
    ))
}

/// "Mijn inwoners".
pub async fn home(State(state): State<AppState>, me: Coach) -> Result<Response, Response> {
    home_page(&state, &me, None).await
}

/// A new one-time code, shown on the page (never in a URL).
pub async fn new_code(
    State(state): State<AppState>,
    me: Coach,
    request: Request,
) -> Result<Response, Response> {
    let t = me.texts;
    read_form(&state, &me.session, t, request)
        .await
        .map_err(IntoResponse::into_response)?;
    let (code, expires_at) = state
        .coaching
        .issue_code(&me.principal)
        .await
        .map_err(me.refusal(&state))?;
    home_page(&state, &me, Some((code, t.time(expires_at)))).await
}

/// A part the coach may see, as a link.
struct PartLink {
    href: String,
    label: String,
}

#[derive(Template)]
#[template(path = "coach_resident.html")]
struct ResidentPage {
    page: Page,
    until: String,
    help: Option<String>,
    open: Vec<String>,
    parts: Vec<PartLink>,
    may_propose: bool,
    /// The link to the resident's scheme suggestions, when they let the coach see them.
    schemes: Option<String>,
    /// Pending requests the coach may approve on a witness statement.
    requests: Vec<PartLink>,
}

/// One resident: what they let the coach see, and what is open.
pub async fn resident(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<Uuid>,
    me: Coach,
) -> Result<Response, Response> {
    let t = me.texts;
    let fail = me.refusal(&state);
    let (row, requests) = state
        .coaching
        .look_at_resident(&context, &me.principal, id)
        .await
        .map_err(&fail)?;
    let requests = requests
        .into_iter()
        .map(|r| PartLink {
            href: format!("/coach/residents/{id}/requests/{}", r.id),
            label: t.fill("coach.request_from", &[("department", &r.department.name)]),
        })
        .collect();
    let catalogue = state.residents.catalogue();
    let parts = row
        .categories
        .iter()
        .filter_map(|c| catalogue.get(c).ok())
        .map(|c| PartLink {
            href: format!("/coach/residents/{id}/records/{}", c.info.id),
            label: c.label(t.language).to_owned(),
        })
        .collect();
    Ok(render(
        &ResidentPage {
            page: me.page(&state, &short_name(&row, t)),
            until: t.date_time(row.ends_at),
            help: row
                .help
                .as_ref()
                .map(|h| reason_text(h.reason, t).to_owned()),
            open: open_items(&state, &row, t).await.map_err(&fail)?,
            parts,
            may_propose: row.may_propose,
            schemes: row
                .may_see_schemes
                .then(|| format!("/coach/residents/{id}/schemes")),
            requests,
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "coach_schemes.html")]
struct SchemesPage {
    page: Page,
    back: String,
    /// Each scheme that may fit: its title and what it gives.
    schemes: Vec<(String, String)>,
}

/// The resident's scheme suggestions, when they let the coach see them.
pub async fn schemes(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<Uuid>,
    me: Coach,
) -> Result<Response, Response> {
    let t = me.texts;
    let fail = me.refusal(&state);
    let resident = state
        .coaching
        .look_at_schemes(&context, &me.principal, id)
        .await
        .map_err(&fail)?;
    let evaluation = state.schemes.suggestions(resident).await.map_err(&fail)?;
    let schemes = evaluation
        .shown()
        .map(|s| {
            (
                s.scheme.title.get(t.language).to_owned(),
                s.scheme.gives.get(t.language).to_owned(),
            )
        })
        .collect();
    Ok(render(
        &SchemesPage {
            page: me.page(&state, t.get("coach.schemes_title")),
            back: format!("/coach/residents/{id}"),
            schemes,
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "coach_record.html")]
struct RecordPage {
    page: Page,
    back: String,
    changed: Option<String>,
    blocks: Vec<Block>,
    /// Links to propose a change (href, text): the whole part, or each item of a list.
    proposals: Vec<(String, String)>,
}

/// One part, read-only, with the resident's own labels.
pub async fn record(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath((id, category)): ApiPath<(Uuid, String)>,
    me: Coach,
) -> Result<Response, Response> {
    let t = me.texts;
    let fail = me.refusal(&state);
    let (row, stored) = state
        .coaching
        .view(&context, &me.principal, id, &category)
        .await
        .map_err(&fail)?;
    let part = state.residents.catalogue().get(&category).map_err(&fail)?;
    let blocks = stored
        .as_ref()
        .map(|r| blocks_of(&part.fields, &r.data, t))
        .unwrap_or_default();
    let base = format!("/coach/residents/{id}/records/{category}/propose");
    let mut proposals = Vec::new();
    if row.may_propose && !part.kept_by_department() {
        match super::steps::stepwise(part) {
            Some((list, _, cap)) => {
                let items = stored
                    .as_ref()
                    .and_then(|r| r.data[&list.name].as_array().map(Vec::len))
                    .unwrap_or(0);
                for block in &blocks {
                    if let (Some(i), Some(heading)) = (block.item, &block.heading) {
                        proposals.push((
                            format!("{base}?item={i}"),
                            t.fill("coach.propose_item", &[("item", heading)]),
                        ));
                    }
                }
                if items < cap {
                    proposals.push((
                        format!("{base}?item={items}"),
                        t.fill(
                            "coach.propose_new_item",
                            &[("item", list.label.get(t.language))],
                        ),
                    ));
                }
            }
            None => proposals.push((base, t.get("coach.propose").to_owned())),
        }
    }
    Ok(render(
        &RecordPage {
            page: me.page(&state, part.label(t.language)),
            back: format!("/coach/residents/{id}"),
            changed: stored.as_ref().map(|r| {
                t.fill(
                    "overview.changed_on",
                    &[("date", &t.date_time(r.created_at))],
                )
            }),
            blocks,
            proposals,
        },
        StatusCode::OK,
    ))
}

#[derive(Deserialize)]
pub struct ItemQuery {
    item: Option<usize>,
}

#[derive(Template)]
#[template(path = "coach_propose.html")]
struct ProposePage {
    page: Page,
    action: String,
    back: String,
    version: u32,
    item: Option<usize>,
    widgets: Vec<Widget>,
    errors: Vec<(String, String)>,
}

/// What a proposal form edits: the whole part, or one item of its list.
struct Target<'a> {
    part: &'a Category,
    /// The fields on the form.
    fields: &'a [Field],
    /// For a list: its field name and the item's number.
    item: Option<(&'a str, usize)>,
    /// The stored record (Null when empty) and its version.
    stored: Value,
    version: u32,
}

impl Target<'_> {
    /// What the form starts from.
    fn current(&self) -> Value {
        match self.item {
            Some((list, i)) => self.stored[list].get(i).cloned().unwrap_or(Value::Null),
            None => self.stored.clone(),
        }
    }

    /// The whole record with the form's values put in.
    fn with(&self, value: Value) -> Value {
        match self.item {
            Some((list, i)) => {
                let mut items = self.stored[list].as_array().cloned().unwrap_or_default();
                if i < items.len() {
                    items[i] = value;
                } else {
                    items.push(value);
                }
                serde_json::json!({ list: items })
            }
            None => value,
        }
    }
}

async fn target<'a>(
    state: &'a AppState,
    context: &crate::audit::Context,
    me: &Coach,
    (id, category): (Uuid, &str),
    item: Option<usize>,
) -> Result<Target<'a>, Response> {
    let fail = me.refusal(state);
    let (_, stored) = state
        .coaching
        .view_to_propose(context, &me.principal, id, category)
        .await
        .map_err(&fail)?;
    let part = state.residents.catalogue().get(category).map_err(&fail)?;
    let version = stored.as_ref().map_or(0, |r| r.version);
    let stored = stored.map_or(Value::Null, |r| r.data);
    let (fields, item) = match (super::steps::stepwise(part), item) {
        (Some((list, fields, cap)), Some(i)) => {
            let held = stored[&list.name].as_array().map_or(0, Vec::len);
            if i > held || i >= cap {
                return Err(fail(Error::NotFound("item")));
            }
            (fields, Some((list.name.as_str(), i)))
        }
        (None, None) => (part.fields.as_slice(), None),
        _ => return Err(fail(Error::NotFound("item"))),
    };
    Ok(Target {
        part,
        fields,
        item,
        stored,
        version,
    })
}

fn propose_page(
    state: &AppState,
    me: &Coach,
    (id, target): (Uuid, &Target<'_>),
    values: &Values,
    errors: Errors,
) -> Response {
    let t = me.texts;
    let title = t.fill(
        "coach.propose_title",
        &[("category", target.part.label(t.language))],
    );
    let mut page = me.page(state, &title);
    let status = page.answering(!errors.is_empty());
    render(
        &ProposePage {
            page,
            action: format!(
                "/coach/residents/{id}/records/{}/propose",
                target.part.info.id
            ),
            back: format!("/coach/residents/{id}/records/{}", target.part.info.id),
            version: target.version,
            item: target.item.map(|(_, i)| i),
            widgets: form::widgets(target.fields, values, &errors, t),
            errors: form::error_links(errors),
        },
        status,
    )
}

/// The form to propose a change, filled with what is stored.
pub async fn propose_form(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath((id, category)): ApiPath<(Uuid, String)>,
    ApiQuery(query): ApiQuery<ItemQuery>,
    me: Coach,
) -> Result<Response, Response> {
    let target = target(&state, &context, &me, (id, &category), query.item).await?;
    let (row, _) = state
        .coaching
        .open(&context, &me.principal, id)
        .await
        .map_err(me.refusal(&state))?;
    if !row.may_propose {
        return Err(refused(
            &state,
            me.texts,
            "coach.refused",
            StatusCode::FORBIDDEN,
        ));
    }
    let values = form::values_of(target.fields, &target.current(), me.texts);
    Ok(propose_page(
        &state,
        &me,
        (id, &target),
        &values,
        Errors::new(),
    ))
}

/// Sends the proposal to the resident, or shows what to correct.
pub async fn propose(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath((id, category)): ApiPath<(Uuid, String)>,
    me: Coach,
    request: Request,
) -> Result<Response, Response> {
    let t = me.texts;
    let posted = form::posted(
        read_form(&state, &me.session, t, request)
            .await
            .map_err(IntoResponse::into_response)?,
    );
    let item = match posted.get("item") {
        Some(raw) => Some(
            raw.parse::<usize>()
                .map_err(|_| me.refusal(&state)(Error::NotFound("item")))?,
        ),
        None => None,
    };
    let target = target(&state, &context, &me, (id, &category), item).await?;
    let base_version: u32 = posted
        .get("version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| me.refusal(&state)(Error::Conflict("the form has no version")))?;
    let value = match form::record_of(target.fields, &posted, t) {
        Ok(value) => value,
        Err(errors) => return Ok(propose_page(&state, &me, (id, &target), &posted, errors)),
    };
    match state
        .coaching
        .propose(
            &context,
            &me.principal,
            id,
            &category,
            base_version,
            &target.with(value),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/coach/residents/{id}?done=proposed"))),
        Err(Error::SchemaViolation(_)) => {
            let errors = vec![(String::new(), t.get("edit.not_accepted").to_owned())];
            Ok(propose_page(&state, &me, (id, &target), &posted, errors))
        }
        Err(error) => Err(me.refusal(&state)(error)),
    }
}
