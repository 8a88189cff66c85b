//! The resident portal, "Mijn kluis": server-rendered pages in plain Dutch (or English)
//! where residents see their data, answer requests, withdraw consent, see who looked,
//! download and erase their vault.
//!
//! Why server-rendered and without JavaScript: it works on any phone or library computer,
//! with any assistive technology, and a strict Content-Security-Policy (`script-src` is
//! not even allowed) leaves no room for injected script. Templates are compiled into the
//! binary (askama, `vault/templates/`), as is the NL Design System stylesheet
//! (`vault/build.rs`); a page loads nothing from any other host.
//!
//! The portal holds no rules of its own: it calls the same domain services as the JSON
//! API (`residents`, `consent`), with the browser's session cookie instead of a bearer
//! token. Every form carries the session's CSRF token and must come from the vault's own
//! origin ([`crate::http::extract::check_form_origin`]); a post that fails either changes
//! nothing.
//!
//! - `messages.toml`: every sentence, in both languages (read by [`crate::language`]).
//! - [`form`]: forms generated from a category's fields, and read back.
//! - [`records`]: the overview and the category pages.
//! - [`edit`]: the form for one whole category.
//! - [`steps`]: a list-only category one item per page ("nog een toevoegen").
//! - [`decisions`]: requests, grants and withdrawing them.
//! - [`account`]: start and login, who looked, download, erase, logout.
//! - [`events`] and [`questions`]: "Wat is er gebeurd?": the life-event flow.
//! - [`cases`]: "Waar sta ik?": where each case stands.
//! - [`story`]: "Mijn verhaal", a printable summary to take to an appointment.
//! - [`look_along`]: "Iemand laten meekijken": letting a coach in, ending it.
//! - [`help`]: "Ik wil hulp van mijn coach".
//! - [`proposals`]: "Uw coach stelt voor:", a coach's change side by side, to take over.
//! - [`coach`]: the coach's own pages ("Mijn inwoners"), behind the staff login.
//! - [`officer`]: the privacy officer's pages ("Logboek controleren"), behind the staff
//!   login with the officer role.
//! - [`witness`]: a coach's yes on the resident's behalf, and the resident's answer.
//! - `routes`: every page's path.
//! - `not_found`: the page for an unknown path (API paths keep problem+json).
//! - `assets`: the stylesheet, and the municipality's theme and logo.
//! - `error_page`: a failed page as a page, in the theme.

pub mod account;
mod assets;
pub mod cases;
pub mod coach;
pub mod decisions;
pub mod edit;
mod error_page;
pub mod events;
pub mod form;
pub mod help;
pub mod look_along;
mod not_found;
pub mod officer;
pub mod pauses;
pub mod privacy;
pub mod proposals;
pub mod questions;
pub mod reads;
pub mod records;
mod routes;
pub mod schemes;
pub mod steps;
pub mod story;
pub mod witness;

pub use error_page::{OrPage, PortalError, theme_error_page};
pub use not_found::not_found;
pub use routes::routes;

use crate::auth::{Principal, Session, SessionKind};
use crate::http::extract::{check_form_origin, cookie};
use crate::language::Language;
use crate::language::Texts;
use crate::residents::ResidentId;
use crate::state::AppState;
use crate::{Error, Result};
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

/// The cookie that remembers the chosen language (not personal data).
pub const LANGUAGE_COOKIE: &str = "kluis_lang";

/// What a portal page may load and do: its own stylesheet, data-URL icons from that
/// stylesheet, forms to itself. No script at all, no frames, no other hosts.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The frame every page shares: language, title, navigation, notice.
pub struct Page {
    /// The words.
    pub texts: Texts,
    /// The page's title (also its `<h1>`).
    pub title: String,
    /// Which part of the navigation is current (`overview`, `requests`, `grants`,
    /// `history`, `account`, or empty).
    pub section: &'static str,
    /// The logged-in resident's bar: the logout form needs the CSRF token.
    pub csrf: Option<String>,
    /// The path of this page, for the language switch to return to.
    pub path: String,
    /// A message about what just happened ("Opgeslagen").
    pub notice: Option<String>,
    /// Whether this is a development vault (a warning is shown).
    pub dev: bool,
    /// Whether the portal's menu is shown (a resident's pages and error pages).
    pub menu: bool,
    /// The municipality: its name, phone number and theme.
    pub municipality: std::sync::Arc<crate::config::Municipality>,
    /// Put before the title in the browser's tab only ("Let op:" when a form has errors);
    /// the `<h1>` stays the page's title.
    pub alert: Option<&'static str>,
    /// A coach's page: the coach's menu, and logout through `/logout`.
    pub staff: bool,
}

impl Page {
    /// The message `key` in the page's language.
    pub fn t(&self, key: &str) -> &'static str {
        self.texts.get(key)
    }

    /// The title in the browser's tab.
    pub fn head_title(&self) -> String {
        match self.alert {
            Some(alert) => format!("{alert} {}", self.title),
            None => self.title.clone(),
        }
    }

    /// The status of a form page: 200, or (when `mistakes`) 422 with "Let op:" before the
    /// title in the browser's tab.
    pub fn answering(&mut self, mistakes: bool) -> StatusCode {
        if mistakes {
            self.alert = Some(self.texts.get("edit.error_title_prefix"));
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }

    /// The page's language tag.
    pub fn lang(&self) -> &'static str {
        self.texts.language.tag()
    }

    /// The link that switches to the other language and comes back here.
    pub fn switch_href(&self) -> String {
        let other = self.texts.language.other().tag();
        let back =
            percent_encoding::utf8_percent_encode(&self.path, percent_encoding::NON_ALPHANUMERIC);
        format!("/language?to={other}&back={back}")
    }

    /// The classes on `<html>`: the NL Design System example theme, then the
    /// municipality's own (its tokens win: its stylesheet comes later).
    pub fn theme_classes(&self) -> String {
        match &self.municipality.theme {
            Some(theme) => format!("utrecht-document voorbeeld-theme {}", theme.class),
            None => "utrecht-document voorbeeld-theme".into(),
        }
    }

    /// The other language's tag.
    pub fn other_lang(&self) -> &'static str {
        self.texts.language.other().tag()
    }

    /// `aria-current="page"` for the current section's link.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// Renders a page with the portal's headers.
pub fn render(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (
                    header::HeaderName::from_static("content-security-policy"),
                    PAGE_CSP,
                ),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a portal page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "Kluis: internal error").into_response()
        }
    }
}

/// The language of the request: the `kluis_lang` cookie, else Dutch.
pub fn language_of(parts: &Parts) -> Language {
    cookie(parts, LANGUAGE_COOKIE)
        .and_then(Language::from_tag)
        .unwrap_or_default()
}

/// Anyone visiting the portal: their language, and whether the vault is a development one.
pub struct Visitor {
    /// The words in their language.
    pub texts: Texts,
    /// The path asked for.
    pub path: String,
}

impl Visitor {
    /// The frame of a public page.
    pub fn page(&self, state: &AppState, title: &str) -> Page {
        Page {
            texts: self.texts,
            title: title.to_owned(),
            section: "",
            csrf: None,
            path: self.path.clone(),
            notice: None,
            dev: state.site.dev_login,
            municipality: state.site.municipality.clone(),
            alert: None,
            menu: false,
            staff: false,
        }
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self> {
        Ok(Visitor {
            texts: Texts {
                language: language_of(parts),
            },
            path: parts.uri.path().to_owned(),
        })
    }
}

/// A logged-in resident on a portal page. Without a live resident session the browser is
/// sent to the start page.
pub struct Resident {
    /// The resident.
    pub id: ResidentId,
    /// Their session (CSRF token, logout).
    pub session: Session,
    /// The words in their language.
    pub texts: Texts,
    /// The path asked for.
    pub path: String,
    /// The notice asked for by a redirect (`?done=saved`), as a message key.
    pub done: Option<String>,
}

impl FromRequestParts<AppState> for Resident {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PortalError> {
        let texts = Texts {
            language: language_of(parts),
        };
        let fail = |error| PortalError { error, texts };
        let token = cookie(parts, crate::auth::SESSION_COOKIE)
            .ok_or_else(|| fail(Error::Unauthenticated("log in first")))?;
        let session = state
            .sessions
            .resolve(token, SessionKind::Browser)
            .await
            .map_err(fail)?;
        let Principal::Resident(id) = session.principal else {
            return Err(fail(Error::Forbidden(
                "the portal is for residents; staff use their own pages",
            )));
        };
        let done = parts.uri.query().and_then(done_message);
        Ok(Resident {
            id,
            session,
            texts,
            path: parts.uri.path().to_owned(),
            done,
        })
    }
}

impl Resident {
    /// The frame of a page of this resident's portal.
    pub fn page(&self, state: &AppState, title: &str, section: &'static str) -> Page {
        Page {
            texts: self.texts,
            title: title.to_owned(),
            section,
            csrf: Some(self.session.csrf_token.clone()),
            path: self.path.clone(),
            notice: self
                .done
                .as_deref()
                .map(|key| self.texts.get(key).to_owned()),
            dev: state.site.dev_login,
            municipality: state.site.municipality.clone(),
            alert: None,
            menu: true,
            staff: false,
        }
    }

    /// Reads a posted form and checks that it comes from this vault's pages with this
    /// session's CSRF token; returns its values (without the token).
    pub async fn form(
        &self,
        state: &AppState,
        request: Request,
    ) -> Result<Vec<(String, String)>, PortalError> {
        read_form(state, &self.session, self.texts, request).await
    }
}

/// Reads a posted form of a page of `session` and checks that it comes from this vault's
/// pages with the session's CSRF token; returns its values.
pub async fn read_form(
    state: &AppState,
    session: &Session,
    texts: Texts,
    request: Request,
) -> Result<Vec<(String, String)>, PortalError> {
    let headers: HeaderMap = request.headers().clone();
    let fail = |error| PortalError { error, texts };
    let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(request, &())
        .await
        .map_err(|rejection| {
            fail(
                if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    Error::UnsupportedMediaType
                } else {
                    Error::InvalidParameter("the form could not be read".into())
                },
            )
        })?;
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    check_form_origin(&headers, &state.site.public_url, session, csrf).map_err(fail)?;
    Ok(pairs)
}

/// The message key of a `done=` notice in `query` (`done=saved` → `done.saved`), if it
/// names one: a redirect after a post says what happened this way.
pub fn done_message(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("done="))
        .filter(|code| code.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(|code| format!("done.{code}"))
        .filter(|key| crate::language::texts::has_message(key))
}

/// A redirect after a successful post (303: the browser then GETs the page).
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}
