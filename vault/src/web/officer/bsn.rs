//! "Zoeken op BSN": a post, so that no BSN lands in a URL or the browser's history. The
//! vault is found through the BSN's keyed hash and the officer is sent to the search of
//! that resident's audit reference; the log records that a BSN was looked up and the
//! reference found (or that none was), never the BSN.

use super::Officer;
use super::search::{Mistake, SearchForm, show};
use crate::Error;
use crate::http::extract::Ctx;
use crate::state::AppState;
use crate::web::{read_form, see_other};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

/// Finds the resident with this BSN (through its keyed hash; the log records that a BSN
/// was looked up and the reference found, never the BSN), then shows their entries.
pub async fn by_bsn(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    officer: Officer,
    request: Request,
) -> Response {
    let fields = match read_form(&state, &officer.session, officer.texts, request).await {
        Ok(fields) => fields,
        Err(error) => return error.into_response(),
    };
    let bsn = fields
        .iter()
        .find(|(k, _)| k == "bsn")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let mistake = |message| {
        vec![Mistake {
            field: "bsn",
            message,
        }]
    };
    let mistakes = if bsn.is_empty() {
        mistake("officer.fix_bsn")
    } else {
        match state
            .desk
            .lookup_national_id(&context, &officer.actor(), &bsn)
            .await
        {
            Ok(lookup) => {
                return see_other(&format!("/officer/search?resident={}", lookup.resident));
            }
            Err(Error::NotFound(_)) => mistake("officer.fix_unknown_bsn"),
            Err(Error::InvalidParameter(_)) => mistake("officer.fix_bsn"),
            Err(error) => return officer.error(error),
        }
    };
    // The BSN typed is not shown again: it was wrong, and a page is kept in history.
    show(&state, &officer, &SearchForm::default(), mistakes, None)
}
