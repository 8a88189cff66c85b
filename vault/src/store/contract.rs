// Long: the whole contract an adapter keeps, one function per port, read top to bottom as a checklist.
//! The contract every storage adapter keeps, as one test suite: each adapter's tests call
//! [`check`] on a fresh store (and, where the adapter is durable, [`check_kept`] after
//! reopening it). A new adapter is done when it passes this suite unchanged.

use super::*;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

/// What [`check`] left in the store, for [`check_kept`] to find after a reopen.
#[derive(Debug, Clone)]
pub struct Kept {
    resident: ResidentRow,
    grant: GrantRow,
    session: ([u8; 32], SessionRow),
    record: StoredRecord,
    look_along: LookAlongRow,
    /// A waiting event (the one `events` left unacknowledged).
    event: EventRow,
    audit_len: u64,
}

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("a valid time")
}

fn resident_row(identity: &str) -> ResidentRow {
    ResidentRow {
        id: Uuid::new_v4(),
        identity: identity.to_owned(),
        wrapped_key: vec![1, 2, 3],
        created_at: t(0),
        national_id: None,
    }
}

fn sealed(version: u32, byte: u8) -> StoredRecord {
    StoredRecord {
        version,
        created_at: t(i64::from(version)),
        sealed: vec![byte; 40],
    }
}

fn session_row(resident: Uuid, login_id: &str) -> SessionRow {
    SessionRow {
        subject: SessionSubject::Resident { id: resident },
        created_at: t(0),
        last_seen: t(0),
        csrf_token: "csrf".into(),
        login_method: "test".into(),
        kind: Some(SessionKind::Browser),
        login_id: login_id.into(),
    }
}

fn grant_row(resident: Uuid, department: &str, issued: i64) -> GrantRow {
    GrantRow {
        id: Uuid::new_v4(),
        department: department.into(),
        resident,
        reference: format!("ref-{department}-{issued}"),
        activity_id: "traject".into(),
        activity_version: 1,
        categories: BTreeSet::from(["schulden.overzicht".to_owned()]),
        issued_at: t(issued),
        not_before: t(issued),
        expires_at: t(issued + 1000),
        jkt: "jkt".into(),
        token: "token".into(),
        request_id: None,
        revoked_at: None,
        paused: None,
    }
}

fn request_row(subject: RequestSubject, created: i64) -> RequestRow {
    RequestRow {
        id: Uuid::new_v4(),
        department: "schuldhulp".into(),
        activity_id: "traject".into(),
        activity_version: 1,
        categories: vec!["schulden.overzicht".into()],
        duration_days: 90,
        subject,
        state: RequestState::Pending,
        created_at: t(created),
        decided_at: None,
        grant_id: None,
    }
}

/// An audit append at `seq` with one index key, optionally changing records.
pub(crate) fn append(seq: u64, change: Option<RecordChange>) -> AuditAppend {
    AuditAppend {
        seq,
        entry: format!("{{\"seq\":{seq}}}").into_bytes(),
        nodes: vec![(0, seq, [seq as u8; 32])],
        index_keys: vec![b"rtest".to_vec()],
        change,
    }
}

/// Runs the whole contract against `store`, which must be empty.
pub async fn check(store: Arc<dyn Store>) -> Kept {
    let resident = residents(store.as_ref()).await;
    let record = records(store.as_ref(), resident.id).await;
    let session = sessions(store.as_ref(), resident.id).await;
    departments(store.as_ref()).await;
    let grant = consent(store.as_ref(), resident.id).await;
    replay(store.as_ref()).await;
    officers(store.as_ref()).await;
    let look_along = coaching(store.as_ref(), resident.id).await;
    cases(store.as_ref(), resident.id).await;
    let event = events(store.as_ref()).await;
    cosignatures(store.as_ref()).await;
    erasure(store.as_ref()).await;
    let audit_len = store.audit_len().await.expect("audit length");
    store.check().await.expect("a healthy store says so");
    Kept {
        resident,
        grant,
        session,
        record,
        look_along,
        event,
        audit_len,
    }
}

/// Checks that what [`check`] wrote is still there (after the adapter was reopened).
/// Takes a snapshot of a store [`check`] filled into `dir` (a new directory): it copies
/// the whole audit log and refuses a directory that is not empty. The adapter's test then
/// puts the copy back and runs [`check_kept`] on it. Returns the rows copied per table.
pub async fn check_snapshot(
    store: &dyn Store,
    kept: &Kept,
    dir: &std::path::Path,
) -> std::collections::BTreeMap<String, u64> {
    let copied = store.snapshot_into(dir).await.expect("a snapshot");
    assert_eq!(copied.get("audit_entries"), Some(&kept.audit_len));
    assert!(copied.get("residents").is_some_and(|n| *n >= 1));
    assert!(
        store.snapshot_into(dir).await.is_err(),
        "a snapshot never writes into a directory that holds one"
    );
    copied
}

pub async fn check_kept(store: &dyn Store, kept: &Kept) {
    assert_eq!(
        store.resident(kept.resident.id).await.expect("read"),
        Some(kept.resident.clone())
    );
    assert_eq!(
        store.grant(kept.grant.id).await.expect("read"),
        Some(kept.grant.clone())
    );
    assert_eq!(
        store.session(&kept.session.0).await.expect("read"),
        Some(kept.session.1.clone())
    );
    assert_eq!(
        store
            .record(kept.resident.id, "werk.profiel", None)
            .await
            .expect("read"),
        Some(kept.record.clone())
    );
    assert_eq!(
        store.look_along(kept.look_along.id).await.expect("read"),
        Some(kept.look_along.clone())
    );
    assert_eq!(
        store
            .pending_events(&kept.event.department, 10)
            .await
            .expect("events"),
        vec![kept.event.clone()],
        "a waiting event outlives a reopen, and so does an acknowledgement"
    );
    assert_eq!(store.audit_len().await.expect("len"), kept.audit_len);
}

async fn residents(store: &dyn Store) -> ResidentRow {
    let henk = resident_row("identity-henk");
    assert_eq!(store.insert_resident(&henk, 1).await.expect("insert"), henk);
    let twin = resident_row("identity-henk");
    assert_eq!(
        store.insert_resident(&twin, 1).await.expect("insert"),
        henk,
        "a second vault for the same identity is not made: the first is returned"
    );
    assert_eq!(
        store
            .resident_by_identity("identity-henk")
            .await
            .expect("read"),
        Some(henk.clone())
    );
    assert_eq!(store.resident(twin.id).await.expect("read"), None);

    let others: Vec<ResidentRow> = (0..3)
        .map(|i| resident_row(&format!("identity-{i}")))
        .collect();
    for row in &others {
        store.insert_resident(row, 1).await.expect("insert");
    }
    // A rotation announced KEK 2: a vault wrapped under KEK 1 is refused, and nothing of
    // it stored; under KEK 2 it is stored. The announcement never goes back.
    store.announce_kek(2).await.expect("announce");
    store.announce_kek(1).await.expect("announce");
    let late = resident_row("identity-late");
    assert!(matches!(
        store.insert_resident(&late, 1).await,
        Err(StoreError::KekReplaced(2))
    ));
    assert_eq!(
        store
            .resident_by_identity("identity-late")
            .await
            .expect("read"),
        None
    );
    store.insert_resident(&late, 2).await.expect("insert");
    let mut ids: Vec<Uuid> = others
        .iter()
        .map(|r| r.id)
        .chain([henk.id, late.id])
        .collect();
    ids.sort();
    let first = store.residents_after(None, 2).await.expect("page");
    let rest = store
        .residents_after(first.last().map(|r| r.id), 10)
        .await
        .expect("page");
    let paged: Vec<Uuid> = first.iter().chain(&rest).map(|r| r.id).collect();
    assert_eq!(paged, ids, "pages in id order, each id once");

    assert!(
        !store
            .replace_wrapped_key(henk.id, &[9], &[4, 5])
            .await
            .expect("replace"),
        "a stale expected key changes nothing"
    );
    assert!(
        store
            .replace_wrapped_key(henk.id, &[1, 2, 3], &[4, 5])
            .await
            .expect("replace")
    );
    let henk = store.resident(henk.id).await.expect("read").expect("henk");
    assert_eq!(henk.wrapped_key, vec![4, 5]);

    store
        .set_national_id(henk.id, "bsn-hash-1")
        .await
        .expect("set");
    store
        .set_national_id(henk.id, "bsn-hash-2")
        .await
        .expect("replace");
    assert_eq!(
        store
            .resident_by_national_id("bsn-hash-1")
            .await
            .expect("read"),
        None,
        "the old national id no longer finds the vault"
    );
    let henk = store
        .resident_by_national_id("bsn-hash-2")
        .await
        .expect("read")
        .expect("found by national id");
    assert_eq!(henk.national_id.as_deref(), Some("bsn-hash-2"));

    assert_eq!(store.rotation_due().await.expect("read"), None);
    store.set_rotation_due(Some(t(60))).await.expect("set");
    assert_eq!(store.rotation_due().await.expect("read"), Some(t(60)));
    store.set_rotation_due(None).await.expect("clear");
    assert_eq!(store.rotation_due().await.expect("read"), None);
    // Compare and set: only from the value expected.
    assert!(
        !store
            .replace_rotation_due(Some(t(1)), Some(t(2)))
            .await
            .expect("cas")
    );
    assert!(
        store
            .replace_rotation_due(None, Some(t(5)))
            .await
            .expect("cas")
    );
    assert!(
        !store
            .replace_rotation_due(None, Some(t(6)))
            .await
            .expect("cas")
    );
    assert!(
        store
            .replace_rotation_due(Some(t(5)), Some(t(7)))
            .await
            .expect("cas")
    );
    assert_eq!(store.rotation_due().await.expect("read"), Some(t(7)));
    assert!(
        store
            .replace_rotation_due(Some(t(7)), None)
            .await
            .expect("cas")
    );
    assert_eq!(store.rotation_due().await.expect("read"), None);
    henk
}

async fn records(store: &dyn Store, resident: Uuid) -> StoredRecord {
    let category = "werk.profiel";
    let v1 = store
        .reserve_record_version(resident, category)
        .await
        .expect("reserve");
    let v2 = store
        .reserve_record_version(resident, category)
        .await
        .expect("reserve");
    assert_eq!((v1, v2), (1, 2), "versions count up from 1");
    assert_eq!(
        store
            .reserve_record_version(resident, "huishouden.samenstelling")
            .await
            .expect("reserve"),
        1,
        "each category counts on its own"
    );
    assert_eq!(
        store.record(resident, category, None).await.expect("read"),
        None,
        "a reserved number is not a record"
    );
    let row = store.resident(resident).await.expect("read").expect("row");
    for asked in [vec![category.to_owned()], vec![]] {
        assert_eq!(
            store
                .resident_with_current(resident, &asked)
                .await
                .expect("read"),
            Some((row.clone(), vec![])),
            "a resident without records, asked {asked:?}"
        );
    }

    let base = store.audit_len().await.expect("len");
    let put = |version, byte| RecordChange::Put {
        resident,
        category: category.into(),
        record: sealed(version, byte),
    };
    store
        .append_audit(&[
            append(base, Some(put(v1, 1))),
            append(base + 1, Some(put(v2, 2))),
        ])
        .await
        .expect("append with record changes");
    assert_eq!(
        store.record(resident, category, None).await.expect("read"),
        Some(sealed(v2, 2)),
        "the current version is the highest"
    );
    assert_eq!(
        store
            .resident_with_current(
                resident,
                &[
                    category.into(),
                    "huishouden.samenstelling".into(),
                    category.into()
                ]
            )
            .await
            .expect("read"),
        Some((row, vec![(category.to_owned(), sealed(v2, 2))])),
        "the resident with the current version of each category asked that has one, once"
    );
    assert_eq!(
        store
            .resident_with_current(Uuid::from_u128(7), &[category.into()])
            .await
            .expect("read"),
        None,
        "no resident, nothing"
    );
    assert_eq!(
        store
            .record(resident, category, Some(v1))
            .await
            .expect("read"),
        Some(sealed(v1, 1))
    );
    let versions = store
        .record_versions(resident, category)
        .await
        .expect("list");
    assert_eq!(
        versions.iter().map(|m| m.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        store.record_summaries(resident).await.expect("summaries"),
        vec![(
            category.to_owned(),
            RecordMeta {
                version: 2,
                created_at: t(2)
            }
        )]
    );

    // All or nothing: a batch that cannot be stored whole stores nothing, records included.
    let v3 = store
        .reserve_record_version(resident, category)
        .await
        .expect("reserve");
    let refused = store
        .append_audit(&[append(base + 2, Some(put(v3, 3))), append(base, None)])
        .await;
    assert!(refused.is_err(), "an entry at a taken position is refused");
    assert_eq!(store.audit_len().await.expect("len"), base + 2);
    // A batch placed behind the log's end (another node appended first) or beyond it
    // stores nothing and says where the end is, so the writer can place it again.
    for wrong in [base + 1, base + 3] {
        match store.append_audit(&[append(wrong, Some(put(v3, 3)))]).await {
            Err(StoreError::AuditMoved(len)) => assert_eq!(len, base + 2),
            other => panic!("a batch at {wrong} of a log of {}: {other:?}", base + 2),
        }
    }
    assert_eq!(
        store
            .record(resident, category, Some(v3))
            .await
            .expect("read"),
        None,
        "the record change of a refused batch is not stored"
    );

    store
        .append_audit(&[append(
            base + 2,
            Some(RecordChange::Delete {
                resident,
                category: category.into(),
                versions: vec![v1],
            }),
        )])
        .await
        .expect("append a deletion");
    store.sync().await.expect("sync");
    assert_eq!(
        store
            .record(resident, category, Some(v1))
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store
            .reserve_record_version(resident, category)
            .await
            .expect("reserve"),
        4,
        "numbers are never handed out twice"
    );

    let entries = store.audit_entries(base, base + 3).await.expect("entries");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0], append(base, None).entry);
    assert_eq!(
        store
            .audit_nodes(&[(0, base + 1), (7, 1 << 40)])
            .await
            .expect("nodes"),
        vec![Some([(base + 1) as u8; 32]), None]
    );
    assert_eq!(
        store
            .audit_index(b"rtest", base + 1, 10)
            .await
            .expect("index"),
        vec![base + 1, base + 2]
    );
    assert_eq!(
        store.audit_index(b"rtest", base, 1).await.expect("index"),
        vec![base]
    );
    assert_eq!(
        store.audit_index(b"rtes", 0, 10).await.expect("index"),
        Vec::<u64>::new(),
        "an index key is not a prefix"
    );
    sealed(v2, 2)
}

async fn sessions(store: &dyn Store, resident: Uuid) -> ([u8; 32], SessionRow) {
    let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    store
        .put_session(&a, &session_row(resident, "login-1"))
        .await
        .expect("put");
    store
        .put_session(&b, &session_row(resident, "login-1"))
        .await
        .expect("put");
    store
        .put_session(&c, &session_row(resident, "login-2"))
        .await
        .expect("put");
    store.touch_session(&c, t(50)).await.expect("touch");
    store.touch_session(&c, t(10)).await.expect("touch");
    assert_eq!(
        store.session(&c).await.expect("read").map(|s| s.last_seen),
        Some(t(50)),
        "a touch never moves last use back"
    );
    assert_eq!(store.delete_login("login-1").await.expect("delete"), 2);
    assert_eq!(store.session(&a).await.expect("read"), None);
    assert_eq!(store.session(&b).await.expect("read"), None);
    assert_eq!(store.delete_login("").await.expect("delete"), 0);
    let kept = store
        .session(&c)
        .await
        .expect("read")
        .expect("login 2 lives");
    store
        .delete_session(&b)
        .await
        .expect("deleting twice is fine");

    let pending = PendingLoginRow {
        provider: "digid".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        binding_hash: [7; 32],
        created_at: t(0),
    };
    store
        .put_pending_login(&[9; 32], &pending)
        .await
        .expect("put");
    assert_eq!(
        store.take_pending_login(&[9; 32]).await.expect("take"),
        Some(pending.clone())
    );
    assert_eq!(
        store.take_pending_login(&[9; 32]).await.expect("take"),
        None,
        "a login in progress is taken once"
    );
    // A person's sessions, oldest first, and none once ended.
    let person = SessionSubject::Resident {
        id: Uuid::from_u128(8),
    }
    .key();
    let of_person = |created: i64| SessionRow {
        created_at: t(created),
        last_seen: t(created),
        ..session_row(Uuid::from_u128(8), "")
    };
    store
        .put_session(&[31; 32], &of_person(5))
        .await
        .expect("put");
    store
        .put_session(&[32; 32], &of_person(3))
        .await
        .expect("put");
    let held = store.sessions_of(&person).await.expect("list");
    assert_eq!(held, vec![([32; 32], t(3)), ([31; 32], t(5))]);
    store.delete_session(&[32; 32]).await.expect("end");
    assert_eq!(
        store.sessions_of(&person).await.expect("list"),
        vec![([31; 32], t(5))]
    );
    store.delete_session(&[31; 32]).await.expect("end");
    assert!(store.sessions_of(&person).await.expect("list").is_empty());

    // Sessions whose timeouts passed are purged, with their index; live ones stay.
    let (old, idle, live) = ([21; 32], [22; 32], [23; 32]);
    let session_at = |created: i64, seen: i64, login: &str| SessionRow {
        created_at: t(created),
        last_seen: t(seen),
        ..session_row(Uuid::from_u128(7), login)
    };
    // Earlier than every other session of this suite, which must all stay.
    store
        .put_session(&old, &session_at(-1000, -10, "old-login"))
        .await
        .expect("put");
    store
        .put_session(&idle, &session_at(-800, -800, ""))
        .await
        .expect("put");
    store
        .put_session(&live, &session_at(-100, -10, "old-login"))
        .await
        .expect("put");
    assert_eq!(
        store.purge_sessions(t(-500), t(-900)).await.expect("purge"),
        2,
        "made before -900, or unused since before -500"
    );
    assert!(store.session(&old).await.expect("read").is_none());
    assert!(store.session(&idle).await.expect("read").is_none());
    assert!(store.session(&live).await.expect("read").is_some());
    let counted = store.session_count().await.expect("count");
    store
        .put_session(&[24; 32], &session_at(-50, -5, ""))
        .await
        .expect("put");
    assert_eq!(store.session_count().await.expect("count"), counted + 1);
    store.delete_session(&[24; 32]).await.expect("end");
    assert_eq!(store.session_count().await.expect("count"), counted);
    assert_eq!(
        store.delete_login("old-login").await.expect("end"),
        1,
        "only the live one"
    );

    for (key, minute) in [([1; 32], 0), ([2; 32], 5), ([3; 32], 20)] {
        let row = PendingLoginRow {
            created_at: t(minute * 60),
            ..pending.clone()
        };
        store.put_pending_login(&key, &row).await.expect("put");
    }
    assert_eq!(store.pending_login_count().await.expect("count"), 3);
    assert_eq!(
        store.purge_pending_logins(t(10 * 60)).await.expect("purge"),
        2,
        "the two started before minute 10"
    );
    assert_eq!(store.pending_login_count().await.expect("count"), 1);
    assert!(
        store
            .take_pending_login(&[3; 32])
            .await
            .expect("take")
            .is_some()
    );
    (c, kept)
}

async fn departments(store: &dyn Store) {
    let department = |id: &str| DepartmentRow {
        id: id.into(),
        name: format!("Afdeling {id}"),
        jwks: serde_json::json!({"keys": []}),
        activities: Vec::new(),
        privacy_officer: "fg@gemeente.example".into(),
        events_endpoint: None,
        disabled: false,
        created_at: t(0),
        updated_at: t(0),
    };
    store
        .put_department(&department("werk"))
        .await
        .expect("put");
    store
        .put_department(&department("jeugd"))
        .await
        .expect("put");
    let mut changed = department("werk");
    changed.disabled = true;
    store.put_department(&changed).await.expect("replace");
    assert_eq!(store.department("werk").await.expect("read"), Some(changed));
    assert_eq!(store.department("zorg").await.expect("read"), None);
    let ids: Vec<String> = store
        .departments()
        .await
        .expect("list")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, vec!["jeugd", "werk"], "in id order");
}

async fn consent(store: &dyn Store, resident: Uuid) -> GrantRow {
    let by_id = RequestSubject::Resident { id: resident };
    let by_bsn = RequestSubject::NationalId {
        hash: "bsn-hash-2".into(),
    };
    let late = request_row(by_id.clone(), 20);
    let early = request_row(by_bsn.clone(), 10);
    let elsewhere = request_row(RequestSubject::Resident { id: Uuid::new_v4() }, 5);
    for row in [&late, &early, &elsewhere] {
        store.insert_request(row).await.expect("insert");
    }
    let about: Vec<Uuid> = store
        .requests_about(&[by_id.clone(), by_bsn])
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        about,
        vec![early.id, late.id],
        "oldest first, nobody else's"
    );

    let grant = GrantRow {
        request_id: Some(early.id),
        ..grant_row(resident, "schuldhulp", 30)
    };
    let approved = RequestRow {
        subject: by_id.clone(),
        state: RequestState::Approved,
        decided_at: Some(t(30)),
        grant_id: Some(grant.id),
        ..early.clone()
    };
    assert!(
        store
            .decide_request(&approved, Some(&grant))
            .await
            .expect("decide")
    );
    let declined = RequestRow {
        state: RequestState::Declined,
        ..early.clone()
    };
    assert!(
        !store.decide_request(&declined, None).await.expect("decide"),
        "a decided request is not decided again"
    );
    assert_eq!(store.request(early.id).await.expect("read"), Some(approved));
    assert_eq!(
        store.grant(grant.id).await.expect("read"),
        Some(grant.clone())
    );
    assert_eq!(
        store.requests_about(&[by_id]).await.expect("list").len(),
        2,
        "an approved request moves to the resident it was decided by"
    );

    let own = grant_row(resident, "werk", 40);
    store.insert_grant(&own).await.expect("insert");
    assert_eq!(
        store.grant_with_department(own.id).await.expect("read"),
        Some((own.clone(), store.department("werk").await.expect("read"))),
        "a grant with its department"
    );
    assert!(store.department("werk").await.expect("read").is_some());
    assert_eq!(
        store.grant_with_department(grant.id).await.expect("read"),
        Some((grant.clone(), None)),
        "a grant whose department is not registered"
    );
    assert_eq!(
        store
            .grant_with_department(Uuid::new_v4())
            .await
            .expect("read"),
        None
    );
    let other = grant_row(Uuid::new_v4(), "werk", 35);
    store.insert_grant(&other).await.expect("insert");
    let ids = |rows: Vec<GrantRow>| rows.into_iter().map(|g| g.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.grants_of_resident(resident).await.expect("list")),
        vec![grant.id, own.id]
    );
    assert_eq!(
        ids(store.grants_of_department("werk").await.expect("list")),
        vec![other.id, own.id],
        "by issue time"
    );
    assert_eq!(
        store
            .resident_by_reference("werk", &own.reference)
            .await
            .expect("read"),
        Some(resident)
    );
    assert_eq!(
        store
            .resident_by_reference("schuldhulp", &own.reference)
            .await
            .expect("read"),
        None,
        "a reference means something to its own department only"
    );

    let pause = GrantPause {
        since: t(40),
        reason: kluis_proto::consent::PauseReason::DataIncorrect,
    };
    let (paused, changed) = store
        .set_grant_pause(own.id, None, Some(pause))
        .await
        .expect("pause")
        .expect("exists");
    assert!(changed);
    assert_eq!(paused.paused, Some(pause));
    let later = GrantPause {
        since: t(41),
        ..pause
    };
    let (kept, changed) = store
        .set_grant_pause(own.id, None, Some(later))
        .await
        .expect("pause")
        .expect("exists");
    assert!(!changed, "a pause of a paused grant changes nothing");
    assert_eq!(kept.paused, Some(pause), "the first pause stands");
    assert_eq!(
        store
            .grant(own.id)
            .await
            .expect("read")
            .expect("exists")
            .paused,
        Some(pause),
        "the pause is stored"
    );
    let (resumed, changed) = store
        .set_grant_pause(own.id, Some(pause), None)
        .await
        .expect("resume")
        .expect("exists");
    assert!(changed);
    assert_eq!(resumed.paused, None);
    let (_, changed) = store
        .set_grant_pause(own.id, Some(pause), None)
        .await
        .expect("resume")
        .expect("exists");
    assert!(!changed, "a second resume changes nothing");
    assert_eq!(
        store.grant(own.id).await.expect("read").expect("exists"),
        resumed
    );
    store
        .set_grant_pause(own.id, None, Some(pause))
        .await
        .expect("pause again");
    assert_eq!(
        store
            .set_grant_pause(Uuid::new_v4(), None, Some(pause))
            .await
            .expect("pause"),
        None
    );

    let (revoked, changed) = store
        .revoke_grant(own.id, t(45))
        .await
        .expect("revoke")
        .expect("exists");
    assert!(changed, "this call revoked it");
    assert_eq!(revoked.revoked_at, Some(t(45)));
    assert_eq!(
        revoked.paused,
        Some(pause),
        "a revocation keeps the pause's history"
    );
    let (after, changed) = store
        .set_grant_pause(own.id, Some(pause), None)
        .await
        .expect("resume")
        .expect("exists");
    assert!(!changed);
    assert_eq!(
        after.paused,
        Some(pause),
        "a revoked grant's pause no longer changes"
    );
    let (again, changed) = store
        .revoke_grant(own.id, t(99))
        .await
        .expect("revoke")
        .expect("exists");
    assert!(!changed, "revoked already: this call changed nothing");
    assert_eq!(again.revoked_at, Some(t(45)), "the first revocation stands");
    assert_eq!(
        store
            .revoke_grant(Uuid::new_v4(), t(99))
            .await
            .expect("revoke"),
        None
    );
    grant
}

async fn replay(store: &dyn Store) {
    let (old, new) = ([1u8; 32], [2u8; 32]);
    assert!(
        store
            .first_use(&old, t(10), Durability::WithNextWrite)
            .await
            .expect("first")
    );
    assert!(
        !store
            .first_use(&old, t(10), Durability::WithNextWrite)
            .await
            .expect("again"),
        "a replay"
    );
    assert!(
        store
            .first_use(&new, t(100), Durability::WithNextWrite)
            .await
            .expect("first")
    );
    assert_eq!(store.replay_count().await.expect("count"), 2);
    assert_eq!(store.purge_replays(t(50)).await.expect("purge"), 1);
    assert_eq!(store.replay_count().await.expect("count"), 1);
    assert!(
        store
            .first_use(&old, t(60), Durability::WithNextWrite)
            .await
            .expect("after purge"),
        "an expired id is forgotten"
    );
    assert!(
        !store
            .first_use(&new, t(100), Durability::WithNextWrite)
            .await
            .expect("kept")
    );
}

async fn officers(store: &dyn Store) {
    let officer = |token: u8, id: &str| OfficerRow {
        id: id.into(),
        name: "Fatima".into(),
        token_hash: [token; 32],
        created_at: t(0),
        expires_at: t(0) + TimeDelta::days(90),
        revoked: false,
    };
    store.put_officer(&officer(1, "fg")).await.expect("put");
    store.put_officer(&officer(2, "audit")).await.expect("put");
    store.put_officer(&officer(3, "fg")).await.expect("reissue");
    assert_eq!(
        store.officer_by_token(&[1; 32]).await.expect("read"),
        None,
        "a reissued credential replaces the old one"
    );
    assert_eq!(
        store.officer_by_token(&[3; 32]).await.expect("read"),
        Some(officer(3, "fg"))
    );
    let ids: Vec<String> = store
        .officers()
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec!["audit", "fg"]);
}

fn look_along_row(resident: Uuid, coach: &str, started: i64) -> LookAlongRow {
    LookAlongRow {
        id: Uuid::new_v4(),
        resident,
        coach: coach.into(),
        categories: vec!["schulden.overzicht".into()],
        may_propose: true,
        may_see_schemes: false,
        started_at: t(started),
        ends_at: t(started + 7200),
        ended_at: None,
        help: None,
    }
}

fn proposal_row(look_along: &LookAlongRow, created: i64) -> ProposalRow {
    ProposalRow {
        id: Uuid::new_v4(),
        look_along: look_along.id,
        resident: look_along.resident,
        coach: look_along.coach.clone(),
        category: "schulden.overzicht".into(),
        base_version: 1,
        sealed: vec![7; 40],
        created_at: t(created),
        expires_at: t(created) + TimeDelta::days(14),
        state: ProposalState::Open,
        decided_at: None,
    }
}

/// Coaches, one-time codes, look-alongs and proposals; returns a look-along to find
/// after a reopen.
async fn coaching(store: &dyn Store, resident: Uuid) -> LookAlongRow {
    let coach = |id: &str| CoachRow {
        id: id.into(),
        name: "Anna Jansen".into(),
        department: "schuldhulp".into(),
        provider: "staff".into(),
        subject: format!("sub-{id}"),
        created_at: t(0),
        removed_at: None,
    };
    store.put_coach(&coach("bram")).await.expect("put");
    store.put_coach(&coach("anna")).await.expect("put");
    let removed = CoachRow {
        removed_at: Some(t(5)),
        ..coach("bram")
    };
    store.put_coach(&removed).await.expect("replace");
    assert_eq!(
        store.coach("bram").await.expect("read"),
        Some(removed.clone())
    );
    assert_eq!(store.coach("nobody").await.expect("read"), None);
    let ids: Vec<String> = (store.coaches().await.expect("list").into_iter())
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec!["anna", "bram"], "one row per coach, by id");

    let code = CoachCodeRow {
        coach: "anna".into(),
        expires_at: t(600),
    };
    store.put_coach_code(&[5; 32], &code).await.expect("put");
    assert_eq!(
        store.coach_code(&[5; 32]).await.expect("peek"),
        Some(code.clone())
    );
    assert_eq!(
        store.take_coach_code(&[5; 32]).await.expect("take"),
        Some(code)
    );
    assert_eq!(
        store.take_coach_code(&[5; 32]).await.expect("take again"),
        None,
        "a code works once"
    );
    assert_eq!(store.coach_code(&[5; 32]).await.expect("peek"), None);
    let old = CoachCodeRow {
        coach: "anna".into(),
        expires_at: t(10),
    };
    let fresh = CoachCodeRow {
        coach: "anna".into(),
        expires_at: t(1000),
    };
    store.put_coach_code(&[6; 32], &old).await.expect("put");
    store.put_coach_code(&[7; 32], &fresh).await.expect("put");

    let later = look_along_row(resident, "anna", 100);
    let first = look_along_row(resident, "anna", 10);
    let other = look_along_row(Uuid::new_v4(), "bram", 20);
    for row in [&later, &first, &other] {
        store.put_look_along(row).await.expect("put");
    }
    let help = HelpSignal {
        reason: HelpReason::Call,
        at: t(40),
    };
    let ended = store
        .change_look_along(first.id, &LookAlongChange::End(t(50)))
        .await
        .expect("end")
        .expect("there");
    assert_eq!(ended.ended_at, Some(t(50)));
    let after = store
        .change_look_along(first.id, &LookAlongChange::Help(help.clone()))
        .await
        .expect("help")
        .expect("there");
    assert_eq!(
        after, ended,
        "an ended look-along takes no help signal, and stays ended"
    );
    assert_eq!(
        store
            .change_look_along(first.id, &LookAlongChange::End(t(60)))
            .await
            .expect("end again"),
        Some(ended.clone()),
        "ending twice keeps the first end"
    );
    let helped = store
        .change_look_along(later.id, &LookAlongChange::Help(help.clone()))
        .await
        .expect("help")
        .expect("there");
    assert_eq!(helped.help, Some(help));
    assert_eq!(
        store
            .change_look_along(Uuid::new_v4(), &LookAlongChange::End(t(1)))
            .await
            .expect("none"),
        None
    );
    let later = helped;
    assert_eq!(
        store.look_alongs_of_resident(resident).await.expect("list"),
        vec![ended.clone(), later.clone()],
        "a resident's look-alongs, oldest first, each once"
    );
    assert_eq!(
        store.look_alongs_of_coach("anna").await.expect("list"),
        vec![ended, later.clone()]
    );
    assert_eq!(
        store.look_alongs_of_coach("bram").await.expect("list"),
        vec![other]
    );

    let second = proposal_row(&later, 200);
    let first = proposal_row(&later, 150);
    store.put_proposal(&second).await.expect("put");
    store.put_proposal(&first).await.expect("put");
    let confirmed = ProposalRow {
        state: ProposalState::Confirmed,
        decided_at: Some(t(300)),
        ..first
    };
    store.put_proposal(&confirmed).await.expect("replace");
    assert_eq!(
        store.proposal(confirmed.id).await.expect("read"),
        Some(confirmed.clone())
    );
    let confirmed_id = confirmed.id;
    assert_eq!(
        store.proposals_of_resident(resident).await.expect("list"),
        vec![confirmed, second]
    );
    assert!(
        store
            .proposals_of_resident(Uuid::new_v4())
            .await
            .expect("list")
            .is_empty()
    );

    // At t(150 + 14 days) the proposal made at t(150) is confirmed already; the one of
    // t(200) lapses; the expired code goes, the fresh one stays.
    let lapse_at = t(200) + TimeDelta::days(14);
    let fresh_code = store.coach_code(&[7; 32]).await.expect("peek");
    assert_eq!(
        store.purge_coaching(t(500)).await.expect("purge"),
        1,
        "the old code"
    );
    assert_eq!(store.coach_code(&[6; 32]).await.expect("peek"), None);
    assert_eq!(store.coach_code(&[7; 32]).await.expect("peek"), fresh_code);
    let second_id = store.proposals_of_resident(resident).await.expect("list")[1].id;
    assert_eq!(
        store.purge_coaching(lapse_at).await.expect("purge"),
        2,
        "code and proposal"
    );
    let lapsed = store
        .proposal(second_id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(lapsed.state, ProposalState::Lapsed);
    assert!(lapsed.sealed.is_empty(), "its values are gone");
    assert_eq!(
        store
            .proposal(confirmed_id)
            .await
            .expect("read")
            .expect("kept")
            .state,
        ProposalState::Confirmed
    );

    let second = witness_row(&later, 400);
    let first = witness_row(&later, 350);
    store.put_witness(&second).await.expect("put");
    store.put_witness(&first).await.expect("put");
    let disputed = WitnessRow {
        answer: Some(WitnessAnswer::Disputed),
        answered_at: Some(t(500)),
        ..first
    };
    store.put_witness(&disputed).await.expect("replace");
    assert_eq!(
        store.witness(disputed.id).await.expect("read"),
        Some(disputed.clone())
    );
    assert_eq!(
        store.witnesses_of_resident(resident).await.expect("list"),
        vec![disputed, second]
    );
    later
}

fn witness_row(look_along: &LookAlongRow, recorded: i64) -> WitnessRow {
    WitnessRow {
        id: Uuid::new_v4(),
        look_along: look_along.id,
        resident: look_along.resident,
        coach: look_along.coach.clone(),
        request: Uuid::new_v4(),
        grant: Some(Uuid::new_v4()),
        department: "schuldhulp".into(),
        categories: vec!["schulden.overzicht".into()],
        channel: kluis_proto::coaching::Channel::Phone,
        recorded_at: t(recorded),
        answer: None,
        answered_at: None,
    }
}

fn case_status(resident: Uuid, posted: i64) -> CaseStatusRow {
    CaseStatusRow {
        id: Uuid::new_v4(),
        grant: Uuid::new_v4(),
        department: "werk".into(),
        resident,
        status: kluis_proto::cases::CaseStatus::MoreInformationNeeded {
            categories: vec!["werk.profiel".into()],
        },
        contact: None,
        posted_at: t(posted),
        seen_at: None,
    }
}

/// Stores `row` the way the vault does: with its audit entry.
async fn add_case_status(store: &dyn Store, row: &CaseStatusRow) {
    let seq = store.audit_len().await.expect("len");
    store
        .append_audit(&[append(seq, Some(RecordChange::AddCaseStatus(row.clone())))])
        .await
        .expect("append a case status");
}

async fn cases(store: &dyn Store, resident: Uuid) {
    let (late, early) = (case_status(resident, 20), case_status(resident, 10));
    add_case_status(store, &late).await;
    add_case_status(store, &early).await;
    let ids = |rows: Vec<CaseStatusRow>| rows.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .case_statuses_of_resident(resident)
            .await
            .expect("list")),
        vec![early.id, late.id],
        "oldest first"
    );
    // A status about someone who is not (or no longer) a resident is not stored; its
    // audit entry is.
    let nobody = Uuid::new_v4();
    let before = store.audit_len().await.expect("len");
    add_case_status(store, &case_status(nobody, 5)).await;
    assert_eq!(store.audit_len().await.expect("len"), before + 1);
    assert!(
        store
            .case_statuses_of_resident(nobody)
            .await
            .expect("list")
            .is_empty()
    );
    // Only what was shown (posted up to the newest shown) counts as seen.
    assert_eq!(
        store
            .mark_case_statuses_seen(resident, t(15), t(30))
            .await
            .expect("mark"),
        1
    );
    assert_eq!(
        store
            .mark_case_statuses_seen(resident, t(20), t(40))
            .await
            .expect("mark"),
        1,
        "the later one when it was shown"
    );
    assert_eq!(
        store
            .mark_case_statuses_seen(resident, t(20), t(50))
            .await
            .expect("mark"),
        0,
        "seen once"
    );
    let seen: Vec<_> = store
        .case_statuses_of_resident(resident)
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.seen_at)
        .collect();
    assert_eq!(seen, vec![Some(t(30)), Some(t(40))]);
}

/// Cosignatures: one per witness and checkpoint size, the newest kept.
async fn cosignatures(store: &dyn Store) {
    assert!(store.cosignatures(7).await.expect("read").is_empty());
    for (size, witness, line) in [
        (7, "w2.example", "— w2.example AAAA\n"),
        (7, "w1.example", "— w1.example old\n"),
        (7, "w1.example", "— w1.example BBBB\n"),
        (8, "w1.example", "— w1.example CCCC\n"),
    ] {
        store
            .put_cosignature(size, witness, line)
            .await
            .expect("store");
    }
    assert_eq!(
        store.cosignatures(7).await.expect("read"),
        vec!["— w1.example BBBB\n", "— w2.example AAAA\n"]
    );
    assert_eq!(
        store.cosignatures(8).await.expect("read"),
        vec!["— w1.example CCCC\n"]
    );
}

fn event_row(department: &str, kind: &str, at: i64) -> EventRow {
    EventRow {
        id: Uuid::new_v4(),
        department: department.into(),
        kind: kind.into(),
        grant: Some(Uuid::new_v4()),
        resident: Some("audit-ref".into()),
        token: format!("header.{kind}-{at}.signature"),
        queued_at: t(at),
        acknowledged_at: None,
    }
}

/// Events: queued only with an audit batch (all or nothing), waiting in queue order per
/// department, acknowledged once and only by their department. Returns one left waiting.
async fn events(store: &dyn Store) -> EventRow {
    let queue = |rows: &[&EventRow]| {
        rows.iter()
            .map(|row| Some(RecordChange::QueueEvent((*row).clone())))
            .collect::<Vec<_>>()
    };
    let (a1, b1, a2, a3) = (
        event_row("schuldhulp", "grant-revoked", 1),
        event_row("jeugd", "grant-paused", 2),
        event_row("schuldhulp", "erasure-requested", 3),
        event_row("schuldhulp", "grant-resumed", 4),
    );
    let seq = store.audit_len().await.expect("len");
    let batch: Vec<AuditAppend> = queue(&[&a1, &b1, &a2])
        .into_iter()
        .enumerate()
        .map(|(i, change)| append(seq + i as u64, change))
        .collect();
    store
        .append_audit(&batch)
        .await
        .expect("append with events");
    // A batch refused (placed behind the log's end) queues nothing.
    let stale = append(seq, Some(RecordChange::QueueEvent(a3.clone())));
    assert!(matches!(
        store.append_audit(&[stale]).await,
        Err(StoreError::AuditMoved(_)) | Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.event(a3.id).await.expect("read"), None);
    store
        .append_audit(&[append(seq + 3, queue(&[&a3]).remove(0))])
        .await
        .expect("append");
    // An id queued again (a sweep on two nodes) is kept once, as it was.
    let mut again = a1.clone();
    again.token = "header.changed.signature".into();
    store
        .append_audit(&[append(seq + 4, Some(RecordChange::QueueEvent(again)))])
        .await
        .expect("append");
    store.sync().await.expect("sync");

    assert_eq!(
        store.pending_events("schuldhulp", 10).await.expect("list"),
        vec![a1.clone(), a2.clone(), a3.clone()],
        "in the order queued, each once"
    );
    assert_eq!(
        store.pending_events("schuldhulp", 2).await.expect("list"),
        vec![a1.clone(), a2.clone()]
    );
    assert_eq!(
        store.pending_events("jeugd", 10).await.expect("list"),
        vec![b1.clone()]
    );
    assert_eq!(
        store.pending_events("elders", 10).await.expect("list"),
        vec![]
    );
    assert_eq!(store.event(b1.id).await.expect("read"), Some(b1.clone()));

    // Only the department's own events, each once.
    assert_eq!(
        store
            .acknowledge_events("jeugd", &[a1.id], t(10))
            .await
            .expect("ack"),
        0,
        "another department's event is not acknowledged"
    );
    assert_eq!(
        store
            .acknowledge_events("schuldhulp", &[a1.id, a2.id, Uuid::new_v4()], t(10))
            .await
            .expect("ack"),
        2
    );
    assert_eq!(
        store
            .acknowledge_events("schuldhulp", &[a1.id], t(11))
            .await
            .expect("ack"),
        0,
        "acknowledged once"
    );
    assert_eq!(
        store.pending_events("schuldhulp", 10).await.expect("list"),
        vec![a3.clone()]
    );
    let acknowledged = store.event(a1.id).await.expect("read").expect("kept");
    assert_eq!(acknowledged.acknowledged_at, Some(t(10)));
    store
        .acknowledge_events("jeugd", &[b1.id], t(12))
        .await
        .expect("ack");
    a3
}

async fn erasure(store: &dyn Store) {
    let gone = resident_row("identity-erased");
    store.insert_resident(&gone, 2).await.expect("insert");
    store
        .set_national_id(gone.id, "bsn-erased")
        .await
        .expect("set");
    let version = store
        .reserve_record_version(gone.id, "werk.profiel")
        .await
        .expect("reserve");
    let seq = store.audit_len().await.expect("len");
    store
        .append_audit(&[append(
            seq,
            Some(RecordChange::Put {
                resident: gone.id,
                category: "werk.profiel".into(),
                record: sealed(version, 9),
            }),
        )])
        .await
        .expect("append");
    let grant = grant_row(gone.id, "jeugd", 70);
    store.insert_grant(&grant).await.expect("grant");
    store
        .put_session(&[8; 32], &session_row(gone.id, "login-erased"))
        .await
        .expect("session");
    add_case_status(store, &case_status(gone.id, 80)).await;
    let look_along = look_along_row(gone.id, "anna", 90);
    store.put_look_along(&look_along).await.expect("look-along");
    let proposal = proposal_row(&look_along, 95);
    store.put_proposal(&proposal).await.expect("proposal");
    let witness = witness_row(&look_along, 96);
    store.put_witness(&witness).await.expect("witness");

    store.erase_resident(gone.id).await.expect("erase");
    assert_eq!(store.resident(gone.id).await.expect("read"), None);
    assert_eq!(
        store
            .resident_by_identity("identity-erased")
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store
            .resident_by_national_id("bsn-erased")
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store
            .record(gone.id, "werk.profiel", None)
            .await
            .expect("read"),
        None
    );
    assert!(
        store
            .record_summaries(gone.id)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        store
            .resident_by_reference("jeugd", &grant.reference)
            .await
            .expect("read"),
        None
    );
    assert_eq!(store.session(&[8; 32]).await.expect("read"), None);
    assert!(
        store
            .case_statuses_of_resident(gone.id)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(store.look_along(look_along.id).await.expect("read"), None);
    assert!(
        store
            .look_alongs_of_coach("anna")
            .await
            .expect("read")
            .iter()
            .all(|l| l.resident != gone.id),
        "the coach's index forgets the erased vault too"
    );
    assert_eq!(store.proposal(proposal.id).await.expect("read"), None);
    assert_eq!(store.witness(witness.id).await.expect("read"), None);
    assert_eq!(
        store.audit_len().await.expect("len"),
        seq + 2,
        "the log keeps its entries (the record's and the status's)"
    );
    store
        .erase_resident(gone.id)
        .await
        .expect("erasing twice is fine");
}
