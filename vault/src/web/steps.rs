//! Long lists, one item per step: the income sources, the fixed costs, the debts, the
//! children and the life events are each one list, and filling in ten of them on one page
//! is a wall. A category whose only field is a list gets a page per item: change this one,
//! save, add the next ("Opslaan en nog een toevoegen"), or remove it. Each step stores a
//! new version of the whole record. Every form carries the version it was made from: a
//! second tab or a double click that would change another item than the one shown is
//! refused, with nothing changed.

use super::edit::shared_with;
use super::form::{self, Control, Errors, Values};
use super::records::current;
use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::Error;
use crate::http::extract::{ApiPath, Ctx};
use crate::residents::catalogue::Category;
use crate::residents::fields::{Field, FieldKind};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::Value;

/// The one list of a category edited in steps: its field, the fields of an item and how
/// many items it may hold; `None` when the category is more than one list.
pub fn stepwise(category: &Category) -> Option<(&Field, &[Field], usize)> {
    match category.fields.as_slice() {
        [field] => match &field.kind {
            FieldKind::List { item, max_items } => Some((
                field,
                item.as_slice(),
                max_items
                    .map_or(form::LIST_CAP, |m| m as usize)
                    .min(form::LIST_CAP),
            )),
            _ => None,
        },
        _ => None,
    }
}

/// A category edited in steps, as stored now.
struct List<'a> {
    category: &'a Category,
    field: &'a Field,
    item: &'a [Field],
    cap: usize,
    items: Vec<Value>,
    /// The stored version (0: nothing stored yet).
    version: u32,
}

impl List<'_> {
    /// An item's number from the path: an existing item, or the next new one.
    fn index(&self, raw: &str) -> Option<usize> {
        match raw.parse::<usize>() {
            Ok(i) if i < self.items.len() || (i == self.items.len() && i < self.cap) => Some(i),
            _ => None,
        }
    }

    fn record(&self) -> Value {
        serde_json::json!({ self.field.name.as_str(): self.items })
    }
}

/// The list of category `id` and item `raw`; refuses a category that is not edited in
/// steps, one a department keeps, and an item that is not there.
async fn list_of<'a>(
    state: &'a AppState,
    me: &Resident,
    id: &str,
    raw: &str,
) -> Result<(List<'a>, usize), PortalError> {
    let t = me.texts;
    let category = state.residents.catalogue().get(id).or_page(t)?;
    state.residents.refuse_department_kept(id).or_page(t)?;
    let (field, item, cap) = stepwise(category)
        .ok_or(Error::NotFound("step"))
        .or_page(t)?;
    let stored = current(state, me, id).await?;
    let list = List {
        category,
        field,
        item,
        cap,
        items: stored
            .as_ref()
            .and_then(|r| r.data[&field.name].as_array().cloned())
            .unwrap_or_default(),
        version: stored.map_or(0, |r| r.version),
    };
    let i = list.index(raw).ok_or(Error::NotFound("step")).or_page(t)?;
    Ok((list, i))
}

/// Refuses a form made from another version than the one stored now.
fn check_version(
    list: &List<'_>,
    posted: &Values,
    t: crate::language::Texts,
) -> Result<(), PortalError> {
    if posted.get("version") == Some(&list.version.to_string()) {
        Ok(())
    } else {
        Err(Error::Conflict(
            "the list changed since this page was shown; open it again",
        ))
        .or_page(t)
    }
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    page: Page,
    id: String,
    index: usize,
    /// The stored version the page was made from.
    version: u32,
    /// "2 van 5", or what is being added to.
    step: String,
    is_new: bool,
    can_add: bool,
    widgets: Vec<form::Widget>,
    errors: Vec<(String, String)>,
    shared_with: Vec<String>,
}

/// One item of the list, to change; or the next, to add.
pub async fn item(
    State(state): State<AppState>,
    ApiPath((id, raw)): ApiPath<(String, String)>,
    me: Resident,
) -> Result<Response, PortalError> {
    let (list, i) = list_of(&state, &me, &id, &raw).await?;
    let values = form::values_of(
        list.item,
        list.items.get(i).unwrap_or(&Value::Null),
        me.texts,
    );
    item_page(&state, &me, &list, i, &values, Errors::new()).await
}

async fn item_page(
    state: &AppState,
    me: &Resident,
    list: &List<'_>,
    i: usize,
    values: &Values,
    errors: Errors,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let label = list.field.label.get(t.language);
    let is_new = i == list.items.len();
    let (title, step) = if is_new {
        (
            t.fill("form.new_item", &[("item", label)]),
            t.fill(
                "steps.adding",
                &[("category", list.category.label(t.language))],
            ),
        )
    } else {
        (
            format!("{label} {}", i + 1),
            t.fill(
                "steps.step",
                &[
                    ("n", &(i + 1).to_string()),
                    ("total", &list.items.len().to_string()),
                ],
            ),
        )
    };
    let mut page = me.page(state, &title, "overview");
    let status = page.answering(!errors.is_empty());
    Ok(render(
        &ItemPage {
            page,
            id: list.category.info.id.clone(),
            index: i,
            version: list.version,
            step,
            is_new,
            can_add: list.items.len() + usize::from(is_new) < list.cap,
            widgets: form::widgets(list.item, values, &errors, t),
            errors: form::error_links(errors),
            shared_with: shared_with(state, me, &list.category.info.id).await?,
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
    let (mut list, i) = list_of(&state, &me, &id, &raw).await?;
    check_version(&list, &posted, t)?;
    let item = match form::record_of(list.item, &posted, t) {
        Ok(item) => item,
        Err(errors) => return item_page(&state, &me, &list, i, &posted, errors).await,
    };
    let held = list.items.len();
    if i == held {
        list.items.push(item);
    } else {
        list.items[i] = item;
    }
    match state
        .residents
        .write(&context, me.id, &id, &list.record())
        .await
    {
        Ok(_) => {}
        Err(Error::SchemaViolation(_)) => {
            list.items.truncate(held);
            let errors = vec![(String::new(), t.get("edit.not_accepted").to_owned())];
            return item_page(&state, &me, &list, i, &posted, errors).await;
        }
        Err(error) => return Err(error).or_page(t),
    }
    let add_next = posted.get("then").is_some_and(|v| v == "add") && list.items.len() < list.cap;
    Ok(see_other(&if add_next {
        format!("/portal/records/{id}/items/{}?done=saved", list.items.len())
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
    let posted = form::posted(me.form(&state, request).await?);
    let (mut list, i) = list_of(&state, &me, &id, &raw).await?;
    check_version(&list, &posted, t)?;
    if i == list.items.len() {
        return Err(Error::NotFound("step")).or_page(t);
    }
    list.items.remove(i);
    state
        .residents
        .write(&context, me.id, &id, &list.record())
        .await
        .or_page(t)?;
    Ok(see_other(&format!("/portal/records/{id}?done=removed")))
}
