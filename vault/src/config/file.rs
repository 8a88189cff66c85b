//! The configuration file as it is written: every section and key optional, unknown ones
//! refused with the line they stand on.

use super::municipality::MunicipalitySection;
use super::oidc::OidcSection;
use super::{ConfigError, io_reason};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file format. Every section and key is optional in the file; what is required is
/// checked after environment variables are applied.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    #[serde(default)]
    pub(super) server: ServerSection,
    #[serde(default)]
    pub(super) storage: StorageSection,
    #[serde(default)]
    pub(super) keys: KeysSection,
    #[serde(default)]
    pub(super) sessions: SessionsSection,
    #[serde(default)]
    pub(super) admin: AdminSection,
    #[serde(default)]
    pub(super) audit: AuditSection,
    #[serde(default)]
    pub(super) life_events: LifeEventsSection,
    #[serde(default)]
    pub(super) schemes: SchemesSection,
    #[serde(default)]
    pub(super) municipality: MunicipalitySection,
    #[serde(default)]
    pub(super) limits: super::limits::LimitsSection,
    #[serde(default)]
    pub(super) metrics: MetricsSection,
    #[serde(default)]
    pub(super) log: LogSection,
    #[serde(default)]
    pub(super) oidc: Vec<OidcSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricsSection {
    pub(super) listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogSection {
    pub(super) format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LifeEventsSection {
    pub(super) file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SchemesSection {
    pub(super) file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditSection {
    pub(super) checkpoint_file: Option<PathBuf>,
    pub(super) verify_entries_at_start: Option<bool>,
    pub(super) witnesses: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminSection {
    pub(super) socket: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerSection {
    pub(super) listen: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) max_body_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StorageSection {
    pub(super) kind: Option<super::storage::StoreKindName>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) cache_mb: Option<u64>,
    pub(super) url: Option<String>,
    pub(super) pool_size: Option<usize>,
    pub(super) ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeysSection {
    pub(super) root_key_file: Option<PathBuf>,
    pub(super) key_dir: Option<PathBuf>,
    pub(super) rotate_after_erasure_minutes: Option<u64>,
    pub(super) rotate_every_days: Option<u64>,
    pub(super) pkcs11: Option<Pkcs11Section>,
}

/// The root key in a PKCS#11 token (`[keys.pkcs11]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Pkcs11Section {
    pub(super) module: Option<String>,
    pub(super) token: Option<String>,
    pub(super) key: Option<String>,
    pub(super) pin_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SessionsSection {
    pub(super) idle_minutes: Option<u64>,
    pub(super) absolute_hours: Option<u64>,
}

/// Reads and parses the file at `path`.
pub(super) fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_owned(),
        reason: io_reason(&e),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        line: e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1),
        message: e.message().replace('\n', " "),
    })
}
