//! The form for one whole category: filled with what is stored, saved as a new version,
//! or shown again with what to correct. (A category that is one list can also be filled
//! in one item per page: `steps`.)

use super::form::{self, Control, Errors, Values, Widget};
use super::records::{active_grants_covering, current};
use super::{OrPage, Page, PortalError, Resident, render, see_other};
use crate::Error;
use crate::http::extract::{ApiPath, Ctx};
use crate::residents::catalogue::Category;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::Value;

#[derive(Template)]
#[template(path = "edit.html")]
struct EditPage {
    page: Page,
    id: String,
    widgets: Vec<Widget>,
    errors: Vec<(String, String)>,
    shared_with: Vec<String>,
}

/// The form for one category, filled with what is stored.
pub async fn edit(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    me: Resident,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let category = state.residents.catalogue().get(&id).or_page(t)?;
    state.residents.refuse_department_kept(&id).or_page(t)?;
    let data = current(&state, &me, &id)
        .await?
        .map(|r| r.data)
        .unwrap_or(Value::Null);
    let values = form::values_of(&category.fields, &data, t);
    edit_page(&state, &me, category, &values, Errors::new()).await
}

async fn edit_page(
    state: &AppState,
    me: &Resident,
    category: &Category,
    values: &Values,
    errors: Errors,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let shared_with = shared_with(state, me, &category.info.id).await?;
    let title = t.fill("edit.title", &[("category", category.label(t.language))]);
    let mut page = me.page(state, &title, "overview");
    let status = page.answering(!errors.is_empty());
    Ok(render(
        &EditPage {
            page,
            id: category.info.id.clone(),
            widgets: form::widgets(&category.fields, values, &errors, t),
            errors: form::error_links(errors),
            shared_with,
        },
        status,
    ))
}

/// The departments that will see a change to `category`: their names.
pub(super) async fn shared_with(
    state: &AppState,
    me: &Resident,
    category: &str,
) -> Result<Vec<String>, PortalError> {
    Ok(active_grants_covering(state, me, category)
        .await?
        .into_iter()
        .map(|g| g.department.name)
        .collect())
}

/// Saves the form as the category's new version, or shows what to correct.
pub async fn save(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    ApiPath(id): ApiPath<String>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let category = state.residents.catalogue().get(&id).or_page(t)?;
    let values = form::posted(me.form(&state, request).await?);
    match form::record_of(&category.fields, &values, t) {
        Ok(record) => match state.residents.write(&context, me.id, &id, &record).await {
            Ok(_) => Ok(see_other(&format!("/portal/records/{id}?done=saved"))),
            Err(Error::SchemaViolation(_)) => {
                let errors = vec![(String::new(), t.get("edit.not_accepted").to_owned())];
                edit_page(&state, &me, category, &values, errors).await
            }
            Err(error) => Err(PortalError { error, texts: t }),
        },
        Err(errors) => edit_page(&state, &me, category, &values, errors).await,
    }
}
