//! Providers' discovery documents: fetched in the background, retried while they fail,
//! refreshed hourly, and reported to `/readyz`.

use super::{Oidc, Provider};
use crate::{Error, Result};
use openidconnect::{IssuerUrl, ProviderMetadataWithLogout};
use std::time::Duration;

/// What the vault knows about a provider right now.
#[derive(Clone, Debug)]
pub(super) enum Discovery {
    NotYet,
    Ready(Box<ProviderMetadataWithLogout>),
    Failed(String),
}

impl Oidc {
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

    pub(super) async fn discover(&self, index: usize) -> bool {
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

    /// The provider's metadata, discovering it now if the background task has not yet.
    pub(super) async fn metadata(&self, name: &str) -> Result<ProviderMetadataWithLogout> {
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
}
