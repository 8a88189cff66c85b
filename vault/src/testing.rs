//! Unit-test support: the vault's services on the in-memory store (wrapped so tests can
//! make it fail), with a manual clock and a real keyring in a temporary folder. For tests
//! of the services' rules; whether a path works for real is proven end to end, on sled.

use crate::audit::{Audit, Context};
use crate::auth::Sessions;
use crate::auth::departments::DepartmentAuth;
use crate::clock::Clock;
use crate::consent::{Consent, ConsentParts};
use crate::crypto::{Keyring, RootKey};
use crate::jose::keys::VaultKeys;
use crate::residents::catalogue::Catalogue;
use crate::residents::{ResidentId, Residents};
use crate::signals::Signals;
use crate::store::Store;
use crate::store::faults::{Faults, FaultyStore};
use crate::store::memory::MemoryStore;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// The issuer of the test vault.
pub const ISSUER: &str = "https://kluis.test";

/// One vault's services over a memory store.
pub struct Services {
    pub residents: Residents,
    pub consent: Consent,
    pub sessions: Sessions,
    pub audit: Arc<Audit>,
    pub store: Arc<dyn Store>,
    pub faults: Arc<Faults>,
    pub clock: Clock,
    /// The keyring's folder (removed when the services are dropped).
    pub dir: tempfile::TempDir,
}

/// A fixed start for the manual clock.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

/// A new trace.
pub fn ctx() -> Context {
    Context::new(&Clock::system())
}

impl Services {
    /// Fresh services: an empty memory store, a new keyring, the clock at [`t0`].
    pub async fn start() -> Services {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let (store, faults) = FaultyStore::wrap(Arc::new(MemoryStore::new()));
        let store: Arc<dyn Store> = store;
        let clock = Clock::manual(t0());
        let keyring = Arc::new(
            Keyring::open(dir.path(), RootKey::generate().expect("a root key"), true)
                .expect("a keyring"),
        );
        let vault_keys =
            Arc::new(VaultKeys::load_or_create(&keyring, clock.clone()).expect("vault keys"));
        let audit = Arc::new(
            Audit::open(
                store.clone(),
                clock.clone(),
                vault_keys.clone(),
                ISSUER.into(),
                dir.path().join("checkpoint.jws"),
                crate::telemetry::Metrics::off(),
            )
            .await
            .expect("the log opens"),
        );
        let signals = Signals::new(
            store.clone(),
            audit.clone(),
            vault_keys.clone(),
            (ISSUER.into(), true),
            clock.clone(),
        );
        let residents = Residents::new(
            store.clone(),
            keyring,
            Arc::new(Catalogue::builtin().expect("the catalogue")),
            audit.clone(),
            signals.clone(),
            clock.clone(),
        );
        let consent = Consent::new(ConsentParts {
            store: store.clone(),
            residents: residents.clone(),
            audit: audit.clone(),
            departments: DepartmentAuth::new(
                store.clone(),
                store.clone(),
                clock.clone(),
                ISSUER.into(),
                Arc::new(crate::throttle::Throttle::new(
                    &crate::config::Limits::default(),
                )),
            ),
            vault_keys,
            signals: signals.clone(),
            issuer: ISSUER.into(),
            clock: clock.clone(),
        });
        let sessions = Sessions::new(
            store.clone(),
            clock.clone(),
            Duration::from_secs(30 * 60),
            Duration::from_secs(12 * 3600),
        );
        Services {
            residents,
            consent,
            sessions,
            audit,
            store,
            faults,
            clock,
            dir,
        }
    }

    /// A resident's vault, made on first use.
    pub async fn resident(&self, subject: &str) -> ResidentId {
        self.residents
            .ensure_resident("https://login.test", subject)
            .await
            .expect("a vault")
            .id
    }

    /// The log's entries so far.
    pub async fn log(&self) -> Vec<crate::audit::entry::Entry> {
        self.audit
            .entries(0, self.audit.size().await)
            .await
            .expect("entries")
    }
}
