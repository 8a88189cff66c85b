//! Events from the vault: what residents decided about the department's grants (revoked,
//! paused, resumed, expired, a share, a corrected record, an erasure request), as signed
//! Security Event Tokens (RFC 8417) fetched by poll (RFC 8936). Each is verified against the
//! vault's published keys before the department sees it, and acknowledged only after the
//! department asked for the next one: an event is never lost, and never delivered again
//! once processed.

use crate::{Client, Error};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use kluis_proto::events::{ErasureConfirmed, EventKind, PollRequest, PollResponse, SET_TYP};
use reqwest::Method;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use uuid::Uuid;

/// One verified event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its id (`jti`).
    pub id: Uuid,
    /// When the vault issued it.
    pub issued_at: DateTime<Utc>,
    /// The resident's reference for this department, if it is about a resident.
    pub subject: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// The signed token, as received (keep it as proof).
    pub token: String,
}

/// The department's events, oldest first. Each call to [`Events::next`] acknowledges the
/// event it returned before; an event returned but not followed by another `next` (the
/// process stopped while handling it) comes again on the next run.
///
/// ```no_run
/// # async fn demo(client: kluis_sdk::Client) -> Result<(), kluis_sdk::Error> {
/// use kluis_sdk::proto::events::EventKind;
/// let mut events = client.events();
/// while let Some(event) = events.next().await? {
///     match &event.kind {
///         EventKind::GrantRevoked { grant } => println!("stop using grant {grant}"),
///         EventKind::ErasureRequested { .. } => {
///             // delete what was read under the grant, then:
///             client.confirm_erasure(&event).await?;
///         }
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Events<'a> {
    client: &'a Client,
    waiting: VecDeque<Event>,
    /// The event returned last, not yet known to be processed.
    handed_out: Option<Uuid>,
    /// Events processed (a later one was asked for), to acknowledge with the next poll.
    processed: Vec<String>,
    keys: Option<Value>,
}

impl Client {
    /// The events waiting for this department: see [`Events`].
    pub fn events(&self) -> Events<'_> {
        Events {
            client: self,
            waiting: VecDeque::new(),
            handed_out: None,
            processed: Vec::new(),
            keys: None,
        }
    }

    /// Reports that the department deleted what erasure request `event` asked. The vault
    /// logs it once; the resident sees it.
    ///
    /// ```no_run
    /// # async fn demo(client: kluis_sdk::Client, event: kluis_sdk::Event) -> Result<(), kluis_sdk::Error> {
    /// let confirmed = client.confirm_erasure(&event).await?;
    /// println!("confirmed at {}", confirmed.confirmed_at);
    /// # Ok(()) }
    /// ```
    pub async fn confirm_erasure(&self, event: &Event) -> Result<ErasureConfirmed, Error> {
        if !matches!(event.kind, EventKind::ErasureRequested { .. }) {
            return Err(Error::Protocol(
                "only an erasure request can be confirmed".into(),
            ));
        }
        let path = format!("/v1/dept/events/{}/erasure-confirmation", event.id);
        self.call(Method::POST, &path, Some(serde_json::json!({})), None, true)
            .await
    }
}

impl Events<'_> {
    /// The next event, verified; `None` when none waits (the last one returned is then
    /// acknowledged). An event that does not verify ends the stream with
    /// [`Error::UnverifiedEvent`], unacknowledged.
    pub async fn next(&mut self) -> Result<Option<Event>, Error> {
        if let Some(done) = self.handed_out.take() {
            self.processed.push(done.to_string());
        }
        if self.waiting.is_empty() {
            self.fetch().await?;
        }
        let next = self.waiting.pop_front();
        if next.is_none() {
            // Nothing waits, and everything handed out is acknowledged.
            return Ok(None);
        }
        self.handed_out = next.as_ref().map(|e| e.id);
        Ok(next)
    }

    /// Acknowledges what was handed out and fetches what waits.
    async fn fetch(&mut self) -> Result<(), Error> {
        let request = PollRequest {
            ack: self.processed.clone(),
            ..PollRequest::default()
        };
        let body = serde_json::to_value(&request)
            .map_err(|e| Error::Protocol(format!("encoding a poll: {e}")))?;
        let answer: PollResponse = self
            .client
            .call(Method::POST, "/v1/dept/events", Some(body), None, true)
            .await?;
        self.processed.clear();
        for id in &answer.order {
            let token = answer
                .sets
                .get(id)
                .ok_or_else(|| Error::Protocol("the poll's order names a missing event".into()))?;
            let event = self.verify(id, token).await?;
            self.waiting.push_back(event);
        }
        Ok(())
    }

    /// The vault's published keys (fetched once, again when a `kid` is new).
    async fn keys(&mut self, refresh: bool) -> Result<&Value, Error> {
        if refresh || self.keys.is_none() {
            let url = format!("{}/.well-known/jwks.json", self.client.vault());
            let response = self
                .client
                .http()
                .get(&url)
                .send()
                .await
                .map_err(|e| Error::Unavailable(format!("fetching the vault's keys: {e}")))?;
            let keys = response
                .json::<Value>()
                .await
                .map_err(|e| Error::Protocol(format!("the vault's keys: {e}")))?;
            self.keys = Some(keys);
        }
        self.keys
            .as_ref()
            .ok_or_else(|| Error::Protocol("no keys".into()))
    }

    /// Verifies SET `token` delivered as event `id`: ES256 by a vault key named in `kid`,
    /// `typ: secevent+jwt`, `iss` the vault, `aud` this department, `jti` = `id`, `iat`,
    /// one Kluis event in `events`, and an `opaque` subject if any.
    async fn verify(&mut self, id: &str, token: &str) -> Result<Event, Error> {
        let bad = |why: &str| Error::UnverifiedEvent(format!("event {id:.40}: {why}"));
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not a compact JWS"));
        };
        let json = |segment: &str| -> Option<Map<String, Value>> {
            serde_json::from_slice(&B64.decode(segment).ok()?).ok()
        };
        let header = json(header).ok_or_else(|| bad("malformed header"))?;
        let claims = json(payload).ok_or_else(|| bad("malformed claims"))?;
        let signature = B64
            .decode(signature)
            .map_err(|_| bad("malformed signature"))?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(bad("alg is not ES256"));
        }
        let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
        if !typ.eq_ignore_ascii_case(SET_TYP) {
            return Err(bad("typ is not secevent+jwt"));
        }
        if header
            .keys()
            .any(|k| !matches!(k.as_str(), "alg" | "typ" | "kid"))
        {
            return Err(bad("unexpected header parameter"));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no kid"))?
            .to_owned();
        let (signed, _) = token
            .rsplit_once('.')
            .ok_or_else(|| bad("not a compact JWS"))?;
        let mut verified = false;
        for refresh in [false, true] {
            if let Some(key) = vault_key(self.keys(refresh).await?, &kid) {
                verified = ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    key,
                )
                .verify(signed.as_bytes(), &signature)
                .is_ok();
                break;
            }
        }
        if !verified {
            return Err(bad("the signature does not verify with the vault's keys"));
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("iss") != Some(self.client.vault()) {
            return Err(bad("iss is not this vault"));
        }
        if text("aud") != Some(self.client.department()) {
            return Err(bad("aud is not this department"));
        }
        if text("jti") != Some(id) {
            return Err(bad("jti is not the id it was delivered under"));
        }
        let event_id = Uuid::parse_str(id).map_err(|_| bad("jti is not a UUID"))?;
        let issued_at = claims
            .get("iat")
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .ok_or_else(|| bad("iat is missing"))?;
        let subject = match claims.get("sub_id") {
            None => None,
            Some(sub) if sub.get("format").and_then(Value::as_str) == Some("opaque") => Some(
                sub.get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("sub_id has no id"))?
                    .to_owned(),
            ),
            Some(_) => return Err(bad("sub_id is not an opaque identifier")),
        };
        let events = claims
            .get("events")
            .and_then(Value::as_object)
            .filter(|e| e.len() == 1)
            .ok_or_else(|| bad("events must hold exactly one event"))?;
        let (uri, fields) = events.iter().next().ok_or_else(|| bad("no event"))?;
        let kind = EventKind::from_type_and_fields(uri, fields)
            .ok_or_else(|| bad("an event type or fields this SDK does not know"))?;
        Ok(Event {
            id: event_id,
            issued_at,
            subject,
            kind,
            token: token.to_owned(),
        })
    }
}

/// The uncompressed P-256 point of the vault key `kid` in `jwks`.
fn vault_key(jwks: &Value, kid: &str) -> Option<Vec<u8>> {
    let key = jwks
        .get("keys")?
        .as_array()?
        .iter()
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))?;
    if key.get("kty")?.as_str()? != "EC" || key.get("crv")?.as_str()? != "P-256" {
        return None;
    }
    let coordinate = |name: &str| {
        B64.decode(key.get(name)?.as_str()?)
            .ok()
            .filter(|c| c.len() == 32)
    };
    Some([&[4u8][..], &coordinate("x")?, &coordinate("y")?].concat())
}
