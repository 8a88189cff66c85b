//! Logging in through OpenID Connect: residents via a DigiD broker, staff via the
//! municipality's provider. Works with any standards-compliant OpenID Provider.
//!
//! The flow: [`Oidc::start`] makes a PKCE verifier, a `state` and a `nonce`, keeps them
//! in the store for ten minutes under the state's hash, binds the login to the browser
//! that started it (a random value in the `kluis_login` cookie), and sends the browser to
//! the provider. [`Oidc::finish`] takes that login out of the store (so a `state`, and with
//! it a code, works once), checks the browser binding, exchanges the code with the PKCE
//! verifier, and has `openidconnect` verify the ID token: signature against the provider's
//! JWKS, issuer, audience, expiry (with the vault's clock) and nonce. Only then is a
//! session made.
//!
//! A resident is `(issuer, subject)`, kept as a keyed hash; a configured claim (the BSN)
//! is kept only as a keyed hash. A staff login becomes a privacy officer only if a
//! configured claim or subject list says so.
//!
//! Discovery runs in the background and is retried: a provider that is unreachable or
//! serves a malformed document does not stop the vault; `/readyz` says what is wrong.

use crate::auth::officers::OfficerPrincipal;
use crate::auth::{NewSession, Principal, Sessions};
use crate::clock::Clock;
use crate::config::{OidcClientAuth, OidcProvider, OidcRole};
use crate::crypto::{random_token, sha256};
use crate::residents::Residents;
use crate::store::{PendingLoginRow, Store};
use crate::{Error, Result};
use chrono::TimeDelta;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The cookie that binds a login to the browser that started it.
pub const LOGIN_COOKIE: &str = "kluis_login";
/// How long a started login may take.
const LOGIN_LIFETIME_MINUTES: i64 = 10;

/// What the vault knows about a provider right now.
#[derive(Clone, Debug)]
enum Discovery {
    NotYet,
    Ready(Box<ProviderMetadataWithLogout>),
    Failed(String),
}

struct Provider {
    config: OidcProvider,
    discovery: RwLock<Discovery>,
}

/// The login service for all configured providers.
#[derive(Clone)]
pub struct Oidc {
    providers: Arc<Vec<Provider>>,
    http: openidconnect::reqwest::Client,
    public_url: String,
    store: Arc<dyn Store>,
    residents: Residents,
    sessions: Sessions,
    clock: Clock,
}

/// A finished login.
pub struct LoggedIn {
    /// The session (its token goes into the session cookie).
    pub session: NewSession,
    /// Who logged in.
    pub principal: Principal,
}

fn login_failed(why: &str) -> Error {
    Error::LoginFailed(why.to_owned())
}

impl Oidc {
    /// The login service for `providers`, answering at `public_url`.
    pub fn new(
        providers: Vec<OidcProvider>,
        public_url: String,
        store: Arc<dyn Store>,
        residents: Residents,
        sessions: Sessions,
        clock: Clock,
    ) -> Result<Oidc> {
        // Following redirects from a provider would open the vault to SSRF.
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Internal(format!("OIDC HTTP client: {e}")))?;
        let providers = providers
            .into_iter()
            .map(|config| Provider {
                config,
                discovery: RwLock::new(Discovery::NotYet),
            })
            .collect();
        Ok(Oidc {
            providers: Arc::new(providers),
            http,
            public_url,
            store,
            residents,
            sessions,
            clock,
        })
    }

    /// Keeps every provider's discovery document current: retried every 15 seconds while
    /// it fails, refreshed every hour once it works.
    pub fn spawn_discovery(&self) {
        for index in 0..self.providers.len() {
            let oidc = self.clone();
            tokio::spawn(async move {
                loop {
                    let ok = oidc.discover(index).await;
                    tokio::time::sleep(Duration::from_secs(if ok { 3600 } else { 15 })).await;
                }
            });
        }
    }

    async fn discover(&self, index: usize) -> bool {
        let provider = &self.providers[index];
        let result = match IssuerUrl::new(provider.config.issuer.clone()) {
            Ok(issuer) => ProviderMetadataWithLogout::discover_async(issuer, &self.http)
                .await
                .map_err(|e| {
                    let mut message = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(cause) = source {
                        message = format!("{message}: {cause}");
                        source = cause.source();
                    }
                    message
                }),
            Err(e) => Err(e.to_string()),
        };
        let ok = result.is_ok();
        let state = match result {
            Ok(metadata) => Discovery::Ready(Box::new(metadata)),
            Err(e) => {
                tracing::warn!(provider = %provider.config.name, error = %e, "OpenID Provider discovery failed");
                Discovery::Failed(e)
            }
        };
        *provider
            .discovery
            .write()
            .unwrap_or_else(|p| p.into_inner()) = state;
        ok
    }

    /// Each provider's state, for `/readyz`: `ok`, or what is wrong.
    pub fn readiness(&self) -> Vec<(String, std::result::Result<(), String>)> {
        self.providers
            .iter()
            .map(|p| {
                let state = match &*p.discovery.read().unwrap_or_else(|e| e.into_inner()) {
                    Discovery::Ready(_) => Ok(()),
                    Discovery::NotYet => Err("discovery has not completed yet".to_owned()),
                    Discovery::Failed(e) => Err(format!("discovery failed: {e}")),
                };
                (p.config.name.clone(), state)
            })
            .collect()
    }

    /// The configured providers: name, button label, role.
    pub fn providers(&self) -> Vec<(String, String, OidcRole)> {
        self.providers
            .iter()
            .map(|p| {
                (
                    p.config.name.clone(),
                    p.config.label_nl.clone(),
                    p.config.role,
                )
            })
            .collect()
    }

    fn provider(&self, name: &str) -> Result<(usize, &Provider)> {
        self.providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.config.name == name)
            .ok_or(Error::NotFound("login provider"))
    }

    /// The provider's metadata, discovering it now if the background task has not yet.
    async fn metadata(&self, name: &str) -> Result<ProviderMetadataWithLogout> {
        let (index, provider) = self.provider(name)?;
        let current = provider
            .discovery
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match current {
            Discovery::Ready(metadata) => Ok(*metadata),
            _ if self.discover(index).await => self.metadata_ready(provider),
            _ => Err(Error::LoginUnavailable),
        }
    }

    fn metadata_ready(&self, provider: &Provider) -> Result<ProviderMetadataWithLogout> {
        match &*provider.discovery.read().unwrap_or_else(|e| e.into_inner()) {
            Discovery::Ready(metadata) => Ok((**metadata).clone()),
            _ => Err(Error::LoginUnavailable),
        }
    }

    fn redirect_uri(&self, name: &str) -> String {
        format!("{}/login/{name}/callback", self.public_url)
    }

    /// Starts a login: returns where to send the browser and the value for the
    /// `kluis_login` cookie.
    pub async fn start(&self, name: &str) -> Result<(String, String)> {
        let metadata = self.metadata(name).await?;
        let (_, provider) = self.provider(name)?;
        let redirect = RedirectUrl::new(self.redirect_uri(name))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.config.client_id.clone()),
            None,
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &provider.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let binding = random_token()?;
        let pending = PendingLoginRow {
            provider: name.to_owned(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            binding_hash: sha256(binding.as_bytes()),
            created_at: self.clock.now(),
        };
        self.store
            .put_pending_login(&sha256(state.secret().as_bytes()), &pending)
            .await?;
        Ok((url.to_string(), binding))
    }

    /// Finishes a login at the callback.
    pub async fn finish(
        &self,
        name: &str,
        code: &str,
        state: &str,
        binding: Option<&str>,
    ) -> Result<LoggedIn> {
        let pending = self
            .store
            .take_pending_login(&sha256(state.as_bytes()))
            .await?
            .ok_or_else(|| {
                login_failed(
                    "this login is unknown, has expired or was used already; please log in again",
                )
            })?;
        if pending.provider != name {
            return Err(login_failed(
                "this login was started with another provider; please log in again",
            ));
        }
        if binding.is_none_or(|b| sha256(b.as_bytes()) != pending.binding_hash) {
            return Err(login_failed(
                "this login was started in another browser; please log in again",
            ));
        }
        if self.clock.now() - pending.created_at > TimeDelta::minutes(LOGIN_LIFETIME_MINUTES) {
            return Err(login_failed(
                "this login took too long; please log in again",
            ));
        }
        let metadata = self.metadata(name).await?;
        let (_, provider) = self.provider(name)?;
        let end_session = metadata
            .additional_metadata()
            .end_session_endpoint
            .is_some();
        let redirect = RedirectUrl::new(self.redirect_uri(name))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let secret = match &provider.config.client_auth {
            OidcClientAuth::Secret(secret) => Some(ClientSecret::new(secret.to_string())),
            OidcClientAuth::PrivateKeyJwt(_) => None,
        };
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect);
        let mut exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| login_failed("the provider has no token endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
        if let OidcClientAuth::PrivateKeyJwt(jwk) = &provider.config.client_auth {
            let assertion = crate::jose::sign_client_assertion(
                jwk,
                &provider.config.client_id,
                &provider.config.issuer,
                self.clock.now(),
            )
            .map_err(|e| Error::Internal(format!("signing the client assertion: {e}")))?;
            exchange = exchange
                .add_extra_param(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .add_extra_param("client_assertion", assertion);
        }
        let response = exchange.request_async(&self.http).await.map_err(|e| {
            let detail = match &e {
                openidconnect::RequestTokenError::ServerResponse(r) => format!("{:?}: {:?}", r.error(), r.error_description()),
                other => other.to_string(),
            };
            tracing::info!(provider = name, error = %detail, "the provider refused the code exchange");
            login_failed("the identity provider did not accept this login (the code is wrong, expired or used)")
        })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| login_failed("the identity provider sent no ID token"))?;
        let clock = self.clock.clone();
        let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| {
                tracing::info!(provider = name, error = %e, "an ID token was refused");
                login_failed(match e {
                    ClaimsVerificationError::SignatureVerification(_) => {
                        "the identity provider's token has a signature that does not verify"
                    }
                    ClaimsVerificationError::InvalidIssuer(_) => {
                        "the token comes from another identity provider than expected"
                    }
                    ClaimsVerificationError::InvalidAudience(_) => {
                        "the token was made for another application"
                    }
                    ClaimsVerificationError::Expired(_) => {
                        "the identity provider's token has expired; please log in again"
                    }
                    ClaimsVerificationError::InvalidNonce(_) => {
                        "the token does not belong to this login"
                    }
                    _ => "the identity provider's token is not valid",
                })
            })?;
        let issuer = claims.issuer().as_str().to_owned();
        let subject = claims.subject().as_str().to_owned();
        let extra = token_claims(&id_token.to_string());
        let principal = match provider.config.role {
            OidcRole::Resident => {
                let resident = self.residents.ensure_resident(&issuer, &subject).await?;
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
                let officer = provider.config.officer_subjects.contains(&subject)
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
                    return Err(Error::Forbidden(
                        "your account has no privacy-officer role in Kluis",
                    ));
                }
                let identity = self.residents.identity_pseudonym(&issuer, &subject);
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
        };
        let method = if end_session {
            format!("oidc:{name}")
        } else {
            format!("oidc:{name}:no-end-session")
        };
        let session = self.sessions.create(&principal, &method, None).await?;
        tracing::info!(provider = name, "login through an OpenID Provider");
        Ok(LoggedIn { session, principal })
    }

    /// Where to send the browser after logout: the provider's end-session endpoint (RP-
    /// initiated logout) when it has one and the session came from it, else the vault.
    pub fn logout_url(&self, login_method: &str) -> String {
        let home = format!("{}/", self.public_url);
        let Some(name) = login_method.strip_prefix("oidc:") else {
            return home;
        };
        let Ok((_, provider)) = self.provider(name) else {
            return home;
        };
        let discovery = provider
            .discovery
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Discovery::Ready(metadata) = discovery else {
            return home;
        };
        let (Some(endpoint), Ok(after)) = (
            metadata.additional_metadata().end_session_endpoint.clone(),
            PostLogoutRedirectUrl::new(home.clone()),
        ) else {
            return home;
        };
        LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(provider.config.client_id.clone()))
            .set_post_logout_redirect_uri(after)
            .http_get_url()
            .to_string()
    }
}

/// The claims of an ID token that `openidconnect` has verified, as JSON (for the
/// configured extra claims: the BSN, roles, the name).
fn token_claims(token: &str) -> serde_json::Map<String, serde_json::Value> {
    crate::jose::compact::parse(token)
        .ok()
        .and_then(|t| t.claims().ok())
        .unwrap_or_default()
}
