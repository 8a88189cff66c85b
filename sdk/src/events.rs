//! Events from the vault: what residents decided about the department's grants (a share,
//! a revoke, a pause and a resume, a corrected record, an erasure request), as signed
//! Security Event Tokens (RFC 8417) fetched by poll (RFC 8936). Each is verified against
//! the vault's published keys before the department sees it, and acknowledged when the
//! department asks for the next one: an event the department finished with never comes
//! again, and one it was still handling when its process stopped comes again.

use crate::{Client, Error};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use kluis_proto::events::{ErasureConfirmed, EventKind, PollRequest, PollResponse, SET_TYP};
use reqwest::Method;
use serde_json::{Map, Value};
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
    /// What happened; [`EventKind::Unknown`] for a kind this SDK does not know yet (a newer
    /// vault): see `event_type` and `fields`, and update the SDK.
    pub kind: EventKind,
    /// The event type URI.
    pub event_type: String,
    /// The event's fields, as sent.
    pub fields: Value,
    /// The signed token, as received (keep it as proof).
    pub token: String,
}

/// The department's events, oldest first. Each [`Events::next`] acknowledges the event
/// it returned before, so process an event completely before asking for the next one.
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
    /// The event returned last: acknowledged with the next poll.
    handed_out: Option<Uuid>,
    keys: Option<Value>,
}

impl Client {
    /// The events waiting for this department: see [`Events`].
    pub fn events(&self) -> Events<'_> {
        Events {
            client: self,
            handed_out: None,
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
    /// Acknowledges the event returned before and returns the next one, verified; `None`
    /// when none waits. An event that does not verify (signature, type, issuer, audience,
    /// id) ends the stream with [`Error::UnverifiedEvent`], unacknowledged.
    pub async fn next(&mut self) -> Result<Option<Event>, Error> {
        let request = PollRequest {
            ack: self.handed_out.iter().map(Uuid::to_string).collect(),
            max_events: Some(1),
            ..PollRequest::default()
        };
        let body = serde_json::to_value(&request)
            .map_err(|e| Error::Protocol(format!("encoding a poll: {e}")))?;
        let answer: PollResponse = self
            .client
            .call(Method::POST, "/v1/dept/events", Some(body), None, true)
            .await?;
        self.handed_out = None;
        let Some(id) = answer.order.first() else {
            return Ok(None);
        };
        let token = answer
            .sets
            .get(id)
            .ok_or_else(|| Error::Protocol("the poll's order names a missing event".into()))?;
        let department = self.client.department().to_owned();
        let vault = self.client.vault().to_owned();
        let mut event = None;
        for refresh in [false, true] {
            let keys = self.keys(refresh).await?;
            match verify_event(token, id, keys, &vault, &department) {
                Err(Refusal::UnknownKey) if !refresh => continue,
                Err(refusal) => {
                    return Err(Error::UnverifiedEvent(format!("event {id:.40}: {refusal}")));
                }
                Ok(verified) => {
                    event = Some(verified);
                    break;
                }
            }
        }
        self.handed_out = event.as_ref().map(|e| e.id);
        Ok(event)
    }

    /// The vault's published keys (fetched once, again when a `kid` is new).
    async fn keys(&mut self, refresh: bool) -> Result<&Value, Error> {
        if refresh || self.keys.is_none() {
            let url = format!("{}/.well-known/jwks.json", self.client.vault());
            let unavailable =
                |e: reqwest::Error| Error::Unavailable(format!("fetching the vault's keys: {e}"));
            let keys = self
                .client
                .http()
                .get(&url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(unavailable)?
                .json::<Value>()
                .await
                .map_err(|e| Error::Protocol(format!("the vault's keys: {e}")))?;
            self.keys = Some(keys);
        }
        self.keys
            .as_ref()
            .ok_or_else(|| Error::Protocol("no keys".into()))
    }
}

/// Why an event was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("{0}")]
    Bad(&'static str),
    #[error("no vault key has its kid")]
    UnknownKey,
}

/// Verifies SET `token` delivered as event `id` for `department` of the vault `issuer`,
/// with the vault's keys `jwks`: ES256 by the key its `kid` names, `typ: secevent+jwt`, no
/// header parameter but `alg`, `typ` and `kid`, `iss`, `aud`, `jti` = `id`, `iat`, an
/// `opaque` subject if any, and exactly one event.
pub(crate) fn verify_event(
    token: &str,
    id: &str,
    jwks: &Value,
    issuer: &str,
    department: &str,
) -> Result<Event, Refusal> {
    let bad = Refusal::Bad;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS"));
    };
    let json = |segment: &str| -> Option<Map<String, Value>> {
        serde_json::from_slice(&B64.decode(segment).ok()?).ok()
    };
    let header = json(header).ok_or(bad("malformed header"))?;
    let claims = json(payload).ok_or(bad("malformed claims"))?;
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
        return Err(bad("an unexpected header parameter"));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(bad("no kid"))?;
    let key = vault_key(jwks, kid).ok_or(Refusal::UnknownKey)?;
    let (signed, _) = token.rsplit_once('.').ok_or(bad("not a compact JWS"))?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| bad("the signature does not verify with the vault's key"))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(issuer) {
        return Err(bad("iss is not this vault"));
    }
    if text("aud") != Some(department) {
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
        .ok_or(bad("iat is missing"))?;
    let subject = match claims.get("sub_id") {
        None => None,
        Some(sub) if sub.get("format").and_then(Value::as_str) == Some("opaque") => Some(
            sub.get("id")
                .and_then(Value::as_str)
                .ok_or(bad("sub_id has no id"))?
                .to_owned(),
        ),
        Some(_) => return Err(bad("sub_id is not an opaque identifier")),
    };
    let events = claims
        .get("events")
        .and_then(Value::as_object)
        .filter(|e| e.len() == 1)
        .ok_or(bad("events must hold exactly one event"))?;
    let (uri, fields) = events.iter().next().ok_or(bad("no event"))?;
    Ok(Event {
        id: event_id,
        issued_at,
        subject,
        kind: EventKind::from_type_and_fields(uri, fields),
        event_type: uri.clone(),
        fields: fields.clone(),
        token: token.to_owned(),
    })
}

/// The uncompressed P-256 point of the vault's signing key `kid` in `jwks`.
fn vault_key(jwks: &Value, kid: &str) -> Option<Vec<u8>> {
    let key = jwks
        .get("keys")?
        .as_array()?
        .iter()
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))?;
    let field = |name: &str| key.get(name).and_then(Value::as_str);
    if field("kty")? != "EC" || field("crv")? != "P-256" {
        return None;
    }
    if field("use").is_some_and(|u| u != "sig") || field("alg").is_some_and(|a| a != "ES256") {
        return None;
    }
    let coordinate = |name: &str| B64.decode(field(name)?).ok().filter(|c| c.len() == 32);
    Some([&[4u8][..], &coordinate("x")?, &coordinate("y")?].concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    const VAULT: &str = "https://kluis.example.nl";
    const TEAM: &str = "schuldhulp";
    const ID: &str = "8f14e45f-ceea-467a-9575-6f8e3b1e0c1a";

    struct Signer {
        key: EcdsaKeyPair,
        jwks: Value,
    }

    fn new_signer() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = key.public_key().as_ref();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "kluis-1", "use": "sig", "alg": "ES256",
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])}]});
        Signer { key, jwks }
    }

    impl Signer {
        fn sign(&self, header: &Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                B64.encode(header.to_string()),
                B64.encode(claims.to_string())
            );
            let signature = self
                .key
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap();
            format!("{input}.{}", B64.encode(signature.as_ref()))
        }
    }

    fn header() -> Value {
        json!({"alg": "ES256", "typ": "secevent+jwt", "kid": "kluis-1"})
    }

    fn claims() -> Value {
        json!({"iss": VAULT, "aud": TEAM, "jti": ID, "iat": 1_796_179_591,
            "sub_id": {"format": "opaque", "id": "ref-1"},
            "events": {"urn:kluis:secevent:grant-revoked": {"grant": ID}}})
    }

    fn check(signer: &Signer, token: &str) -> Result<Event, Refusal> {
        verify_event(token, ID, &signer.jwks, VAULT, TEAM)
    }

    #[test]
    fn a_correct_event_verifies_with_its_kind_and_subject() {
        let signer = new_signer();
        let event = check(&signer, &signer.sign(&header(), &claims())).unwrap();
        assert_eq!(
            event.kind,
            EventKind::GrantRevoked {
                grant: ID.parse().unwrap()
            }
        );
        assert_eq!(event.subject.as_deref(), Some("ref-1"));
    }

    #[test]
    fn every_rule_can_say_no() {
        let signer = new_signer();
        let other = new_signer();
        let with = |path: &[&str], value: Value| {
            let mut c = claims();
            let mut at = &mut c;
            for p in &path[..path.len() - 1] {
                at = &mut at[*p];
            }
            at[path[path.len() - 1]] = value;
            signer.sign(&header(), &c)
        };
        let header_with = |name: &str, value: Value| {
            let mut h = header();
            h[name] = value;
            signer.sign(&h, &claims())
        };
        let cases = [
            (header_with("alg", json!("none")), "alg is not ES256"),
            (
                header_with("typ", json!("kluis-grant+jwt")),
                "typ is not secevent+jwt",
            ),
            (
                header_with("jku", json!("https://evil.example")),
                "an unexpected header parameter",
            ),
            (
                with(&["iss"], json!("https://other.example")),
                "iss is not this vault",
            ),
            (
                with(&["aud"], json!("jeugdhulp")),
                "aud is not this department",
            ),
            (
                with(&["jti"], json!("another-id")),
                "jti is not the id it was delivered under",
            ),
            (
                with(&["sub_id", "format"], json!("email")),
                "sub_id is not an opaque identifier",
            ),
            (
                with(&["events"], json!({})),
                "events must hold exactly one event",
            ),
            (
                other.sign(&header(), &claims()),
                "the signature does not verify with the vault's key",
            ),
        ];
        for (token, why) in cases {
            assert_eq!(
                check(&signer, &token).unwrap_err(),
                Refusal::Bad(why),
                "{why}"
            );
        }
        let mut unknown = header();
        unknown["kid"] = json!("kluis-9");
        assert_eq!(
            check(&signer, &signer.sign(&unknown, &claims())).unwrap_err(),
            Refusal::UnknownKey
        );
        let token = signer.sign(&header(), &claims());
        let (input, _) = token.rsplit_once('.').unwrap();
        assert_eq!(
            check(&signer, &format!("{input}.{}", B64.encode([0u8; 64]))).unwrap_err(),
            Refusal::Bad("the signature does not verify with the vault's key")
        );
    }

    #[test]
    fn a_kind_this_sdk_does_not_know_is_handed_out_as_unknown() {
        let signer = new_signer();
        let mut c = claims();
        c["events"] = json!({"urn:kluis:secevent:grant-teleported": {"grant": ID}});
        let event = check(&signer, &signer.sign(&header(), &c)).unwrap();
        assert_eq!(event.kind, EventKind::Unknown);
        assert_eq!(event.event_type, "urn:kluis:secevent:grant-teleported");
        assert_eq!(event.fields["grant"], ID);
    }
}
