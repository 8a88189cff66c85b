//! Which database the vault uses (`[storage]`): embedded sled in `data_dir`, or PostgreSQL
//! at `url` for several nodes on one replicated database.

use super::{ConfigError, Env};
use serde::Deserialize;
use std::path::PathBuf;

/// The default number of connections a node keeps to PostgreSQL.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// `[storage] kind`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKindName {
    /// Embedded sled (the default).
    #[default]
    Sled,
    /// PostgreSQL.
    Postgres,
}

/// The database the vault uses.
#[derive(Clone, Debug)]
pub enum StoreKind {
    /// Embedded sled in `data_dir`.
    Sled,
    /// A PostgreSQL database.
    Postgres(PostgresSettings),
}

/// Where the PostgreSQL database is and how to reach it.
#[derive(Clone)]
pub struct PostgresSettings {
    /// A libpq connection URL or key-value string. It may hold a password, so it is never
    /// printed: messages describe it from its parts (`store::postgres::describe`).
    pub url: String,
    /// Connections this node keeps at most.
    pub pool_size: usize,
    /// A PEM file of certificate authorities to trust for TLS, besides the system's.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: described only by the store, from its parts.
        f.debug_struct("PostgresSettings")
            .field("url", &"<not shown>")
            .field("pool_size", &self.pool_size)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The store `[storage]` and `KLUIS_STORE_URL` choose.
pub(super) fn store_kind(
    kind: Option<StoreKindName>,
    url: Option<String>,
    pool_size: Option<usize>,
    ca_file: Option<PathBuf>,
    env: &dyn Env,
) -> Result<StoreKind, ConfigError> {
    let url = env.var("KLUIS_STORE_URL").or(url);
    let kind = match (kind, &url) {
        (Some(kind), _) => kind,
        (None, Some(_)) => StoreKindName::Postgres,
        (None, None) => StoreKindName::Sled,
    };
    match kind {
        StoreKindName::Sled => {
            if url.is_some() {
                return Err(ConfigError::Invalid {
                    setting: "[storage] url (KLUIS_STORE_URL)",
                    reason: "it is set but [storage] kind is \"sled\"; set kind = \"postgres\" or remove the url".into(),
                });
            }
            if pool_size.is_some() || ca_file.is_some() {
                return Err(ConfigError::Invalid {
                    setting: "[storage] pool_size / ca_file",
                    reason: "they apply to kind = \"postgres\" only".into(),
                });
            }
            Ok(StoreKind::Sled)
        }
        StoreKindName::Postgres => {
            let url = url.ok_or(ConfigError::Missing {
                setting: "[storage] url (KLUIS_STORE_URL)",
                hint: "kind = \"postgres\" needs the database's URL, such as \"postgresql://kluis@db.example.nl/kluis?sslmode=verify-full\"",
            })?;
            let pool_size = pool_size.unwrap_or(DEFAULT_POOL_SIZE);
            // At least 2: a node that holds the audit log keeps one connection for it and
            // reads the tree through another.
            if !(2..=1000).contains(&pool_size) {
                return Err(ConfigError::Invalid {
                    setting: "[storage] pool_size",
                    reason: format!("{pool_size} is outside 2..=1000"),
                });
            }
            Ok(StoreKind::Postgres(PostgresSettings {
                url,
                pool_size,
                ca_file,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_chooses_postgres_and_contradictions_are_named() {
        let none: &[(&str, &str)] = &[];
        assert!(matches!(
            store_kind(None, None, None, None, &none),
            Ok(StoreKind::Sled)
        ));
        let env: &[(&str, &str)] = &[("KLUIS_STORE_URL", "postgresql://k:pw@db/k")];
        let Ok(StoreKind::Postgres(settings)) = store_kind(None, None, None, None, &env) else {
            panic!("KLUIS_STORE_URL chooses PostgreSQL");
        };
        assert_eq!(settings.pool_size, DEFAULT_POOL_SIZE);
        assert!(!format!("{settings:?}").contains("pw"));
        assert!(!format!("{settings:?}").contains("db/k"));
        let err = store_kind(Some(StoreKindName::Sled), None, None, None, &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[storage] url"), "{err}");
        let err = store_kind(Some(StoreKindName::Postgres), None, None, None, &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs the database's URL"), "{err}");
        let err = store_kind(None, None, Some(0), None, &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pool_size"), "{err}");
    }
}
