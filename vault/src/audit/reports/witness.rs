//! The witness-statement report: every request a coach approved on a resident's behalf,
//! by coach, and each statement the resident said was wrong ("Dit klopt niet"), which the
//! privacy officer follows up. Every refused attempt (special-category data) is listed
//! too. From the log alone: `witness_statement` entries.

use super::Tally;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// One flagged or refused statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flagged {
    /// The entry that flags it.
    pub seq: u64,
    /// When.
    pub time: chrono::DateTime<chrono::Utc>,
    /// The coach.
    pub coach: Option<String>,
    /// The resident's audit reference.
    pub resident: Option<String>,
    /// The statement's id (none for a refused attempt).
    pub statement: Option<String>,
    /// The grant it had made (revoked by the resident's answer).
    pub grant: Option<uuid::Uuid>,
}

/// Statements per coach, those disputed, and refused attempts.
#[derive(Default)]
pub struct WitnessTally {
    per_coach: BTreeMap<String, usize>,
    disputed: Vec<Flagged>,
    refused: Vec<Flagged>,
}

fn flagged(entry: &Entry) -> Flagged {
    Flagged {
        seq: entry.seq,
        time: entry.time,
        coach: entry.details.get("coach").cloned(),
        resident: entry.resident.clone(),
        statement: entry.details.get("statement").cloned(),
        grant: entry.grant,
    }
}

impl Tally for WitnessTally {
    fn observe(&mut self, entry: &Entry) {
        if entry.action != Action::WitnessStatement {
            return;
        }
        match (entry.outcome, &entry.actor) {
            (Outcome::Done, Actor::Coach { id, .. }) => {
                *self.per_coach.entry(id.clone()).or_default() += 1;
            }
            (Outcome::Declined, _) => self.disputed.push(flagged(entry)),
            (Outcome::Refused, _) => self.refused.push(flagged(entry)),
            _ => {}
        }
    }

    fn answer(&self) -> serde_json::Value {
        serde_json::json!({
            "statements_per_coach": self.per_coach,
            "disputed": self.disputed,
            "refused": self.refused,
        })
    }
}
