//! The record service's rules, against the in-memory store.

use crate::Error;
use crate::audit::entry::Action;
use crate::testing::{Services, ctx};
use chrono::TimeDelta;
use serde_json::json;

#[tokio::test]
async fn a_write_is_checked_sealed_versioned_and_logged_with_its_record() {
    let s = Services::start().await;
    let henk = s.resident("henk").await;
    let wrong = json!({"leefsituatie": "op de maan"});
    assert!(matches!(
        s.residents
            .write(&ctx(), henk, "huishouden.samenstelling", &wrong)
            .await,
        Err(Error::SchemaViolation(_))
    ));
    assert!(
        s.log().await.is_empty(),
        "a refused write leaves no entry and no record"
    );
    assert!(s.residents.overview(henk).await.unwrap().is_empty());

    let first = json!({"leefsituatie": "alleenstaand"});
    let written = s
        .residents
        .write(&ctx(), henk, "huishouden.samenstelling", &first)
        .await
        .unwrap();
    assert_eq!(written.version, 1);
    let log = s.log().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, Action::RecordWrite);
    assert_eq!(log[0].categories, ["huishouden.samenstelling"]);
    assert_eq!(
        log[0].resident,
        Some(s.residents.audit_reference(henk)),
        "the entry names the resident by pseudonym"
    );
    let stored = s
        .store
        .record(henk, "huishouden.samenstelling", None)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&stored.sealed).contains("alleenstaand"),
        "the store holds ciphertext only"
    );
    let read = s
        .residents
        .read(henk, "huishouden.samenstelling", None)
        .await
        .unwrap();
    assert_eq!(read.data, first);
}

#[tokio::test]
async fn a_write_or_delete_whose_entry_fails_changes_nothing() {
    let s = Services::start().await;
    let henk = s.resident("henk").await;
    let first = json!({"situatie": "werkzoekend"});
    s.residents
        .write(&ctx(), henk, "werk.profiel", &first)
        .await
        .unwrap();

    s.faults.fail_audit_appends(true);
    let second = json!({"situatie": "werkend"});
    assert!(matches!(
        s.residents
            .write(&ctx(), henk, "werk.profiel", &second)
            .await,
        Err(Error::AuditUnavailable)
    ));
    assert!(matches!(
        s.residents.delete(&ctx(), henk, "werk.profiel").await,
        Err(Error::AuditUnavailable)
    ));
    assert_eq!(
        s.residents
            .versions(henk, "werk.profiel")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.residents
            .read(henk, "werk.profiel", None)
            .await
            .unwrap()
            .data,
        first
    );
    assert_eq!(s.log().await.len(), 1);

    // A failed flush is the other way an entry can fail: the caller is told, and the
    // vault does not claim it was kept.
    s.faults.fail_audit_appends(false);
    s.faults.fail_flushes(true);
    assert!(matches!(
        s.residents
            .write(&ctx(), henk, "werk.profiel", &second)
            .await,
        Err(Error::AuditUnavailable)
    ));
    s.faults.fail_flushes(false);

    let deleted = s
        .residents
        .delete(&ctx(), henk, "werk.profiel")
        .await
        .unwrap();
    assert!(deleted >= 1);
    assert!(matches!(
        s.residents.read(henk, "werk.profiel", None).await,
        Err(Error::NotFound(_))
    ));
    let log = s.log().await;
    assert_eq!(log.last().unwrap().action, Action::RecordDelete);
    assert!(
        log.iter().enumerate().all(|(i, e)| e.seq == i as u64),
        "no gap"
    );
}

#[tokio::test]
async fn deleting_what_is_not_there_is_not_found_and_logs_nothing() {
    let s = Services::start().await;
    let henk = s.resident("henk").await;
    assert!(matches!(
        s.residents.delete(&ctx(), henk, "werk.profiel").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.residents.delete(&ctx(), henk, "geen.categorie").await,
        Err(Error::UnknownCategory(_))
    ));
    assert!(s.log().await.is_empty());
}

#[tokio::test]
async fn an_erasure_schedules_the_rotation_that_completes_it() {
    let s = Services::start().await;
    let henk = s.resident("henk").await;
    let anna = s.resident("anna").await;
    let record = json!({"situatie": "werkzoekend"});
    for resident in [henk, anna] {
        s.residents
            .write(&ctx(), resident, "werk.profiel", &record)
            .await
            .unwrap();
    }
    let due = s.residents.erase(henk, TimeDelta::hours(1)).await.unwrap();
    assert_eq!(due, s.clock.now() + TimeDelta::hours(1));
    assert!(matches!(
        s.residents.resident(henk).await,
        Err(Error::NotFound(_))
    ));
    // A second erasure due later does not postpone the first (it moves it a microsecond
    // earlier, so that a rotation already running leaves it due).
    let later = s.residents.erase(anna, TimeDelta::hours(5)).await.unwrap();
    assert_eq!(later, due - TimeDelta::microseconds(1));

    assert!(!s.residents.rotate_if_due(&ctx()).await.unwrap(), "not yet");
    s.clock.advance(TimeDelta::hours(1));
    assert!(s.residents.rotate_if_due(&ctx()).await.unwrap());
    assert!(!s.residents.rotate_if_due(&ctx()).await.unwrap(), "once");
    assert_eq!(s.log().await.last().unwrap().action, Action::KeyRotation);
}

#[tokio::test]
async fn a_scheduled_rotation_runs_every_period_and_an_erasure_still_comes_first() {
    let s = Services::start().await;
    let residents = s
        .residents
        .clone()
        .rotating_every(Some(TimeDelta::days(30)));
    let henk = s.resident("henk").await;
    residents
        .write(
            &ctx(),
            henk,
            "werk.profiel",
            &json!({"situatie": "werkzoekend"}),
        )
        .await
        .unwrap();
    let first = residents.schedule_rotation().await.unwrap();
    assert_eq!(first, Some(s.clock.now() + TimeDelta::days(30)));
    assert_eq!(
        residents.schedule_rotation().await.unwrap(),
        first,
        "set once"
    );
    s.clock.advance(TimeDelta::days(29));
    assert!(!residents.rotate_if_due(&ctx()).await.unwrap(), "not yet");
    s.clock.advance(TimeDelta::days(1));
    assert!(residents.rotate_if_due(&ctx()).await.unwrap());
    assert_eq!(s.log().await.last().unwrap().action, Action::KeyRotation);
    // The next one a period later; Henk's records open under the new KEK.
    let next = residents.schedule_rotation().await.unwrap();
    assert_eq!(next, Some(s.clock.now() + TimeDelta::days(30)));
    assert!(
        residents
            .read_current(henk, &["werk.profiel".into()])
            .await
            .unwrap()
            .len()
            == 1
    );
    // An erasure moves the rotation forward; after it, the schedule goes on.
    let anna = s.resident("anna").await;
    let due = residents.erase(anna, TimeDelta::hours(1)).await.unwrap();
    // (A microsecond earlier: see the erasure test above.)
    assert_eq!(
        due,
        s.clock.now() + TimeDelta::hours(1) - TimeDelta::microseconds(1)
    );
    s.clock.advance(TimeDelta::hours(1));
    assert!(residents.rotate_if_due(&ctx()).await.unwrap());
    assert_eq!(
        residents.schedule_rotation().await.unwrap(),
        Some(s.clock.now() + TimeDelta::days(30))
    );
    // Without a schedule nothing is made due.
    let unscheduled = s.residents.clone();
    s.store
        .replace_rotation_due(Some(s.clock.now() + TimeDelta::days(30)), None)
        .await
        .unwrap();
    assert_eq!(unscheduled.schedule_rotation().await.unwrap(), None);
}
