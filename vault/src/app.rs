// Long: the composition root wires every service to its storage ports, its keys and its routers in one place, so the whole vault reads top to bottom.
//! The composition root: builds one vault's services from a configuration and a store,
//! hands each service only the storage ports it needs, and assembles the routers (the
//! API from `http`, the portal from `web`, the admin routes for the local socket).

use crate::audit::officer::OfficerDesk;
use crate::audit::{self, Audit};
use crate::auth::Sessions;
use crate::auth::departments::DepartmentAuth;
use crate::auth::officers::Officers;
use crate::cases::Cases;
use crate::clock::Clock;
use crate::config::Config;
use crate::consent::{Consent, ConsentParts};
use crate::life_events::LifeEvents;
use crate::life_events::catalogue::LifeEventCatalogue;
use crate::residents::Residents;
use crate::residents::catalogue::Catalogue;
use crate::schemes::Schemes;
use crate::schemes::rules::RuleSet;
use crate::signals::Signals;
use crate::state::{AppState, Site};
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::{Error, auth, crypto, http, jose, web};
use std::sync::Arc;

/// How many of the newest audit entries are rehashed before the vault serves.
const START_SAMPLE: u64 = 4096;

/// Why a vault could not start. Each message is one line saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The keyring could not be opened.
    #[error("cannot open the keyring in {dir}: {reason}")]
    Keyring {
        /// The key directory.
        dir: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The audit log no longer matches its last signed checkpoint, or cannot be read.
    #[error("refusing to serve: {0}")]
    Audit(String),
    /// The login providers could not be set up.
    #[error("cannot set up logins: {0}")]
    Login(#[from] Error),
    /// The built-in catalogue is broken (a build defect).
    #[error("{0}")]
    Catalogue(String),
}

/// A ready-to-serve vault: its services, built from a configuration and a store.
#[derive(Clone)]
pub struct App {
    state: AppState,
    audit: Arc<Audit>,
    store: Arc<dyn Store>,
}

impl App {
    /// Builds a vault on `store` (the binary and `kluis dev` open sled with
    /// [`crate::store::open`]; tests may wrap it). `public_url` is the vault's own base URL
    /// (its issuer), normally derived from the bound address when not configured.
    pub async fn open(
        config: &Config,
        store: Arc<dyn Store>,
        clock: Clock,
        public_url: String,
    ) -> Result<App, StartError> {
        let keyring = crypto::Keyring::open(
            &config.key_dir,
            config.root_key.clone(),
            store.was_fresh(),
        )
        .map_err(|e| StartError::Keyring {
            dir: config.key_dir.display().to_string(),
            reason: match e {
                crypto::CryptoError::Integrity { .. } => {
                    "the root key does not open it; is this the vault's root key (after `kluis keys rotate --root-key-file`, the new one)?".into()
                }
                crypto::CryptoError::KeyringIo { .. } if !store.was_fresh() => format!(
                    "{e}; the database {} holds a vault, so its keyring must be restored, not recreated",
                    crate::store::describe(config)
                ),
                other => other.to_string(),
            },
        })?;
        let keyring = Arc::new(keyring);
        let catalogue = Arc::new(Catalogue::builtin().map_err(StartError::Catalogue)?);
        let life_event_catalogue = match &config.life_events {
            Some(path) => {
                let events = LifeEventCatalogue::from_file(path, &catalogue)
                    .map_err(StartError::Catalogue)?;
                events
                    .check_departments(&store.departments().await?)
                    .map_err(|e| {
                        StartError::Catalogue(
                            e.lines()
                                .map(|l| format!("life events file {}: {l}", path.display()))
                                .collect::<Vec<_>>()
                                .join("\n"),
                        )
                    })?;
                events
            }
            None => LifeEventCatalogue::builtin(&catalogue).map_err(StartError::Catalogue)?,
        };
        let year = chrono::Datelike::year(&clock.now());
        let rules = match &config.schemes {
            Some(path) => {
                let rules =
                    RuleSet::from_file(path, &catalogue, year).map_err(StartError::Catalogue)?;
                rules
                    .check_departments(&store.departments().await?)
                    .map_err(|e| {
                        StartError::Catalogue(
                            e.lines()
                                .map(|l| format!("schemes file {}: {l}", path.display()))
                                .collect::<Vec<_>>()
                                .join("\n"),
                        )
                    })?;
                rules
            }
            None => RuleSet::builtin(&catalogue, year).map_err(StartError::Catalogue)?,
        };
        let vault_keys =
            jose::keys::VaultKeys::load_or_create(&keyring, clock.clone()).map_err(|reason| {
                StartError::Keyring {
                    dir: config.key_dir.display().to_string(),
                    reason,
                }
            })?;
        let vault_keys = Arc::new(vault_keys);
        let metrics = if config.metrics_listen.is_some() {
            Metrics::on()
        } else {
            Metrics::off()
        };
        let audit = Audit::open(
            store.clone(),
            clock.clone(),
            vault_keys.clone(),
            public_url.clone(),
            config.audit_checkpoint.clone(),
            metrics.clone(),
        )
        .await
        .map_err(|e| StartError::Audit(e.0))?;
        // Start-up checks what does not grow with the log: the tree against the saved
        // signed checkpoint (in `Audit::open`) and the newest entries. Every entry is
        // rehashed while the vault serves (`/readyz` reports it), or before, if configured.
        let size = audit.size().await;
        audit
            .verify_entries(size.saturating_sub(START_SAMPLE), size)
            .await
            .map_err(|e| StartError::Audit(e.0))?;
        let audit = Arc::new(audit);
        let full_check = audit.spawn_full_check();
        if config.verify_audit_at_start
            && let Ok(crate::audit::CheckState::Failed(why)) | Err(why) =
                full_check.await.map_err(|e| e.to_string())
        {
            return Err(StartError::Audit(why));
        }
        let signals = Signals::new(
            store.clone(),
            audit.clone(),
            vault_keys.clone(),
            (public_url.clone(), config.dev_login),
            clock.clone(),
        );
        signals.spawn_push();
        let residents = Residents::new(
            store.clone(),
            keyring,
            catalogue,
            audit.clone(),
            signals.clone(),
            clock.clone(),
        )
        .rotating_every(
            config
                .rotate_every
                .and_then(|every| chrono::TimeDelta::from_std(every).ok()),
        );
        // A KEK rotation a crash cut short is finished before the vault serves.
        if let Err(e) = residents
            .finish_interrupted_rotation(&audit::Context::new(&clock))
            .await
        {
            tracing::error!(error = %e, "finishing an interrupted key rotation failed; run `kluis keys rotate`");
        }
        let throttle = Arc::new(crate::throttle::Throttle::new(&config.limits));
        let departments = DepartmentAuth::new(
            store.clone(),
            store.clone(),
            clock.clone(),
            public_url.clone(),
            throttle.clone(),
        );
        let consent = Consent::new(ConsentParts {
            store: store.clone(),
            residents: residents.clone(),
            audit: audit.clone(),
            departments: departments.clone(),
            vault_keys,
            signals: signals.clone(),
            issuer: public_url.clone(),
            clock: clock.clone(),
        });
        let sessions = Sessions::new(
            store.clone(),
            clock.clone(),
            config.session_idle,
            config.session_absolute,
        );
        let coaches =
            auth::coaches::Coaches::new(store.clone(), store.clone(), audit.clone(), clock.clone());
        let oidc = auth::oidc::Oidc::new(
            config.oidc.clone(),
            public_url.clone(),
            store.clone(),
            (residents.clone(), coaches.clone()),
            sessions.clone(),
            clock.clone(),
        )?;
        oidc.spawn_discovery();
        let desk = OfficerDesk::new(audit.clone(), store.clone(), Arc::new(consent.clone()));
        let life_events = LifeEvents::new(
            Arc::new(life_event_catalogue),
            residents.clone(),
            consent.clone(),
        );
        let cases = Cases::new(
            store.clone(),
            consent.clone(),
            residents.clone(),
            audit.clone(),
            clock.clone(),
        );
        let schemes = Schemes::new(
            Arc::new(rules),
            residents.clone(),
            consent.clone(),
            audit.clone(),
            clock.clone(),
        );
        let coaching = crate::coaching::Coaching::new(
            store.clone(),
            coaches,
            (residents.clone(), consent.clone()),
            audit.clone(),
            clock.clone(),
        );
        let state = AppState::new(crate::state::Services {
            audit_check: audit.integrity(),
            backups: crate::backup::Backups::new(
                store.clone(),
                audit.clone(),
                residents.clone(),
                config.key_dir.clone(),
                match config.store {
                    crate::config::StoreKind::Sled => "sled",
                    crate::config::StoreKind::Postgres(_) => "postgres",
                },
                clock.clone(),
            ),
            coaching,
            officers: Officers::new(store.clone(), audit.clone(), clock.clone()),
            residents,
            sessions,
            consent,
            signals,
            life_events,
            cases,
            schemes,
            departments,
            desk,
            audit: audit.clone(),
            oidc,
            health: store.clone(),
            site: Site {
                public_url,
                dev_login: config.dev_login,
                max_body_bytes: config.max_body_bytes,
                rotate_after_erasure: chrono::TimeDelta::from_std(config.rotate_after_erasure)
                    .unwrap_or(chrono::TimeDelta::hours(1)),
                municipality: std::sync::Arc::new(config.municipality.clone()),
                witnesses: std::sync::Arc::new(config.audit_witnesses.clone()),
            },
            clock,
            limits: config.limits.clone(),
            throttle,
            slots: Arc::new(tokio::sync::Semaphore::new(
                config.limits.concurrent_requests,
            )),
            metrics,
        });
        // Once the vault can start: a production vault on the demo municipality's data.
        if !config.dev_login && config.life_events.is_none() {
            tracing::warn!(
                "no [life_events] file: residents see the built-in example life events, with example phone numbers; set your municipality's own"
            );
        }
        if !config.dev_login && config.schemes.is_none() {
            tracing::warn!(
                "no [schemes] file: residents see the built-in example schemes, with example amounts; set your municipality's own"
            );
        }
        Ok(App {
            state,
            audit,
            store,
        })
    }

    /// The public router of this vault: the API and the portal.
    pub fn router(&self) -> axum::Router {
        let dev_login = self.state.site.dev_login;
        http::serve(
            http::api(dev_login)
                .merge(web::routes(dev_login))
                .fallback(web::not_found)
                .layer(axum::middleware::map_response_with_state(
                    self.state.clone(),
                    web::theme_error_page,
                )),
            self.state.clone(),
        )
    }

    /// The metrics listener's router (`/metrics`), for `[metrics] listen`.
    pub fn metrics_router(&self) -> axum::Router {
        http::metrics::router(self.state.clone())
    }

    /// The limits this vault was configured with.
    pub fn limits(&self) -> &crate::config::Limits {
        &self.state.limits
    }

    /// The operator's router, for the local admin socket only.
    pub fn admin_router(&self) -> axum::Router {
        http::admin::router(self.state.clone())
    }

    /// The resident record service.
    pub fn residents(&self) -> &Residents {
        &self.state.residents
    }

    /// The consent service.
    pub fn consent(&self) -> &Consent {
        &self.state.consent
    }

    /// The life-event service.
    pub fn life_events(&self) -> &LifeEvents {
        &self.state.life_events
    }

    /// The scheme service.
    pub fn schemes(&self) -> &Schemes {
        &self.state.schemes
    }

    /// Where residents' cases stand.
    pub fn cases(&self) -> &Cases {
        &self.state.cases
    }

    /// The session service.
    pub fn sessions(&self) -> &Sessions {
        &self.state.sessions
    }

    /// The audit log.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The privacy officer's desk: the log's questions, each logged first.
    pub fn desk(&self) -> &crate::audit::officer::OfficerDesk {
        &self.state.desk
    }

    /// The signals service (events for departments).
    pub fn signals(&self) -> &crate::signals::Signals {
        &self.state.signals
    }

    /// Privacy officers' credentials.
    pub fn officers(&self) -> &Officers {
        &self.state.officers
    }

    /// Coaches and the residents who let them look along.
    pub fn coaching(&self) -> &crate::coaching::Coaching {
        &self.state.coaching
    }

    /// The store this vault runs on (for operations tooling and tests).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The vault's public base URL.
    pub fn public_url(&self) -> &str {
        &self.state.site.public_url
    }

    /// The clock this vault reads.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// Forgets expired one-time token ids: every ten seconds while the vault serves, so
    /// that what it remembers stays near the ids of the last minute.
    pub(crate) async fn forget_used_token_ids(&self) {
        if let Err(e) = self
            .state
            .departments
            .purge_replays(self.clock().now())
            .await
        {
            tracing::warn!(error = %e, "purging expired token ids failed");
        }
    }

    /// Background upkeep, once a minute while the vault serves: bucket the metrics' recorded
    /// durations, forget expired sessions, logins in progress and coach codes and the rate
    /// limits of quiet callers, drop the values of
    /// lapsed proposals, sign and save an audit checkpoint if the log grew, follow key
    /// rotations other nodes sharing the key directory made, settle when a replaced
    /// grant-signing key leaves the JWKS, and run the key rotation that
    /// completes erasures, or the scheduled one, when it is due.
    pub(crate) async fn maintain(&self) {
        self.state.throttle.forget_quiet();
        // Recorded durations move into their buckets: memory stays bounded between scrapes.
        self.state.metrics.upkeep();
        if let Err(e) = self.state.sessions.purge_expired().await {
            tracing::warn!(error = %e, "purging expired sessions failed");
        }
        if let Err(e) = self.state.oidc.purge_expired().await {
            tracing::warn!(error = %e, "purging logins in progress that expired failed");
        }
        if let Err(e) = self.store.purge_coaching(self.clock().now()).await {
            tracing::warn!(error = %e, "purging expired coach codes and proposals failed");
        }
        if let Err(e) = self.audit.checkpoint_if_grown().await {
            tracing::error!(error = %e, "saving an audit checkpoint failed");
        }
        if let Err(e) = self.residents().refresh_keys() {
            tracing::error!(error = %e, "reading the key directory failed");
        }
        if let Err(e) = self.state.consent.settle_signing_keys().await {
            tracing::error!(error = %e, "following the grant-signing keys failed; it will be retried");
        }
        if let Err(e) = self.residents().schedule_rotation().await {
            tracing::error!(error = %e, "scheduling the next key rotation failed; it will be retried");
        }
        let context = audit::Context::new(self.clock());
        if let Err(e) = self.residents().rotate_if_due(&context).await {
            tracing::error!(error = %e, "the key rotation after an erasure failed; it will be retried");
        }
    }
}
