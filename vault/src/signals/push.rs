//! (The same task runs the expiry sweep, `expiry`, every ten minutes.)
//!
//! Delivery by push (RFC 8935), for departments that registered an endpoint: a task that
//! sends each waiting event, oldest first, as `application/secevent+jwt` and counts it
//! acknowledged once the endpoint answers `202 Accepted` (or `200`). An endpoint that is
//! down, slow or refuses gets the same event again later, after a back-off that doubles up
//! to five minutes; the poll queue stays the source of truth, so a department can always
//! fetch by poll what push did not deliver. The task runs apart from every request: a
//! hanging endpoint never slows a resident's action.
//!
//! Several nodes each run the task, so an event may be pushed more than once: receivers
//! drop repeats by the event id (`jti`), as RFC 8935 expects of them.

use super::Signals;
use crate::{Error, Result};
use kluis_proto::events::SET_MEDIA_TYPE;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Every how many rounds the task also looks for grants that ran out (ten minutes).
const EXPIRY_EVERY: u64 = 600;
/// How often the task looks for waiting events.
const INTERVAL: Duration = Duration::from_secs(1);
/// The most events pushed to one department per round.
const PER_ROUND: usize = 20;
/// How long one push may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The first and the longest wait after a failed push.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The longest endpoint URL accepted.
const MAX_ENDPOINT_LEN: usize = 2000;

/// A department's push state: after a failure, when to try again and how long to wait
/// after the next one.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    until: Instant,
    next: Duration,
}

/// The push task's shared state.
#[derive(Clone, Default)]
pub(super) struct Pusher {
    backoff: Arc<Mutex<HashMap<String, Backoff>>>,
}

impl Signals {
    /// Refuses an endpoint that is not an absolute `https` URL (plain `http` only in
    /// development), holds a user name, password or fragment, or points at the vault
    /// itself. Named in the error, never echoed.
    pub fn check_endpoint(&self, endpoint: &str) -> Result<()> {
        let bad = |why: &str| {
            Error::InvalidParameter(format!(
                "events_endpoint {why}, such as \"https://systeem.afdeling.example.nl/kluis/events\""
            ))
        };
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(bad("is too long"));
        }
        let url = reqwest::Url::parse(endpoint).map_err(|_| bad("is not a URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http_endpoints => {}
            _ => return Err(bad("must be an https URL")),
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(bad("may not hold a user name, password or #fragment"));
        }
        let host = url.host_str().ok_or_else(|| bad("has no host"))?;
        if let Ok(vault) = reqwest::Url::parse(&self.issuer)
            && vault.host_str() == Some(host)
            && vault.port_or_known_default() == url.port_or_known_default()
        {
            return Err(bad(
                "points at the vault itself; name the department's own system",
            ));
        }
        Ok(())
    }

    /// Starts the push task (one per node).
    pub fn spawn_push(&self) {
        let signals = self.clone();
        tokio::spawn(async move {
            let http = match reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
            {
                Ok(http) => http,
                Err(e) => {
                    tracing::error!(error = %e, "events cannot be pushed: no HTTP client");
                    return;
                }
            };
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut rounds: u64 = 0;
            loop {
                tick.tick().await;
                if rounds.is_multiple_of(EXPIRY_EVERY) {
                    let context = crate::audit::Context::new(&signals.clock);
                    if let Err(e) = signals.expiry_round(&context).await {
                        tracing::warn!(error = %e, "looking for grants that ran out failed");
                    }
                }
                rounds += 1;
                if let Err(e) = signals.push_round(&http).await {
                    tracing::warn!(error = %e, "pushing events failed; trying again");
                }
            }
        });
    }

    /// One round: every department with an endpoint, at once.
    async fn push_round(&self, http: &reqwest::Client) -> Result<()> {
        let now = Instant::now();
        let due: Vec<(String, String)> = self
            .store
            .departments()
            .await?
            .into_iter()
            .filter(|d| !d.disabled)
            .filter_map(|d| Some((d.id, d.events_endpoint?)))
            .filter(|(id, _)| self.pusher.due(id, now))
            .collect();
        let pushes = due
            .iter()
            .map(|(department, endpoint)| self.push_department(http, department, endpoint));
        for done in futures_util::future::join_all(pushes).await {
            done?;
        }
        Ok(())
    }

    /// Pushes `department`'s waiting events in order until one is not accepted.
    async fn push_department(
        &self,
        http: &reqwest::Client,
        department: &str,
        endpoint: &str,
    ) -> Result<()> {
        for event in self.store.pending_events(department, PER_ROUND).await? {
            let sent = http
                .post(endpoint)
                .header(reqwest::header::CONTENT_TYPE, SET_MEDIA_TYPE)
                .header(reqwest::header::ACCEPT, "application/json")
                .body(event.token.clone())
                .send()
                .await;
            let accepted = matches!(&sent, Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED
                || r.status() == reqwest::StatusCode::OK);
            if !accepted {
                let why = match sent {
                    Ok(r) => format!("answered {}", r.status().as_u16()),
                    Err(e) if e.is_timeout() => "did not answer in time".to_owned(),
                    Err(_) => "could not be reached".to_owned(),
                };
                let wait = self.pusher.failed(department, Instant::now());
                tracing::warn!(
                    department,
                    why,
                    retry_in_seconds = wait.as_secs(),
                    "an event push failed; the event waits for the next push or a poll"
                );
                return Ok(());
            }
            self.pusher.succeeded(department);
            self.store
                .acknowledge_events(department, &[event.id], self.clock.now())
                .await?;
        }
        Ok(())
    }
}

impl Pusher {
    fn due(&self, department: &str, now: Instant) -> bool {
        self.lock().get(department).is_none_or(|b| b.until <= now)
    }

    /// Records a failure; returns how long until the next try.
    fn failed(&self, department: &str, now: Instant) -> Duration {
        let mut all = self.lock();
        let wait = all.get(department).map_or(FIRST_BACKOFF, |b| b.next);
        all.insert(
            department.to_owned(),
            Backoff {
                until: now + wait,
                next: (wait * 2).min(MAX_BACKOFF),
            },
        );
        wait
    }

    fn succeeded(&self, department: &str) {
        self.lock().remove(department);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Backoff>> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }
}
