//! Kluis: a personal data vault for the Dutch social domain.
//!
//! Each resident gets an encrypted vault, stores their situation once, and decides which
//! department may read which part, for which purpose and for how long. The major
//! components are:
//!
//! - [`config`]: the TOML file and `KLUIS_*` variables, validated once at start.
//! - [`admin`]: the local admin socket (department registration) and its client.
//! - [`clock`]: the only reader of the wall clock; tests set the time.
//! - [`store`]: the storage port (traits) and its sled adapter, with group commit.
//! - [`crypto`]: envelope encryption (root key → KEKs → per-resident data keys) and
//!   keyed hashes; the only door to ring.
//! - [`residents`]: the rules for records: catalogue, schemas, versions, key rotation.
//! - [`consent`]: departments, access requests, signed grants, revocation, reads.
//! - [`jose`]: the only door to josekit, with the token policy josekit lacks.
//! - [`auth`]: who is calling (sessions, the development login, departments).
//! - [`http`]: axum routes, extractors, and the one error-to-response mapping.
//! - [`dev`]: Henk's demo vault and three demo departments for `kluis dev`.
//!
//! A request flows `http` (extract, authenticate) → domain service (`residents`) →
//! `crypto` (seal/open) → `store` (durable on return) and back; an [`Error`] from any
//! layer becomes one problem+json response. See `docs/architecture.md`.
//!
//! There is no global state: [`App::open`] builds everything from a [`Config`] and a
//! [`Clock`], and [`run`] serves it on a listener the caller bound, until a shutdown
//! future completes. Tests run many vaults in one process, each on `127.0.0.1:0`.
#![warn(clippy::unwrap_used)]

pub mod admin;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod dev;
mod error;
pub mod http;
pub mod jose;
pub mod language;
pub mod residents;
pub mod store;
pub mod web;

pub use clock::Clock;
pub use config::Config;
pub use error::{Error, Result};

use auth::Sessions;
use residents::Residents;
use residents::catalogue::Catalogue;
use std::future::Future;
use std::sync::Arc;
use store::Store;
use store::sled::SledStore;

/// Why a vault could not start. Each message is one line saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Store(#[from] store::StoreError),
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

/// A ready-to-serve vault: its services, built from a configuration.
#[derive(Clone)]
pub struct App {
    state: http::AppState,
    /// The concrete sled store, for its flush counter (benchmarks, tests).
    sled: Option<SledStore>,
    dev_login: bool,
    public_url: String,
    clock: Clock,
}

impl App {
    /// Opens the store and the keyring of `config`. `public_url` is the vault's own base
    /// URL (its issuer), normally derived from the bound address when not configured.
    pub async fn open(
        config: &Config,
        clock: Clock,
        public_url: String,
    ) -> Result<App, StartError> {
        let store = SledStore::open(&config.data_dir, config.cache_bytes)?;
        let keyring = crypto::Keyring::open(&config.key_dir, config.root_key.clone(), store.was_fresh())
            .map_err(|e| StartError::Keyring {
                dir: config.key_dir.display().to_string(),
                reason: match e {
                    crypto::CryptoError::Integrity { .. } => {
                        "the root key does not open it; is this the root key this vault was created with?".into()
                    }
                    crypto::CryptoError::KeyringIo { .. } if !store.was_fresh() => format!(
                        "{e}; the database in {} holds a vault, so its keyring must be restored, not recreated",
                        config.data_dir.display()
                    ),
                    other => other.to_string(),
                },
            })?;
        let sled = Some(store.clone());
        let store: Arc<dyn Store> = Arc::new(store);
        let catalogue = Arc::new(Catalogue::builtin().map_err(StartError::Catalogue)?);
        let keyring = Arc::new(keyring);
        let vault_keys = jose::keys::VaultKeys::load_or_create(&keyring).map_err(|reason| {
            StartError::Keyring {
                dir: config.key_dir.display().to_string(),
                reason,
            }
        })?;
        let vault_keys = Arc::new(vault_keys);
        let audit = audit::Audit::open(
            store.clone(),
            clock.clone(),
            vault_keys.clone(),
            public_url.clone(),
            config.audit_checkpoint.clone(),
        )
        .await
        .map_err(|e| StartError::Audit(e.0))?;
        if config.verify_audit_at_start {
            audit
                .verify_all_entries()
                .await
                .map_err(|e| StartError::Audit(e.0))?;
        }
        let residents = Residents::new(
            store.clone(),
            keyring,
            catalogue,
            Arc::new(audit),
            clock.clone(),
        );
        let consent = consent::Consent::new(
            store.clone(),
            residents.clone(),
            vault_keys,
            public_url.clone(),
            clock.clone(),
        );
        let sessions = Sessions::new(
            store.clone(),
            clock.clone(),
            config.session_idle,
            config.session_absolute,
        );
        let oidc = auth::oidc::Oidc::new(
            config.oidc.clone(),
            public_url.clone(),
            store.clone(),
            residents.clone(),
            sessions.clone(),
            clock.clone(),
        )?;
        oidc.spawn_discovery();
        let state = http::AppState {
            residents,
            sessions,
            consent,
            oidc,
            public_url: public_url.clone(),
            rotate_after_erasure: chrono::TimeDelta::from_std(config.rotate_after_erasure)
                .unwrap_or(chrono::TimeDelta::hours(1)),
            dev_login: config.dev_login,
            store,
            limits: http::Limits {
                max_body_bytes: config.max_body_bytes,
            },
        };
        Ok(App {
            state,
            sled,
            dev_login: config.dev_login,
            public_url,
            clock,
        })
    }

    /// The HTTP router of this vault.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone(), self.dev_login)
    }

    /// The resident record service.
    pub fn residents(&self) -> &Residents {
        &self.state.residents
    }

    /// The storage port (for operations tooling and tests).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    /// The embedded store's fault-injection switches (tests of failure handling).
    pub fn faults(&self) -> Option<Arc<store::sled::Faults>> {
        self.sled.as_ref().map(SledStore::faults)
    }

    /// How many flushes the embedded store has made (group-commit statistics).
    pub fn flush_count(&self) -> Option<u64> {
        self.sled.as_ref().map(SledStore::flush_count)
    }

    /// The consent service.
    pub fn consent(&self) -> &consent::Consent {
        &self.state.consent
    }

    /// The operator's router, for the local admin socket only.
    pub fn admin_router(&self) -> axum::Router {
        http::admin::router(self.state.clone())
    }

    /// The session service.
    pub fn sessions(&self) -> &Sessions {
        &self.state.sessions
    }

    /// The vault's public base URL.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The clock this vault reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes open requests.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let maintenance = tokio::spawn(maintenance(app.clone()));
    let served = axum::serve(listener, app.router())
        .with_graceful_shutdown(shutdown)
        .await;
    maintenance.abort();
    if let Err(e) = app.residents().audit().checkpoint_if_grown().await {
        tracing::error!(error = %e, "the final audit checkpoint could not be saved");
    }
    served
}

/// Background upkeep while the vault serves, once a minute: forget expired one-time token
/// ids, and sign and save an audit checkpoint if the log grew.
async fn maintenance(app: App) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        every.tick().await;
        if let Err(e) = app.store().purge_replays(app.clock().now()).await {
            tracing::warn!(error = %e, "purging expired token ids failed");
        }
        if let Err(e) = app.residents().audit().checkpoint_if_grown().await {
            tracing::error!(error = %e, "saving an audit checkpoint failed");
        }
        if let Err(e) = rotate_if_due(app.store().as_ref(), app.residents(), app.clock()).await {
            tracing::error!(error = %e, "the key rotation after an erasure failed; it will be retried");
        }
    }
}

/// Runs the key rotation that completes erasures, if one is due. Until it has run, old
/// copies of an erased vault's wrapped key may survive in the database's files.
pub async fn rotate_if_due(
    store: &dyn Store,
    residents: &Residents,
    clock: &Clock,
) -> Result<bool> {
    match store.rotation_due().await? {
        Some(due) if due <= clock.now() => {
            residents.rotate_keys(&audit::Context::new(clock)).await?;
            store.set_rotation_due(None).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
