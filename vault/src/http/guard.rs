//! The limits every request meets before and after its handler: the size of its headers
//! (431), the cap on requests served at once (503 with `Retry-After`), the request timeout
//! (408), and the count of refused, unauthenticated requests per source address, past which
//! a refusal becomes a 429 with `Retry-After`. A department's own rate is held where it is
//! authenticated (`auth::departments`), so a legitimate department behind the same address
//! as an attacker is not slowed by the attacker's refusals.

use crate::Error;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

/// The guard around every request.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &state.limits;
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Error::HeadersTooLarge {
            limit: limits.max_header_bytes,
        }
        .into_response();
    }
    let Ok(_slot) = state.slots.clone().try_acquire_owned() else {
        return Error::Overloaded.into_response();
    };
    let source = source_of(&request);
    let response = match tokio::time::timeout(limits.request, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Error::RequestTimeout {
            seconds: limits.request.as_secs(),
        }
        .into_response(),
    };
    if response.status() == StatusCode::UNAUTHORIZED
        && let Some(source) = source
        && let Err(limited) = state.throttle.refused(source)
    {
        return limited.into_response();
    }
    response
}

/// The address the request came from (set by the listener), if known.
pub(super) fn source_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}
