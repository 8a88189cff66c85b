// Long: the compact form with its pinned test vectors, the on-disk contract of an entry in one place.
//! How an audit entry is stored: a compact, versioned form from which its canonical JSON
//! (the Merkle leaf, the export) is rebuilt byte for byte. Version 1 is a format byte, then
//! the entry's fields in postcard, with times, UUIDs, hex and base64url ids as bytes: about
//! 45% of the JSON. Entries stored as canonical JSON (by earlier versions, or when the
//! compact form would not give the same bytes back) are read as they are.

use super::entry::{Action, Actor, Entry, Outcome};
use chrono::{DateTime, Utc};
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use kluis_proto::consent::ActivityRef;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use uuid::Uuid;

/// The first byte of an entry in the compact form, version 1.
const COMPACT_V1: u8 = 1;
/// The first byte of an entry stored as its canonical JSON.
const JSON_START: u8 = b'{';

/// A stored entry, opened: the canonical bytes its leaf hash is over, and the entry itself
/// when opening decoded it anyway.
pub(crate) struct Opened {
    /// The canonical JSON.
    pub canonical: Vec<u8>,
    /// The decoded entry (compact entries); `None` for entries stored as JSON.
    pub entry: Option<Entry>,
}

/// A stored entry that is in no known form: changed behind the vault's back.
#[derive(Debug, thiserror::Error)]
#[error("an audit entry's stored bytes are in no known form")]
pub(crate) struct Unreadable;

/// The stored form of `entry`, whose canonical bytes are `canonical`: the compact form
/// when it gives exactly those bytes back, the canonical bytes otherwise.
pub(crate) fn encode(entry: &Entry, canonical: &[u8]) -> Vec<u8> {
    let compact = Compact::of(entry);
    let encoded = postcard::to_extend(&compact, vec![COMPACT_V1]).ok();
    match encoded {
        Some(bytes) if open(&bytes).is_ok_and(|o| o.canonical == canonical) => bytes,
        _ => {
            tracing::warn!(
                seq = entry.seq,
                "an audit entry does not fit the compact form; it is stored as its JSON"
            );
            canonical.to_vec()
        }
    }
}

/// Opens a stored entry.
pub(crate) fn open(stored: &[u8]) -> Result<Opened, Unreadable> {
    match stored.split_first() {
        Some((&COMPACT_V1, rest)) => {
            let (compact, left): (Compact, _) =
                postcard::take_from_bytes(rest).map_err(|_| Unreadable)?;
            if !left.is_empty() {
                return Err(Unreadable);
            }
            let entry = compact.into_entry()?;
            Ok(Opened {
                canonical: entry.canonical(),
                entry: Some(entry),
            })
        }
        Some((&JSON_START, _)) => Ok(Opened {
            canonical: stored.to_vec(),
            entry: None,
        }),
        _ => Err(Unreadable),
    }
}

/// Test support: the stored entry `stored` with `change` made to it, in the same form (to
/// rewrite the log behind the vault's back). Panics on bytes in no known form: tests call it
/// only on entries the vault itself stored.
#[cfg(feature = "test-support")]
pub fn changed(stored: &[u8], change: impl FnOnce(&mut Entry)) -> Vec<u8> {
    let opened = open(stored).expect("a readable stored entry");
    let mut entry = match opened.entry {
        Some(entry) => entry,
        None => serde_json::from_slice(&opened.canonical).expect("an entry stored as JSON"),
    };
    change(&mut entry);
    let canonical = entry.canonical();
    match stored.first() {
        Some(&JSON_START) => canonical,
        _ => encode(&entry, &canonical),
    }
}

/// Version 1 of the compact form. The order of its fields and of the variants below, and
/// the order of `Action::ALL` and `Outcome::ALL`, are the format: change them only with a
/// new version byte.
#[derive(Serialize, Deserialize)]
struct Compact<'a> {
    seq: u64,
    time: Time,
    started: Time,
    action: u8,
    outcome: u8,
    reason: Option<Cow<'a, str>>,
    actor: CompactActor<'a>,
    resident: Option<Text<'a>>,
    department: Option<Cow<'a, str>>,
    grant: Option<[u8; 16]>,
    request: Option<[u8; 16]>,
    categories: Vec<Cow<'a, str>>,
    processing_activity: Option<(Cow<'a, str>, u32)>,
    purpose: Option<Cow<'a, str>>,
    legal_basis: Option<Cow<'a, str>>,
    valid_from: Option<Time>,
    valid_until: Option<Time>,
    policy: Option<Cow<'a, str>>,
    details: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    trace_id: Text<'a>,
    span_id: Text<'a>,
    parent_span_id: Option<Text<'a>>,
}

/// A time: seconds since the Unix epoch and nanoseconds.
#[derive(Serialize, Deserialize)]
struct Time(i64, u32);

/// Who did it.
#[derive(Serialize, Deserialize)]
enum CompactActor<'a> {
    Resident(Text<'a>),
    Department(Cow<'a, str>),
    Officer(Cow<'a, str>),
    Coach(Cow<'a, str>, Cow<'a, str>, Cow<'a, str>),
    Operator,
    System,
    Unknown,
}

/// A string, as bytes when it is lowercase hex or unpadded base64url that encodes back to
/// the same string (trace ids, span ids, audit references).
#[derive(Serialize, Deserialize)]
enum Text<'a> {
    Hex(Vec<u8>),
    Base64Url(Vec<u8>),
    Plain(Cow<'a, str>),
}

impl<'a> Compact<'a> {
    fn of(entry: &'a Entry) -> Compact<'a> {
        let borrowed = |s: &'a Option<String>| s.as_deref().map(Cow::Borrowed);
        Compact {
            seq: entry.seq,
            time: Time::of(entry.time),
            started: Time::of(entry.started),
            action: position(&Action::ALL, &entry.action),
            outcome: position(&Outcome::ALL, &entry.outcome),
            reason: borrowed(&entry.reason),
            actor: CompactActor::of(&entry.actor),
            resident: entry.resident.as_deref().map(Text::of),
            department: borrowed(&entry.department),
            grant: entry.grant.map(|g| g.into_bytes()),
            request: entry.request.map(|r| r.into_bytes()),
            categories: entry
                .categories
                .iter()
                .map(|c| Cow::Borrowed(&**c))
                .collect(),
            processing_activity: entry
                .processing_activity
                .as_ref()
                .map(|a| (Cow::Borrowed(&*a.id), a.version)),
            purpose: borrowed(&entry.purpose),
            legal_basis: borrowed(&entry.legal_basis),
            valid_from: entry.valid_from.map(Time::of),
            valid_until: entry.valid_until.map(Time::of),
            policy: borrowed(&entry.policy),
            details: entry
                .details
                .iter()
                .map(|(k, v)| (Cow::Borrowed(&**k), Cow::Borrowed(&**v)))
                .collect(),
            trace_id: Text::of(&entry.trace_id),
            span_id: Text::of(&entry.span_id),
            parent_span_id: entry.parent_span_id.as_deref().map(Text::of),
        }
    }

    fn into_entry(self) -> Result<Entry, Unreadable> {
        let owned = |s: Option<Cow<str>>| s.map(Cow::into_owned);
        Ok(Entry {
            seq: self.seq,
            time: self.time.into_time()?,
            started: self.started.into_time()?,
            action: *Action::ALL
                .get(usize::from(self.action))
                .ok_or(Unreadable)?,
            outcome: *Outcome::ALL
                .get(usize::from(self.outcome))
                .ok_or(Unreadable)?,
            reason: owned(self.reason),
            actor: self.actor.into_actor()?,
            resident: self.resident.map(Text::into_string).transpose()?,
            department: owned(self.department),
            grant: self.grant.map(Uuid::from_bytes),
            request: self.request.map(Uuid::from_bytes),
            categories: self.categories.into_iter().map(Cow::into_owned).collect(),
            processing_activity: self.processing_activity.map(|(id, version)| ActivityRef {
                id: id.into_owned(),
                version,
            }),
            purpose: owned(self.purpose),
            legal_basis: owned(self.legal_basis),
            valid_from: self.valid_from.map(Time::into_time).transpose()?,
            valid_until: self.valid_until.map(Time::into_time).transpose()?,
            policy: owned(self.policy),
            details: self
                .details
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            trace_id: self.trace_id.into_string()?,
            span_id: self.span_id.into_string()?,
            parent_span_id: self.parent_span_id.map(Text::into_string).transpose()?,
        })
    }
}

/// Where `item` is in `all` (every action and outcome is in its `ALL`).
fn position<T: PartialEq>(all: &[T], item: &T) -> u8 {
    let at = all.iter().position(|a| a == item).unwrap_or(usize::MAX);
    // An item missing from `ALL` gets a position that opens as unreadable, so `encode`
    // stores that entry as JSON.
    u8::try_from(at).unwrap_or(u8::MAX)
}

impl Time {
    fn of(time: DateTime<Utc>) -> Time {
        Time(time.timestamp(), time.timestamp_subsec_nanos())
    }

    fn into_time(self) -> Result<DateTime<Utc>, Unreadable> {
        DateTime::from_timestamp(self.0, self.1).ok_or(Unreadable)
    }
}

impl<'a> CompactActor<'a> {
    fn of(actor: &'a Actor) -> CompactActor<'a> {
        match actor {
            Actor::Resident { reference } => CompactActor::Resident(Text::of(reference)),
            Actor::Department { id } => CompactActor::Department(Cow::Borrowed(id)),
            Actor::Officer { id } => CompactActor::Officer(Cow::Borrowed(id)),
            Actor::Coach {
                id,
                department,
                staff,
            } => CompactActor::Coach(
                Cow::Borrowed(id),
                Cow::Borrowed(department),
                Cow::Borrowed(staff),
            ),
            Actor::Operator => CompactActor::Operator,
            Actor::System => CompactActor::System,
            Actor::Unknown => CompactActor::Unknown,
        }
    }

    fn into_actor(self) -> Result<Actor, Unreadable> {
        Ok(match self {
            CompactActor::Resident(reference) => Actor::Resident {
                reference: reference.into_string()?,
            },
            CompactActor::Department(id) => Actor::Department {
                id: id.into_owned(),
            },
            CompactActor::Officer(id) => Actor::Officer {
                id: id.into_owned(),
            },
            CompactActor::Coach(id, department, staff) => Actor::Coach {
                id: id.into_owned(),
                department: department.into_owned(),
                staff: staff.into_owned(),
            },
            CompactActor::Operator => Actor::Operator,
            CompactActor::System => Actor::System,
            CompactActor::Unknown => Actor::Unknown,
        })
    }
}

impl<'a> Text<'a> {
    fn of(text: &'a str) -> Text<'a> {
        if let Ok(bytes) = HEXLOWER.decode(text.as_bytes()) {
            return Text::Hex(bytes);
        }
        match BASE64URL_NOPAD.decode(text.as_bytes()) {
            Ok(bytes) if BASE64URL_NOPAD.encode(&bytes) == text => Text::Base64Url(bytes),
            _ => Text::Plain(Cow::Borrowed(text)),
        }
    }

    fn into_string(self) -> Result<String, Unreadable> {
        match self {
            Text::Hex(bytes) => Ok(HEXLOWER.encode(&bytes)),
            Text::Base64Url(bytes) => Ok(BASE64URL_NOPAD.encode(&bytes)),
            Text::Plain(text) => Ok(text.into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn time(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// A read as the vault logs it.
    fn read() -> Entry {
        let mut entry = Entry::new(
            Action::Read,
            Outcome::Allowed,
            Actor::Department {
                id: "schuldhulpverlening".into(),
            },
        );
        entry.seq = 1_234_567;
        entry.time = time("2026-12-03T10:15:00.062480612Z");
        entry.started = time("2026-12-03T10:15:00.062460212Z");
        entry.resident = Some("q3Gd0cVx0bKc9pTtJk1m4Yd6u8wPzH2aN5sLfE7rXyA".into());
        entry.department = Some("schuldhulpverlening".into());
        entry.grant = Some(Uuid::from_u128(0x6b6c_7569_7300_4000_8000_0000_0000_0001));
        entry.categories = vec!["schulden.overzicht".into(), "inkomen.loon".into()];
        entry.processing_activity = Some(ActivityRef {
            id: "schuldhulp-traject".into(),
            version: 1,
        });
        entry.purpose = Some("We maken samen met u een plan om uw schulden op te lossen.".into());
        entry.policy = Some("kluis.consent.access/1".into());
        entry.trace_id = "92ba15027b9b77ce4cdb7cf7eadfca8d".into();
        entry.span_id = "cc1424c7096b9140".into();
        entry.parent_span_id = Some("00f067aa0ba902b7".into());
        entry
    }

    /// Every field set, with strings that are neither hex nor base64url.
    fn everything() -> Entry {
        let mut entry = read();
        entry.action = Action::Backup;
        entry.outcome = Outcome::Refused;
        entry.reason = Some("grant_revoked".into());
        entry.actor = Actor::Coach {
            id: "coach-7".into(),
            department: "wijkteam".into(),
            staff: "kluis-op|e.de.vries".into(),
        };
        entry.resident = Some("not base64 ü".into());
        entry.request = Some(Uuid::from_u128(42));
        entry.legal_basis = Some("Participatiewet, artikel 35".into());
        entry.valid_from = Some(time("1969-07-20T20:17:40Z"));
        entry.valid_until = Some(time("2100-01-01T00:00:00.000000001Z"));
        entry.details = BTreeMap::from([
            ("change".into(), "paused".into()),
            ("reason".into(), "\"quoted\"\n\u{0}".into()),
        ]);
        entry.trace_id = "ABCDEF".into();
        entry.span_id = String::new();
        entry.parent_span_id = Some("abc".into());
        entry
    }

    fn round_trip(entry: &Entry) -> Vec<u8> {
        let canonical = entry.canonical();
        let stored = encode(entry, &canonical);
        let opened = open(&stored).expect("opens");
        assert_eq!(opened.canonical, canonical);
        assert_eq!(opened.entry.as_ref(), Some(entry));
        stored
    }

    #[test]
    fn a_read_is_stored_compactly_and_opens_to_the_same_canonical_bytes() {
        let entry = read();
        let stored = round_trip(&entry);
        assert_eq!(stored[0], COMPACT_V1);
        let json = entry.canonical().len();
        assert!(stored.len() * 2 < json, "{} of {json} bytes", stored.len());
    }

    #[test]
    fn every_field_and_every_actor_action_and_outcome_round_trip() {
        let mut entry = everything();
        round_trip(&entry);
        for actor in [
            Actor::Resident {
                reference: "q3Gd0cVx0bKc9pTtJk1m4Yd6u8wPzH2aN5sLfE7rXyA".into(),
            },
            Actor::Officer { id: "fg-1".into() },
            Actor::Operator,
            Actor::System,
            Actor::Unknown,
        ] {
            entry.actor = actor;
            round_trip(&entry);
        }
        for action in Action::ALL {
            entry.action = action;
            round_trip(&entry);
        }
        for outcome in Outcome::ALL {
            entry.outcome = outcome;
            round_trip(&entry);
        }
    }

    /// The format is pinned: an entry stored today opens to the same canonical bytes in
    /// every later version (the leaf hash is over them).
    #[test]
    fn version_1_is_pinned() {
        let stored = encode(&read(), &read().canonical());
        let opened = open(&stored).unwrap();
        assert_eq!(
            String::from_utf8(opened.canonical).unwrap(),
            concat!(
                r#"{"seq":1234567,"time":"2026-12-03T10:15:00.062480612Z","#,
                r#""started":"2026-12-03T10:15:00.062460212Z","action":"read","#,
                r#""outcome":"allowed","actor":{"kind":"department","id":"schuldhulpverlening"},"#,
                r#""resident":"q3Gd0cVx0bKc9pTtJk1m4Yd6u8wPzH2aN5sLfE7rXyA","#,
                r#""department":"schuldhulpverlening","#,
                r#""grant":"6b6c7569-7300-4000-8000-000000000001","#,
                r#""categories":["schulden.overzicht","inkomen.loon"],"#,
                r#""processing_activity":{"id":"schuldhulp-traject","version":1},"#,
                r#""purpose":"We maken samen met u een plan om uw schulden op te lossen.","#,
                r#""policy":"kluis.consent.access/1","#,
                r#""trace_id":"92ba15027b9b77ce4cdb7cf7eadfca8d","span_id":"cc1424c7096b9140","#,
                r#""parent_span_id":"00f067aa0ba902b7"}"#,
            )
        );
        assert_eq!(
            HEXLOWER.encode(&stored),
            concat!(
                "0187ad4bc8848ab10de4c1e51dc8848ab10db4a2e41d0000000113736368756c",
                "6468756c707665726c656e696e67010120ab719dd1c571d1b29cf694ed264d66",
                "e1877abbcc0fcc7d9a379b0b7c4eeb5f200113736368756c6468756c70766572",
                "6c656e696e67016b6c7569730040008000000000000001000212736368756c64",
                "656e2e6f7665727a696368740c696e6b6f6d656e2e6c6f6f6e0112736368756c",
                "6468756c702d7472616a65637401013a5765206d616b656e2073616d656e206d",
                "657420752065656e20706c616e206f6d20757720736368756c64656e206f7020",
                "7465206c6f7373656e2e00000001166b6c7569732e636f6e73656e742e616363",
                "6573732f3100001092ba15027b9b77ce4cdb7cf7eadfca8d0008cc1424c7096b",
                "914001000800f067aa0ba902b7",
            )
        );
    }

    /// Actions and outcomes are stored as their place in `ALL`: that order is pinned here.
    #[test]
    fn the_order_of_actions_and_outcomes_is_pinned() {
        let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "read",
                "access_request",
                "request_decision",
                "grant",
                "revocation",
                "record_write",
                "record_delete",
                "export",
                "erasure",
                "department_change",
                "key_rotation",
                "officer_change",
                "officer_query",
                "case_status",
                "scheme_check",
                "scheme_application",
                "coach_change",
                "look_along",
                "coach_view",
                "proposal",
                "witness_statement",
                "pause",
                "notice",
                "erasure_confirmed",
                "backup",
            ]
        );
        assert_eq!(
            Outcome::ALL,
            [
                Outcome::Allowed,
                Outcome::Refused,
                Outcome::Approved,
                Outcome::Declined,
                Outcome::Done
            ]
        );
    }

    /// Every variant of the compact form, pinned: a coach, a resident with a plain
    /// reference, every optional field.
    #[test]
    fn every_variant_is_pinned() {
        let entry = everything();
        let stored = encode(&entry, &entry.canonical());
        assert_eq!(stored[0], COMPACT_V1);
        assert_eq!(
            HEXLOWER.encode(&stored),
            concat!(
                "0187ad4bc8848ab10de4c1e51dc8848ab10db4a2e41d1801010d6772616e745f",
                "7265766f6b65640307636f6163682d370877696a6b7465616d136b6c7569732d",
                "6f707c652e64652e767269657301020d6e6f742062617365363420c3bc011373",
                "6368756c6468756c707665726c656e696e67016b6c7569730040008000000000",
                "000001010000000000000000000000000000002a0212736368756c64656e2e6f",
                "7665727a696368740c696e6b6f6d656e2e6c6f6f6e0112736368756c6468756c",
                "702d7472616a65637401013a5765206d616b656e2073616d656e206d65742075",
                "2065656e20706c616e206f6d20757720736368756c64656e206f70207465206c",
                "6f7373656e2e011b5061727469636970617469657765742c20617274696b656c",
                "20333501b7a8c30d000180dcb2c81e0101166b6c7569732e636f6e73656e742e",
                "6163636573732f3102066368616e67650670617573656406726561736f6e0a22",
                "71756f746564220a000206414243444546000001010269b7",
            )
        );
    }

    #[test]
    fn entries_stored_as_json_open_as_they_are() {
        // Even when not canonical: the leaf hash then tells they were changed.
        let json = b"{\"seq\":0 }".to_vec();
        let opened = open(&json).unwrap();
        assert_eq!(opened.canonical, json);
        assert!(opened.entry.is_none());
    }

    #[test]
    fn damaged_compact_entries_are_unreadable_never_a_panic() {
        let stored = encode(&read(), &read().canonical());
        assert!(open(&[]).is_err());
        assert!(open(&[2, 0, 0]).is_err(), "an unknown version");
        for len in 1..stored.len() {
            assert!(open(&stored[..len]).is_err(), "cut at {len}");
        }
        let mut longer = stored.clone();
        longer.push(0);
        assert!(open(&longer).is_err(), "a byte too many");
        // Every single-byte change either fails to open or opens to other bytes.
        let canonical = read().canonical();
        for at in 1..stored.len() {
            let mut changed = stored.clone();
            changed[at] ^= 0x40;
            if let Ok(opened) = open(&changed) {
                assert_ne!(opened.canonical, canonical, "byte {at}");
            }
        }
    }

    #[test]
    fn an_action_out_of_range_is_unreadable() {
        let entry = read();
        let mut compact = Compact::of(&entry);
        compact.action = Action::ALL.len() as u8;
        let stored = postcard::to_extend(&compact, vec![COMPACT_V1]).unwrap();
        assert!(open(&stored).is_err());
    }
}
