//! The questions privacy officers ask, answered from the log alone, as it streams past.
//!
//! Each report is a [`Tally`]: it sees the entries one at a time, in log order, and keeps
//! only what its answer needs (the grants seen so far, counts per day), so a report over a
//! log of any length holds one chunk of entries in memory. Each is computed over a log
//! prefix whose signed checkpoint is returned with it: an officer can export that prefix,
//! verify it, and recompute the same answer offline.

pub mod uptake;
pub mod witness;

use super::entry::{Action, Entry, Outcome};
use crate::store::DepartmentRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The reports, by the name in `/v1/officer/reports/{name}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// Allowed reads without a valid grant (must be none).
    UnauthorizedReads,
    /// Reads attempted after a revocation or expiry.
    LateAttempts,
    /// Refused reads per department and reason.
    Refusals,
    /// Categories read per department and activity, against what the activity allows.
    Categories,
    /// Reads per department per day, unusual days flagged.
    Volume,
    /// Residents shown each scheme suggestion and residents who applied (no small counts).
    SchemeUptake,
    /// Requests coaches approved on a resident's behalf; those the resident disputed.
    WitnessStatements,
}

impl Report {
    /// Every report.
    pub const ALL: [Report; 7] = [
        Report::UnauthorizedReads,
        Report::LateAttempts,
        Report::Refusals,
        Report::Categories,
        Report::Volume,
        Report::SchemeUptake,
        Report::WitnessStatements,
    ];

    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            Report::UnauthorizedReads => "unauthorized-reads",
            Report::LateAttempts => "late-attempts",
            Report::Refusals => "refusals",
            Report::Categories => "categories",
            Report::Volume => "volume",
            Report::SchemeUptake => "scheme-uptake",
            Report::WitnessStatements => "witness-statements",
        }
    }

    /// The report called `name`.
    pub fn from_name(name: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether it must see the log from its start (to know the grants) rather than only
    /// the range it reports on.
    pub fn replays_grants(self) -> bool {
        self == Report::UnauthorizedReads
    }

    /// A fresh tally for entries `[from, ...)`; `departments` is the register (for scope).
    pub fn tally(self, from: u64, departments: Vec<DepartmentRow>) -> Box<dyn Tally + Send> {
        match self {
            Report::UnauthorizedReads => Box::new(UnauthorizedReadsTally::from_seq(from)),
            Report::LateAttempts => Box::<Vec<LateAttempt>>::default(),
            Report::Refusals => Box::<Refusals>::default(),
            Report::Categories => Box::new(CategoriesTally {
                departments,
                uses: BTreeMap::new(),
            }),
            Report::Volume => Box::<VolumeTally>::default(),
            Report::SchemeUptake => Box::<uptake::UptakeTally>::default(),
            Report::WitnessStatements => Box::<witness::WitnessTally>::default(),
        }
    }
}

/// A report in progress: sees entries in log order, then answers.
pub trait Tally {
    /// Takes the next entry into account.
    fn observe(&mut self, entry: &Entry);
    /// The answer, as JSON.
    fn answer(&self) -> serde_json::Value;
}

fn is_read(entry: &Entry, outcome: Outcome) -> bool {
    entry.action == Action::Read && entry.outcome == outcome
}

/// One read that the log cannot justify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The read's entry.
    pub seq: u64,
    /// Why it is not justified.
    pub problem: String,
}

/// Reads without a valid grant: must be zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct UnauthorizedReads {
    /// Allowed reads checked.
    pub reads_checked: usize,
    /// Reads not covered by a grant valid at that moment, for that department, resident
    /// and those categories, and not revoked before: the first [`MAX_LISTED`].
    pub without_valid_grant: Vec<Finding>,
    /// How many such reads there are in all (more than listed when over [`MAX_LISTED`]).
    pub without_valid_grant_count: usize,
}

/// The most findings a report lists one by one; beyond it, it counts them. This keeps a
/// report's memory bounded whatever the log holds.
pub const MAX_LISTED: usize = 10_000;

struct GrantFacts {
    department: Option<String>,
    resident: Option<String>,
    categories: Vec<String>,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    /// Paused by the resident, as of the entries replayed so far.
    paused: bool,
}

/// Replays the log: every allowed read from `from` on must be covered by a grant entry
/// before it, for the same department and resident, valid at the read's time, not revoked
/// before it, not paused at the time, and including every category read.
#[derive(Default)]
pub struct UnauthorizedReadsTally {
    from: u64,
    grants: HashMap<Uuid, GrantFacts>,
    report: UnauthorizedReads,
}

impl UnauthorizedReadsTally {
    /// A tally that checks the reads from position `from` on (it must still see every
    /// entry before, for the grants).
    pub fn from_seq(from: u64) -> UnauthorizedReadsTally {
        UnauthorizedReadsTally {
            from,
            ..UnauthorizedReadsTally::default()
        }
    }

    /// The report so far.
    pub fn report(&self) -> &UnauthorizedReads {
        &self.report
    }

    fn problem(&self, read: &Entry) -> Option<String> {
        let Some(g) = read.grant.and_then(|id| self.grants.get(&id)) else {
            return Some("no grant entry precedes it".to_owned());
        };
        if g.department != read.department {
            Some("the grant is another department's".into())
        } else if g.resident != read.resident {
            Some("the grant is for another resident".into())
        } else if g.valid_from.is_none_or(|f| read.time < f) {
            Some("it happened before the grant began".into())
        } else if g.valid_until.is_none_or(|u| read.time >= u) {
            Some("it happened after the grant ended".into())
        } else if g.revoked_at.is_some_and(|r| r <= read.time) {
            Some("it happened after the grant was revoked".into())
        } else if g.paused {
            Some("it happened while the resident had paused the grant".into())
        } else {
            read.categories
                .iter()
                .find(|c| !g.categories.contains(c))
                .map(|c| format!("{c} lies outside the grant"))
        }
    }
}

impl Tally for UnauthorizedReadsTally {
    fn observe(&mut self, entry: &Entry) {
        match (entry.action, entry.grant) {
            (Action::Grant, Some(id)) => {
                self.grants.insert(
                    id,
                    GrantFacts {
                        department: entry.department.clone(),
                        resident: entry.resident.clone(),
                        categories: entry.categories.clone(),
                        valid_from: entry.valid_from,
                        valid_until: entry.valid_until,
                        revoked_at: None,
                        paused: false,
                    },
                );
            }
            (Action::Pause, Some(id)) => {
                if let Some(g) = self.grants.get_mut(&id) {
                    g.paused = entry.details.get("change").map(String::as_str) == Some("paused");
                }
            }
            (Action::Revocation, Some(id)) => {
                if let Some(g) = self.grants.get_mut(&id) {
                    g.revoked_at = g.revoked_at.or(Some(entry.time));
                }
            }
            _ if is_read(entry, Outcome::Allowed) && entry.seq >= self.from => {
                self.report.reads_checked += 1;
                if let Some(problem) = self.problem(entry) {
                    self.report.without_valid_grant_count += 1;
                    if self.report.without_valid_grant.len() < MAX_LISTED {
                        self.report.without_valid_grant.push(Finding {
                            seq: entry.seq,
                            problem,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn answer(&self) -> serde_json::Value {
        serde_json::json!(self.report)
    }
}

/// Refused reads, counted per department and reason. An entry that counts a minute's
/// unattributed refusals from one source (`details.reasons`: `code=n,...`, see
/// `audit::tally`) adds each of its counts.
#[derive(Default)]
pub struct Refusals(BTreeMap<String, BTreeMap<String, usize>>);

impl Tally for Refusals {
    fn observe(&mut self, e: &Entry) {
        if !is_read(e, Outcome::Refused) {
            return;
        }
        let department = e
            .department
            .clone()
            .unwrap_or_else(|| "(not authenticated)".into());
        let counts = self.0.entry(department).or_default();
        match e.details.get("reasons") {
            Some(counted) => {
                for (code, n) in counted.split(',').filter_map(|c| c.split_once('=')) {
                    *counts.entry(code.to_owned()).or_default() += n.parse().unwrap_or(0);
                }
            }
            None => {
                *counts
                    .entry(e.reason.clone().unwrap_or_default())
                    .or_default() += 1
            }
        }
    }

    fn answer(&self) -> serde_json::Value {
        serde_json::json!(self.0)
    }
}

/// Attempts after a revocation or expiry: refused reads with those reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LateAttempt {
    /// The entry.
    pub seq: u64,
    /// When.
    pub time: DateTime<Utc>,
    /// Which department.
    pub department: Option<String>,
    /// Under which grant.
    pub grant: Option<Uuid>,
    /// `grant_revoked` or `grant_expired`.
    pub reason: String,
}

impl Tally for Vec<LateAttempt> {
    fn observe(&mut self, e: &Entry) {
        let Some(reason) = e.reason.clone() else {
            return;
        };
        if is_read(e, Outcome::Refused)
            && matches!(reason.as_str(), "grant_revoked" | "grant_expired")
        {
            self.push(LateAttempt {
                seq: e.seq,
                time: e.time,
                department: e.department.clone(),
                grant: e.grant,
                reason,
            });
        }
    }

    fn answer(&self) -> serde_json::Value {
        serde_json::json!(self)
    }
}

/// Per department and activity version: which categories it read, and any outside what
/// the activity allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryUse {
    /// The department.
    pub department: String,
    /// The activity and version.
    pub processing_activity: String,
    /// What the activity allows.
    pub allowed: Vec<String>,
    /// How often each category was read.
    pub read: BTreeMap<String, usize>,
    /// Categories read that the activity does not allow (must be empty).
    pub outside_activity: Vec<String>,
}

/// Categories read per department compared with what each processing activity allows.
pub struct CategoriesTally {
    departments: Vec<DepartmentRow>,
    uses: BTreeMap<(String, String, u32), BTreeMap<String, usize>>,
}

impl Tally for CategoriesTally {
    fn observe(&mut self, e: &Entry) {
        if !is_read(e, Outcome::Allowed) {
            return;
        }
        let (Some(d), Some(a)) = (&e.department, &e.processing_activity) else {
            return;
        };
        let read = self
            .uses
            .entry((d.clone(), a.id.clone(), a.version))
            .or_default();
        for c in &e.categories {
            *read.entry(c.clone()).or_default() += 1;
        }
    }

    fn answer(&self) -> serde_json::Value {
        let uses: Vec<CategoryUse> = self
            .uses
            .iter()
            .map(|((department, activity, version), read)| {
                let allowed: Vec<String> = self
                    .departments
                    .iter()
                    .find(|d| &d.id == department)
                    .and_then(|d| {
                        d.activities
                            .iter()
                            .find(|a| &a.id == activity && a.version == *version)
                    })
                    .map(|a| a.categories.clone())
                    .unwrap_or_default();
                let outside_activity = read
                    .keys()
                    .filter(|c| !allowed.contains(c))
                    .cloned()
                    .collect();
                CategoryUse {
                    department: department.clone(),
                    processing_activity: format!("{activity} v{version}"),
                    allowed,
                    read: read.clone(),
                    outside_activity,
                }
            })
            .collect();
        serde_json::json!(uses)
    }
}

/// Reads per department per day, with days of unusual volume flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyVolume {
    /// The department.
    pub department: String,
    /// The day (UTC).
    pub day: String,
    /// Allowed reads that day.
    pub reads: usize,
    /// More than three times the department's median day, and more than ten reads.
    pub unusual: bool,
}

/// Reads per department per day.
#[derive(Default)]
pub struct VolumeTally(BTreeMap<String, BTreeMap<String, usize>>);

impl VolumeTally {
    /// The days, per department, unusual ones flagged.
    pub fn days(&self) -> Vec<DailyVolume> {
        let mut out = Vec::new();
        for (department, days) in &self.0 {
            let mut sorted: Vec<usize> = days.values().copied().collect();
            sorted.sort_unstable();
            let median = sorted[sorted.len() / 2];
            for (day, reads) in days {
                out.push(DailyVolume {
                    department: department.clone(),
                    day: day.clone(),
                    reads: *reads,
                    unusual: *reads > 10 && *reads > 3 * median,
                });
            }
        }
        out
    }
}

impl Tally for VolumeTally {
    fn observe(&mut self, e: &Entry) {
        if !is_read(e, Outcome::Allowed) {
            return;
        }
        let Some(d) = &e.department else { return };
        *self
            .0
            .entry(d.clone())
            .or_default()
            .entry(e.time.format("%Y-%m-%d").to_string())
            .or_default() += 1;
    }

    fn answer(&self) -> serde_json::Value {
        serde_json::json!(self.days())
    }
}

#[cfg(test)]
mod tests;
