//! The portal's routes: the resident's pages, the coach's and the privacy officer's pages,
//! and the development logins of `kluis dev`.

use super::*;
use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The portal's routes. `dev_login` adds the development login form of `kluis dev`.
pub fn routes(dev_login: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/", get(account::start))
        .route("/assets/portal.css", get(assets::stylesheet))
        .route("/assets/theme.css", get(assets::theme_stylesheet))
        .route("/assets/logo.svg", get(assets::logo))
        .route("/language", get(account::switch_language))
        .route("/portal", get(records::overview))
        .route("/portal/records/{category}", get(records::view))
        .route(
            "/portal/records/{category}/edit",
            get(edit::edit).post(edit::save),
        )
        .route(
            "/portal/records/{category}/items/{index}",
            get(steps::item).post(steps::save_item),
        )
        .route(
            "/portal/records/{category}/items/{index}/remove",
            post(steps::remove_item),
        )
        .route("/portal/requests", get(decisions::requests))
        .route("/portal/requests/{id}", get(decisions::request))
        .route("/portal/requests/{id}/approve", post(decisions::approve))
        .route("/portal/requests/{id}/decline", post(decisions::decline))
        .route("/portal/grants", get(decisions::grants))
        .route(
            "/portal/grants/{id}/revoke",
            get(decisions::confirm_revoke).post(decisions::revoke),
        )
        .route(
            "/portal/grants/{id}/pause",
            get(pauses::confirm_pause).post(pauses::pause),
        )
        .route("/portal/grants/{id}/resume", post(pauses::resume))
        .route("/portal/history", get(account::history))
        .route(
            "/portal/history/{seq}/erasure",
            get(reads::confirm_erasure).post(reads::ask_erasure),
        )
        .route("/portal/history/{seq}/complaint", get(reads::complaint))
        .route("/portal/events", get(events::list))
        .route("/portal/events/{id}", get(events::start))
        .route(
            "/portal/events/{id}/questions",
            get(questions::first).post(questions::answer),
        )
        .route("/portal/events/{id}/save", post(questions::save))
        .route("/portal/events/{id}/help", get(events::help))
        .route("/portal/events/{id}/share", post(events::share))
        .route("/portal/cases", get(cases::cases))
        .route("/portal/schemes", get(schemes::list))
        .route(
            "/portal/schemes/approach",
            get(schemes::approach).post(schemes::save_approach),
        )
        .route("/portal/schemes/{id}/hide", post(schemes::hide))
        .route("/portal/schemes/{id}/unhide", post(schemes::unhide))
        .route(
            "/portal/schemes/{id}/apply",
            get(schemes::confirm_apply).post(schemes::apply),
        )
        .route("/portal/story", get(story::page))
        .route("/portal/story/download", post(story::download))
        .route("/portal/coach", get(look_along::list))
        .route(
            "/portal/coach/new",
            get(look_along::new).post(look_along::choose),
        )
        .route("/portal/coach/start", post(look_along::start))
        .route("/portal/coach/help", get(help::help).post(help::ask_help))
        .route("/portal/coach/{id}/end", post(look_along::end))
        .route("/portal/proposals/{id}", get(proposals::show))
        .route("/portal/proposals/{id}/confirm", post(proposals::confirm))
        .route("/portal/proposals/{id}/decline", post(proposals::decline))
        .route("/coach", get(coach::home))
        .route("/coach/code", post(coach::new_code))
        .route("/coach/residents/{id}", get(coach::resident))
        .route("/coach/residents/{id}/schemes", get(coach::schemes))
        .route(
            "/coach/residents/{id}/records/{category}",
            get(coach::record),
        )
        .route(
            "/coach/residents/{id}/records/{category}/propose",
            get(coach::propose_form).post(coach::propose),
        )
        .route(
            "/coach/residents/{id}/requests/{request}",
            get(witness::form).post(witness::approve),
        )
        .route("/portal/witness/{id}/{answer}", post(witness::answer))
        .route("/officer", get(officer::home))
        .route("/officer/search", get(officer::search::search))
        .route("/officer/search/bsn", post(officer::bsn::by_bsn))
        .route("/officer/reports", get(officer::reports::list))
        .route("/officer/reports/{name}", get(officer::reports::show))
        .route(
            "/officer/checkpoint",
            get(officer::checkpoint::show).post(officer::checkpoint::check),
        )
        .route("/officer/downloads", get(officer::downloads))
        .route("/officer/downloads/export", get(officer::download))
        .route("/portal/account", get(account::account))
        .route("/portal/account/download", post(account::download))
        .route(
            "/portal/account/erase",
            get(account::confirm_erase).post(account::erase),
        )
        .route("/portal/logout", post(account::logout));
    if dev_login {
        router
            .route("/portal/dev-login", post(account::dev_login))
            .route("/coach/dev-login", post(account::dev_coach_login))
    } else {
        router
    }
}
