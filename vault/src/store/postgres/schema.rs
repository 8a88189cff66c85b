//! The tables, as versioned migrations run when the store opens.
//!
//! `kluis_schema` holds the version the database is at. Opening runs every migration after
//! it, each in its own transaction, under an advisory lock so that nodes starting together
//! migrate once. A database at a newer version than this build knows is refused, and so is
//! a database that holds tables but no `kluis_schema` (not a Kluis database).
//!
//! Text keys use the "C" collation, so that lists come out in byte order, as from sled.

use super::map_err;
use crate::store::{StoreError, StoreResult};

/// The migrations, in order: migration `i` brings the database to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the tables of the first version.
    r#"
CREATE TABLE kluis_meta (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE residents (
    id uuid PRIMARY KEY,
    identity text COLLATE "C" NOT NULL UNIQUE,
    national_id text COLLATE "C" UNIQUE,
    value bytea NOT NULL
);
CREATE TABLE records (
    resident uuid NOT NULL,
    category text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (resident, category, version)
);
CREATE TABLE record_counters (
    resident uuid NOT NULL,
    category text COLLATE "C" NOT NULL,
    last bigint NOT NULL,
    PRIMARY KEY (resident, category)
);
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    subject text COLLATE "C" NOT NULL,
    login_id text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX sessions_by_subject ON sessions (subject, created_at);
CREATE INDEX sessions_by_login ON sessions (login_id) WHERE login_id <> '';
CREATE TABLE pending_logins (
    state_hash bytea PRIMARY KEY,
    created_at timestamptz NOT NULL,
    value bytea NOT NULL
);
CREATE TABLE departments (id text COLLATE "C" PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE requests (
    id uuid PRIMARY KEY,
    subject text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX requests_by_subject ON requests (subject);
CREATE TABLE grants (
    id uuid PRIMARY KEY,
    resident uuid NOT NULL,
    department text COLLATE "C" NOT NULL,
    issued_at timestamptz NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX grants_by_resident ON grants (resident);
CREATE INDEX grants_by_department ON grants (department);
CREATE TABLE pairwise (
    department text COLLATE "C" NOT NULL,
    reference text COLLATE "C" NOT NULL,
    resident uuid NOT NULL,
    PRIMARY KEY (department, reference)
);
CREATE INDEX pairwise_by_resident ON pairwise (resident);
CREATE TABLE replay (key bytea PRIMARY KEY, expires_at timestamptz NOT NULL);
CREATE INDEX replay_by_expiry ON replay (expires_at);
CREATE TABLE audit_entries (seq bigint PRIMARY KEY, entry bytea NOT NULL);
CREATE TABLE audit_nodes (
    level smallint NOT NULL,
    index bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (level, index)
);
CREATE TABLE audit_index (key bytea NOT NULL, seq bigint NOT NULL, PRIMARY KEY (key, seq));
CREATE TABLE officers (
    token_hash bytea PRIMARY KEY,
    id text COLLATE "C" NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX officers_by_id ON officers (id);
CREATE TABLE case_statuses (
    id uuid PRIMARY KEY,
    resident uuid NOT NULL,
    posted_at timestamptz NOT NULL,
    seen boolean NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX case_statuses_by_resident ON case_statuses (resident);
CREATE TABLE coaches (id text COLLATE "C" PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE coach_codes (
    code_hash bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    value bytea NOT NULL
);
CREATE TABLE look_alongs (
    id uuid PRIMARY KEY,
    resident uuid NOT NULL,
    coach text COLLATE "C" NOT NULL,
    started_at timestamptz NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX look_alongs_by_resident ON look_alongs (resident);
CREATE INDEX look_alongs_by_coach ON look_alongs (coach);
CREATE TABLE proposals (
    id uuid PRIMARY KEY,
    resident uuid NOT NULL,
    created_at timestamptz NOT NULL,
    open_until timestamptz,
    value bytea NOT NULL
);
CREATE INDEX proposals_by_resident ON proposals (resident);
CREATE INDEX proposals_open ON proposals (open_until) WHERE open_until IS NOT NULL;
CREATE TABLE witnesses (
    id uuid PRIMARY KEY,
    resident uuid NOT NULL,
    recorded_at timestamptz NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX witnesses_by_resident ON witnesses (resident);
"#,
    // 2: events queued for departments, in queue order, until acknowledged.
    r#"
CREATE TABLE events (
    position bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    department text COLLATE "C" NOT NULL,
    acknowledged boolean NOT NULL,
    value bytea NOT NULL
);
CREATE INDEX events_waiting ON events (department, position) WHERE NOT acknowledged;
"#,
    // 3: witnesses' cosignatures of audit checkpoints.
    r#"
CREATE TABLE cosignatures (
    size bigint NOT NULL,
    witness text COLLATE "C" NOT NULL,
    line text NOT NULL,
    PRIMARY KEY (size, witness)
);
"#,
    // 4: audit entries stored compactly (`audit::stored`). No table changes, but nodes of
    // schema 3 would take compact entries for a rewritten log: they must refuse it.
    r#"
COMMENT ON COLUMN audit_entries.entry IS 'the entry in its stored form: compact (first byte 1) or its canonical JSON';
"#,
];

/// The schema version this build writes and reads.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// The advisory lock key nodes take while migrating ("kluis" in ASCII).
const MIGRATION_LOCK: i64 = 0x006b_6c75_6973;

/// Refuses a database whose schema is not this build's.
pub(super) fn check_version(found: i32) -> StoreResult<()> {
    match found.cmp(&VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::Incompatible(format!(
            "the database has schema version {found}, newer than this build's {VERSION}: run the Kluis version that upgraded it, or a newer one"
        ))),
        std::cmp::Ordering::Less => Err(StoreError::Incompatible(format!(
            "the database has schema version {found}, older than this build's {VERSION}: a migration is pending (restart a node to run it)"
        ))),
    }
}

/// Brings the database to [`VERSION`]; returns whether it held no Kluis schema before.
pub(super) async fn migrate(client: &mut deadpool_postgres::Client) -> StoreResult<bool> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(map_err("waiting for the migration lock"))?;
    let result = migrate_locked(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(map_err("releasing the migration lock"));
    let fresh = result?;
    unlocked?;
    Ok(fresh)
}

async fn migrate_locked(client: &mut deadpool_postgres::Client) -> StoreResult<bool> {
    let has_schema: bool = client
        .query_one("SELECT to_regclass('kluis_schema') IS NOT NULL", &[])
        .await
        .map_err(map_err("reading the schema version"))?
        .get(0);
    let fresh = !has_schema;
    if fresh {
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .await
            .map_err(map_err("listing tables"))?
            .get(0);
        if tables > 0 {
            return Err(StoreError::Incompatible(format!(
                "the database holds {tables} tables but no Kluis schema; point [storage] url at an empty database or a Kluis one"
            )));
        }
        client
            .batch_execute(
                "CREATE TABLE kluis_schema (version integer NOT NULL); INSERT INTO kluis_schema VALUES (0);",
            )
            .await
            .map_err(map_err("creating the schema table"))?;
    }
    let found: i32 = client
        .query_one("SELECT version FROM kluis_schema", &[])
        .await
        .map_err(map_err("reading the schema version"))?
        .get(0);
    if found > VERSION {
        check_version(found)?;
    }
    for (at, sql) in (found..).zip(MIGRATIONS.iter().skip(found.max(0) as usize)) {
        let tx = client
            .transaction()
            .await
            .map_err(map_err("starting a migration"))?;
        tx.batch_execute(sql)
            .await
            .map_err(map_err("running a migration"))?;
        tx.execute("UPDATE kluis_schema SET version = $1", &[&(at + 1)])
            .await
            .map_err(map_err("recording a migration"))?;
        tx.commit()
            .await
            .map_err(map_err("committing a migration"))?;
        tracing::info!(version = at + 1, "database migrated");
    }
    Ok(fresh)
}
