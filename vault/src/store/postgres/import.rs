// Long: one insert per sled tree, each taking its key apart by the sled layout; split, they would only point at each other.
//! `kluis migrate --from-sled`: copies a sled vault into an empty PostgreSQL database, table
//! by table, and counts both sides so the caller can compare them.
//!
//! Values move as they are (both adapters store the same `[format] + JSON` bytes); keys are
//! taken apart by the sled layout (`store/sled/mod.rs`) into the columns of `schema`.

use super::{PostgresStore, map_err, row, signed};
use crate::store::sled::SledStore;
use crate::store::{
    CaseStatusRow, EventRow, GrantRow, LookAlongRow, OfficerRow, ProposalRow, ProposalState,
    RequestRow, RequestSubject, ResidentRow, SessionRow, StoreError, StoreResult, WitnessRow,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Rows per transaction while copying.
const CHUNK: usize = 1000;

/// One table: its name, and how many rows it holds in the source and the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table (as named in PostgreSQL).
    pub table: &'static str,
    /// Rows in the sled vault.
    pub source: u64,
    /// Rows in the PostgreSQL database.
    pub target: u64,
}

/// The sled trees that hold rows, each with the table it becomes. Index trees (`*_by_*`,
/// `identities`, `national_ids`, `session_*`) become columns and are not counted.
pub(super) const TABLES: &[(&str, &str)] = &[
    ("residents", "residents"),
    ("records", "records"),
    ("record_counters", "record_counters"),
    ("sessions", "sessions"),
    ("pending_logins", "pending_logins"),
    ("departments", "departments"),
    ("requests", "requests"),
    ("grants", "grants"),
    ("pairwise", "pairwise"),
    ("replay", "replay"),
    ("audit_entries", "audit_entries"),
    ("audit_nodes", "audit_nodes"),
    ("audit_index", "audit_index"),
    ("officers", "officers"),
    ("case_statuses", "case_statuses"),
    ("coaches", "coaches"),
    ("coach_codes", "coach_codes"),
    ("look_alongs", "look_alongs"),
    ("proposals", "proposals"),
    ("witnesses", "witnesses"),
    ("events", "events"),
    ("cosignatures", "cosignatures"),
];

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("sled {what}: unexpected key or value"))
}

fn uuid_at(bytes: &[u8], at: usize, what: &str) -> StoreResult<Uuid> {
    bytes
        .get(at..at + 16)
        .and_then(|b| Uuid::from_slice(b).ok())
        .ok_or_else(|| corrupt(what))
}

fn micros(bytes: &[u8], what: &str) -> StoreResult<DateTime<Utc>> {
    let raw: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(what))?;
    DateTime::from_timestamp_micros(i64::from_be_bytes(raw)).ok_or_else(|| corrupt(what))
}

/// `(text before 0x00, bytes after it)` of an index-style key.
fn split_zero<'a>(key: &'a [u8], what: &str) -> StoreResult<(String, &'a [u8])> {
    let at = key
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| corrupt(what))?;
    let text = std::str::from_utf8(&key[..at]).map_err(|_| corrupt(what))?;
    Ok((text.to_owned(), &key[at + 1..]))
}

/// `(resident, category)` of a record or counter key, and what follows them.
fn record_prefix<'a>(key: &'a [u8], what: &str) -> StoreResult<(Uuid, String, &'a [u8])> {
    let resident = uuid_at(key, 0, what)?;
    let len = *key.get(16).ok_or_else(|| corrupt(what))? as usize;
    let category = key
        .get(17..17 + len)
        .and_then(|c| std::str::from_utf8(c).ok())
        .ok_or_else(|| corrupt(what))?;
    Ok((resident, category.to_owned(), &key[17 + len..]))
}

/// One row for PostgreSQL: its statement and parameters.
type Insert = (
    &'static str,
    Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>>,
);

/// The insert for one sled pair of `tree`.
fn insert_for(tree: &str, key: &[u8], value: &[u8]) -> StoreResult<Insert> {
    let v = value.to_vec();
    Ok(match tree {
        "residents" => {
            // The national-id column comes from sled's index afterwards: the index, not a
            // row's copy, says which vault holds a hash now.
            let r: ResidentRow = row(value, "resident")?;
            (
                "INSERT INTO residents (id, identity, value) VALUES ($1, $2, $3)",
                vec![Box::new(r.id), Box::new(r.identity), Box::new(v)],
            )
        }
        "national_ids" => {
            let hash = std::str::from_utf8(key)
                .map_err(|_| corrupt(tree))?
                .to_owned();
            (
                "UPDATE residents SET national_id = $1 WHERE id = $2",
                vec![Box::new(hash), Box::new(uuid_at(value, 0, "national id")?)],
            )
        }
        "records" => {
            let (resident, category, rest) = record_prefix(key, "record")?;
            let version: [u8; 4] = rest.try_into().map_err(|_| corrupt("record"))?;
            if value.first() != Some(&crate::store::encoding::FORMAT_V1) {
                return Err(corrupt("record"));
            }
            let created = micros(value.get(1..).ok_or_else(|| corrupt("record"))?, "record")?;
            let sealed = value.get(9..).ok_or_else(|| corrupt("record"))?.to_vec();
            (
                "INSERT INTO records (resident, category, version, created_at, sealed) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Box::new(resident),
                    Box::new(category),
                    Box::new(i64::from(u32::from_be_bytes(version))),
                    Box::new(created),
                    Box::new(sealed),
                ],
            )
        }
        "record_counters" => {
            let (resident, category, _) = record_prefix(key, "record counter")?;
            let last: [u8; 4] = value.try_into().map_err(|_| corrupt("record counter"))?;
            (
                "INSERT INTO record_counters (resident, category, last) VALUES ($1, $2, $3)",
                vec![
                    Box::new(resident),
                    Box::new(category),
                    Box::new(i64::from(u32::from_be_bytes(last))),
                ],
            )
        }
        "sessions" => {
            let s: SessionRow = row(value, "session")?;
            (
                "INSERT INTO sessions (token_hash, subject, login_id, created_at, last_seen, value) VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    Box::new(key.to_vec()),
                    Box::new(s.subject.key()),
                    Box::new(s.login_id.clone()),
                    Box::new(s.created_at),
                    Box::new(s.last_seen),
                    Box::new(v),
                ],
            )
        }
        "pending_logins" => {
            let p: crate::store::PendingLoginRow = row(value, "pending login")?;
            (
                "INSERT INTO pending_logins (state_hash, created_at, value) VALUES ($1, $2, $3)",
                vec![Box::new(key.to_vec()), Box::new(p.created_at), Box::new(v)],
            )
        }
        "departments" | "coaches" => {
            let id = std::str::from_utf8(key)
                .map_err(|_| corrupt(tree))?
                .to_owned();
            let sql = if tree == "departments" {
                "INSERT INTO departments (id, value) VALUES ($1, $2)"
            } else {
                "INSERT INTO coaches (id, value) VALUES ($1, $2)"
            };
            (sql, vec![Box::new(id), Box::new(v)])
        }
        "requests" => {
            let r: RequestRow = row(value, "request")?;
            let subject = match &r.subject {
                RequestSubject::Resident { id } => format!("r:{id}"),
                RequestSubject::NationalId { hash } => format!("n:{hash}"),
            };
            (
                "INSERT INTO requests (id, subject, created_at, value) VALUES ($1, $2, $3, $4)",
                vec![
                    Box::new(r.id),
                    Box::new(subject),
                    Box::new(r.created_at),
                    Box::new(v),
                ],
            )
        }
        "grants" => {
            let g: GrantRow = row(value, "grant")?;
            (
                "INSERT INTO grants (id, resident, department, issued_at, value) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Box::new(g.id),
                    Box::new(g.resident),
                    Box::new(g.department),
                    Box::new(g.issued_at),
                    Box::new(v),
                ],
            )
        }
        "pairwise" => {
            let (department, reference) = split_zero(key, "reference")?;
            let reference = std::str::from_utf8(reference)
                .map_err(|_| corrupt("reference"))?
                .to_owned();
            (
                "INSERT INTO pairwise (department, reference, resident) VALUES ($1, $2, $3)",
                vec![
                    Box::new(department),
                    Box::new(reference),
                    Box::new(uuid_at(value, 0, "reference")?),
                ],
            )
        }
        "replay" => (
            "INSERT INTO replay (key, expires_at) VALUES ($1, $2)",
            vec![Box::new(key.to_vec()), Box::new(micros(value, "token id")?)],
        ),
        "audit_entries" => {
            let seq: [u8; 8] = key.try_into().map_err(|_| corrupt("audit entry"))?;
            (
                "INSERT INTO audit_entries (seq, entry) VALUES ($1, $2)",
                vec![
                    Box::new(signed(u64::from_be_bytes(seq), "audit entry")?),
                    Box::new(v),
                ],
            )
        }
        "audit_nodes" => {
            let (level, index) = key.split_first().ok_or_else(|| corrupt("audit node"))?;
            let index: [u8; 8] = index.try_into().map_err(|_| corrupt("audit node"))?;
            (
                "INSERT INTO audit_nodes (level, index, hash) VALUES ($1, $2, $3)",
                vec![
                    Box::new(i16::from(*level)),
                    Box::new(signed(u64::from_be_bytes(index), "audit node")?),
                    Box::new(v),
                ],
            )
        }
        "audit_index" => {
            // The index key may itself hold 0x00 (a resident reference does not, but be
            // exact): the first sequence number is the last 8 bytes, after one 0x00; the
            // value lists the batch's later ones.
            let at = key
                .len()
                .checked_sub(9)
                .ok_or_else(|| corrupt("audit index"))?;
            let seqs = crate::store::sled::posting_seqs(&key[at + 1..], value)?
                .into_iter()
                .map(|seq| signed(seq, "audit index"))
                .collect::<StoreResult<Vec<i64>>>()?;
            (
                "INSERT INTO audit_index (key, seq) SELECT $1, unnest($2::bigint[])",
                vec![Box::new(key[..at].to_vec()), Box::new(seqs)],
            )
        }
        "officers" => {
            let o: OfficerRow = row(value, "officer")?;
            (
                "INSERT INTO officers (token_hash, id, value) VALUES ($1, $2, $3)",
                vec![Box::new(key.to_vec()), Box::new(o.id), Box::new(v)],
            )
        }
        "case_statuses" => {
            let c: CaseStatusRow = row(value, "case status")?;
            (
                "INSERT INTO case_statuses (id, resident, posted_at, seen, value) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Box::new(c.id),
                    Box::new(c.resident),
                    Box::new(c.posted_at),
                    Box::new(c.seen_at.is_some()),
                    Box::new(v),
                ],
            )
        }
        "coach_codes" => {
            let c: crate::store::CoachCodeRow = row(value, "coach code")?;
            (
                "INSERT INTO coach_codes (code_hash, expires_at, value) VALUES ($1, $2, $3)",
                vec![Box::new(key.to_vec()), Box::new(c.expires_at), Box::new(v)],
            )
        }
        "look_alongs" => {
            let l: LookAlongRow = row(value, "look-along")?;
            (
                "INSERT INTO look_alongs (id, resident, coach, started_at, value) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Box::new(l.id),
                    Box::new(l.resident),
                    Box::new(l.coach),
                    Box::new(l.started_at),
                    Box::new(v),
                ],
            )
        }
        "proposals" => {
            let p: ProposalRow = row(value, "proposal")?;
            let open_until = (p.state == ProposalState::Open).then_some(p.expires_at);
            (
                "INSERT INTO proposals (id, resident, created_at, open_until, value) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Box::new(p.id),
                    Box::new(p.resident),
                    Box::new(p.created_at),
                    Box::new(open_until),
                    Box::new(v),
                ],
            )
        }
        "cosignatures" => {
            let size: [u8; 8] = key
                .get(..8)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| corrupt(tree))?;
            let witness = std::str::from_utf8(&key[8..]).map_err(|_| corrupt(tree))?;
            let line = std::str::from_utf8(value).map_err(|_| corrupt(tree))?;
            (
                "INSERT INTO cosignatures (size, witness, line) VALUES ($1, $2, $3)",
                vec![
                    Box::new(signed(u64::from_be_bytes(size), "checkpoint size")?),
                    Box::new(witness.to_owned()),
                    Box::new(line.to_owned()),
                ],
            )
        }
        "events" => {
            let e: EventRow = row(value, "event")?;
            (
                "INSERT INTO events (id, department, acknowledged, value) VALUES ($1, $2, $3, $4)",
                vec![
                    Box::new(e.id),
                    Box::new(e.department),
                    Box::new(e.acknowledged_at.is_some()),
                    Box::new(v),
                ],
            )
        }
        "witnesses" => {
            let w: WitnessRow = row(value, "witness statement")?;
            (
                "INSERT INTO witnesses (id, resident, recorded_at, value) VALUES ($1, $2, $3, $4)",
                vec![
                    Box::new(w.id),
                    Box::new(w.resident),
                    Box::new(w.recorded_at),
                    Box::new(v),
                ],
            )
        }
        other => {
            return Err(StoreError::Corrupt(format!(
                "no table for sled tree {other}"
            )));
        }
    })
}

/// One key and value read from sled (or from its audit files, as layout 1 kept them).
type SledPair = StoreResult<(Vec<u8>, Vec<u8>)>;

/// The pairs of sled tree `tree` in the order they are copied: key order, but events in
/// queue order (acknowledged ones first, then each department's waiting ones as queued),
/// so that the numbers PostgreSQL gives them keep every department's queue in order.
fn in_copy_order(sled: &SledStore, tree: &str) -> StoreResult<Box<dyn Iterator<Item = SledPair>>> {
    if let Some(pairs) = sled.audit_pairs(tree) {
        return Ok(pairs);
    }
    if tree == "replay" {
        return Ok(sled.replay_pairs());
    }
    let raw = sled.raw_tree(tree)?;
    if tree != "events" {
        let tree = tree.to_owned();
        return Ok(Box::new(raw.iter().map(move |item| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|e| StoreError::Unavailable(format!("reading sled {tree}: {e}")))
        })));
    }
    let read = |e: sled::Error| StoreError::Unavailable(format!("reading sled events: {e}"));
    let mut ordered = Vec::with_capacity(raw.len());
    for item in raw.iter() {
        let (key, value) = item.map_err(read)?;
        let event: EventRow = row(&value, "event")?;
        if event.acknowledged_at.is_some() {
            ordered.push(Ok((key.to_vec(), value.to_vec())));
        }
    }
    for id in sled.raw_tree("events_pending")?.iter().values() {
        let id = id.map_err(read)?;
        let value = raw
            .get(&id)
            .map_err(read)?
            .ok_or_else(|| corrupt("events"))?;
        ordered.push(Ok((id.to_vec(), value.to_vec())));
    }
    Ok(Box::new(ordered.into_iter()))
}

impl PostgresStore {
    /// Marks the database as an import in progress (refused by [`PostgresStore::open`]
    /// until [`PostgresStore::finish_import`]), so that a copy that stopped halfway is never
    /// served as a vault.
    pub(super) async fn mark_import(&self, importing: bool) -> StoreResult<()> {
        let client = self.client().await?;
        let sql = if importing {
            "INSERT INTO kluis_meta (key, value) VALUES ('importing', '\\x01') ON CONFLICT (key) DO NOTHING"
        } else {
            "DELETE FROM kluis_meta WHERE key = 'importing'"
        };
        client
            .execute(sql, &[])
            .await
            .map_err(map_err("marking an import"))?;
        Ok(())
    }

    /// Ends the import: the database opens as a vault from now on.
    pub async fn finish_import(&self) -> StoreResult<()> {
        self.mark_import(false).await
    }

    /// Whether the database holds no row of a vault (a target `kluis migrate` accepts).
    pub async fn is_empty(&self) -> StoreResult<bool> {
        for (_, table) in TABLES {
            let client = self.client().await?;
            let any: bool = client
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
                .await
                .map_err(map_err("reading a table"))?
                .get(0);
            if any {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Copies every row of `sled` into this (empty) database, telling `progress` each
    /// table and how many rows of it are copied so far.
    pub async fn import_sled(
        &self,
        sled: &SledStore,
        progress: &mut (dyn FnMut(&str, u64) + Send),
    ) -> StoreResult<()> {
        if !self.is_empty().await? {
            return Err(StoreError::Incompatible(
                "the target database already holds a vault; migrate into an empty one".into(),
            ));
        }
        self.mark_import(true).await?;
        for (tree, table) in TABLES
            .iter()
            .chain(&[("national_ids", "residents' national ids")])
        {
            let mut copied = 0u64;
            let mut pending: Vec<Insert> = Vec::with_capacity(CHUNK);
            for item in in_copy_order(sled, tree)? {
                let (key, value) = item?;
                pending.push(insert_for(tree, &key, &value)?);
                if pending.len() == CHUNK {
                    copied += self.insert_all(std::mem::take(&mut pending)).await?;
                    progress(table, copied);
                }
            }
            copied += self.insert_all(pending).await?;
            progress(table, copied);
        }
        if let Some(due) = crate::store::ResidentStore::rotation_due(sled).await? {
            crate::store::ResidentStore::set_rotation_due(self, Some(due)).await?;
        }
        Ok(())
    }

    /// Runs `inserts` in one transaction, pipelined; returns how many.
    async fn insert_all(&self, inserts: Vec<Insert>) -> StoreResult<u64> {
        let action = "copying rows";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err(action))?;
        let mut statements = std::collections::HashMap::new();
        for (sql, _) in &inserts {
            if !statements.contains_key(sql) {
                let prepared = tx.prepare(sql).await.map_err(map_err(action))?;
                statements.insert(*sql, prepared);
            }
        }
        let runs = inserts.iter().map(|(sql, params)| {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            let statement = &statements[sql];
            let tx = &tx;
            async move { tx.execute(statement, &refs).await }
        });
        for done in futures_util::future::join_all(runs).await {
            done.map_err(map_err(action))?;
        }
        tx.commit().await.map_err(map_err(action))?;
        Ok(inserts.len() as u64)
    }

    /// Rows per table here and in `sled`, for the check after a migration.
    pub async fn compare_counts(&self, sled: &SledStore) -> StoreResult<Vec<TableCount>> {
        let mut out = Vec::with_capacity(TABLES.len());
        let sled_rows = sled.row_counts()?;
        for (tree, table) in TABLES {
            let client = self.client().await?;
            let target: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map_err(map_err("counting rows"))?
                .get(0);
            out.push(TableCount {
                table,
                source: sled_rows.get(*tree).copied().unwrap_or_default(),
                target: u64::try_from(target).unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
