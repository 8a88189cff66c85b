//! The questions privacy officers ask, answered from the log alone.
//!
//! Each report is a pure function of the entries (and, for scope, the department
//! register), computed over a log prefix whose signed checkpoint is returned with it: an
//! officer can export that prefix, verify it, and recompute the same answer offline.

use super::entry::{Action, Entry, Outcome};
use crate::store::DepartmentRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// One read that the log cannot justify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The read's entry.
    pub seq: u64,
    /// Why it is not justified.
    pub problem: String,
}

/// Reads without a valid grant: must be zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnauthorizedReads {
    /// Allowed reads checked.
    pub reads_checked: usize,
    /// Reads not covered by a grant valid at that moment, for that department, resident
    /// and those categories, and not revoked before.
    pub without_valid_grant: Vec<Finding>,
}

struct GrantFacts {
    department: Option<String>,
    resident: Option<String>,
    categories: Vec<String>,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Replays the log: every allowed read in `[from, to)` of `entries` must be covered by a
/// grant entry before it, for the same department and resident, valid at the read's time,
/// not revoked before it, and including every category read.
pub fn unauthorized_reads(
    entries: &[Entry],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> UnauthorizedReads {
    let mut grants: HashMap<Uuid, GrantFacts> = HashMap::new();
    let mut report = UnauthorizedReads {
        reads_checked: 0,
        without_valid_grant: Vec::new(),
    };
    for entry in entries {
        match (entry.action, entry.outcome, entry.grant) {
            (Action::Grant, _, Some(id)) => {
                grants.insert(
                    id,
                    GrantFacts {
                        department: entry.department.clone(),
                        resident: entry.resident.clone(),
                        categories: entry.categories.clone(),
                        valid_from: entry.valid_from,
                        valid_until: entry.valid_until,
                        revoked_at: None,
                    },
                );
            }
            (Action::Revocation, _, Some(id)) => {
                if let Some(g) = grants.get_mut(&id) {
                    g.revoked_at = g.revoked_at.or(Some(entry.time));
                }
            }
            (Action::Read, Outcome::Allowed, grant) if entry.time >= from && entry.time < to => {
                report.reads_checked += 1;
                let problem = match grant.and_then(|id| grants.get(&id)) {
                    None => Some("no grant entry precedes it".to_owned()),
                    Some(g) if g.department != entry.department => {
                        Some("the grant is another department's".into())
                    }
                    Some(g) if g.resident != entry.resident => {
                        Some("the grant is for another resident".into())
                    }
                    Some(g) if g.valid_from.is_none_or(|f| entry.time < f) => {
                        Some("it happened before the grant began".into())
                    }
                    Some(g) if g.valid_until.is_none_or(|u| entry.time >= u) => {
                        Some("it happened after the grant ended".into())
                    }
                    Some(g) if g.revoked_at.is_some_and(|r| r <= entry.time) => {
                        Some("it happened after the grant was revoked".into())
                    }
                    Some(g) => entry
                        .categories
                        .iter()
                        .find(|c| !g.categories.contains(c))
                        .map(|c| format!("{c} lies outside the grant")),
                };
                if let Some(problem) = problem {
                    report.without_valid_grant.push(Finding {
                        seq: entry.seq,
                        problem,
                    });
                }
            }
            _ => {}
        }
    }
    report
}

/// Refused reads, counted per department and reason.
pub fn refusals_by_department(entries: &[Entry]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e.action == Action::Read && e.outcome == Outcome::Refused)
    {
        let department = e
            .department
            .clone()
            .unwrap_or_else(|| "(not authenticated)".into());
        *out.entry(department)
            .or_default()
            .entry(e.reason.clone().unwrap_or_default())
            .or_default() += 1;
    }
    out
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

/// Every read attempted under a revoked or expired grant.
pub fn attempts_after_revocation_or_expiry(entries: &[Entry]) -> Vec<LateAttempt> {
    entries
        .iter()
        .filter(|e| e.action == Action::Read && e.outcome == Outcome::Refused)
        .filter_map(|e| {
            let reason = e.reason.clone()?;
            matches!(reason.as_str(), "grant_revoked" | "grant_expired").then(|| LateAttempt {
                seq: e.seq,
                time: e.time,
                department: e.department.clone(),
                grant: e.grant,
                reason,
            })
        })
        .collect()
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
pub fn categories_by_department(
    entries: &[Entry],
    departments: &[DepartmentRow],
) -> Vec<CategoryUse> {
    let mut uses: BTreeMap<(String, String, u32), BTreeMap<String, usize>> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e.action == Action::Read && e.outcome == Outcome::Allowed)
    {
        let (Some(d), Some(a)) = (&e.department, &e.processing_activity) else {
            continue;
        };
        let read = uses
            .entry((d.clone(), a.id.clone(), a.version))
            .or_default();
        for c in &e.categories {
            *read.entry(c.clone()).or_default() += 1;
        }
    }
    uses.into_iter()
        .map(|((department, activity, version), read)| {
            let allowed: Vec<String> = departments
                .iter()
                .find(|d| d.id == department)
                .and_then(|d| {
                    d.activities
                        .iter()
                        .find(|a| a.id == activity && a.version == version)
                })
                .map(|a| a.categories.clone())
                .unwrap_or_default();
            let outside_activity = read
                .keys()
                .filter(|c| !allowed.contains(c))
                .cloned()
                .collect();
            CategoryUse {
                department,
                processing_activity: format!("{activity} v{version}"),
                allowed,
                read,
                outside_activity,
            }
        })
        .collect()
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
pub fn volume_by_day(entries: &[Entry]) -> Vec<DailyVolume> {
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e.action == Action::Read && e.outcome == Outcome::Allowed)
    {
        let Some(d) = &e.department else { continue };
        *counts
            .entry(d.clone())
            .or_default()
            .entry(e.time.format("%Y-%m-%d").to_string())
            .or_default() += 1;
    }
    let mut out = Vec::new();
    for (department, days) in counts {
        let mut sorted: Vec<usize> = days.values().copied().collect();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        for (day, reads) in days {
            out.push(DailyVolume {
                department: department.clone(),
                day,
                reads,
                unusual: reads > 10 && reads > 3 * median,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn grant(seq: u64, id: Uuid, from: i64, until: i64) -> Entry {
        let mut e = Entry::new(
            Action::Grant,
            Outcome::Done,
            super::super::entry::Actor::Resident {
                reference: "r".into(),
            },
        );
        e.seq = seq;
        e.time = at(from);
        e.grant = Some(id);
        e.department = Some("d".into());
        e.resident = Some("r".into());
        e.categories = vec!["a".into()];
        e.valid_from = Some(at(from));
        e.valid_until = Some(at(until));
        e
    }

    fn read(seq: u64, id: Uuid, time: i64, category: &str) -> Entry {
        let mut e = Entry::new(
            Action::Read,
            Outcome::Allowed,
            super::super::entry::Actor::Department { id: "d".into() },
        );
        e.seq = seq;
        e.time = at(time);
        e.grant = Some(id);
        e.department = Some("d".into());
        e.resident = Some("r".into());
        e.categories = vec![category.into()];
        e
    }

    #[test]
    fn a_clean_log_proves_zero_and_each_violation_is_found() {
        let g = Uuid::new_v4();
        let mut entries = vec![grant(0, g, 0, 100), read(1, g, 10, "a")];
        let range = (at(-1000), at(1000));
        assert_eq!(
            unauthorized_reads(&entries, range.0, range.1).without_valid_grant,
            vec![]
        );
        entries.push(read(2, g, 200, "a"));
        entries.push(read(3, g, 20, "b"));
        entries.push(read(4, Uuid::new_v4(), 20, "a"));
        let mut revoke = Entry::new(
            Action::Revocation,
            Outcome::Done,
            super::super::entry::Actor::Resident {
                reference: "r".into(),
            },
        );
        revoke.seq = 5;
        revoke.time = at(30);
        revoke.grant = Some(g);
        entries.push(revoke);
        entries.push(read(6, g, 40, "a"));
        let report = unauthorized_reads(&entries, range.0, range.1);
        assert_eq!(report.reads_checked, 5);
        let seqs: Vec<u64> = report.without_valid_grant.iter().map(|f| f.seq).collect();
        assert_eq!(seqs, vec![2, 3, 4, 6]);
        let in_window = unauthorized_reads(&entries, at(0), at(15));
        assert_eq!(in_window.reads_checked, 1);
        let _ = TimeDelta::zero();
    }

    #[test]
    fn unusual_days_are_flagged() {
        let g = Uuid::new_v4();
        let mut entries = Vec::new();
        for day in 0..5 {
            for i in 0..3 {
                entries.push(read(0, g, day * 86_400 + i, "a"));
            }
        }
        for i in 0..40 {
            entries.push(read(0, g, 6 * 86_400 + i, "a"));
        }
        let volume = volume_by_day(&entries);
        assert_eq!(volume.iter().filter(|v| v.unusual).count(), 1);
        assert_eq!(volume.iter().find(|v| v.unusual).unwrap().reads, 40);
    }
}
