//! What the HTTP handlers share, in parts: each handler and extractor takes only the part
//! it uses (`State<Consent>`, `State<Sessions>`, ...) through axum's `FromRef`, so a
//! reader sees from a handler's signature which services it can reach.

use crate::audit::AuditHealth;
use crate::audit::officer::OfficerDesk;
use crate::auth::Sessions;
use crate::auth::departments::DepartmentAuth;
use crate::auth::officers::Officers;
use crate::auth::oidc::Oidc;
use crate::cases::Cases;
use crate::clock::Clock;
use crate::coaching::Coaching;
use crate::consent::Consent;
use crate::life_events::LifeEvents;
use crate::residents::Residents;
use crate::schemes::Schemes;
use crate::store::Health;
use axum::extract::FromRef;
use std::sync::Arc;

/// Facts about this vault that pages and cookies need.
#[derive(Clone, Debug)]
pub struct Site {
    /// The vault's public base URL (its issuer, and the origin its forms must come from).
    pub public_url: String,
    /// Whether the development login is on (`kluis dev`).
    pub dev_login: bool,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// How long after an erasure the completing key rotation runs.
    pub rotate_after_erasure: chrono::TimeDelta,
    /// The municipality's name, phone number and theme.
    pub municipality: std::sync::Arc<crate::config::Municipality>,
    /// The witnesses whose cosignatures of the audit checkpoint the vault keeps.
    pub witnesses: std::sync::Arc<Vec<crate::crypto::signed_note::VerifierKey>>,
}

/// The services of one vault, for its routers. One `Arc`: axum clones the state for every
/// layer of every request, so a clone must cost one atomic increment, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state over `services`.
    pub(crate) fn new(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services themselves. Each is a handle around `Arc`s, cloned when a handler takes it.
pub struct Services {
    pub(crate) residents: Residents,
    pub(crate) sessions: Sessions,
    pub(crate) consent: Consent,
    pub(crate) signals: crate::signals::Signals,
    pub(crate) life_events: LifeEvents,
    pub(crate) cases: Cases,
    pub(crate) schemes: Schemes,
    pub(crate) coaching: Coaching,
    pub(crate) departments: DepartmentAuth,
    pub(crate) officers: Officers,
    pub(crate) desk: OfficerDesk,
    pub(crate) audit: Arc<crate::audit::Audit>,
    pub(crate) oidc: Oidc,
    pub(crate) health: Arc<dyn Health>,
    pub(crate) audit_check: AuditHealth,
    pub(crate) backups: crate::backup::Backups,
    pub(crate) site: Site,
    pub(crate) clock: Clock,
    pub(crate) limits: crate::config::Limits,
    pub(crate) throttle: Arc<crate::throttle::Throttle>,
    /// One permit per request served at once (`limits.concurrent_requests`).
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    /// The operator's counts (off without `[metrics] listen`).
    pub(crate) metrics: crate::telemetry::Metrics,
}

/// Lets handlers and extractors take one part of [`AppState`].
macro_rules! parts {
    ($($part:ident: $ty:ty),* $(,)?) => {
        $(
            impl FromRef<AppState> for $ty {
                fn from_ref(state: &AppState) -> $ty {
                    state.$part.clone()
                }
            }
        )*
    };
}

parts!(
    residents: Residents,
    sessions: Sessions,
    consent: Consent,
    signals: crate::signals::Signals,
    life_events: LifeEvents,
    cases: Cases,
    schemes: Schemes,
    coaching: Coaching,
    departments: DepartmentAuth,
    officers: Officers,
    desk: OfficerDesk,
    audit: Arc<crate::audit::Audit>,
    oidc: Oidc,
    health: Arc<dyn Health>,
    audit_check: AuditHealth,
    backups: crate::backup::Backups,
    site: Site,
    clock: Clock,
    throttle: Arc<crate::throttle::Throttle>,
    metrics: crate::telemetry::Metrics,
);
