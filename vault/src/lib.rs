//! Kluis: a personal data vault for the Dutch social domain.
//!
//! Each resident gets an encrypted vault, stores their situation once, and decides which
//! department may read which part, for which purpose and for how long. The major
//! components are:
//!
//! - [`config`]: the TOML file and `KLUIS_*` variables, validated once at start.
//! - [`clock`]: the only reader of the wall clock; tests set the time.
//! - [`store`]: the storage port (one trait per area), its sled adapter, and (with the
//!   `test-support` feature) an in-memory adapter, a fault injector and the contract
//!   suite every adapter passes. The only door to the database.
//! - [`crypto`]: envelope encryption (root key → KEKs → per-resident data keys), hashes
//!   and keyed hashes; the only door to ring.
//! - [`jose`]: the only door to josekit, with the token policy josekit lacks.
//! - [`residents`]: the rules for records: catalogue, schemas, versions, key rotation.
//! - [`consent`]: departments, access requests, signed grants, revocation, the read
//!   pipeline and its access decision.
//! - [`audit`]: the tamper-evident log, its proofs, and the officer's questions.
//! - [`signals`]: signed events that carry a resident's decisions to departments' systems.
//! - [`life_events`]: start from what happened: questions that fit, share with all who help.
//! - [`cases`]: where a resident's case stands: departments' status updates, open actions.
//! - [`schemes`]: schemes a resident may be missing, computed inside their vault.
//! - [`coaching`]: a coach who looks along: codes, chosen parts, proposals, every look logged.
//! - [`auth`]: who is calling (sessions, logins, departments, officers, coaches).
//! - [`language`]: Dutch and English, every sentence a resident reads.
//! - [`ids`]: the shape of operator-chosen ids.
//! - [`throttle`]: the rate limits per department and per source of refused requests.
//! - [`state`]: the parts of the application state handlers take.
//! - [`http`]: the JSON API: axum routes, extractors, the one error-to-response mapping,
//!   the limits every request meets, and the listener with its timeouts.
//! - [`web`]: the resident portal (server-rendered pages); uses `http`'s extractors only.
//! - [`admin`]: the local admin socket and its client.
//! - [`backup`]: a consistent backup of a running vault, and the checks of a restore.
//! - [`dev`]: Henk's demo vault and three demo departments for `kluis dev`.
//! - `app`: the composition root ([`App`]): services from a configuration and a store.
//! - `fuzzing` (feature `fuzzing`): the entry points of the fuzz targets in `fuzz/`.
//!
//! A request flows `http` or `web` (extract, authenticate) → a domain service
//! (`residents`, `consent`, `audit`) → `crypto` (seal/open) → `store` (durable on return)
//! and back; an [`Error`] from any layer becomes one problem+json response (or a portal
//! page). See `docs/architecture.md`.
//!
//! There is no global state: [`App::open`] builds everything from a [`Config`], a store
//! and a [`Clock`], and [`run`] serves it on a listener the caller bound, until a shutdown
//! future completes. Tests run many vaults in one process, each on `127.0.0.1:0`.
#![warn(clippy::unwrap_used)]

pub mod admin;
mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cases;
pub mod clock;
pub mod coaching;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod dev;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod http;
pub mod ids;
pub mod jose;
pub mod language;
pub mod life_events;
#[cfg(any(test, feature = "test-support"))]
pub mod nested_cargo;
pub mod residents;
pub mod schemes;
pub mod signals;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod web;

pub use app::{App, StartError};
pub use clock::Clock;
pub use config::Config;
pub use error::{Error, Result};

use std::future::Future;

/// Serves `app` on `listener` until `shutdown` completes, then finishes open requests.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = app.clone();
    let maintenance = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            upkeep.maintain().await;
        }
    });
    let forgetting = app.clone();
    let token_ids = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            every.tick().await;
            forgetting.forget_used_token_ids().await;
        }
    });
    // Counted refusals are logged a few seconds after their minute ends.
    let counts = app.clone();
    let tallies = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            let _ = counts.audit().log_tallies(false).await;
        }
    });
    let served =
        http::listener::serve(listener, app.router(), app.limits().header_read, shutdown).await;
    maintenance.abort();
    token_ids.abort();
    tallies.abort();
    let _ = app.audit().log_tallies(true).await;
    if let Err(e) = app.audit().checkpoint_if_grown().await {
        tracing::error!(error = %e, "the final audit checkpoint could not be saved");
    }
    served
}

#[cfg(test)]
mod testing;
