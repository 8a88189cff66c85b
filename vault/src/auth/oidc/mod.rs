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
//! configured claim or subject list says so, and a coach only if the operator's coach
//! list names its provider and subject.
//!
//! Discovery runs in the background and is retried: a provider that is unreachable or
//! serves a malformed document does not stop the vault; `/readyz` says what is wrong.
//!
//! - `discovery`: providers' metadata, kept current in the background.
//! - `verify`: from the callback to verified ID-token claims.
//! - `identity`: from verified claims to a resident or a privacy officer.

mod discovery;
mod identity;
mod verify;

use crate::auth::coaches::Coaches;
use crate::auth::{NewSession, Principal, SessionKind, Sessions};
use crate::clock::Clock;
use crate::config::{OidcProvider, OidcRole};
use crate::crypto::{random_token, sha256};
use crate::residents::Residents;
use crate::store::{PendingLoginRow, SessionStore};
use crate::{Error, Result};
use discovery::Discovery;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    ClientId, CsrfToken, LogoutRequest, Nonce, PkceCodeChallenge, PostLogoutRedirectUrl,
    RedirectUrl, Scope,
};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The cookie that binds a login to the browser that started it.
pub const LOGIN_COOKIE: &str = "kluis_login";
/// How long a started login may take.
const LOGIN_LIFETIME_MINUTES: i64 = 10;

/// Logins in progress at most; past it, a new login waits until older ones expire.
pub const MAX_PENDING_LOGINS: usize = 10_000;

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
    store: Arc<dyn SessionStore>,
    residents: Residents,
    coaches: Coaches,
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
        store: Arc<dyn SessionStore>,
        (residents, coaches): (Residents, Coaches),
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
            coaches,
            sessions,
            clock,
        })
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

    fn redirect_uri(&self, name: &str) -> String {
        format!("{}/login/{name}/callback", self.public_url)
    }

    /// Starts a login: returns where to send the browser and the value for the
    /// `kluis_login` cookie.
    pub async fn start(&self, name: &str) -> Result<(String, String)> {
        if self.store.pending_login_count().await? >= MAX_PENDING_LOGINS {
            return Err(Error::TooManyLogins);
        }
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

    /// Forgets logins in progress that can no longer finish (older than their lifetime);
    /// returns how many.
    pub async fn purge_expired(&self) -> Result<usize> {
        let started_before = self.clock.now() - chrono::TimeDelta::minutes(LOGIN_LIFETIME_MINUTES);
        Ok(self.store.purge_pending_logins(started_before).await?)
    }

    /// Finishes a login at the callback: verifies it, finds out who it is, and starts a
    /// session.
    pub async fn finish(
        &self,
        name: &str,
        code: &str,
        state: &str,
        binding: Option<&str>,
    ) -> Result<LoggedIn> {
        let login = self.verify(name, code, state, binding).await?;
        let (_, provider) = self.provider(name)?;
        let principal = self.identify(name, provider, &login).await?;
        let method = if login.end_session {
            format!("oidc:{name}")
        } else {
            format!("oidc:{name}:no-end-session")
        };
        let session = self
            .sessions
            .create(&principal, SessionKind::Browser, &method, None)
            .await?;
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
