//! The access decision, as a pure function of (grant, request, now).
//!
//! Every rule about whether a read may happen lives here, with no I/O, so it can be read
//! in one sitting and tested exhaustively. The caller has already proved who the
//! department is and that the grant token and DPoP proof are genuine; this decides whether
//! the stored grant allows this read, now.

use crate::store::GrantRow;
use chrono::{DateTime, Utc};
use kluis_proto::consent::GrantState;

/// Why a read is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The grant belongs to another department.
    OtherDepartment,
    /// The grant is for another resident than the one the department means.
    OtherResident,
    /// The read is proved with another key than the one the grant is bound to.
    OtherKey,
    /// The resident revoked the grant.
    Revoked,
    /// The grant starts later.
    NotYetValid,
    /// The grant has ended.
    Expired,
    /// Nothing was asked for.
    NothingAsked,
    /// A category outside the grant was asked for.
    OutOfScope(String),
}

/// The grant's state at `now`. Revocation wins over time.
pub fn state(grant: &GrantRow, now: DateTime<Utc>) -> GrantState {
    if grant.revoked_at.is_some() {
        GrantState::Revoked
    } else if now < grant.not_before {
        GrantState::NotYetValid
    } else if now >= grant.expires_at {
        GrantState::Expired
    } else {
        GrantState::Active
    }
}

/// A read by `department`, meaning resident `reference`, proved with key `jkt`, asking for
/// `categories` at `now`: allowed only if every rule holds.
pub fn decide(
    grant: &GrantRow,
    department: &str,
    reference: &str,
    jkt: &str,
    categories: &[String],
    now: DateTime<Utc>,
) -> Result<(), Denial> {
    if grant.department != department {
        return Err(Denial::OtherDepartment);
    }
    if grant.reference != reference {
        return Err(Denial::OtherResident);
    }
    if grant.jkt != jkt {
        return Err(Denial::OtherKey);
    }
    match state(grant, now) {
        GrantState::Active => {}
        GrantState::Revoked => return Err(Denial::Revoked),
        GrantState::NotYetValid => return Err(Denial::NotYetValid),
        GrantState::Expired => return Err(Denial::Expired),
    }
    if categories.is_empty() {
        return Err(Denial::NothingAsked);
    }
    if let Some(outside) = categories.iter().find(|c| !grant.categories.contains(c)) {
        return Err(Denial::OutOfScope(outside.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use uuid::Uuid;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn grant() -> GrantRow {
        GrantRow {
            id: Uuid::nil(),
            department: "schuldhulp".into(),
            resident: Uuid::nil(),
            reference: "ref".into(),
            activity_id: "traject".into(),
            activity_version: 1,
            categories: vec!["schulden.overzicht".into(), "inkomen.bronnen".into()],
            issued_at: t(0),
            not_before: t(100),
            expires_at: t(1000),
            jkt: "jkt".into(),
            token: String::new(),
            request_id: None,
            revoked_at: None,
        }
    }

    fn cats(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_rule_says_no_on_its_own() {
        let g = grant();
        let ok = cats(&["schulden.overzicht"]);
        assert_eq!(decide(&g, "schuldhulp", "ref", "jkt", &ok, t(500)), Ok(()));
        assert_eq!(
            decide(&g, "jeugdhulp", "ref", "jkt", &ok, t(500)),
            Err(Denial::OtherDepartment)
        );
        assert_eq!(
            decide(&g, "schuldhulp", "other", "jkt", &ok, t(500)),
            Err(Denial::OtherResident)
        );
        assert_eq!(
            decide(&g, "schuldhulp", "ref", "other", &ok, t(500)),
            Err(Denial::OtherKey)
        );
        assert_eq!(
            decide(&g, "schuldhulp", "ref", "jkt", &ok, t(99)),
            Err(Denial::NotYetValid)
        );
        assert_eq!(
            decide(&g, "schuldhulp", "ref", "jkt", &ok, t(1000)),
            Err(Denial::Expired)
        );
        assert_eq!(
            decide(&g, "schuldhulp", "ref", "jkt", &[], t(500)),
            Err(Denial::NothingAsked)
        );
        let wider = cats(&["schulden.overzicht", "zorg.mantelzorg"]);
        assert_eq!(
            decide(&g, "schuldhulp", "ref", "jkt", &wider, t(500)),
            Err(Denial::OutOfScope("zorg.mantelzorg".into()))
        );
        let revoked = GrantRow {
            revoked_at: Some(t(200)),
            ..grant()
        };
        assert_eq!(
            decide(&revoked, "schuldhulp", "ref", "jkt", &ok, t(500)),
            Err(Denial::Revoked)
        );
        assert_eq!(
            decide(&revoked, "schuldhulp", "ref", "jkt", &ok, t(5000)),
            Err(Denial::Revoked),
            "revocation wins"
        );
    }

    #[test]
    fn the_window_is_half_open() {
        let g = grant();
        let ok = cats(&["inkomen.bronnen"]);
        assert!(decide(&g, "schuldhulp", "ref", "jkt", &ok, t(100)).is_ok());
        assert!(
            decide(
                &g,
                "schuldhulp",
                "ref",
                "jkt",
                &ok,
                t(1000) - TimeDelta::microseconds(1)
            )
            .is_ok()
        );
        assert_eq!(state(&g, t(1000)), GrantState::Expired);
    }
}
