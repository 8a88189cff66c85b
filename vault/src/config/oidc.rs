//! OpenID Providers in the configuration: each `[[oidc]]` section checked on its own
//! (name, https issuer, one way to authenticate, role-specific settings).

use super::{ConfigError, Env, io_reason};
use serde::Deserialize;
use std::path::PathBuf;

/// Who logs in through a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OidcRole {
    /// Residents (through DigiD via a broker, in production).
    Resident,
    /// Municipal staff: privacy officers, through the municipality's own provider.
    Staff,
}

/// How the vault authenticates to a provider's token endpoint.
#[derive(Clone)]
pub enum OidcClientAuth {
    /// `client_secret_basic`.
    Secret(zeroize::Zeroizing<String>),
    /// `private_key_jwt` (RFC 7523) with this private JWK (EC P-256).
    PrivateKeyJwt(zeroize::Zeroizing<String>),
}

/// One configured OpenID Provider.
#[derive(Clone)]
pub struct OidcProvider {
    /// Its name in URLs: `/login/<name>`.
    pub name: String,
    /// The issuer URL, exactly as the provider states it.
    pub issuer: String,
    /// The vault's client id there.
    pub client_id: String,
    /// How the vault authenticates.
    pub client_auth: OidcClientAuth,
    /// Scopes to ask for besides `openid`.
    pub scopes: Vec<String>,
    /// Who logs in here.
    pub role: OidcRole,
    /// Residents: the ID-token claim that holds the BSN, if any (kept only as a keyed hash).
    pub national_id_claim: Option<String>,
    /// Staff: the claim that carries roles, and the value that makes a privacy officer.
    pub officer_claim: Option<(String, String)>,
    /// Staff: subjects that are privacy officers regardless of claims.
    pub officer_subjects: Vec<String>,
    /// The text of the login button (Dutch).
    pub label_nl: String,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OidcSection {
    pub(super) name: String,
    pub(super) issuer: String,
    pub(super) client_id: String,
    pub(super) client_secret_file: Option<PathBuf>,
    pub(super) client_key_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) scopes: Vec<String>,
    pub(super) role: OidcRole,
    pub(super) national_id_claim: Option<String>,
    pub(super) officer_claim: Option<String>,
    pub(super) officer_value: Option<String>,
    #[serde(default)]
    pub(super) officer_subjects: Vec<String>,
    pub(super) label_nl: Option<String>,
}

/// Checks one `[[oidc]]` section and reads its secret.
pub(super) fn provider(section: OidcSection, env: &dyn Env) -> Result<OidcProvider, ConfigError> {
    let invalid = |setting: &'static str, reason: String| ConfigError::Invalid { setting, reason };
    let name = section.name;
    if !crate::ids::is_id(&name) {
        return Err(invalid(
            "[[oidc]] name",
            format!("{name:?} must be 2 to 64 lowercase letters, digits or dashes"),
        ));
    }
    let loopback = |url: &str| {
        ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| url.starts_with(p))
    };
    if !(section.issuer.starts_with("https://") || loopback(&section.issuer)) {
        return Err(invalid(
            "[[oidc]] issuer",
            format!(
                "{:?} must be https (http only on loopback, for tests)",
                section.issuer
            ),
        ));
    }
    let variable = format!(
        "KLUIS_OIDC_{}_SECRET",
        name.to_uppercase().replace('-', "_")
    );
    let read = |path: &PathBuf, setting: &'static str| {
        std::fs::read_to_string(path)
            .map(|s| zeroize::Zeroizing::new(s.trim().to_owned()))
            .map_err(|e| {
                invalid(
                    setting,
                    format!("cannot read {}: {}", path.display(), io_reason(&e)),
                )
            })
    };
    let client_auth = match (
        env.var(&variable),
        &section.client_secret_file,
        &section.client_key_file,
    ) {
        (Some(secret), None, None) => OidcClientAuth::Secret(zeroize::Zeroizing::new(secret)),
        (None, Some(file), None) => {
            OidcClientAuth::Secret(read(file, "[[oidc]] client_secret_file")?)
        }
        (None, None, Some(file)) => {
            OidcClientAuth::PrivateKeyJwt(read(file, "[[oidc]] client_key_file")?)
        }
        (None, None, None) => {
            return Err(invalid(
                "[[oidc]] client_secret_file",
                format!(
                    "provider {name:?} needs client_secret_file, client_key_file (private_key_jwt) or {variable}"
                ),
            ));
        }
        _ => {
            return Err(invalid(
                "[[oidc]] client_secret_file",
                format!("provider {name:?}: give one way to authenticate, not several"),
            ));
        }
    };
    let officer_claim = match (section.officer_claim, section.officer_value) {
        (Some(claim), Some(value)) => Some((claim, value)),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "[[oidc]] officer_claim",
                "officer_claim and officer_value go together".into(),
            ));
        }
    };
    if section.role == OidcRole::Resident
        && (officer_claim.is_some() || !section.officer_subjects.is_empty())
    {
        return Err(invalid(
            "[[oidc]] role",
            format!(
                "provider {name:?} is for residents; officer settings belong to a staff provider"
            ),
        ));
    }
    if section.role == OidcRole::Staff && section.national_id_claim.is_some() {
        return Err(invalid(
            "[[oidc]] national_id_claim",
            "only a resident provider carries national identifiers".into(),
        ));
    }
    let mut scopes = section.scopes;
    scopes.retain(|s| s != "openid");
    Ok(OidcProvider {
        label_nl: section.label_nl.unwrap_or_else(|| "Inloggen".to_owned()),
        name,
        issuer: section.issuer,
        client_id: section.client_id,
        client_auth,
        scopes,
        role: section.role,
        national_id_claim: section.national_id_claim,
        officer_claim,
        officer_subjects: section.officer_subjects,
    })
}
