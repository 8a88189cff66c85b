//! Delivery by poll (RFC 8936): a department acknowledges the events it processed and
//! fetches the oldest ones still waiting, in the order they were queued. An event is
//! delivered again until it is acknowledged, so nothing is lost while a department is away;
//! once acknowledged it is never delivered again. And the department's confirmation that it
//! erased what an erasure request asked, which the log keeps.

use super::Signals;
use crate::audit::Context;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::{Error, Result};
use kluis_proto::events::{
    ERASURE_REQUESTED, ErasureConfirmed, MAX_ACKS_PER_POLL, MAX_EVENTS_PER_POLL, PollRequest,
    PollResponse,
};
use uuid::Uuid;

/// The longest error code and description a department may report for an event.
const MAX_ERR_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 500;

impl Signals {
    /// A department's poll: acknowledges `request.ack` and `request.setErrs` (all, or, if
    /// any of them is not a waiting or delivered event of `department`, none), then returns
    /// up to `maxEvents` of the oldest events still waiting.
    pub async fn poll(&self, department: &str, request: &PollRequest) -> Result<PollResponse> {
        if request.ack.len() + request.set_errs.len() > MAX_ACKS_PER_POLL {
            return Err(Error::InvalidParameter(format!(
                "acknowledge at most {MAX_ACKS_PER_POLL} events per poll; nothing was acknowledged"
            )));
        }
        let max = match request.max_events {
            None => MAX_EVENTS_PER_POLL,
            Some(n) if n as usize <= MAX_EVENTS_PER_POLL => n as usize,
            Some(_) => {
                return Err(Error::InvalidParameter(format!(
                    "maxEvents is at most {MAX_EVENTS_PER_POLL}, such as 20; nothing was acknowledged"
                )));
            }
        };
        for (id, error) in &request.set_errs {
            if error.err.is_empty()
                || error.err.chars().count() > MAX_ERR_CHARS
                || !error.err.chars().all(|c| c.is_ascii_graphic())
                || error.description.chars().count() > MAX_DESCRIPTION_CHARS
                || error.description.chars().any(char::is_control)
            {
                return Err(Error::InvalidParameter(format!(
                    "setErrs[{id:.40}] needs an err code (such as \"invalid_request\") and a description of at most {MAX_DESCRIPTION_CHARS} characters; nothing was acknowledged"
                )));
            }
        }
        let listed = request
            .ack
            .iter()
            .enumerate()
            .map(|(i, id)| (format!("ack[{i}]"), id))
            .chain(
                request
                    .set_errs
                    .keys()
                    .map(|id| ("a key of setErrs".to_owned(), id)),
            );
        let mut ids = Vec::new();
        for (place, id) in listed {
            let parsed = Uuid::parse_str(id).map_err(|_| {
                Error::InvalidParameter(format!(
                    "{place} is not an event id (the jti of an event, such as \"8f14e45f-ceea-467a-9575-6f8e3b1e0c1a\"); nothing was acknowledged"
                ))
            })?;
            match self.store.event(parsed).await? {
                Some(event) if event.department == department => ids.push(parsed),
                _ => {
                    return Err(Error::InvalidParameter(format!(
                        "{place} is not an event the vault sent this department; nothing was acknowledged"
                    )));
                }
            }
        }
        if !ids.is_empty() {
            self.store
                .acknowledge_events(department, &ids, self.clock.now())
                .await?;
        }
        if !request.set_errs.is_empty() {
            tracing::warn!(
                department,
                count = request.set_errs.len(),
                "a department could not process some events"
            );
        }
        let mut waiting = self.store.pending_events(department, max + 1).await?;
        let more_available = waiting.len() > max;
        waiting.truncate(max);
        Ok(PollResponse {
            order: waiting.iter().map(|e| e.id.to_string()).collect(),
            sets: waiting
                .into_iter()
                .map(|e| (e.id.to_string(), e.token))
                .collect(),
            more_available,
        })
    }

    /// `department` confirms it erased what erasure request `event` asked. Logged once:
    /// a repeated confirmation answers with the first one's time and logs nothing.
    pub async fn confirm_erasure(
        &self,
        context: &Context,
        department: &str,
        event: Uuid,
    ) -> Result<ErasureConfirmed> {
        let row = match self.store.event(event).await? {
            Some(row) if row.department == department && row.kind == ERASURE_REQUESTED => row,
            _ => return Err(Error::NotFound("erasure request")),
        };
        let grant = row
            .grant
            .ok_or_else(|| Error::Internal("an erasure request without a grant".into()))?;
        let _one = self.one_at_a_time().await;
        let history = self.audit.about_grant(grant).await?;
        let is_this = |e: &&Entry| e.details.get("event_id") == Some(&event.to_string());
        if let Some(earlier) = history
            .iter()
            .filter(is_this)
            .find(|e| e.action == Action::ErasureConfirmed)
        {
            return Ok(ErasureConfirmed {
                event,
                confirmed_at: earlier.time,
            });
        }
        let asked = history
            .iter()
            .filter(is_this)
            .find(|e| e.action == Action::Notice);
        let mut entry = Entry::new(
            Action::ErasureConfirmed,
            Outcome::Done,
            Actor::Department {
                id: department.to_owned(),
            },
        );
        entry.department = Some(department.to_owned());
        entry.resident = row.resident.clone();
        entry.grant = Some(grant);
        entry.details.insert("event_id".into(), event.to_string());
        if let Some(asked) = asked {
            entry.categories = asked.categories.clone();
            if let Some(read) = asked.details.get("read") {
                entry.details.insert("read".into(), read.clone());
            }
        }
        let seq = self.audit.record(context, entry).await?;
        let confirmed_at = self
            .audit
            .entries(seq, seq + 1)
            .await?
            .first()
            .map(|e| e.time)
            .unwrap_or_else(|| self.clock.now());
        Ok(ErasureConfirmed {
            event,
            confirmed_at,
        })
    }
}
