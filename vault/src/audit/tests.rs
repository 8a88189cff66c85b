//! The log's rules, against the in-memory store: positions without gaps, entries that
//! fail leave none, checkpoints that catch a shortened log or an altered checkpoint, and
//! officer questions that are logged before they are answered.

use super::entry::{Action, Actor, Entry, Outcome};
use super::officer::{ExportFormat, OfficerDesk, Range, ReferenceResolver};
use super::{Audit, Filter};
use crate::testing::{ISSUER, Services, ctx};
use crate::{Error, Result};
use std::sync::Arc;

fn read_by(department: &str, resident: &str) -> Entry {
    let mut entry = Entry::new(
        Action::Read,
        Outcome::Allowed,
        Actor::Department {
            id: department.into(),
        },
    );
    entry.department = Some(department.into());
    entry.resident = Some(resident.into());
    entry
}

struct NoReferences;

#[async_trait::async_trait]
impl ReferenceResolver for NoReferences {
    async fn audit_reference(&self, _: &str, _: &str) -> Result<Option<String>> {
        Ok(None)
    }
    async fn audit_reference_by_national_id(&self, _: &str, _: &str) -> Result<Option<String>> {
        Ok(None)
    }
}

/// The log stores what the vault writes in the compact form, and reads it back as the
/// canonical JSON its leaf hash is over.
#[tokio::test]
async fn entries_are_stored_compactly_and_read_back_as_their_json() {
    let s = Services::start().await;
    s.audit.record(&ctx(), read_by("wi", "r1")).await.unwrap();
    let stored = s.store.audit_entries(0, 1).await.unwrap().pop().unwrap();
    let canonical = s.audit.raw_entries(0, 1).await.unwrap().pop().unwrap();
    assert_eq!(stored[0], 1, "the compact form's version byte");
    assert!(stored.len() < canonical.len());
    assert_eq!(canonical, s.log().await[0].canonical());
}

#[tokio::test]
async fn entries_take_consecutive_positions_and_a_failed_one_takes_none() {
    let s = Services::start().await;
    let trace = ctx();
    assert_eq!(
        s.audit.record(&trace, read_by("wi", "r1")).await.unwrap(),
        0
    );
    s.faults.fail_audit_appends(true);
    assert!(matches!(
        s.audit.record(&trace, read_by("wi", "r2")).await,
        Err(Error::AuditUnavailable)
    ));
    s.faults.fail_audit_appends(false);
    assert_eq!(
        s.audit.record(&trace, read_by("wi", "r2")).await.unwrap(),
        1
    );
    let log = s.log().await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].resident.as_deref(), Some("r2"));
    assert_eq!(
        log[1].trace_id, trace.trace_id,
        "the entry carries the trace"
    );
    assert_eq!(log[1].time, s.clock.now());
}

#[tokio::test]
async fn queries_filter_and_page() {
    let s = Services::start().await;
    for i in 0..5 {
        let resident = if i % 2 == 0 { "even" } else { "odd" };
        s.audit
            .record(&ctx(), read_by("wi", resident))
            .await
            .unwrap();
    }
    let filter = Filter {
        resident: Some("even".into()),
        ..Filter::default()
    };
    let (page, next) = s.audit.query(&filter, 0, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 2]);
    let (rest, last) = s.audit.query(&filter, next.unwrap(), 2).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [4]);
    assert_eq!(last, None);
    let mut seen = Vec::new();
    s.audit.scan(1, 4, |e| seen.push(e.seq)).await.unwrap();
    assert_eq!(seen, [1, 2, 3]);
}

#[tokio::test]
async fn an_officer_finds_a_resident_by_the_complaint_code_they_read_out() {
    let s = Services::start().await;
    let henk = s
        .residents
        .ensure_resident("test", "henk")
        .await
        .unwrap()
        .id;
    let anna = s
        .residents
        .ensure_resident("test", "anna")
        .await
        .unwrap()
        .id;
    for resident in [henk, anna, henk] {
        let reference = s.residents.audit_reference(resident);
        s.audit
            .record(&ctx(), read_by("wi", &reference))
            .await
            .unwrap();
    }
    let code = crate::audit::complaint::complaint_code(&s.residents.audit_reference(henk)).unwrap();
    let spoken = code.to_lowercase().replace('-', " ");
    let filter = Filter {
        resident: Some(spoken),
        ..Filter::default()
    };
    let (found, _) = s.audit.query(&filter, 0, 10).await.unwrap();
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 2]);
    // The officer's search by code is logged under the code, and Henk sees it.
    let desk = OfficerDesk::new(s.audit.clone(), s.store.clone(), Arc::new(NoReferences));
    let officer = Actor::Officer { id: "fg".into() };
    let page = desk.page(&ctx(), &officer, &filter, 0, 10).await.unwrap();
    assert_eq!(page.entries.len(), 2, "Henk's two entries");
    let henks = s
        .audit
        .about_resident(&s.residents.audit_reference(henk))
        .await
        .unwrap();
    assert_eq!(henks.len(), 3);
    assert_eq!(henks[2].action, Action::OfficerQuery);
    assert_eq!(henks[2].resident.as_deref(), Some(code.as_str()));
    let annas = s
        .audit
        .about_resident(&s.residents.audit_reference(anna))
        .await
        .unwrap();
    assert_eq!(annas.len(), 1, "Anna does not see a search for Henk's code");
    let wrong = Filter {
        resident: Some("AAAA-AAAA".into()),
        ..Filter::default()
    };
    assert!(s.audit.query(&wrong, 0, 10).await.unwrap().0.is_empty());
}

#[tokio::test]
async fn a_saved_checkpoint_catches_a_shorter_log_and_its_own_alteration() {
    let s = Services::start().await;
    for _ in 0..3 {
        s.audit.record(&ctx(), read_by("wi", "r")).await.unwrap();
    }
    s.audit.checkpoint().await.unwrap();
    let file = s.dir.path().join("checkpoint.jws");
    let keys = Arc::new(
        crate::jose::keys::VaultKeys::load_or_create(
            &crate::crypto::Keyring::open(
                &s.dir.path().join("other"),
                crate::crypto::RootKey::generate().unwrap(),
                true,
            )
            .unwrap(),
            crate::clock::Clock::system(),
        )
        .unwrap(),
    );
    // The same checkpoint file, an empty log: the log was truncated.
    let empty = Arc::new(crate::store::memory::MemoryStore::new());
    let open = |store, keys| {
        Audit::open(
            store,
            s.clock.clone(),
            keys,
            ISSUER.into(),
            file.clone(),
            crate::telemetry::Metrics::off(),
        )
    };
    let truncated = open(empty, s.audit.keys.clone()).await.unwrap_err();
    assert!(truncated.0.contains("truncated"), "{truncated}");
    // Checked with other keys, the checkpoint does not verify: it was altered.
    let altered = open(s.store.clone(), keys).await.unwrap_err();
    assert!(altered.0.contains("does not verify"), "{altered}");
    // The real log and keys open.
    open(s.store.clone(), s.audit.keys.clone()).await.unwrap();
}

#[tokio::test]
async fn an_officers_question_is_logged_first_or_not_answered() {
    let s = Services::start().await;
    s.audit.record(&ctx(), read_by("wi", "r")).await.unwrap();
    let desk = OfficerDesk::new(s.audit.clone(), s.store.clone(), Arc::new(NoReferences));
    let officer = Actor::Officer { id: "fg".into() };
    let page = desk
        .page(&ctx(), &officer, &Filter::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(
        page.tree_size, 2,
        "the question was logged before it was answered"
    );
    assert_eq!(
        page.entries[1].action,
        Action::OfficerQuery,
        "so it is in the answer"
    );

    s.faults.fail_audit_appends(true);
    let refused = desk
        .export(&ctx(), &officer, &Range::default(), ExportFormat::Kluis)
        .await;
    assert!(matches!(refused, Err(Error::AuditUnavailable)));
    s.faults.fail_audit_appends(false);
    assert!(matches!(
        desk.lookup(&ctx(), &officer, "wi", "unknown").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        desk.report(&ctx(), &officer, "no-such-report", &Range::default())
            .await,
        Err(Error::NotFound(_))
    ));
    let report = desk
        .report(&ctx(), &officer, "unauthorized-reads", &Range::default())
        .await
        .unwrap();
    assert_eq!(
        report.result["without_valid_grant"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the read without a grant entry is found"
    );
}

/// A crash after a batch of reads was synced to the audit files, before sled flushed its
/// commit: the next open takes the batch up (index keys, length, token ids), and a damaged
/// entry ends the log there.
#[tokio::test]
async fn reads_synced_before_sled_flushed_them_are_taken_up_at_the_next_open() {
    use crate::store::sled::SledStore;
    use crate::store::{AuditStore, Durability, ReplayStore};
    let s = Services::start().await;
    let dir = tempfile::tempdir().unwrap();
    let open = |store: Arc<SledStore>, name: &str| {
        Audit::open(
            store,
            s.clock.clone(),
            s.audit.keys.clone(),
            ISSUER.into(),
            dir.path().join(format!("{name}.jws")),
            crate::telemetry::Metrics::off(),
        )
    };
    // sled lets go of a copy's lock shortly after the snapshot closes it, not at once.
    let open_store = |path: std::path::PathBuf| async move {
        for _ in 0..100 {
            match SledStore::open(&path, 8 << 20) {
                Ok(store) => return Arc::new(store),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
        Arc::new(SledStore::open(&path, 8 << 20).expect("the store opens"))
    };
    let store = open_store(dir.path().join("a")).await;
    let audit = open(store.clone(), "a").await.unwrap();
    for n in 0..2 {
        audit
            .record(&ctx(), read_by("wi", &format!("r{n}")))
            .await
            .unwrap();
    }
    // What sled holds after a crash: the log's first two entries (twice: one copy is
    // damaged below).
    let damaged = dir.path().join("c");
    for copy in [dir.path().join("b"), damaged.clone()] {
        store.snapshot_into(&copy).await.unwrap();
    }
    let id = [7u8; 32];
    let until = s.clock.now() + chrono::TimeDelta::seconds(60);
    assert!(
        store
            .first_use(&id, until, Durability::WithNextWrite)
            .await
            .unwrap()
    );
    let flushes = store.flush_count();
    for n in 2..5 {
        audit
            .record(&ctx(), read_by("wi", &format!("r{n}")))
            .await
            .unwrap();
    }
    assert_eq!(
        store.flush_count(),
        flushes,
        "reads wait for no flush of sled"
    );
    let entries = store.audit_entries(0, 5).await.unwrap();
    for copy in [dir.path().join("b"), damaged.clone()] {
        for file in ["audit.log", "audit.idx"] {
            std::fs::copy(dir.path().join("a").join(file), copy.join(file)).unwrap();
        }
    }

    let b = open_store(dir.path().join("b")).await;
    assert_eq!(
        b.audit_len().await.unwrap(),
        2,
        "sled's length before the take-up"
    );
    let taken = open(b.clone(), "b").await.unwrap();
    assert_eq!(b.audit_entries(0, 9).await.unwrap(), entries);
    assert_eq!(b.audit_index(b"rr3", 0, 9).await.unwrap(), [3]);
    assert_eq!(b.audit_index(b"dwi", 0, 9).await.unwrap(), [0, 1, 2, 3, 4]);
    assert!(
        !b.first_use(&id, until, Durability::Now).await.unwrap(),
        "the token id came back with the batch that carried it"
    );
    assert_eq!(taken.record(&ctx(), read_by("wi", "r5")).await.unwrap(), 5);
    drop((taken, b));
    let b = open_store(dir.path().join("b")).await;
    assert!(
        !b.first_use(&id, until, Durability::Now).await.unwrap(),
        "the take-up wrote the token id into sled"
    );
    drop(b);

    // The last byte of entry 3 altered in the other copy (just before entry 4's record):
    // entries 3 and 4 are not taken up.
    let offsets = std::fs::read(damaged.join("audit.idx")).unwrap();
    let fourth = u64::from_be_bytes(offsets[32..40].try_into().unwrap());
    let log = damaged.join("audit.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[fourth as usize - 1] ^= 1;
    std::fs::write(&log, bytes).unwrap();
    let c = open_store(damaged.clone()).await;
    let cut = open(c.clone(), "c").await.unwrap();
    assert_eq!(c.audit_len().await.unwrap(), 3);
    assert_eq!(c.audit_entries(0, 9).await.unwrap(), entries[..3]);
    let kept = std::fs::read(damaged.join("audit.log.cut-at-3")).unwrap();
    assert!(
        kept.windows(entries[4].len()).any(|w| w == entries[4]),
        "the records not taken up are kept for an investigation"
    );
    assert_eq!(cut.record(&ctx(), read_by("wi", "r5")).await.unwrap(), 3);
}
