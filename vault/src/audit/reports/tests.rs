//! Each report on small logs with known answers.

use super::*;

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
    let unauthorized_reads = |entries: &[Entry], from: u64| {
        let mut tally = UnauthorizedReadsTally::from_seq(from);
        entries.iter().for_each(|e| tally.observe(e));
        tally.report().clone()
    };
    let g = Uuid::new_v4();
    let mut entries = vec![grant(0, g, 0, 100), read(1, g, 10, "a")];
    assert_eq!(unauthorized_reads(&entries, 0).without_valid_grant, vec![]);
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
    let report = unauthorized_reads(&entries, 0);
    assert_eq!(report.reads_checked, 5);
    let seqs: Vec<u64> = report.without_valid_grant.iter().map(|f| f.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4, 6]);
    let from_the_third = unauthorized_reads(&entries, 3);
    assert_eq!(from_the_third.reads_checked, 3, "reads 3, 4 and 6");
    assert_eq!(from_the_third.without_valid_grant.len(), 3);
}

#[test]
fn a_read_during_a_pause_is_found_and_one_after_it_is_not() {
    let g = Uuid::new_v4();
    let pause = |seq: u64, time: i64, change: &str| {
        let mut e = Entry::new(
            Action::Pause,
            Outcome::Done,
            super::super::entry::Actor::Resident {
                reference: "r".into(),
            },
        );
        e.seq = seq;
        e.time = at(time);
        e.grant = Some(g);
        e.details.insert("change".into(), change.into());
        e
    };
    let entries = [
        grant(0, g, 0, 100),
        read(1, g, 10, "a"),
        pause(2, 20, "paused"),
        read(3, g, 30, "a"),
        pause(4, 40, "resumed"),
        read(5, g, 50, "a"),
    ];
    let mut tally = UnauthorizedReadsTally::from_seq(0);
    entries.iter().for_each(|e| tally.observe(e));
    let found = &tally.report().without_valid_grant;
    assert_eq!(found.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![3]);
    assert!(found[0].problem.contains("paused"), "{}", found[0].problem);
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
    let mut tally = VolumeTally::default();
    entries.iter().for_each(|e| tally.observe(e));
    let volume = tally.days();
    assert_eq!(volume.iter().filter(|v| v.unusual).count(), 1);
    assert_eq!(volume.iter().find(|v| v.unusual).unwrap().reads, 40);
}

#[test]
fn scheme_uptake_counts_distinct_residents_and_hides_small_counts() {
    use super::uptake::{Uptake, UptakeTally};
    let entry = |action: Action, resident: usize, key: &str, value: &str| {
        let mut e = Entry::new(
            action,
            Outcome::Done,
            super::super::entry::Actor::Resident {
                reference: format!("r{resident}"),
            },
        );
        e.resident = Some(format!("r{resident}"));
        e.details.insert(key.into(), value.into());
        e
    };
    let mut tally = UptakeTally::default();
    // 12 residents shown the city pass (two of them twice), 9 shown remission, 10 apply
    // for the city pass, 3 for remission.
    for r in 0..12 {
        tally.observe(&entry(Action::SchemeCheck, r, "suggested", "stadspas"));
    }
    for r in 0..2 {
        tally.observe(&entry(
            Action::SchemeCheck,
            r,
            "suggested",
            "stadspas,kwijtschelding",
        ));
    }
    for r in 2..9 {
        tally.observe(&entry(
            Action::SchemeCheck,
            r,
            "suggested",
            "kwijtschelding",
        ));
    }
    tally.observe(&entry(Action::SchemeCheck, 20, "suggested", ""));
    for r in 0..10 {
        tally.observe(&entry(Action::SchemeApplication, r, "scheme", "stadspas"));
    }
    for r in 0..3 {
        tally.observe(&entry(
            Action::SchemeApplication,
            r,
            "scheme",
            "kwijtschelding",
        ));
    }
    assert_eq!(
        tally.report(),
        vec![
            Uptake {
                scheme: "kwijtschelding".into(),
                shown: None,
                applied: None,
            },
            Uptake {
                scheme: "stadspas".into(),
                shown: Some(12),
                applied: Some(10),
            },
        ]
    );
}

#[test]
fn refusals_add_up_what_an_entry_of_counted_refusals_counts() {
    let tally = crate::audit::tally::Tally::default();
    let source: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    for _ in 0..5 {
        tally.add(at(0), Some(source), "invalid_grant");
    }
    tally.add(at(1), Some(source), "invalid_dpop_proof");
    let mut refused = read(9, Uuid::new_v4(), 2, "a");
    refused.outcome = Outcome::Refused;
    refused.reason = Some("out_of_scope".into());
    let mut refusals = Refusals::default();
    for entry in tally.take_entries(at(3600), true).iter().chain([&refused]) {
        refusals.observe(entry);
    }
    assert_eq!(
        refusals.answer(),
        serde_json::json!({
            "(not authenticated)": {"invalid_grant": 5, "invalid_dpop_proof": 1},
            "d": {"out_of_scope": 1},
        })
    );
}
