//! Long lists, one item per step: the income sources, the fixed costs, the debts, the
//! children and the life events are each one list, and filling in ten of them on one page
//! is a wall. A category whose only field is a list gets a page per item: change this one,
//! save, add the next ("Opslaan en nog een toevoegen"), or remove it. Each step stores a
//! new version of the whole record, so nothing typed is lost between steps.

use super::form::{self, Control, Errors, Values};
use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::Error;
use crate::http::extract::{ApiPath, Ctx};
use crate::residents::catalogue::Category;
use crate::residents::fields::{Field, FieldKind};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// The one list of a category edited in steps: its field name, its label, the fields of an
/// item and its maximum; `None` when the category is more than one list.
pub fn stepwise(category: &Category) -> Option<(&Field, &[Field], usize)> {
    match category.fields.as_slice() {
        [field] => match &field.kind {
            FieldKind::List { item, max_items } => Some((
                field,
                item.as_slice(),
                max_items.map_or(form::LIST_CAP, |m| m as usize),
            )),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    page: Page,
    id: String,
    index: usize,
    /// "Stap 2 van 5" (or "Nieuw" for an item not yet there).
    step: String,
    is_new: bool,
    can_add: bool,
    widgets: Vec<form::Widget>,
    errors: Vec<(String, String)>,
}

/// The category, its stepwise list and the stored items; refuses a category that is not
/// edited in steps or that a department keeps.
async fn items_of<'a>(
    state: &'a AppState,
    me: &Resident,
    id: &str,
) -> Result<(&'a Category, Vec<Value>), PortalError> {
    let t = me.texts;
    let category = state.residents.catalogue().get(id).or_page(t)?;
    if category.kept_by_department() {
        return Err(Error::Forbidden(
            "a department keeps this category; ask the department to change it",
        ))
        .or_page(t);
    }
    let (list, _, _) = stepwise(category)
        .ok_or(Error::NotFound("step"))
        .or_page(t)?;
    let items = match state.residents.read(me.id, id, None).await {
        Ok(record) => record.data[&list.name]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        Err(Error::NotFound(_)) => Vec::new(),
        Err(error) => return Err(error).or_page(t),
    };
    Ok((category, items))
}

/// An item's number from the path: an existing item, or the next new one.
fn index(raw: &str, items: &[Value], cap: usize, me: &Resident) -> Result<usize, PortalError> {
    match raw.parse::<usize>() {
        Ok(i) if i < items.len() || (i == items.len() && i < cap) => Ok(i),
        _ => Err(Error::NotFound("step")).or_page(me.texts),
    }
}

/// One item of the list, to change; or the next, to add.
pub async fn item(
    State(state): State<AppState>,
    ApiPath((id, raw)): ApiPath<(String, String)>,
    me: Resident,
) -> Result<Response, PortalError> {
    let (category, items) = items_of(&state, &me, &id).await?;
    let (_, fields, cap) = stepwise(category)
        .ok_or(Error::NotFound("step"))
        .or_page(me.texts)?;
    let i = index(&raw, &items, cap, &me)?;
    let values = form::values_of(fields, items.get(i).unwrap_or(&Value::Null), me.texts);
    item_page(&state, &me, category, &items, i, &values, Errors::new())
}

fn item_page(
    state: &AppState,
    me: &Resident,
    category: &Category,
    items: &[Value],
    i: usize,
    values: &Values,
    errors: Errors,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let (list, fields, cap) = stepwise(category)
        .ok_or(Error::NotFound("step"))
        .or_page(t)?;
    let label = list.label.get(t.language);
    let is_new = i == items.len();
    let title = if is_new {
        t.fill("form.new_item", &[("item", label)])
    } else {
        format!("{label} {}", i + 1)
    };
    let step = if is_new {
        t.fill("steps.adding", &[("category", category.label(t.language))])
    } else {
        t.fill(
            "steps.step",
            &[
                ("n", &(i + 1).to_string()),
                ("total", &items.len().to_string()),
            ],
        )
    };
    let mut page = me.page(state, &title, "overview");
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        page.alert = Some(t.get("edit.error_title_prefix"));
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(
        &ItemPage {
            page,
            id: category.info.id.clone(),
            index: i,
            step,
            is_new,
            can_add: items.len() + usize::from(is_new) < cap,
            widgets: form::widgets(fields, values, &errors, t),
            errors: errors
                .into_iter()
                .map(|(name, message)| (form::element_id(&name), message))
                .collect(),
        },
        status,
    ))
}

/// Saves this item into the list, then goes back to the record or on to a new item.
pub async fn save_item(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath((id, raw)): ApiPath<(String, String)>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let posted = form::posted(me.form(&state, request).await?);
    let (category, mut items) = items_of(&state, &me, &id).await?;
    let (list, fields, cap) = stepwise(category)
        .ok_or(Error::NotFound("step"))
        .or_page(t)?;
    let i = index(&raw, &items, cap, &me)?;
    let item = match form::record_of(fields, &posted, t) {
        Ok(item) => item,
        Err(errors) => return item_page(&state, &me, category, &items, i, &posted, errors),
    };
    let held = items.len();
    if i == held {
        items.push(item);
    } else {
        items[i] = item;
    }
    let record = serde_json::json!({ list.name.as_str(): items });
    match state.residents.write(&context, me.id, &id, &record).await {
        Ok(_) => {}
        Err(Error::SchemaViolation(_)) => {
            let errors = vec![(String::new(), t.get("edit.not_accepted").to_owned())];
            items.truncate(held);
            return item_page(&state, &me, category, &items, i, &posted, errors);
        }
        Err(error) => return Err(error).or_page(t),
    }
    let add_next = posted.get("then").is_some_and(|v| v == "add") && items.len() < cap;
    Ok(see_other(&if add_next {
        format!("/portal/records/{id}/items/{}?done=saved", items.len())
    } else {
        format!("/portal/records/{id}?done=saved")
    }))
}

/// Removes this item from the list.
pub async fn remove_item(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath((id, raw)): ApiPath<(String, String)>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    me.form(&state, request).await?;
    let (category, mut items) = items_of(&state, &me, &id).await?;
    let (list, _, cap) = stepwise(category)
        .ok_or(Error::NotFound("step"))
        .or_page(t)?;
    let i = index(&raw, &items, cap, &me)?;
    if i == items.len() {
        return Err(Error::NotFound("step")).or_page(t);
    }
    items.remove(i);
    let record = serde_json::json!({ list.name.as_str(): items });
    state
        .residents
        .write(&context, me.id, &id, &record)
        .await
        .or_page(t)?;
    Ok(see_other(&format!("/portal/records/{id}?done=removed")))
}
