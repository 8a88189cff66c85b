//! The privacy officer's pages ("Logboek controleren"), behind the staff login with the
//! officer role: a search of the log, the reports, the signed checkpoint with a check of a
//! saved one, and the exports. Officers see the log's metadata, never a vault's contents.
//!
//! Every page asks `audit::officer::OfficerDesk`, which logs the question first (fail
//! closed), exactly as for the officer's API. Anyone else (no login, a resident, a coach)
//! gets a page that says these pages are for privacy officers, and nothing of the log.
//!
//! - [`search`]: the log's entries by resident, department, grant, purpose, action,
//!   outcome, time or coach, a page at a time.
//! - [`bsn`]: finding a resident's entries by BSN, without the BSN in a URL.
//! - [`reports`]: each report with its result and how it was computed.
//! - [`checkpoint`]: the current checkpoint, and checking one saved earlier.

pub mod bsn;
pub mod checkpoint;
pub mod reports;
pub mod search;

use super::{Page, PortalError, render};
use crate::Error;
use crate::audit::entry::Actor;
use crate::audit::officer::{ExportFormat, Range};
use crate::auth::officers::OfficerPrincipal;
use crate::auth::{Principal, Session, SessionKind};
use crate::http::extract::{ApiQuery, Ctx, cookie};
use crate::language::Texts;
use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A logged-in privacy officer on one of their pages.
pub struct Officer {
    /// Who.
    pub principal: OfficerPrincipal,
    /// Their session (CSRF token, logout).
    pub session: Session,
    /// The words in their language.
    pub texts: Texts,
    /// The path asked for (with its query, for the language switch).
    pub path: String,
}

impl FromRequestParts<AppState> for Officer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let texts = Texts {
            language: super::language_of(parts),
        };
        let not_logged_in = || {
            refused(
                state,
                texts,
                "officer.log_in_first",
                StatusCode::UNAUTHORIZED,
            )
        };
        let token = cookie(parts, crate::auth::SESSION_COOKIE).ok_or_else(not_logged_in)?;
        let session = state
            .sessions
            .resolve(token, SessionKind::Browser)
            .await
            .map_err(|_| not_logged_in())?;
        let Principal::Officer(principal) = session.principal.clone() else {
            return Err(refused(
                state,
                texts,
                "officer.only_officers",
                StatusCode::FORBIDDEN,
            ));
        };
        let path = match parts.uri.query() {
            Some(query) => format!("{}?{query}", parts.uri.path()),
            None => parts.uri.path().to_owned(),
        };
        Ok(Officer {
            principal,
            session,
            texts,
            path,
        })
    }
}

impl Officer {
    /// The officer as the log's actor.
    pub fn actor(&self) -> Actor {
        Actor::Officer {
            id: self.principal.id.clone(),
        }
    }

    /// The frame of an officer's page; `section` marks the menu item.
    pub(super) fn page(&self, state: &AppState, title: &str, section: &'static str) -> Page {
        Page {
            texts: self.texts,
            title: title.to_owned(),
            section,
            csrf: Some(self.session.csrf_token.clone()),
            path: self.path.clone(),
            notice: None,
            dev: state.site.dev_login,
            municipality: state.site.municipality.clone(),
            alert: None,
            menu: false,
            staff: true,
        }
    }

    /// A domain error as the page an officer sees.
    pub(super) fn error(&self, error: Error) -> Response {
        PortalError {
            error,
            texts: self.texts,
        }
        .into_response()
    }
}

#[derive(Template)]
#[template(path = "coach_refused.html")]
struct RefusedPage {
    page: Page,
    message: &'static str,
    back: (&'static str, &'static str),
}

/// A refusal: these pages are for privacy officers; the way back is the start page.
fn refused(state: &AppState, texts: Texts, key: &str, status: StatusCode) -> Response {
    let page = Page {
        texts,
        title: texts.get("officer.refused_title").to_owned(),
        section: "officer",
        csrf: None,
        path: "/officer".into(),
        notice: None,
        dev: state.site.dev_login,
        municipality: state.site.municipality.clone(),
        alert: None,
        menu: false,
        staff: false,
    };
    render(
        &RefusedPage {
            page,
            message: texts.get(key),
            back: ("/", texts.get("coach.to_start")),
        },
        status,
    )
}

#[derive(Template)]
#[template(path = "officer_home.html")]
struct HomePage {
    page: Page,
    name: String,
}

/// "Logboek controleren": what the officer can do here.
pub async fn home(State(state): State<AppState>, officer: Officer) -> Response {
    let page = officer.page(&state, officer.texts.get("officer.home_title"), "officer");
    render(
        &HomePage {
            page,
            name: officer.principal.name.clone(),
        },
        StatusCode::OK,
    )
}

#[derive(Template)]
#[template(path = "officer_downloads.html")]
struct DownloadsPage {
    page: Page,
    size: u64,
}

/// The exports, each a download of the whole log.
pub async fn downloads(State(state): State<AppState>, officer: Officer) -> Response {
    let page = officer.page(
        &state,
        officer.texts.get("officer.downloads_title"),
        "officer-downloads",
    );
    let size = state.audit.size().await;
    render(&DownloadsPage { page, size }, StatusCode::OK)
}

/// The query of a download.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    format: String,
}

/// One export as a file: `kluis` (verifiable with `kluis audit verify`), `logboek` or
/// `adl`. Logged like the API's export.
pub async fn download(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    officer: Officer,
    ApiQuery(query): ApiQuery<DownloadQuery>,
) -> Response {
    let format = match ExportFormat::from_name(&query.format) {
        Ok(format) => format,
        Err(error) => return officer.error(error),
    };
    match state
        .desk
        .export(&context, &officer.actor(), &Range::default(), format)
        .await
    {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
                (header::CACHE_CONTROL, "no-store".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"kluis-audit-{}.jsonl\"",
                        format.name()
                    ),
                ),
            ],
            body,
        )
            .into_response(),
        Err(error) => officer.error(error),
    }
}
