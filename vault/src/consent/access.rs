//! The access decision, as a pure function of the evidence.
//!
//! Every rule about whether a read may happen lives here, with no I/O, so it can be read
//! in one sitting and tested exhaustively. The read pipeline (`reads`) gathers the
//! evidence: the department (authenticated by its client assertion, or by the proof made
//! with the key its grant is bound to) and its registered keys, the grant token as
//! presented, the verified DPoP proof and whether its id is new, the stored grant record,
//! what the department asks, and the time. The signature is checked before (by `jose`);
//! what it proves is weighed here.

use crate::jose::DpopProof;
use crate::jose::keys::KeySet;
use crate::store::GrantRow;
use chrono::{DateTime, Utc};
use kluis_proto::consent::GrantState;
use std::collections::BTreeSet;

/// Everything a read decision rests on.
#[derive(Clone, Copy, Debug)]
pub struct Evidence<'a> {
    /// The authenticated department.
    pub department: &'a str,
    /// Its registered keys.
    pub department_keys: &'a KeySet,
    /// The grant token as presented.
    pub token: &'a str,
    /// The verified DPoP proof.
    pub proof: &'a DpopProof,
    /// Whether the proof's id was seen for the first time.
    pub proof_first_use: bool,
    /// The vault's record of the grant the token names, if it has one.
    pub grant: Option<&'a GrantRow>,
    /// The resident the department means (its pairwise reference).
    pub resident: &'a str,
    /// The categories asked for.
    pub categories: &'a BTreeSet<String>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Why a read is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The proof is signed by another key than the one the token is bound to.
    ProofNotByGrantKey,
    /// The key the grant is bound to is no longer registered for the department.
    KeyNoLongerRegistered,
    /// The proof was used before.
    ProofReplayed,
    /// The vault has no record of the grant.
    NoSuchGrant,
    /// The token is not the one the vault issued for this grant.
    NotTheIssuedToken,
    /// The grant belongs to another department.
    OtherDepartment,
    /// The grant is for another resident than the one the department means.
    OtherResident,
    /// The resident revoked the grant.
    Revoked,
    /// The resident paused the grant.
    Paused,
    /// The grant starts later.
    NotYetValid,
    /// The grant has ended.
    Expired,
    /// Nothing was asked for.
    NothingAsked,
    /// A category outside the grant was asked for.
    OutOfScope(String),
}

/// The grant's state at `now`. Revocation wins over time; a pause lasts until its
/// grant ends.
pub fn state(grant: &GrantRow, now: DateTime<Utc>) -> GrantState {
    if grant.revoked_at.is_some() {
        GrantState::Revoked
    } else if grant.paused.is_some() && now < grant.expires_at {
        GrantState::Paused
    } else if now < grant.not_before {
        GrantState::NotYetValid
    } else if now >= grant.expires_at {
        GrantState::Expired
    } else {
        GrantState::Active
    }
}

/// Whether the read the evidence describes may happen: it may only if every rule holds.
/// Returns the grant it happens under.
pub fn decide<'a>(evidence: &Evidence<'a>) -> Result<&'a GrantRow, Denial> {
    let e = evidence;
    let grant = e.grant.ok_or(Denial::NoSuchGrant)?;
    if !super::proof::is_issued_token(grant, e.token) {
        return Err(Denial::NotTheIssuedToken);
    }
    // The read pipeline refuses these two before it verifies the proof; they stay here so
    // that the decision holds on its own, whatever gathered the evidence.
    if e.proof.jkt != grant.jkt {
        return Err(Denial::ProofNotByGrantKey);
    }
    if !e.department_keys.has_thumbprint(&e.proof.jkt) {
        return Err(Denial::KeyNoLongerRegistered);
    }
    if !e.proof_first_use {
        return Err(Denial::ProofReplayed);
    }
    if grant.department != e.department {
        return Err(Denial::OtherDepartment);
    }
    if grant.reference != e.resident {
        return Err(Denial::OtherResident);
    }
    match state(grant, e.now) {
        GrantState::Active => {}
        GrantState::Revoked => return Err(Denial::Revoked),
        GrantState::Paused => return Err(Denial::Paused),
        GrantState::NotYetValid => return Err(Denial::NotYetValid),
        GrantState::Expired => return Err(Denial::Expired),
    }
    if e.categories.is_empty() {
        return Err(Denial::NothingAsked);
    }
    if let Some(outside) = e.categories.difference(&grant.categories).next() {
        return Err(Denial::OutOfScope(outside.clone()));
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use uuid::Uuid;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn cats(c: &[&str]) -> BTreeSet<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    /// The evidence of a good read, owned: a department key, a grant bound to it, a
    /// proof by that key, and what is asked.
    struct Fixture {
        keys: KeySet,
        grant: GrantRow,
        proof: DpopProof,
        asked: BTreeSet<String>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let (_, public) = crate::jose::keys::generate_department_jwk("k1").unwrap();
            let keys = KeySet::from_jwks(&serde_json::json!({ "keys": [public] })).unwrap();
            let jkt = keys.thumbprints().remove(0);
            Fixture {
                grant: GrantRow {
                    id: Uuid::nil(),
                    department: "schuldhulp".into(),
                    resident: Uuid::nil(),
                    reference: "ref".into(),
                    activity_id: "traject".into(),
                    activity_version: 1,
                    categories: cats(&["schulden.overzicht", "inkomen.bronnen"]),
                    issued_at: t(0),
                    not_before: t(100),
                    expires_at: t(1000),
                    jkt: jkt.clone(),
                    token: "token".into(),
                    request_id: None,
                    revoked_at: None,
                    paused: None,
                },
                proof: DpopProof {
                    jkt,
                    jti: "p-1".into(),
                    expires_at: t(61),
                },
                asked: cats(&["schulden.overzicht"]),
                keys,
            }
        }

        fn evidence(&self) -> Evidence<'_> {
            Evidence {
                department: "schuldhulp",
                department_keys: &self.keys,
                token: "token",
                proof: &self.proof,
                proof_first_use: true,
                grant: Some(&self.grant),
                resident: "ref",
                categories: &self.asked,
                now: t(500),
            }
        }
    }

    fn check(evidence: Evidence<'_>) -> Result<(), Denial> {
        decide(&evidence).map(|_| ())
    }

    #[test]
    fn every_rule_says_no_on_its_own() {
        let f = Fixture::new();
        let other = Fixture::new();
        let good = f.evidence();
        assert_eq!(check(good), Ok(()));
        assert_eq!(
            check(Evidence {
                proof: &other.proof,
                ..good
            }),
            Err(Denial::ProofNotByGrantKey)
        );
        let rebound = GrantRow {
            jkt: other.proof.jkt.clone(),
            ..f.grant.clone()
        };
        assert_eq!(
            check(Evidence {
                proof: &other.proof,
                grant: Some(&rebound),
                ..good
            }),
            Err(Denial::KeyNoLongerRegistered)
        );
        assert_eq!(
            check(Evidence {
                proof_first_use: false,
                ..good
            }),
            Err(Denial::ProofReplayed)
        );
        assert_eq!(
            check(Evidence {
                grant: None,
                ..good
            }),
            Err(Denial::NoSuchGrant)
        );
        assert_eq!(
            check(Evidence {
                token: "another token",
                ..good
            }),
            Err(Denial::NotTheIssuedToken)
        );
        assert_eq!(
            check(Evidence {
                department: "jeugdhulp",
                ..good
            }),
            Err(Denial::OtherDepartment)
        );
        assert_eq!(
            check(Evidence {
                resident: "other",
                ..good
            }),
            Err(Denial::OtherResident)
        );
        assert_eq!(
            check(Evidence { now: t(99), ..good }),
            Err(Denial::NotYetValid)
        );
        assert_eq!(
            check(Evidence {
                now: t(1000),
                ..good
            }),
            Err(Denial::Expired)
        );
        let nothing = BTreeSet::new();
        assert_eq!(
            check(Evidence {
                categories: &nothing,
                ..good
            }),
            Err(Denial::NothingAsked)
        );
        let wider = cats(&["schulden.overzicht", "zorg.mantelzorg"]);
        assert_eq!(
            check(Evidence {
                categories: &wider,
                ..good
            }),
            Err(Denial::OutOfScope("zorg.mantelzorg".into()))
        );
        let revoked = GrantRow {
            revoked_at: Some(t(200)),
            ..f.grant.clone()
        };
        let revoked = Evidence {
            grant: Some(&revoked),
            ..good
        };
        assert_eq!(check(revoked), Err(Denial::Revoked));
        assert_eq!(
            check(Evidence {
                now: t(5000),
                ..revoked
            }),
            Err(Denial::Revoked),
            "revocation wins"
        );

        let paused = GrantRow {
            paused: Some(crate::store::GrantPause {
                since: t(150),
                reason: kluis_proto::consent::PauseReason::DataIncorrect,
            }),
            ..f.grant.clone()
        };
        let paused_read = Evidence {
            grant: Some(&paused),
            ..good
        };
        assert_eq!(check(paused_read), Err(Denial::Paused));
        assert_eq!(
            check(Evidence {
                now: t(5000),
                ..paused_read
            }),
            Err(Denial::Expired),
            "a pause ends with its grant"
        );
        let paused_and_revoked = GrantRow {
            revoked_at: Some(t(200)),
            ..paused.clone()
        };
        assert_eq!(
            check(Evidence {
                grant: Some(&paused_and_revoked),
                ..good
            }),
            Err(Denial::Revoked),
            "revocation wins over a pause"
        );
    }

    #[test]
    fn the_window_is_half_open() {
        let f = Fixture::new();
        let good = f.evidence();
        assert!(
            check(Evidence {
                now: t(100),
                ..good
            })
            .is_ok()
        );
        let last = t(1000) - TimeDelta::microseconds(1);
        assert!(check(Evidence { now: last, ..good }).is_ok());
        assert_eq!(state(&f.grant, t(1000)), GrantState::Expired);
    }
}
