//! The vault's own signing keys (ES256: grants, events, checkpoints) and their schedule,
//! so that the grant-signing key rotates while the vault serves.
//!
//! Each key `signing-N.key` lives sealed in the key directory, with a sealed schedule
//! (`signing-schedule.key`) saying from when a key signs and from when it is no longer
//! published. A rotation stages a new key: it is published in the JWKS at once, and
//! signs only from `signs_from`, after departments' caches of the JWKS (five minutes) have
//! had time to pick it up. The key it replaces stays published until every grant it
//! signed has ended (its `retired_from`, which the consent service works out once the key
//! has stopped signing). Retired keys still verify the vault's own checkpoints.
//!
//! Nodes that share the key directory follow a rotation made by one of them at their next
//! upkeep ([`VaultKeys::reload`]).

use super::JoseError;
use super::keys::VaultKey;
use crate::clock::Clock;
use crate::crypto::Keyring;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

const SCHEDULE_FILE: &str = "signing-schedule.key";
const SCHEDULE_LABEL: &str = "kluis/signing-schedule/v1";

fn secret_name(n: u32) -> (String, String) {
    (
        format!("signing-{n:08}.key"),
        format!("kluis/signing/v1/{n}"),
    )
}

fn kid(n: u32) -> String {
    format!("kluis-{n}")
}

/// When a key signs and when it is no longer published (absent: from the start; never).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyTimes {
    /// From when the key signs (absent: key 1, or a key from before schedules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signs_from: Option<DateTime<Utc>>,
    /// From when the key is no longer published (absent: still published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_from: Option<DateTime<Utc>>,
}

/// The keys as loaded: number → key and its times.
struct Loaded {
    keys: BTreeMap<u32, (Arc<VaultKey>, KeyTimes)>,
}

/// A key that no longer signs and whose retirement is not set yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retiring {
    /// Its number (`kluis-N`).
    pub number: u32,
    /// Its key id.
    pub kid: String,
    /// When its successor started signing.
    pub signed_until: DateTime<Utc>,
}

/// The vault's signing keys and their schedule.
pub struct VaultKeys {
    loaded: RwLock<Arc<Loaded>>,
    /// The Ed25519 key that signs the audit checkpoint as a C2SP signed note.
    note: crate::crypto::NoteKey,
    clock: Clock,
}

impl std::fmt::Debug for VaultKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeys").finish_non_exhaustive()
    }
}

/// Reads every `signing-N.key` and the schedule.
fn load(keyring: &Keyring) -> Result<Loaded, String> {
    let schedule: BTreeMap<u32, KeyTimes> = match keyring.load_secret(SCHEDULE_FILE, SCHEDULE_LABEL)
    {
        Ok(Some(json)) => serde_json::from_slice(&json)
            .map_err(|e| format!("the signing key schedule is unreadable: {e}"))?,
        Ok(None) => BTreeMap::new(),
        Err(e) => return Err(e.to_string()),
    };
    let mut keys = BTreeMap::new();
    for n in 1.. {
        let (name, label) = secret_name(n);
        match keyring
            .load_secret(&name, &label)
            .map_err(|e| e.to_string())?
        {
            Some(der) => {
                let key = VaultKey::from_pkcs8(&kid(n), &der).map_err(|e| e.to_string())?;
                // A later key without a schedule entry (its node died between writing the
                // entry and the key, or lost a race) is published but never signs.
                let times = schedule.get(&n).copied().unwrap_or(if n == 1 {
                    KeyTimes::default()
                } else {
                    KeyTimes {
                        signs_from: Some(DateTime::<Utc>::MAX_UTC),
                        retired_from: None,
                    }
                });
                keys.insert(n, (Arc::new(key), times));
            }
            None => break,
        }
    }
    Ok(Loaded { keys })
}

impl VaultKeys {
    /// Loads `signing-*.key` from the keyring (sealed under the root key), creating the
    /// first key if there is none.
    pub fn load_or_create(keyring: &Keyring, clock: Clock) -> Result<VaultKeys, String> {
        let mut loaded = load(keyring)?;
        if loaded.keys.is_empty() {
            let (der, key) = VaultKey::generate(&kid(1)).map_err(|e| e.to_string())?;
            let (name, label) = secret_name(1);
            keyring
                .store_secret(&name, &label, &der)
                .map_err(|e| e.to_string())?;
            loaded.keys.insert(1, (Arc::new(key), KeyTimes::default()));
        }
        let note = crate::crypto::NoteKey::load_or_create(keyring).map_err(|e| e.to_string())?;
        Ok(VaultKeys {
            loaded: RwLock::new(Arc::new(loaded)),
            note,
            clock,
        })
    }

    /// Reads the keys and the schedule again (a rotation another node made). Keeps what it
    /// has if the directory holds no key now (a mount gone missing is not a rotation).
    pub fn reload(&self, keyring: &Keyring) -> Result<(), String> {
        self.replace(load(keyring)?);
        Ok(())
    }

    fn loaded_now(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The key that signs new tokens now: the newest whose `signs_from` has come.
    pub fn current(&self) -> Arc<VaultKey> {
        let now = self.clock.now();
        let loaded = self.loaded_now();
        let signing = loaded
            .keys
            .values()
            .rev()
            .find(|(_, t)| t.signs_from.is_none_or(|from| from <= now))
            .or_else(|| loaded.keys.values().next());
        match signing {
            Some((key, _)) => key.clone(),
            // load_or_create never leaves the set empty, and reload keeps it so.
            None => unreachable!("the vault has no signing key"),
        }
    }

    /// The JWKS departments fetch: every key not retired, including one that will sign
    /// soon.
    pub fn published_jwks(&self) -> Value {
        let now = self.clock.now();
        let loaded = self.loaded_now();
        let keys: Vec<Value> = loaded
            .keys
            .values()
            .filter(|(_, t)| t.retired_from.is_none_or(|at| at > now))
            .map(|(k, _)| k.public().to_jwk())
            .collect();
        json!({ "keys": keys })
    }

    /// Every key the vault ever signed with, retired ones too: what verifies the vault's
    /// own checkpoints, and what an audit export carries.
    pub fn jwks(&self) -> Value {
        let loaded = self.loaded_now();
        let keys: Vec<Value> = loaded
            .keys
            .values()
            .map(|(k, _)| k.public().to_jwk())
            .collect();
        json!({ "keys": keys })
    }

    /// The key that signs the audit checkpoint as a signed note.
    pub fn note_key(&self) -> &crate::crypto::NoteKey {
        &self.note
    }

    /// Each key's times, by key id (for the operator's answer and tests).
    pub fn schedule(&self) -> BTreeMap<String, KeyTimes> {
        self.loaded_now()
            .keys
            .iter()
            .map(|(n, (_, t))| (kid(*n), *t))
            .collect()
    }

    /// Adds a new key that is published now and signs from `lead` on. Returns its key id
    /// and when it starts signing. The caller holds off other rotations.
    pub fn stage(
        &self,
        keyring: &Keyring,
        lead: TimeDelta,
    ) -> Result<(String, DateTime<Utc>), JoseError> {
        // From the directory, not memory: another node may have changed it meanwhile.
        let loaded =
            load(keyring).map_err(|_| JoseError::Key("the signing keys cannot be read"))?;
        let number = loaded.keys.keys().next_back().map_or(1, |n| n + 1);
        let (der, key) = VaultKey::generate(&kid(number))?;
        let signs_from = self.clock.now() + lead;
        let mut keys = loaded.keys;
        keys.insert(
            number,
            (
                Arc::new(key),
                KeyTimes {
                    signs_from: Some(signs_from),
                    retired_from: None,
                },
            ),
        );
        // The schedule first: a key is never on disk without its time to sign.
        write_schedule(keyring, &keys)?;
        let (name, label) = secret_name(number);
        let stored = keyring
            .store_new_secret(&name, &label, &der)
            .map_err(|_| JoseError::Key("the new signing key cannot be stored"))?;
        if !stored {
            return Err(JoseError::Key(
                "another node staged a signing key at the same moment; reload and try again",
            ));
        }
        self.replace(Loaded { keys });
        Ok((kid(number), signs_from))
    }

    /// The keys that a newer key has replaced at least `settled` ago and whose retirement
    /// is not set yet.
    pub fn retiring(&self, settled: TimeDelta) -> Vec<Retiring> {
        let now = self.clock.now();
        let loaded = self.loaded_now();
        let numbers: Vec<&u32> = loaded.keys.keys().collect();
        let mut out = Vec::new();
        for pair in numbers.windows(2) {
            let (old, new) = (*pair[0], *pair[1]);
            let (_, old_times) = &loaded.keys[&old];
            let Some(until) = loaded.keys[&new].1.signs_from else {
                continue;
            };
            if old_times.retired_from.is_none() && until + settled <= now {
                out.push(Retiring {
                    number: old,
                    kid: kid(old),
                    signed_until: until,
                });
            }
        }
        out
    }

    /// Sets when key `number` stops being published.
    pub fn retire(
        &self,
        keyring: &Keyring,
        number: u32,
        from: DateTime<Utc>,
    ) -> Result<(), JoseError> {
        let mut keys = load(keyring)
            .map_err(|_| JoseError::Key("the signing keys cannot be read"))?
            .keys;
        if let Some((_, times)) = keys.get_mut(&number) {
            times.retired_from = Some(from);
        }
        write_schedule(keyring, &keys)?;
        self.replace(Loaded { keys });
        Ok(())
    }

    /// Makes `loaded` the current set.
    /// Never an empty set (a key directory gone missing is not a rotation): `current`
    /// relies on there being a key.
    fn replace(&self, loaded: Loaded) {
        if !loaded.keys.is_empty() {
            *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        }
    }
}

/// Writes the times of `keys` as the sealed schedule.
fn write_schedule(
    keyring: &Keyring,
    keys: &BTreeMap<u32, (Arc<VaultKey>, KeyTimes)>,
) -> Result<(), JoseError> {
    let schedule: BTreeMap<u32, KeyTimes> = keys.iter().map(|(n, (_, t))| (*n, *t)).collect();
    let json = serde_json::to_vec(&schedule)
        .map_err(|_| JoseError::Key("the signing key schedule cannot be encoded"))?;
    keyring
        .store_secret(SCHEDULE_FILE, SCHEDULE_LABEL, &json)
        .map_err(|_| JoseError::Key("the signing key schedule cannot be stored"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RootKey;

    fn keyring(dir: &std::path::Path) -> Keyring {
        Keyring::open(dir, RootKey::generate().expect("a root key"), true).expect("a keyring")
    }

    fn kids(jwks: &Value) -> Vec<String> {
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("a kid").to_owned())
            .collect()
    }

    #[test]
    fn a_staged_key_is_published_before_it_signs_and_the_old_one_until_it_retires() {
        let dir = tempfile::tempdir().expect("a directory");
        let ring = keyring(dir.path());
        let start = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let clock = Clock::manual(start);
        let keys = VaultKeys::load_or_create(&ring, clock.clone()).expect("keys");
        assert_eq!(keys.current().kid, "kluis-1");

        let (kid, from) = keys.stage(&ring, TimeDelta::minutes(10)).expect("staged");
        assert_eq!(
            (kid.as_str(), from),
            ("kluis-2", start + TimeDelta::minutes(10))
        );
        assert_eq!(kids(&keys.published_jwks()), ["kluis-1", "kluis-2"]);
        assert_eq!(keys.current().kid, "kluis-1", "not before signs_from");
        assert!(keys.retiring(TimeDelta::minutes(2)).is_empty());

        clock.advance(TimeDelta::minutes(10));
        assert_eq!(keys.current().kid, "kluis-2");
        assert!(
            keys.retiring(TimeDelta::minutes(2)).is_empty(),
            "not settled yet"
        );
        clock.advance(TimeDelta::minutes(2));
        let retiring = keys.retiring(TimeDelta::minutes(2));
        assert_eq!(retiring.len(), 1);
        assert_eq!(retiring[0].kid, "kluis-1");

        let end = clock.now() + TimeDelta::days(30);
        keys.retire(&ring, 1, end).expect("retired");
        assert!(keys.retiring(TimeDelta::minutes(2)).is_empty());
        assert_eq!(
            kids(&keys.published_jwks()),
            ["kluis-1", "kluis-2"],
            "until its grants end"
        );
        clock.set(end);
        assert_eq!(kids(&keys.published_jwks()), ["kluis-2"]);
        assert_eq!(
            kids(&keys.jwks()),
            ["kluis-1", "kluis-2"],
            "checkpoints still verify"
        );

        // Another node (or a restart) reads the same keys and schedule.
        let again = VaultKeys::load_or_create(&ring, clock.clone()).expect("keys");
        assert_eq!(again.schedule(), keys.schedule());
        assert_eq!(again.current().kid, "kluis-2");
        let other = VaultKeys::load_or_create(&ring, clock).expect("keys");
        keys.stage(&ring, TimeDelta::zero()).expect("staged");
        other.reload(&ring).expect("reloaded");
        assert_eq!(other.current().kid, "kluis-3");
    }

    #[test]
    fn a_later_key_without_a_schedule_entry_is_published_but_never_signs() {
        let dir = tempfile::tempdir().expect("a directory");
        let ring = keyring(dir.path());
        let keys = VaultKeys::load_or_create(&ring, Clock::system()).expect("keys");
        // As a node leaves it that died after the schedule, before its key: here, a key
        // written without the schedule entry.
        let (der, _) = VaultKey::generate("kluis-2").expect("a key");
        ring.store_secret("signing-00000002.key", "kluis/signing/v1/2", &der)
            .expect("stored");
        keys.reload(&ring).expect("reloaded");
        assert_eq!(kids(&keys.published_jwks()), ["kluis-1", "kluis-2"]);
        assert_eq!(keys.current().kid, "kluis-1");
        // A stage numbers past every key in the directory, not only those it knew.
        let (der, _) = VaultKey::generate("kluis-3").expect("a key");
        ring.store_secret("signing-00000003.key", "kluis/signing/v1/3", &der)
            .expect("stored");
        assert!(
            keys.stage(&ring, TimeDelta::zero()).is_ok(),
            "stages kluis-4 past both"
        );
        assert_eq!(keys.current().kid, "kluis-4");
    }

    #[test]
    fn an_altered_schedule_is_refused() {
        let dir = tempfile::tempdir().expect("a directory");
        let ring = keyring(dir.path());
        let keys = VaultKeys::load_or_create(&ring, Clock::system()).expect("keys");
        keys.stage(&ring, TimeDelta::minutes(5)).expect("staged");
        let path = dir.path().join(SCHEDULE_FILE);
        let mut sealed = std::fs::read(&path).expect("the schedule");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        std::fs::write(&path, sealed).expect("written");
        assert!(keys.reload(&ring).is_err());
        assert!(VaultKeys::load_or_create(&ring, Clock::system()).is_err());
    }
}
