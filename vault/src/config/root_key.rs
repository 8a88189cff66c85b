//! Where the root key comes from: `KLUIS_ROOT_KEY`, a key file (`[keys] root_key_file`,
//! `KLUIS_ROOT_KEY_FILE`), or a PKCS#11 token (`[keys.pkcs11]`, `KLUIS_PKCS11_*`), which
//! is opened here, so that a missing token stops the vault at start with one line.

use super::file::Pkcs11Section;
use super::{ConfigError, Env, io_reason};
use crate::crypto::RootKey;
use crate::crypto::TokenSettings;
use std::path::PathBuf;
use zeroize::Zeroizing;

const TOKEN: &str = "[keys.pkcs11] (KLUIS_PKCS11_*)";

/// The root key the configuration names; exactly one source.
pub(super) fn root_key(
    (file, pkcs11): (Option<PathBuf>, Option<&Pkcs11Section>),
    env: &dyn Env,
) -> Result<RootKey, ConfigError> {
    let token = token_settings(pkcs11, env)?;
    let file = env.var("KLUIS_ROOT_KEY_FILE").map(PathBuf::from).or(file);
    match (env.var("KLUIS_ROOT_KEY"), file, token) {
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(ConfigError::Invalid {
            setting: TOKEN,
            reason: "a root key file or KLUIS_ROOT_KEY is set too; keep one source of the root key"
                .into(),
        }),
        (None, None, Some(settings)) => {
            RootKey::in_token(&settings).map_err(|reason| ConfigError::Invalid {
                setting: TOKEN,
                reason,
            })
        }
        (Some(encoded), _, None) => {
            RootKey::from_encoded(&encoded).map_err(|reason| ConfigError::Invalid {
                setting: "KLUIS_ROOT_KEY",
                reason,
            })
        }
        (None, Some(path), None) => {
            let encoded = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                setting: "[keys] root_key_file (KLUIS_ROOT_KEY_FILE)",
                reason: format!("cannot read {}: {}", path.display(), io_reason(&e)),
            })?;
            RootKey::from_encoded(&encoded).map_err(|reason| ConfigError::Invalid {
                setting: "[keys] root_key_file (KLUIS_ROOT_KEY_FILE)",
                reason: format!("{}: {reason}", path.display()),
            })
        }
        (None, None, None) => Err(ConfigError::Missing {
            setting: "root key",
            hint: "set [keys] root_key_file, KLUIS_ROOT_KEY_FILE, KLUIS_ROOT_KEY or [keys.pkcs11]; create one with `kluis keys generate-root --out FILE`",
        }),
    }
}

/// The PKCS#11 settings of the file's `[keys.pkcs11]`, each overridden by its
/// `KLUIS_PKCS11_*` variable; `None` when neither names a module. The PIN comes from
/// `pin_file` (`KLUIS_PKCS11_PIN_FILE`) or `KLUIS_PKCS11_PIN`, never from the file itself.
fn token_settings(
    section: Option<&Pkcs11Section>,
    env: &dyn Env,
) -> Result<Option<TokenSettings>, ConfigError> {
    let from_file = |pick: fn(&Pkcs11Section) -> Option<String>| section.and_then(pick);
    let missing = |what: &str, variable: &str| ConfigError::Invalid {
        setting: TOKEN,
        reason: format!("{what} is missing: set it in [keys.pkcs11] or {variable}"),
    };
    let Some(module) = env
        .var("KLUIS_PKCS11_MODULE")
        .or_else(|| from_file(|s| s.module.clone()))
    else {
        // Half a token configuration is a mistake, not a file key: say so.
        let partly = section.is_some()
            || [
                "KLUIS_PKCS11_TOKEN",
                "KLUIS_PKCS11_KEY",
                "KLUIS_PKCS11_PIN",
                "KLUIS_PKCS11_PIN_FILE",
            ]
            .iter()
            .any(|v| env.var(v).is_some());
        return match partly {
            true => Err(missing(
                "module (the PKCS#11 library)",
                "KLUIS_PKCS11_MODULE",
            )),
            false => Ok(None),
        };
    };
    let token = env
        .var("KLUIS_PKCS11_TOKEN")
        .or_else(|| from_file(|s| s.token.clone()))
        .ok_or_else(|| missing("token (the token's label)", "KLUIS_PKCS11_TOKEN"))?;
    let key = env
        .var("KLUIS_PKCS11_KEY")
        .or_else(|| from_file(|s| s.key.clone()))
        .ok_or_else(|| missing("key (the root key's label)", "KLUIS_PKCS11_KEY"))?;
    let pin = match (
        env.var("KLUIS_PKCS11_PIN"),
        env.var("KLUIS_PKCS11_PIN_FILE")
            .or_else(|| from_file(|s| s.pin_file.clone())),
    ) {
        (Some(pin), _) => pin,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|pin| Zeroizing::new(pin).trim().to_owned())
            .map_err(|e| ConfigError::Invalid {
                setting: TOKEN,
                reason: format!("cannot read the PIN file {path}: {}", io_reason(&e)),
            })?,
        (None, None) => return Err(missing("pin_file", "KLUIS_PKCS11_PIN_FILE")),
    };
    Ok(Some(TokenSettings {
        module: PathBuf::from(module),
        token,
        key,
        pin: Zeroizing::new(pin),
    }))
}

/// The PKCS#11 settings from `KLUIS_PKCS11_*` alone (`kluis dev`, `kluis keys
/// generate-root --pkcs11`); `None` without `KLUIS_PKCS11_MODULE`.
pub fn token_settings_from_env(env: &dyn Env) -> Result<Option<TokenSettings>, ConfigError> {
    token_settings(None, env)
}
