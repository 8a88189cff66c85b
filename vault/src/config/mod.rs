// Long: the whole configuration, its one-line errors and the rules between settings, validated in one place.
//! Configuration: a TOML file plus `KLUIS_*` environment variables, validated once at start.
//!
//! Every problem is reported as one [`ConfigError`] line that names the setting and says how
//! to fix it; `kluis serve` prints it and exits non-zero instead of starting half-configured.
//! Secrets (the root key) are loaded here but never printed: [`Config`]'s `Debug` leaves
//! them out.
//!
//! The development login is not a setting: no file or variable can switch it on. Only
//! `kluis dev` builds a [`Config`] with it, in code.
//!
//! - `file`: the file's sections as they are written, and reading it.
//! - `municipality`: its name, phone number and theme. `oidc`: the OpenID Providers.
//! - `limits`: timeouts, the concurrency cap and the rate limits (`[limits]`).
//! - `storage`: which database (`[storage] kind`: sled or PostgreSQL).
//! - `root_key`: where the root key is (a key file, the environment, a PKCS#11 token).

mod env;
mod file;
mod limits;
mod municipality;
mod oidc;
mod root_key;
mod storage;

pub use env::{Env, ProcessEnv};
pub use limits::Limits;
pub use municipality::{Municipality, Theme};

pub use oidc::{OidcClientAuth, OidcProvider, OidcRole};
pub use root_key::token_settings_from_env;
pub use storage::{DEFAULT_POOL_SIZE, PostgresSettings, StoreKind};

use crate::crypto::RootKey;
use file::{FileConfig, read_file};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default page cache of the database, in MiB (a target for sled, not a bound): the
/// working set of about 125,000 residents (docs/operations.md, "Sizing sled's page cache").
/// sled fills it only as the data grows, so a small vault stays small.
pub const DEFAULT_CACHE_MB: u64 = 512;

/// The default body limit: generous for a situation record, small enough to bound memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// A validated configuration, ready to start a vault with.
#[derive(Clone)]
pub struct Config {
    /// Where to listen (`kluis serve` binds it; tests bind `127.0.0.1:0` themselves).
    pub listen: SocketAddr,
    /// The vault's public base URL (its issuer). `None`: derived from the bound address.
    pub public_url: Option<String>,
    /// The database: embedded sled in `data_dir`, or PostgreSQL (`[storage] kind`).
    pub store: StoreKind,
    /// The sled data directory; with PostgreSQL, only the admin socket's default home.
    pub data_dir: PathBuf,
    /// The database's page cache, in bytes (sled uses somewhat more than this).
    pub cache_bytes: u64,
    /// The keyring directory: key-encryption keys and the vault's own keys, each sealed
    /// under the root key. Kept apart from `data_dir` so that destroying a key is real.
    pub key_dir: PathBuf,
    /// The operator's root key.
    pub root_key: RootKey,
    /// The local admin socket (department registration), by default `data_dir/admin.sock`.
    pub admin_socket: PathBuf,
    /// How long after an erasure the key rotation that completes it runs (zero: at once).
    pub rotate_after_erasure: Duration,
    /// How often the KEK is rotated on schedule (`[keys] rotate_every_days`), if at all.
    pub rotate_every: Option<Duration>,
    /// Where the latest signed audit checkpoint is kept, outside the store: by default
    /// `key_dir/audit-checkpoint.jws`.
    pub audit_checkpoint: PathBuf,
    /// Rehash every audit entry before serving (off by default: the check runs while the
    /// vault serves, and `/readyz` reports it).
    pub verify_audit_at_start: bool,
    /// The witnesses whose cosignatures of the audit checkpoint the vault keeps (`[audit]
    /// witnesses`: cosignature/v1 verifier keys).
    pub audit_witnesses: Vec<crate::crypto::signed_note::VerifierKey>,
    /// The municipality's own life-event catalogue (`[life_events] file`,
    /// `KLUIS_LIFE_EVENTS`); without one, the built-in demo catalogue.
    pub life_events: Option<PathBuf>,
    /// The municipality's own scheme catalogue (`[schemes] file`, `KLUIS_SCHEMES`);
    /// without one, the built-in example schemes.
    pub schemes: Option<PathBuf>,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// A session ends after this long without use.
    pub session_idle: Duration,
    /// A session ends this long after login, used or not.
    pub session_absolute: Duration,
    /// The clearly marked development login (`kluis dev` only).
    pub dev_login: bool,
    /// OpenID Providers residents and staff log in with.
    pub oidc: Vec<OidcProvider>,
    /// The municipality's name, phone number and theme (`[municipality]`).
    pub municipality: Municipality,
    /// Timeouts, the concurrency cap and the rate limits (`[limits]`).
    pub limits: Limits,
    /// Where the Prometheus metrics are served (`[metrics] listen`,
    /// `KLUIS_METRICS_LISTEN`); `None`: no metrics are kept.
    pub metrics_listen: Option<SocketAddr>,
    /// Logs as JSON lines (`[log] format = "json"`, `KLUIS_LOG_FORMAT=json`).
    pub log_json: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("store", &self.store)
            .field("data_dir", &self.data_dir)
            .field("key_dir", &self.key_dir)
            .field("root_key", &"<redacted>")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("dev_login", &self.dev_login)
            .finish_non_exhaustive()
    }
}

/// Why a configuration cannot be used. Each message is one line with the fix in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason} (pass an existing file with --config)")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The file is not valid TOML or has an unknown or mistyped setting.
    #[error("config file {path}, line {line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// The parser's message, one line.
        message: String,
    },
    /// A required setting is absent.
    #[error("missing setting {setting}: {hint}")]
    Missing {
        /// The setting, as `[section] key` or an environment variable.
        setting: &'static str,
        /// How to provide it.
        hint: &'static str,
    },
    /// A setting has a value that cannot work.
    #[error("invalid setting {setting}: {reason}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong and what would be right.
        reason: String,
    },
}

impl Config {
    /// Loads `path`, applies `KLUIS_*` variables from `env`, and validates everything,
    /// including reading the root key. This is what `kluis serve` runs.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
        Config::from_parts(read_file(path)?, env)
    }

    /// Only the admin socket of the configuration in `path` (for `kluis department`, which
    /// needs no keys).
    pub fn admin_socket_of(path: &Path, env: &dyn Env) -> Result<PathBuf, ConfigError> {
        let file = read_file(path)?;
        if let Some(socket) = env
            .var("KLUIS_ADMIN_SOCKET")
            .map(PathBuf::from)
            .or(file.admin.socket)
        {
            return Ok(socket);
        }
        env.var("KLUIS_DATA_DIR")
            .map(PathBuf::from)
            .or(file.storage.data_dir)
            .map(|dir| dir.join("admin.sock"))
            .ok_or(ConfigError::Missing {
                setting: "[admin] socket or [storage] data_dir",
                hint: "the admin socket is data_dir/admin.sock unless [admin] socket says otherwise",
            })
    }

    fn from_parts(file: FileConfig, env: &dyn Env) -> Result<Config, ConfigError> {
        let listen = env
            .var("KLUIS_LISTEN")
            .or(file.server.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen: SocketAddr = listen.parse().map_err(|_| ConfigError::Invalid {
            setting: "[server] listen (KLUIS_LISTEN)",
            reason: format!("{listen:?} is not an address:port such as \"0.0.0.0:8080\""),
        })?;

        let metrics_listen = metrics_listen(env, file.metrics.listen)?;
        let log_json = log_json(env.var("KLUIS_LOG_FORMAT").or(file.log.format))?;

        let public_url = env.var("KLUIS_PUBLIC_URL").or(file.server.public_url);
        let public_url = public_url.map(|u| validate_public_url(&u)).transpose()?;

        let max_body_bytes = file.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if !(1024..=16 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(ConfigError::Invalid {
                setting: "[server] max_body_bytes",
                reason: format!("{max_body_bytes} is outside 1024..=16777216"),
            });
        }

        let data_dir = env
            .var("KLUIS_DATA_DIR")
            .map(PathBuf::from)
            .or(file.storage.data_dir)
            .ok_or(ConfigError::Missing {
                setting: "[storage] data_dir",
                hint: "set it in the config file or KLUIS_DATA_DIR to the directory that holds the vault's database",
            })?;
        let key_dir = env
            .var("KLUIS_KEY_DIR")
            .map(PathBuf::from)
            .or(file.keys.key_dir)
            .ok_or(ConfigError::Missing {
                setting: "[keys] key_dir",
                hint: "set it in the config file or KLUIS_KEY_DIR to a directory outside data_dir for the keyring",
            })?;
        if key_dir.starts_with(&data_dir) {
            return Err(ConfigError::Invalid {
                setting: "[keys] key_dir",
                reason: "it lies inside [storage] data_dir; keep the keyring apart so that backups of the data do not carry the keys".into(),
            });
        }

        let rotate_after_erasure_minutes = file.keys.rotate_after_erasure_minutes.unwrap_or(60);
        if rotate_after_erasure_minutes > 24 * 60 {
            return Err(ConfigError::Invalid {
                setting: "[keys] rotate_after_erasure_minutes",
                reason: "at most 1440 (a day): until the rotation runs, an erased vault is not yet fully erased".into(),
            });
        }

        let rotate_every = match file.keys.rotate_every_days {
            None => None,
            Some(days @ 1..=3650) => Some(Duration::from_secs(days * 24 * 3600)),
            Some(days) => {
                return Err(ConfigError::Invalid {
                    setting: "[keys] rotate_every_days",
                    reason: format!("{days} is outside 1..=3650 (leave it out for no schedule)"),
                });
            }
        };
        let root_key = root_key::root_key(
            (file.keys.root_key_file.clone(), file.keys.pkcs11.as_ref()),
            env,
        )?;

        let idle = file.sessions.idle_minutes.unwrap_or(30);
        let absolute = file.sessions.absolute_hours.unwrap_or(12);
        if idle == 0 || idle > 24 * 60 || absolute == 0 || absolute > 24 * 7 {
            return Err(ConfigError::Invalid {
                setting: "[sessions]",
                reason: "idle_minutes must be 1..=1440 and absolute_hours 1..=168".into(),
            });
        }

        let admin_socket = env
            .var("KLUIS_ADMIN_SOCKET")
            .map(PathBuf::from)
            .or(file.admin.socket)
            .unwrap_or_else(|| data_dir.join("admin.sock"));
        let mut oidc: Vec<OidcProvider> = Vec::new();
        for section in file.oidc {
            let provider = oidc::provider(section, env)?;
            if oidc.iter().any(|p| p.name == provider.name) {
                return Err(ConfigError::Invalid {
                    setting: "[[oidc]] name",
                    reason: format!("{:?} is used twice", provider.name),
                });
            }
            oidc.push(provider);
        }
        let cache_bytes = cache_bytes(env, file.storage.cache_mb)?;
        let store = storage::store_kind(
            file.storage.kind,
            file.storage.url,
            file.storage.pool_size,
            file.storage.ca_file,
            env,
        )?;
        let municipality = Municipality::from_section(file.municipality)?;
        let limits = Limits::from_section(file.limits, env)?;
        let audit_checkpoint = file
            .audit
            .checkpoint_file
            .unwrap_or_else(|| key_dir.join("audit-checkpoint.jws"));
        let mut audit_witnesses = Vec::new();
        for (at, text) in file.audit.witnesses.unwrap_or_default().iter().enumerate() {
            let key = crate::crypto::signed_note::VerifierKey::parse(text)
                .ok()
                .filter(|k| k.kind == crate::crypto::signed_note::COSIGNATURE_V1)
                .ok_or_else(|| ConfigError::Invalid {
                    setting: "[audit] witnesses",
                    reason: format!(
                        "entry {} is not a cosignature/v1 verifier key (name+keyid+base64 of 0x04 and the Ed25519 key), such as \"witness.example.org+a1b2c3d4+BKo...\"",
                        at + 1
                    ),
                })?;
            audit_witnesses.push(key);
        }
        Ok(Config {
            listen,
            public_url,
            admin_socket,
            cache_bytes,
            rotate_after_erasure: Duration::from_secs(60 * rotate_after_erasure_minutes),
            rotate_every,
            audit_checkpoint,
            verify_audit_at_start: file.audit.verify_entries_at_start.unwrap_or(false),
            audit_witnesses,
            life_events: env
                .var("KLUIS_LIFE_EVENTS")
                .map(PathBuf::from)
                .or(file.life_events.file),
            schemes: env
                .var("KLUIS_SCHEMES")
                .map(PathBuf::from)
                .or(file.schemes.file),
            oidc,
            municipality,
            limits,
            store,
            data_dir,
            key_dir,
            root_key,
            max_body_bytes,
            session_idle: Duration::from_secs(idle * 60),
            session_absolute: Duration::from_secs(absolute * 3600),
            dev_login: false,
            metrics_listen,
            log_json,
        })
    }

    /// The configuration of `kluis dev`: everything under `dir`, the given root key, the
    /// development login switched on.
    pub fn development(dir: &Path, listen: SocketAddr, root_key: RootKey) -> Config {
        Config {
            listen,
            public_url: None,
            admin_socket: dir.join("data").join("admin.sock"),
            cache_bytes: DEFAULT_CACHE_MB * 1024 * 1024,
            rotate_after_erasure: Duration::ZERO,
            rotate_every: None,
            audit_checkpoint: dir.join("keys").join("audit-checkpoint.jws"),
            verify_audit_at_start: false,
            audit_witnesses: Vec::new(),
            life_events: None,
            schemes: None,
            store: StoreKind::Sled,
            data_dir: dir.join("data"),
            key_dir: dir.join("keys"),
            root_key,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 3600),
            dev_login: true,
            oidc: Vec::new(),
            municipality: Municipality::example(),
            limits: Limits::default(),
            metrics_listen: None,
            log_json: false,
        }
    }
}

/// Where the metrics are served: `KLUIS_METRICS_LISTEN`, else the file's `[metrics]
/// listen`; `None`: no metrics are kept.
pub fn metrics_listen(
    env: &dyn Env,
    in_file: Option<String>,
) -> Result<Option<SocketAddr>, ConfigError> {
    env.var("KLUIS_METRICS_LISTEN")
        .or(in_file)
        .map(|listen| {
            listen.parse().map_err(|_| ConfigError::Invalid {
                setting: "[metrics] listen (KLUIS_METRICS_LISTEN)",
                reason: format!("{listen:?} is not an address:port such as \"127.0.0.1:9464\""),
            })
        })
        .transpose()
}

/// The database's page cache in bytes: `KLUIS_CACHE_MB`, else `[storage] cache_mb`, else
/// [`DEFAULT_CACHE_MB`]; 16 to 65,536 MiB.
pub fn cache_bytes(env: &dyn Env, in_file: Option<u64>) -> Result<u64, ConfigError> {
    let invalid = |value: &dyn std::fmt::Display| ConfigError::Invalid {
        setting: "[storage] cache_mb (KLUIS_CACHE_MB)",
        reason: format!("{value} is not a whole number of MiB from 16 to 65536, such as 256"),
    };
    let cache_mb = match env.var("KLUIS_CACHE_MB") {
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| invalid(&format!("{text:?}")))?,
        None => in_file.unwrap_or(DEFAULT_CACHE_MB),
    };
    if !(16..=65_536).contains(&cache_mb) {
        return Err(invalid(&cache_mb));
    }
    Ok(cache_mb * 1024 * 1024)
}

/// Whether logs are JSON lines: `format` is "text" (the default) or "json".
pub fn log_json(format: Option<String>) -> Result<bool, ConfigError> {
    match format.as_deref().map(str::trim) {
        None | Some("text") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            setting: "[log] format (KLUIS_LOG_FORMAT)",
            reason: format!("{other:?} is neither \"text\" nor \"json\""),
        }),
    }
}

/// The `[log] format` of the file at `path` as far as it can be read, for setting up the
/// log before the configuration is loaded (and its mistakes reported, in the log).
pub fn log_json_in(path: &Path, env: &dyn Env) -> bool {
    let format = env
        .var("KLUIS_LOG_FORMAT")
        .or_else(|| read_file(path).ok().and_then(|file| file.log.format));
    log_json(format).unwrap_or(false)
}

/// `url` without a trailing slash, if it is an http(s) URL with a host and nothing after.
pub fn validate_public_url(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(trimmed.to_owned()),
        _ => Err(ConfigError::Invalid {
            setting: "[server] public_url (KLUIS_PUBLIC_URL)",
            reason: format!("{url:?} is not an http(s) URL such as \"https://kluis.example.nl\""),
        }),
    }
}

pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes, test only

    fn parse(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kluis.toml");
        std::fs::write(&path, toml_text).unwrap();
        Config::load(&path, &env)
    }

    const MINIMAL: &str =
        "[storage]\ndata_dir = \"/srv/kluis/data\"\n[keys]\nkey_dir = \"/srv/kluis/keys\"\n";

    #[test]
    fn minimal_file_with_env_key_loads() {
        let config = parse(MINIMAL, &[("KLUIS_ROOT_KEY", KEY)]).unwrap();
        assert_eq!(config.listen.port(), 8080);
        assert!(
            !config.dev_login,
            "no file can switch on the development login"
        );
        assert!(!format!("{config:?}").contains(KEY));
    }

    #[test]
    fn missing_root_key_says_how_to_make_one() {
        let err = parse(MINIMAL, &[]).unwrap_err().to_string();
        assert!(
            err.contains("root key") && err.contains("kluis keys generate-root"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn unknown_setting_names_the_line() {
        let err = parse(
            "[server]\nlisten = \"127.0.0.1:1\"\ndev_login = true\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 3") && err.contains("dev_login"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse(MINIMAL, &[("KLUIS_ROOT_KEY", "c2hvcnQ="), ("X", "")]).unwrap_err();
        assert!(err.to_string().contains("KLUIS_ROOT_KEY"), "{err}");
        let err = parse(
            MINIMAL,
            &[("KLUIS_ROOT_KEY", KEY), ("KLUIS_LISTEN", "localhost")],
        );
        assert!(err.unwrap_err().to_string().contains("listen"));
        let err = parse(
            MINIMAL,
            &[("KLUIS_ROOT_KEY", KEY), ("KLUIS_PUBLIC_URL", "ftp://x")],
        );
        assert!(err.unwrap_err().to_string().contains("public_url"));
        let nested = "[storage]\ndata_dir = \"/srv/k\"\n[keys]\nkey_dir = \"/srv/k/keys\"\n";
        let err = parse(nested, &[("KLUIS_ROOT_KEY", KEY)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("key_dir"), "{err}");
    }

    #[test]
    fn the_cache_comes_from_the_environment_then_the_file_and_bad_sizes_are_named() {
        let mib = |config: Config| config.cache_bytes / (1024 * 1024);
        let config = parse(MINIMAL, &[("KLUIS_ROOT_KEY", KEY)]).unwrap();
        assert_eq!(mib(config), DEFAULT_CACHE_MB);
        let with_cache = |mb: u64| MINIMAL.replace("[keys]", &format!("cache_mb = {mb}\n[keys]"));
        let file = with_cache(128);
        assert_eq!(mib(parse(&file, &[("KLUIS_ROOT_KEY", KEY)]).unwrap()), 128);
        let both = [("KLUIS_ROOT_KEY", KEY), ("KLUIS_CACHE_MB", " 512 ")];
        assert_eq!(mib(parse(&file, &both).unwrap()), 512);
        for bad in ["15", "65537", "256MB", "-1", "1e3"] {
            let env = [("KLUIS_ROOT_KEY", KEY), ("KLUIS_CACHE_MB", bad)];
            let err = parse(MINIMAL, &env).unwrap_err().to_string();
            assert!(
                err.contains("KLUIS_CACHE_MB") && err.contains("such as 256"),
                "{bad}: {err}"
            );
        }
        let err = parse(&with_cache(8), &[("KLUIS_ROOT_KEY", KEY)]);
        assert!(err.unwrap_err().to_string().contains("cache_mb"));
    }

    #[test]
    fn metrics_and_json_logs_are_off_until_asked_for_and_bad_values_are_named() {
        let config = parse(MINIMAL, &[("KLUIS_ROOT_KEY", KEY)]).unwrap();
        assert_eq!(config.metrics_listen, None);
        assert!(!config.log_json);
        let file =
            format!("{MINIMAL}[metrics]\nlisten = \"127.0.0.1:9464\"\n[log]\nformat = \"json\"\n");
        let config = parse(&file, &[("KLUIS_ROOT_KEY", KEY)]).unwrap();
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert!(config.log_json);
        let config = parse(
            MINIMAL,
            &[
                ("KLUIS_ROOT_KEY", KEY),
                ("KLUIS_METRICS_LISTEN", "[::1]:9000"),
            ],
        )
        .unwrap();
        assert_eq!(config.metrics_listen, Some("[::1]:9000".parse().unwrap()));
        let file = format!("{MINIMAL}[metrics]\nlisten = \"9464\"\n");
        let err = parse(&file, &[("KLUIS_ROOT_KEY", KEY)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[metrics] listen") && err.contains("\"127.0.0.1:9464\""),
            "{err}"
        );
        let err = parse(
            MINIMAL,
            &[("KLUIS_ROOT_KEY", KEY), ("KLUIS_LOG_FORMAT", "yaml")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("[log] format") && err.contains("\"json\""),
            "{err}"
        );
        // The log is set up before the configuration is loaded: from the file alone.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kluis.toml");
        std::fs::write(&path, "[log]\nformat = \"json\"\n").unwrap();
        let none: &[(&str, &str)] = &[];
        assert!(log_json_in(&path, &none));
        assert!(!log_json_in(
            &path,
            &[("KLUIS_LOG_FORMAT", "text")].as_slice()
        ));
        assert!(!log_json_in(&dir.path().join("absent.toml"), &none));
    }

    #[test]
    fn a_root_key_in_a_token_is_one_source_with_every_part_named() {
        let token = format!(
            "{MINIMAL}[keys.pkcs11]\nmodule = \"/nonexistent/libpkcs11.so\"\ntoken = \"kluis\"\nkey = \"root\"\n"
        );
        let err = parse(&token, &[]).unwrap_err().to_string();
        assert!(
            err.contains("[keys.pkcs11]") && err.contains("pin_file is missing"),
            "{err}"
        );
        let err = parse(
            &token,
            &[("KLUIS_PKCS11_PIN", "1234"), ("KLUIS_ROOT_KEY", KEY)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("keep one source of the root key"), "{err}");
        let err = parse(&token, &[("KLUIS_PKCS11_PIN", "1234")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot load the PKCS#11 module /nonexistent/libpkcs11.so")
                && !err.contains("1234")
                && !err.contains('\n'),
            "{err}"
        );
        let err = parse(
            MINIMAL,
            &[
                ("KLUIS_PKCS11_MODULE", "/x.so"),
                ("KLUIS_PKCS11_TOKEN", "t"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("KLUIS_PKCS11_KEY"), "{err}");
        // Half a token configuration is refused, not taken as "no token".
        let err = parse(
            MINIMAL,
            &[("KLUIS_PKCS11_TOKEN", "t"), ("KLUIS_ROOT_KEY", KEY)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("KLUIS_PKCS11_MODULE"), "{err}");
    }

    #[test]
    fn a_rotation_schedule_is_off_until_set_and_at_most_ten_years() {
        let config = parse(MINIMAL, &[("KLUIS_ROOT_KEY", KEY)]).unwrap();
        assert_eq!(config.rotate_every, None);
        let file = format!("{MINIMAL}rotate_every_days = 90\n");
        let config = parse(&file, &[("KLUIS_ROOT_KEY", KEY)]).unwrap();
        assert_eq!(config.rotate_every, Some(Duration::from_secs(90 * 86400)));
        for days in [0, 3651] {
            let file = format!("{MINIMAL}rotate_every_days = {days}\n");
            let err = parse(&file, &[("KLUIS_ROOT_KEY", KEY)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("[keys] rotate_every_days") && err.contains("1..=3650"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_rotation_after_an_erasure_is_at_most_a_day_away() {
        let config = parse(MINIMAL, &[("KLUIS_ROOT_KEY", KEY)]).unwrap();
        assert_eq!(config.rotate_after_erasure, Duration::from_secs(3600));
        let file = format!("{MINIMAL}rotate_after_erasure_minutes = 0\n");
        let config = parse(&file, &[("KLUIS_ROOT_KEY", KEY)]).unwrap();
        assert_eq!(config.rotate_after_erasure, Duration::ZERO);
        let file = format!("{MINIMAL}rotate_after_erasure_minutes = 1441\n");
        let err = parse(&file, &[("KLUIS_ROOT_KEY", KEY)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("rotate_after_erasure_minutes"), "{err}");
    }

    #[test]
    fn unreadable_file_is_one_line() {
        let err = Config::load(Path::new("/nonexistent/kluis.toml"), &ProcessEnv).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read config file /nonexistent/kluis.toml: no such file (pass an existing file with --config)"
        );
    }
}
