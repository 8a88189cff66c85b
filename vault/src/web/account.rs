//! Coming and going: the start page with the ways to log in, the language switch, who
//! looked at my data, downloading and erasing my vault, and logging out.

use super::{LANGUAGE_COOKIE, OrPage, Page, PortalError, Resident, Visitor, render, see_other};
use crate::Error;
use crate::auth::dev_login::{DEV_ISSUER, HENK, validate_subject};
use crate::auth::{Principal, SESSION_COOKIE, SessionKind};
use crate::config::OidcRole;
use crate::http::extract::{ApiQuery, Ctx, cookie, set_cookie};
use crate::language::Language;
use crate::language::Texts;
use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A way to log in.
pub struct Provider {
    /// Where the button goes.
    pub href: String,
    /// What it says: the provider's configured (Dutch) label.
    pub label: String,
}

#[derive(Template)]
#[template(path = "start.html")]
struct StartPage {
    page: Page,
    providers: Vec<Provider>,
    /// The staff logins (coaches and privacy officers).
    staff: Vec<Provider>,
    dev_login: bool,
    dev_subject: &'static str,
}

/// The start page: what Kluis is, and how to log in. A logged-in resident goes on to the
/// overview, a logged-in coach to "Mijn inwoners".
pub async fn start(State(state): State<AppState>, visitor: Visitor, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if let Some(token) = cookie(&parts, SESSION_COOKIE)
        && let Ok(session) = state.sessions.resolve(token, SessionKind::Browser).await
    {
        match session.principal {
            Principal::Resident(_) => return see_other("/portal"),
            Principal::Coach(_) => return see_other("/coach"),
            Principal::Officer(_) => {}
        }
    }
    let t = visitor.texts;
    let (providers, staff): (Vec<_>, Vec<_>) = state
        .oidc
        .providers()
        .into_iter()
        .partition(|(_, _, role)| *role == OidcRole::Resident);
    let link = |(name, label, _): (String, String, OidcRole)| Provider {
        href: format!("/login/{name}"),
        label,
    };
    let providers = providers.into_iter().map(link).collect();
    let staff = staff.into_iter().map(link).collect();
    let mut page = visitor.page(&state, t.get("start.title"));
    page.notice = parts
        .uri
        .query()
        .and_then(super::done_message)
        .map(|key| t.get(&key).to_owned());
    render(
        &StartPage {
            page,
            providers,
            staff,
            dev_login: state.site.dev_login,
            dev_subject: HENK,
        },
        StatusCode::OK,
    )
}

/// The language switch's query: the language, and the page to return to.
#[derive(serde::Deserialize)]
pub struct LanguageSwitch {
    to: Option<String>,
    back: Option<String>,
}

/// Remembers the chosen language and goes back to the page it was chosen on (a path on
/// this vault only).
pub async fn switch_language(
    State(state): State<AppState>,
    ApiQuery(switch): ApiQuery<LanguageSwitch>,
) -> Response {
    let language = switch
        .to
        .as_deref()
        .and_then(Language::from_tag)
        .unwrap_or_default();
    let back = switch.back.unwrap_or_default();
    let target = if is_local_path(&back) {
        back.as_str()
    } else {
        "/"
    };
    let cookie = set_cookie(
        &state.site,
        LANGUAGE_COOKIE,
        language.tag(),
        "/",
        Some(365 * 24 * 3600),
    );
    ([(header::SET_COOKIE, cookie)], see_other(target)).into_response()
}

/// Whether `back` is a path on this vault and nothing a browser could read as another
/// host: one leading slash, no backslash, no control character anywhere (browsers drop
/// tabs and newlines, so `/\t/evil.example` would become `//evil.example`).
fn is_local_path(back: &str) -> bool {
    back.starts_with('/')
        && !back.starts_with("//")
        && !back.chars().any(|c| c == '\\' || c.is_control())
}

/// The development login of `kluis dev`: logs in as a test resident and opens the portal.
/// Only a post from the vault's own pages is taken.
pub async fn dev_login(
    State(state): State<AppState>,
    visitor: Visitor,
    request: Request,
) -> Result<Response, PortalError> {
    let t = visitor.texts;
    let headers: HeaderMap = request.headers().clone();
    let own_origin = state.site.public_url.trim_end_matches('/');
    if headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) != Some(own_origin) {
        return Err(Error::CsrfRejected).or_page(t);
    }
    let axum::Form(form) = axum::Form::<Vec<(String, String)>>::from_request(request, &())
        .await
        .map_err(|_| Error::InvalidParameter("the form could not be read".into()))
        .or_page(t)?;
    let subject = form
        .iter()
        .find(|(k, _)| k == "subject")
        .map(|(_, v)| v.trim())
        .unwrap_or(HENK);
    validate_subject(subject).or_page(t)?;
    tracing::warn!(login_method = "dev", "development login used");
    let resident = state
        .residents
        .ensure_resident(DEV_ISSUER, subject)
        .await
        .or_page(t)?;
    let session = state
        .sessions
        .create(
            &Principal::Resident(resident.id),
            SessionKind::Browser,
            "dev",
            None,
        )
        .await
        .or_page(t)?;
    let cookie = set_cookie(&state.site, SESSION_COOKIE, &session.token, "/", None);
    Ok(([(header::SET_COOKIE, cookie)], see_other("/portal")).into_response())
}

/// The development coach login of `kluis dev`: a session as the demo coach.
pub async fn dev_coach_login(
    State(state): State<AppState>,
    visitor: Visitor,
    request: Request,
) -> Result<Response, PortalError> {
    let t = visitor.texts;
    let own_origin = state.site.public_url.trim_end_matches('/');
    if request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        != Some(own_origin)
    {
        return Err(Error::CsrfRejected).or_page(t);
    }
    let (provider, subject) = crate::dev::DEV_COACH_LOGIN;
    let coach = state
        .coaching
        .coaches()
        .by_login(provider, subject)
        .await
        .or_page(t)?
        .ok_or(Error::Forbidden("the demo coach is not on the coach list"))
        .or_page(t)?;
    tracing::warn!(login_method = "dev", "development coach login used");
    let session = state
        .sessions
        .create(&Principal::Coach(coach), SessionKind::Browser, "dev", None)
        .await
        .or_page(t)?;
    let cookie = set_cookie(&state.site, SESSION_COOKIE, &session.token, "/", None);
    Ok(([(header::SET_COOKIE, cookie)], see_other("/coach")).into_response())
}

/// One line of my history.
pub struct HistoryLine {
    /// When.
    pub time: String,
    /// What, in short sentences with the data as a list.
    pub story: crate::language::stories::Story,
    /// Whether it was a department reading (shown first-class: that is what people ask).
    pub read: bool,
    /// For an allowed read: its position in the log (the links "Vraag om te wissen" and
    /// "Klacht indienen" name it).
    pub allowed_read: Option<u64>,
    /// For a read the resident asked to be deleted: where that stands.
    pub erasure: Option<String>,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    page: Page,
    /// The complaint code: 8 characters to read out on the phone.
    code: String,
    /// How to reach the privacy officer, with the phone number when the vault has one.
    call: String,
    lines: Vec<HistoryLine>,
}

/// Who looked at my data, and everything else done with it, newest first.
pub async fn history(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    let t = me.texts;
    let coaches = state.coaching.coaches().names().await.or_page(t)?;
    let (reference, items) = state
        .consent
        .resident_history(me.id, &coaches, t)
        .await
        .or_page(t)?;
    let lines = items
        .into_iter()
        .map(|item| {
            let department = item.department.as_ref().map_or("", |d| d.name.as_str());
            let erasure = item.erasure.map(|asked| match asked.confirmed_at {
                Some(at) => t.fill(
                    "history.erasure_confirmed",
                    &[("department", department), ("date", &t.date(at))],
                ),
                None => t.fill(
                    "history.erasure_asked",
                    &[
                        ("department", department),
                        ("date", &t.date(asked.asked_at)),
                    ],
                ),
            });
            let read = item.action == crate::audit::entry::Action::Read;
            HistoryLine {
                time: t.date_time(item.time),
                allowed_read: (read && item.outcome == crate::audit::entry::Outcome::Allowed)
                    .then_some(item.seq),
                erasure,
                story: item.story,
                read,
            }
        })
        .collect();
    Ok(render(
        &HistoryPage {
            page: me.page(&state, t.get("history.title"), "history"),
            code: crate::audit::complaint::complaint_code(&reference).unwrap_or(reference),
            call: match &state.site.municipality.phone {
                Some(phone) => t.fill("history.call", &[("phone", phone)]),
                None => t.get("history.no_phone").to_owned(),
            },
            lines,
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: Page,
}

/// Download or erase everything.
pub async fn account(State(state): State<AppState>, me: Resident) -> Result<Response, PortalError> {
    Ok(render(
        &AccountPage {
            page: me.page(&state, me.texts.get("account.title"), "account"),
        },
        StatusCode::OK,
    ))
}

/// Everything in my vault as one JSON file.
pub async fn download(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    me.form(&state, request).await?;
    let export = state
        .consent
        .export_vault(&context, me.id)
        .await
        .or_page(me.texts)?;
    let body = serde_json::to_vec_pretty(&export)
        .map_err(|e| Error::Internal(format!("export: {e}")))
        .or_page(me.texts)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"mijn-kluis.json\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "erase.html")]
struct ErasePage {
    page: Page,
    error: Option<&'static str>,
}

/// What erasing means, and the confirmation it needs.
pub async fn confirm_erase(
    State(state): State<AppState>,
    me: Resident,
) -> Result<Response, PortalError> {
    Ok(erase_page(&state, &me, None))
}

fn erase_page(state: &AppState, me: &Resident, error: Option<&'static str>) -> Response {
    let t = me.texts;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        &ErasePage {
            page: me.page(state, t.get("erase.title"), "account"),
            error,
        },
        status,
    )
}

/// Erases the vault (only with the box ticked) and ends the login.
pub async fn erase(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t = me.texts;
    let form = me.form(&state, request).await?;
    if !form.iter().any(|(k, v)| k == "confirm" && v == "yes") {
        return Ok(erase_page(&state, &me, Some(t.get("erase.not_confirmed"))));
    }
    state
        .consent
        .erase_vault(&context, me.id, state.site.rotate_after_erasure)
        .await
        .or_page(t)?;
    state.sessions.end(&me.session).await.or_page(t)?;
    let clear = set_cookie(&state.site, SESSION_COOKIE, "", "/", Some(0));
    Ok(([(header::SET_COOKIE, clear)], see_other("/?done=erased")).into_response())
}

#[derive(Template)]
#[template(path = "goodbye.html")]
struct GoodbyePage {
    page: Page,
    provider_logout: String,
    provider_logout_label: String,
}

/// Logs out of Kluis. After a login through a provider that can log out too, the page
/// offers that as well (a link: the portal's forms may only post to the vault itself).
pub async fn logout(
    State(state): State<AppState>,
    me: Resident,
    request: Request,
) -> Result<Response, PortalError> {
    let t: Texts = me.texts;
    me.form(&state, request).await?;
    let home = format!("{}/", state.site.public_url.trim_end_matches('/'));
    let provider_logout = state.oidc.logout_url(&me.session.login_method);
    state.sessions.end(&me.session).await.or_page(t)?;
    let clear = set_cookie(&state.site, SESSION_COOKIE, "", "/", Some(0));
    if provider_logout == home {
        return Ok((
            [(header::SET_COOKIE, clear)],
            see_other("/?done=logged_out"),
        )
            .into_response());
    }
    let provider = me
        .session
        .login_method
        .strip_prefix("oidc:")
        .unwrap_or_default();
    let label = state
        .oidc
        .providers()
        .into_iter()
        .find(|(name, _, _)| name == provider)
        .map(|(_, label, _)| label)
        .unwrap_or_default();
    let mut page = Page {
        texts: t,
        title: t.get("goodbye.title").to_owned(),
        section: "",
        csrf: None,
        path: "/".into(),
        notice: None,
        dev: state.site.dev_login,
        municipality: state.site.municipality.clone(),
        alert: None,
        menu: false,
        staff: false,
    };
    page.notice = Some(t.get("done.logged_out").to_owned());
    let mut response = render(
        &GoodbyePage {
            page,
            provider_logout,
            provider_logout_label: t.fill("goodbye.provider", &[("provider", &label)]),
        },
        StatusCode::OK,
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        clear
            .parse()
            .map_err(|_| Error::Internal("cookie".into()))
            .or_page(t)?,
    );
    Ok(response)
}
