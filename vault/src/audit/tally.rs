//! Refusals that nothing in the attempt can be attributed to (no grant the vault issued, no
//! department that proved itself), counted per source address and minute and logged as one
//! entry each: the log stays complete about what happened, and junk cannot flood it.
//!
//! Counts wait in memory until their minute is over (at most a minute and a few seconds);
//! a crash loses the counts of the current minute, never an attributed entry. A source is
//! keyed as the rate limits key it (an IPv6 address by its /64, `throttle::source_key`), and
//! the number of sources counted per minute is capped: past the cap, the rest count under
//! `other`.

use super::entry::{Action, Actor, Entry, Outcome};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Sources counted apart per minute; the rest count together as `other`.
pub const MAX_SOURCES_PER_MINUTE: usize = 1_000;

#[derive(Default)]
struct Counted {
    count: u64,
    reasons: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Minutes {
    counted: BTreeMap<(DateTime<Utc>, String), Counted>,
    sources: BTreeMap<DateTime<Utc>, usize>,
}

/// The counts of the minutes not yet logged.
#[derive(Default)]
pub struct Tally {
    minutes: Mutex<Minutes>,
}

fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

impl Tally {
    /// Counts one refusal (error code `reason`) from `source` at `at`.
    pub fn add(&self, at: DateTime<Utc>, source: Option<IpAddr>, reason: &str) {
        let minute = minute_of(at);
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = (
            minute,
            source.map_or_else(
                || "unknown".to_owned(),
                |s| crate::throttle::source_key(s).to_string(),
            ),
        );
        if !minutes.counted.contains_key(&key) {
            let sources = minutes.sources.entry(minute).or_default();
            if *sources >= MAX_SOURCES_PER_MINUTE {
                key.1 = "other".to_owned();
            } else {
                *sources += 1;
            }
        }
        let counted = minutes.counted.entry(key).or_default();
        counted.count += 1;
        *counted.reasons.entry(reason.to_owned()).or_default() += 1;
    }

    /// The entries of every minute before `now`'s (of every minute, with `all`), taken out
    /// of the tally: one per source and minute.
    pub fn take_entries(&self, now: DateTime<Utc>, all: bool) -> Vec<Entry> {
        let current = minute_of(now);
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let done = if all {
            minutes.sources.clear();
            std::mem::take(&mut minutes.counted)
        } else {
            let keep = minutes.counted.split_off(&(current, String::new()));
            minutes.sources = minutes.sources.split_off(&current);
            std::mem::replace(&mut minutes.counted, keep)
        };
        drop(minutes);
        done.into_iter()
            .map(|((minute, source), counted)| {
                let mut entry = Entry::new(Action::Read, Outcome::Refused, Actor::Unknown);
                entry.reason = counted
                    .reasons
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(code, _)| code.clone());
                entry.details.insert("source".into(), source);
                entry
                    .details
                    .insert("count".into(), counted.count.to_string());
                entry.details.insert("minute".into(), minute.to_rfc3339());
                entry.details.insert(
                    "reasons".into(),
                    counted
                        .reasons
                        .iter()
                        .map(|(code, n)| format!("{code}={n}"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                entry
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 13, minute, second)
            .unwrap()
    }

    #[test]
    fn one_entry_per_source_and_minute_with_the_counts() {
        let tally = Tally::default();
        let a: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for second in 0..50 {
            tally.add(at(1, second), Some(a), "invalid_grant");
        }
        tally.add(at(1, 59), Some(a), "invalid_dpop_proof");
        tally.add(at(1, 3), Some(b), "invalid_grant");
        tally.add(at(2, 0), Some(a), "invalid_grant");

        assert!(
            tally.take_entries(at(1, 59), false).is_empty(),
            "minute 1 is not over"
        );
        let entries = tally.take_entries(at(2, 5), false);
        assert_eq!(entries.len(), 2);
        let first = &entries[0];
        assert_eq!(first.details["source"], "192.0.2.1");
        assert_eq!(first.details["count"], "51");
        assert_eq!(
            first.details["reasons"],
            "invalid_dpop_proof=1,invalid_grant=50"
        );
        assert_eq!(first.reason.as_deref(), Some("invalid_grant"));
        assert_eq!(first.details["minute"], at(1, 0).to_rfc3339());
        assert_eq!(entries[1].details["count"], "1");
        assert!(tally.take_entries(at(2, 5), false).is_empty(), "taken once");
        assert_eq!(
            tally.take_entries(at(2, 5), true).len(),
            1,
            "all: minute 2 too"
        );
    }

    #[test]
    fn sources_past_the_cap_count_together() {
        let tally = Tally::default();
        for i in 0..(MAX_SOURCES_PER_MINUTE as u32 + 5) {
            tally.add(at(1, 0), Some(IpAddr::V4(i.into())), "invalid_grant");
        }
        let entries = tally.take_entries(at(2, 0), false);
        assert_eq!(entries.len(), MAX_SOURCES_PER_MINUTE + 1);
        let other = entries
            .iter()
            .find(|e| e.details["source"] == "other")
            .unwrap();
        assert_eq!(other.details["count"], "5");
    }
}
