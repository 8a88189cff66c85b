//! The overview of my situation and one category's page, its values in words.

use super::{OrPage, Page, PortalError, Resident, render, steps};
use crate::Error;
use crate::cases::OpenAction;
use crate::http::extract::ApiPath;
use crate::language::Texts;
use crate::residents::fields::{Field, FieldKind};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// A category on the overview.
pub struct CategoryItem {
    /// Its id (for links).
    pub id: String,
    /// Its label.
    pub label: String,
    /// What it holds, in one sentence.
    pub description: String,
    /// "Last changed on ..." or "Not filled in yet".
    pub status: String,
    /// Whether anything is stored.
    pub filled: bool,
}

/// Something to do, on the home page: a sentence and where to go.
pub struct Action {
    /// What to do.
    pub text: String,
    /// The link's text.
    pub link: String,
    /// Where.
    pub href: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    page: Page,
    /// What coaches said yes to on the resident's behalf, to confirm or dispute.
    statements: Vec<super::witness::Statement>,
    actions: Vec<Action>,
    categories: Vec<CategoryItem>,
}

/// The home page: what to do first, "Wat is er gebeurd?", then my situation by category
/// with when each part was last changed.
pub async fn overview(
    State(state): State<AppState>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let stored = state.residents.overview(me.id).await.or_page(t)?;
    let mut actions: Vec<Action> = proposal_actions(&state, &me).await?;
    actions.extend(
        state
            .cases
            .open_actions(me.id)
            .await
            .or_page(t)?
            .into_iter()
            .map(|action| action_of(&state, action, t)),
    );
    let categories = state
        .residents
        .catalogue()
        .iter()
        .map(|category| {
            let summary = stored.iter().find(|s| s.category == category.info.id);
            CategoryItem {
                id: category.info.id.clone(),
                label: category.label(t.language).to_owned(),
                description: category.description(t.language).to_owned(),
                status: match summary {
                    Some(s) => t.fill("overview.changed_on", &[("date", &t.date(s.updated_at))]),
                    None if category.kept_by_department() => {
                        t.get("overview.kept_empty").to_owned()
                    }
                    None => t.get("overview.empty").to_owned(),
                },
                filled: summary.is_some(),
            }
        })
        .collect();
    let page = me.page(&state, t.get("overview.title"), "overview");
    Ok(render(
        &Overview {
            page,
            statements: super::witness::statements(&state, &me).await?,
            actions,
            categories,
        },
        StatusCode::OK,
    ))
}

/// "Uw coach stelt voor:": each open proposal, first on the home page.
async fn proposal_actions(state: &AppState, me: &Resident) -> Result<Vec<Action>, PortalError> {
    let t = me.texts;
    let mut out = Vec::new();
    for row in state.coaching.open_proposals(me.id).await.or_page(t)? {
        let coach = state
            .coaching
            .coaches()
            .get(&row.coach)
            .await
            .or_page(t)?
            .map_or_else(|| row.coach.clone(), |c| c.name);
        let label = state
            .residents
            .catalogue()
            .get(&row.category)
            .map(|c| c.label(t.language).to_owned())
            .unwrap_or_else(|_| row.category.clone());
        out.push(Action {
            text: t.fill(
                "overview.proposal",
                &[("coach", &coach), ("category", &label)],
            ),
            link: t.get("overview.proposal_link").to_owned(),
            href: format!("/portal/proposals/{}", row.id),
        });
    }
    Ok(out)
}

fn action_of(state: &AppState, action: OpenAction, t: Texts) -> Action {
    match action {
        OpenAction::AnswerRequests(n) => Action {
            text: match n {
                1 => t.get("overview.one_request").to_owned(),
                n => t.fill("overview.n_requests", &[("n", &n.to_string())]),
            },
            link: t.get("overview.to_requests").to_owned(),
            href: "/portal/requests".into(),
        },
        OpenAction::Complete {
            department,
            category,
        } => {
            let label = state
                .residents
                .catalogue()
                .get(&category)
                .map(|c| c.label(t.language).to_owned())
                .unwrap_or_else(|_| category.clone());
            Action {
                text: t.fill(
                    "overview.complete",
                    &[("department", &department), ("category", &label)],
                ),
                link: t.fill("overview.complete_link", &[("category", &label)]),
                href: format!("/portal/records/{category}/edit"),
            }
        }
        OpenAction::News(_) => Action {
            text: t.get("overview.news").to_owned(),
            link: t.get("overview.to_cases").to_owned(),
            href: "/portal/cases".into(),
        },
    }
}

/// A block of a record's page: an optional heading and label/value pairs.
pub struct Block {
    /// The heading (a group, or one item of a list).
    pub heading: Option<String>,
    /// Label and value, in order.
    pub facts: Vec<(String, String)>,
    /// The link to change this item on its own page (href, text), for a list edited in
    /// steps.
    pub edit: Option<(String, String)>,
    /// Which item of a list this block heads.
    pub(super) item: Option<usize>,
}

/// Who may see this category now.
pub struct Viewer {
    /// The department's name.
    pub department: String,
    /// Until when.
    pub until: String,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    page: Page,
    id: String,
    description: String,
    changed: Option<String>,
    blocks: Vec<Block>,
    viewers: Vec<Viewer>,
    /// A department fills this in: no button to change it.
    kept: bool,
    /// For a list edited in steps: the number of the next item ("Nog een toevoegen").
    add_step: Option<usize>,
}

/// One category: what is stored, when it changed, and who may see it.
pub async fn view(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let category = state.residents.catalogue().get(&id).or_page(t)?;
    let record = current(&state, &me, &id).await?;
    let stepwise = !category.kept_by_department() && steps::stepwise(category).is_some();
    let mut blocks = record
        .as_ref()
        .map(|r| blocks_of(&category.fields, &r.data, t))
        .unwrap_or_default();
    if stepwise {
        for block in &mut blocks {
            if let (Some(i), Some(heading)) = (block.item, &block.heading) {
                block.edit = Some((
                    format!("/portal/records/{id}/items/{i}"),
                    t.fill("steps.change_item", &[("item", heading)]),
                ));
            }
        }
    }
    let items = record
        .as_ref()
        .and_then(|r| steps::stepwise(category).map(|(list, _, _)| &r.data[&list.name]))
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let room = steps::stepwise(category).is_some_and(|(_, _, cap)| items < cap);
    let viewers = active_grants_covering(&state, &me, &id)
        .await?
        .into_iter()
        .map(|g| Viewer {
            department: g.department.name,
            until: t.date(g.expires_at),
        })
        .collect();
    let page = me.page(&state, category.label(t.language), "overview");
    Ok(render(
        &RecordPage {
            page,
            id,
            description: category.description(t.language).to_owned(),
            changed: record.map(|r| {
                t.fill(
                    "overview.changed_on",
                    &[("date", &t.date_time(r.created_at))],
                )
            }),
            blocks,
            viewers,
            kept: category.kept_by_department(),
            add_step: (stepwise && room).then_some(items),
        },
        StatusCode::OK,
    ))
}

/// The resident's grants in force that include `category`: who may see it now.
pub(super) async fn active_grants_covering(
    state: &AppState,
    me: &Resident,
    category: &str,
) -> Result<Vec<kluis_proto::consent::GrantView>, PortalError> {
    Ok(state
        .consent
        .resident_grants(me.id)
        .await
        .or_page(me.texts)?
        .into_iter()
        .filter(|g| g.state == kluis_proto::consent::GrantState::Active)
        .filter(|g| g.categories.iter().any(|c| c.id == category))
        .collect())
}

pub(super) async fn current(
    state: &AppState,
    me: &Resident,
    category: &str,
) -> Result<Option<kluis_proto::records::Record>, PortalError> {
    match state.residents.read(me.id, category, None).await {
        Ok(record) => Ok(Some(record)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(error) => Err(PortalError {
            error,
            texts: me.texts,
        }),
    }
}

pub(super) fn blocks_of(fields: &[Field], data: &Value, t: Texts) -> Vec<Block> {
    let mut blocks = vec![Block {
        heading: None,
        facts: Vec::new(),
        edit: None,
        item: None,
    }];
    push_blocks(fields, data, t, &mut blocks);
    blocks.retain(|b| b.heading.is_some() || !b.facts.is_empty());
    blocks
}

fn push_blocks(fields: &[Field], data: &Value, t: Texts, blocks: &mut Vec<Block>) {
    let language = t.language;
    for field in fields {
        let value = &data[&field.name];
        let label = field.label.get(language).to_owned();
        let shown = match &field.kind {
            FieldKind::Group(inner) => {
                blocks.push(Block {
                    heading: Some(label),
                    facts: Vec::new(),
                    edit: None,
                    item: None,
                });
                push_blocks(inner, value, t, blocks);
                blocks.push(Block {
                    heading: None,
                    facts: Vec::new(),
                    edit: None,
                    item: None,
                });
                continue;
            }
            FieldKind::List { item, .. } => {
                let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
                for (i, v) in items.iter().enumerate() {
                    blocks.push(Block {
                        heading: Some(format!("{label} {}", i + 1)),
                        facts: Vec::new(),
                        edit: None,
                        item: Some(i),
                    });
                    push_blocks(item, v, t, blocks);
                }
                blocks.push(Block {
                    edit: None,
                    item: None,
                    heading: None,
                    facts: total(item, items)
                        .map(|sum| vec![(t.get("record.total").to_owned(), t.euros(sum))])
                        .unwrap_or_default(),
                });
                continue;
            }
            _ if value.is_null() => continue,
            FieldKind::Boolean => t
                .get(if value.as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                })
                .to_owned(),
            FieldKind::Choice(choices) => choices
                .iter()
                .find(|(v, _)| Some(v.as_str()) == value.as_str())
                .map(|(_, text)| text.get(language).to_owned())
                .unwrap_or_default(),
            FieldKind::TextList { .. } => value
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            FieldKind::Number { .. } => value.as_f64().map(|n| t.euros(n)).unwrap_or_default(),
            FieldKind::Text { .. } if field.label.input.is_some() => value
                .as_str()
                .map(|stored| readable(stored, t))
                .unwrap_or_default(),
            _ => match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        };
        if let Some(block) = blocks.last_mut() {
            block.facts.push((label, shown));
        }
    }
}

/// A stored day or month in words ("14 maart 1985", "juni 2026"); anything else as it is.
fn readable(stored: &str, t: Texts) -> String {
    use chrono::NaiveDate;
    if let Ok(day) = NaiveDate::parse_from_str(stored, "%Y-%m-%d") {
        return t.day(day);
    }
    match NaiveDate::parse_from_str(&format!("{stored}-01"), "%Y-%m-%d") {
        Ok(first) => t.month(first),
        Err(_) => stored.to_owned(),
    }
}

/// The sum of a list's amounts, when its items have exactly one amount each ("Alles
/// samen: € 2.628,00" under the income sources, the costs, the debts).
fn total(item: &[Field], items: &[Value]) -> Option<f64> {
    let mut amounts = item
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Number { .. }));
    let amount = amounts.next()?;
    if amounts.next().is_some() || items.len() < 2 {
        return None;
    }
    Some(items.iter().filter_map(|i| i[&amount.name].as_f64()).sum())
}
