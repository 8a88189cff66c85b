//! From the provider's callback to verified ID-token claims: the login in progress is
//! taken (once), bound to this browser and not too old; the code is exchanged with the
//! PKCE verifier (and the vault's own client assertion where configured); `openidconnect`
//! verifies the ID token's signature, issuer, audience, expiry and nonce.

use super::{LOGIN_LIFETIME_MINUTES, Oidc, login_failed};
use crate::config::OidcClientAuth;
use crate::crypto::sha256;
use crate::{Error, Result};
use chrono::TimeDelta;
use openidconnect::core::CoreClient;
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, Nonce, PkceCodeVerifier,
    RedirectUrl, TokenResponse,
};

/// What a verified ID token says.
pub(super) struct VerifiedLogin {
    /// The token's issuer.
    pub(super) issuer: String,
    /// The subject at that issuer.
    pub(super) subject: String,
    /// Every claim, for the configured extra ones (the BSN, roles, the name).
    pub(super) claims: serde_json::Map<String, serde_json::Value>,
    /// Whether the provider can log the browser out too.
    pub(super) end_session: bool,
}

impl Oidc {
    /// Verifies the callback of a login with provider `name`.
    pub(super) async fn verify(
        &self,
        name: &str,
        code: &str,
        state: &str,
        binding: Option<&str>,
    ) -> Result<VerifiedLogin> {
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
        Ok(VerifiedLogin {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            claims: token_claims(&id_token.to_string()),
            end_session,
        })
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
