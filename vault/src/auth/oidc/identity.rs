//! From verified claims to who logged in: a resident (their vault is made on first login;
//! a configured national-identifier claim is kept as a keyed hash only), or a privacy
//! officer (only when a configured claim or subject list says so), or a coach (only when
//! the operator's coach list names this login).

use super::verify::VerifiedLogin;
use super::{Oidc, Provider};
use crate::auth::Principal;
use crate::auth::officers::OfficerPrincipal;
use crate::config::OidcRole;
use crate::{Error, Result};

impl Oidc {
    /// Who `login` (through `provider`, called `name`) is.
    pub(super) async fn identify(
        &self,
        name: &str,
        provider: &Provider,
        login: &VerifiedLogin,
    ) -> Result<Principal> {
        let (issuer, subject, extra) = (&login.issuer, &login.subject, &login.claims);
        Ok(match provider.config.role {
            OidcRole::Resident => {
                let resident = self.residents.ensure_resident(issuer, subject).await?;
                let national_id = provider
                    .config
                    .national_id_claim
                    .as_ref()
                    .and_then(|claim| extra.get(claim))
                    .and_then(|v| v.as_str());
                if let Some(value) = national_id
                    && let Err(e) = self
                        .residents
                        .set_national_id(resident.id, "bsn", value)
                        .await
                {
                    tracing::warn!(provider = name, error = %e, "the national identifier claim was not usable");
                }
                Principal::Resident(resident.id)
            }
            OidcRole::Staff => {
                let officer = provider.config.officer_subjects.contains(subject)
                    || provider
                        .config
                        .officer_claim
                        .as_ref()
                        .is_some_and(|(claim, wanted)| match extra.get(claim) {
                            Some(serde_json::Value::String(v)) => v == wanted,
                            Some(serde_json::Value::Array(values)) => {
                                values.iter().any(|v| v == wanted)
                            }
                            _ => false,
                        });
                if !officer {
                    return match self.coaches.by_login(name, subject).await? {
                        Some(coach) => Ok(Principal::Coach(coach)),
                        None => Err(Error::Forbidden(
                            "your account has no privacy-officer or coach role in Kluis",
                        )),
                    };
                }
                let identity = self.residents.identity_pseudonym(issuer, subject);
                let name_claim = extra
                    .get("name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("Functionaris gegevensbescherming");
                Principal::Officer(OfficerPrincipal {
                    id: format!(
                        "oidc-{}",
                        identity
                            .chars()
                            .filter(char::is_ascii_alphanumeric)
                            .take(16)
                            .collect::<String>()
                            .to_lowercase()
                    ),
                    name: name_claim.chars().take(200).collect(),
                })
            }
        })
    }
}
