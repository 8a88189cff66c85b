use super::*;
use crate::store::{AuditStore, ResidentStore};

/// Opens the database at `url` (any URL, for tests of bad ones).
async fn try_open(url: &str) -> StoreResult<PostgresStore> {
    PostgresStore::open(&PostgresSettings {
        url: url.to_owned(),
        pool_size: 8,
        ca_file: None,
    })
    .await
}

async fn open(url: &str) -> PostgresStore {
    try_open(url).await.expect("the test database opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_store_contract_and_keeps_it_across_a_reopen() {
    let url = server::shared().new_database().await;
    let store = open(&url).await;
    assert!(store.was_fresh());
    let kept = crate::store::contract::check(std::sync::Arc::new(store.clone())).await;
    drop(store);
    let reopened = open(&url).await;
    assert!(!reopened.was_fresh());
    crate::store::contract::check_kept(&reopened, &kept).await;
    // A snapshot loads into an empty database that then keeps the contract too.
    let copy = tempfile::tempdir().unwrap();
    let copied =
        crate::store::contract::check_snapshot(&reopened, &kept, &copy.path().join("db")).await;
    let restored = open(&server::shared().new_database().await).await;
    restored
        .load_snapshot(&copy.path().join("db"), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(restored.row_counts().await.unwrap(), copied);
    assert!(
        restored
            .load_snapshot(&copy.path().join("db"), &mut |_, _| {})
            .await
            .is_err(),
        "a copy never loads into a database that holds a vault"
    );
    restored.finish_import().await.unwrap();
    crate::store::contract::check_kept(&restored, &kept).await;
}

#[tokio::test]
async fn a_database_with_other_tables_is_refused_and_left_alone() {
    let server = server::shared();
    let url = server.new_database().await;
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE payroll (id int)")
        .await
        .unwrap();
    let err = try_open(&url).await.unwrap_err().to_string();
    assert!(err.contains("holds 1 tables but no Kluis schema"), "{err}");
    let schema: Option<String> = client
        .query_one("SELECT to_regclass('kluis_schema')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(schema, None, "nothing was created in {name}");
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused() {
    let url = server::shared().new_database().await;
    let store = open(&url).await;
    let client = store.client().await.unwrap();
    client
        .execute(
            "UPDATE kluis_schema SET version = $1",
            &[&(schema::VERSION + 1)],
        )
        .await
        .unwrap();
    drop(client);
    let err = store.check().await.unwrap_err().to_string();
    assert!(err.contains("newer than this build's"), "{err}");
    let err = try_open(&url).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "schema version {}, newer than this build's {}",
            schema::VERSION + 1,
            schema::VERSION
        )),
        "{err}"
    );
}

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let url = server::shared().new_database().await;
    let (a, b) = tokio::join!(open(&url), open(&url));
    assert!(
        a.was_fresh() != b.was_fresh(),
        "exactly one node created the schema"
    );
    assert_eq!(a.audit_len().await.unwrap(), 0);
    assert!(b.resident(uuid::Uuid::nil()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_wrong_password_or_an_unreachable_server_is_a_clear_error_without_the_password() {
    let server = server::shared();
    let url = server.new_database().await;
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let wrong = format!(
        "postgresql://kluis:hunter2-secret@127.0.0.1:{}/{name}?sslmode=disable",
        server.port()
    );
    let err = try_open(&wrong).await.unwrap_err().to_string();
    assert!(err.contains("cannot connect to"), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(err.contains("postgresql://kluis@127.0.0.1:"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is never printed: {err}"
    );

    let closed = free_port_for_test();
    let err = try_open(&format!(
        "postgresql://kluis:pw-secret@127.0.0.1:{closed}/x?sslmode=disable"
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot connect to"), "{err}");
    assert!(!err.contains("pw-secret"), "{err}");

    let err = try_open("not a url at all ===")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a PostgreSQL connection URL"), "{err}");
}

#[tokio::test]
async fn a_database_on_another_machine_needs_verified_tls() {
    for url in [
        "postgresql://kluis:pw-secret@db.example.nl/kluis",
        "postgresql://kluis:pw-secret@db.example.nl/kluis?sslmode=prefer",
        "host=10.1.2.3 user=kluis password=pw-secret dbname=kluis sslmode=disable",
    ] {
        let err = try_open(url).await.unwrap_err().to_string();
        assert!(err.contains("add sslmode=verify-full"), "{url}: {err}");
        assert!(!err.contains("pw-secret"), "{err}");
    }
}

#[test]
fn a_url_is_described_from_its_parts_never_with_its_password() {
    for (url, shown) in [
        (
            "postgresql://kluis:s3cret@db.example:5433/kluis?sslmode=verify-full",
            "postgresql://kluis@db.example:5433/kluis",
        ),
        ("postgresql://u:pa/ss@h/db", "postgresql://u@h:5432/db"),
        (
            "host=db user=kluis password = 's3cret two' dbname=kluis",
            "postgresql://kluis@db:5432/kluis",
        ),
        (
            "postgresql://db/kluis?pass%77ord=s3cret&password=s3cret",
            "postgresql://@db:5432/kluis",
        ),
    ] {
        let described = describe(url);
        assert!(
            !described.contains("s3cret") && !described.contains("ss@"),
            "{described}"
        );
        assert_eq!(described, shown, "{url}");
    }
}

fn free_port_for_test() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A node that holds the audit log appends while every other node waits, and the others
/// append again once it lets go; a node that dies holding it holds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_holds_the_audit_log_appends_alone() {
    let url = server::shared().new_database().await;
    let (a, b) = (open(&url).await, open(&url).await);
    let entry = |seq: u64| crate::store::contract::append(seq, None);
    a.hold_audit().await.unwrap();
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.append_audit(&[entry(1)]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "B waits while A holds the log");
    a.append_audit(&[entry(0)]).await.unwrap();
    a.release_audit().await.unwrap();
    waiting.await.unwrap().expect("B appends once A let go");
    assert_eq!(a.audit_len().await.unwrap(), 2);

    // Dropped while holding (a node that dies): its connection closes, and with it the lock.
    let c = open(&url).await;
    c.hold_audit().await.unwrap();
    drop(c);
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        b.append_audit(&[entry(2)]),
    )
    .await
    .expect("the lock went with the node")
    .unwrap();
}

/// An append commits without waiting for the WAL; `sync` waits for all of it, including
/// what another node appended.
#[tokio::test]
async fn sync_makes_every_earlier_append_durable() {
    let url = server::shared().new_database().await;
    let (a, b) = (open(&url).await, open(&url).await);
    let entry = |seq: u64| crate::store::contract::append(seq, None);
    let lsn = |client: deadpool_postgres::Client, function: &'static str| async move {
        let row = client
            .query_one(&format!("SELECT ({function}() - '0/0')::text"), &[])
            .await
            .unwrap();
        row.get::<_, String>(0).parse::<u128>().unwrap()
    };
    // The WAL writer flushes on its own every 200 ms; several appends in a row leave
    // some unflushed WAL behind at least once.
    let mut seen_unflushed = false;
    for seq in 0..20 {
        b.append_audit(&[entry(seq)]).await.unwrap();
        let written = lsn(b.client().await.unwrap(), "pg_current_wal_insert_lsn").await;
        seen_unflushed |=
            lsn(b.client().await.unwrap(), "pg_current_wal_flush_lsn").await < written;
        a.sync().await.unwrap();
        let flushed = lsn(a.client().await.unwrap(), "pg_current_wal_flush_lsn").await;
        assert!(
            flushed >= written,
            "A's sync flushed B's append: {flushed} < {written}"
        );
    }
    assert!(seen_unflushed, "appends commit without waiting for the WAL");
}

/// A node told the log moved keeps it held: nobody overtakes it again before its batch,
/// placed anew, is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_overtaken_keeps_the_log_until_it_appended() {
    let url = server::shared().new_database().await;
    let (a, b) = (open(&url).await, open(&url).await);
    let entry = |seq: u64| crate::store::contract::append(seq, None);
    a.append_audit(&[entry(0)]).await.unwrap();
    assert!(matches!(
        b.append_audit(&[entry(0)]).await,
        Err(StoreError::AuditMoved(1))
    ));
    // B holds the log: its length is the one read under the lock, even with a row that
    // bypassed the lock (asking the database would say 2).
    let raw = a.client().await.unwrap();
    let plant = "INSERT INTO audit_entries (seq, entry) VALUES (1, '\\x00')";
    raw.batch_execute(plant).await.unwrap();
    assert_eq!(
        b.audit_len().await.unwrap(),
        1,
        "the length read under the lock"
    );
    raw.batch_execute("DELETE FROM audit_entries WHERE seq = 1")
        .await
        .unwrap();
    drop(raw);
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.append_audit(&[entry(1)]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "A waits while B places its batch again"
    );
    b.append_audit(&[entry(1)]).await.unwrap();
    assert!(matches!(
        waiting.await.unwrap(),
        Err(StoreError::AuditMoved(2))
    ));
    // A let go without appending: its transaction ends, nothing of it is stored.
    a.release_audit().await.unwrap();
    b.append_audit(&[entry(2)]).await.unwrap();
    assert_eq!(a.audit_len().await.unwrap(), 3);
}

/// An append whose insert fails (a tree node already there, as only a writer that bypassed
/// the lock could leave) stores nothing of its batch, though its commit was sent with the
/// insert, and lets the log go: the next append, once the node is gone, is stored.
#[tokio::test]
async fn a_failed_append_stores_nothing_and_lets_the_log_go() {
    let url = server::shared().new_database().await;
    let (a, b) = (open(&url).await, open(&url).await);
    let entry = |seq: u64| crate::store::contract::append(seq, None);
    a.append_audit(&[entry(0)]).await.unwrap();
    let raw = a.client().await.unwrap();
    raw.batch_execute("INSERT INTO audit_nodes (level, index, hash) VALUES (0, 1, '\\x00')")
        .await
        .unwrap();
    assert!(matches!(
        a.append_audit(&[entry(1)]).await,
        Err(StoreError::AuditMoved(1))
    ));
    let count = |table: &'static str| {
        let raw = &raw;
        async move {
            raw.query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    assert_eq!(
        count("audit_entries").await,
        1,
        "the failed batch left no entry"
    );
    assert_eq!(count("audit_index").await, 1, "and no index key");
    raw.batch_execute("DELETE FROM audit_nodes WHERE level = 0 AND index = 1")
        .await
        .unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        b.append_audit(&[entry(1)]),
    )
    .await
    .expect("the lock went with the failed append")
    .unwrap();
    assert_eq!(b.audit_len().await.unwrap(), 2);
}
