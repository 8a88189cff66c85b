//! The audit log's rows: entries, Merkle nodes, index keys, and the record changes and case
//! statuses written in the same transaction as the entries that report them.

use super::{PostgresStore, map_err, signed, unsigned, value};
use crate::store::{AuditAppend, AuditStore, EventRow, RecordChange, StoreError, StoreResult};
use async_trait::async_trait;

/// The advisory lock key appenders take ("kluis-au" in ASCII).
const AUDIT_LOCK: i64 = 0x6b6c_7569_732d_6175;

/// A transaction that holds the audit log: opened with the log's lock, ended by
/// [`AppendTransaction::commit`]. Dropped before that (an error, a node shutting down),
/// it closes its connection, which rolls it back and lets the lock go: a connection inside
/// a transaction never returns to the pool.
pub(super) struct AppendTransaction {
    client: Option<deadpool_postgres::Client>,
    /// The log's length when the lock was granted.
    len: u64,
}

impl AppendTransaction {
    /// Begins, takes the log's lock (waiting for the node that has it) and reads the log's
    /// end: one round trip. The commit will not wait for the WAL ([`AuditStore::sync`]
    /// does), so the lock is held for the inserts only and the nodes' flushes overlap.
    /// Each statement of a simple query sees the data as of its own start, so the end is
    /// read after the lock was granted.
    async fn begin(store: &PostgresStore) -> StoreResult<AppendTransaction> {
        let client = store.client().await?;
        let mut open = AppendTransaction {
            client: Some(client),
            len: 0,
        };
        let messages = open
            .client()
            .simple_query(&format!(
                "BEGIN; SET LOCAL synchronous_commit TO OFF; \
                 SELECT pg_advisory_xact_lock({AUDIT_LOCK}); \
                 SELECT coalesce(max(seq) + 1, 0) FROM audit_entries"
            ))
            .await
            .map_err(map_err("holding the audit log"))?;
        let len = messages.iter().rev().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse::<u64>().ok(),
            _ => None,
        });
        open.len =
            len.ok_or_else(|| StoreError::Corrupt("the audit log's length is unreadable".into()))?;
        Ok(open)
    }

    fn client(&self) -> &deadpool_postgres::Client {
        self.client
            .as_ref()
            .expect("an open transaction has its connection")
    }

    async fn commit(self) -> StoreResult<()> {
        self.client()
            .batch_execute("COMMIT")
            .await
            .map_err(map_err("appending to the audit log"))?;
        self.committed()
    }

    /// Ended by a commit sent already: the connection may serve others again.
    fn committed(mut self) -> StoreResult<()> {
        drop(self.client.take());
        Ok(())
    }
}

impl Drop for AppendTransaction {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn hold_audit(&self) -> StoreResult<()> {
        let mut holder = self.audit_holder.lock().await;
        if holder.is_none() {
            *holder = Some(AppendTransaction::begin(self).await?);
        }
        Ok(())
    }

    async fn release_audit(&self) -> StoreResult<()> {
        // Still open: the append it was held for did not happen. Rolled back by closing.
        drop(self.audit_holder.lock().await.take());
        Ok(())
    }

    async fn append_audit(&self, batch: &[AuditAppend]) -> StoreResult<()> {
        let mut seqs = Vec::with_capacity(batch.len());
        let mut entries = Vec::with_capacity(batch.len());
        let (mut levels, mut indexes, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
        let (mut keys, mut key_seqs) = (Vec::new(), Vec::new());
        for append in batch {
            let seq = signed(append.seq, "audit sequence number")?;
            seqs.push(seq);
            entries.push(append.entry.as_slice());
            for (level, index, hash) in &append.nodes {
                levels.push(i16::from(*level));
                indexes.push(signed(*index, "audit node")?);
                hashes.push(hash.as_slice());
            }
            for key in &append.index_keys {
                keys.push(key.as_slice());
                key_seqs.push(seq);
            }
        }
        let action = "appending to the audit log";
        if batch.is_empty() {
            // A probe (can the log be written?): a transaction of its own, never the one
            // the writer holds while it places a batch again.
            return AppendTransaction::begin(self).await?.commit().await;
        }
        // The transaction this node holds the log in, if it does; else a new one. One
        // appender at a time across every node, so the nodes' batches queue behind each
        // other (each node still groups its own).
        let mut holder = self.audit_holder.lock().await;
        let tx = match holder.take() {
            Some(held) => held,
            None => AppendTransaction::begin(self).await?,
        };
        if seqs
            .first()
            .is_some_and(|first| u64::try_from(*first) != Ok(tx.len))
        {
            // Another node appended first: keep the log held (nothing else can move it)
            // while the caller places the batch again.
            let len = tx.len;
            *holder = Some(tx);
            return Err(StoreError::AuditMoved(len));
        }
        drop(holder);
        let client = tx.client();
        let moved_or = |e: tokio_postgres::Error| match e.code() {
            // Only a writer that bypassed the lock could get here: let the caller reload
            // the tree rather than call the log corrupt.
            Some(code) if code == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                StoreError::AuditMoved(tx.len)
            }
            _ => map_err(action)(e),
        };
        // One statement for entries, tree nodes and index keys.
        let insert = client
            .prepare_cached(
                "WITH entries AS (INSERT INTO audit_entries (seq, entry) \
                   SELECT * FROM unnest($1::bigint[], $2::bytea[])), \
                 nodes AS (INSERT INTO audit_nodes (level, index, hash) \
                   SELECT * FROM unnest($3::smallint[], $4::bigint[], $5::bytea[])) \
                 INSERT INTO audit_index (key, seq) \
                   SELECT * FROM unnest($6::bytea[], $7::bigint[]) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(map_err(action))?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &seqs, &entries, &levels, &indexes, &hashes, &keys, &key_seqs,
        ];
        if batch.iter().all(|a| a.change.is_none()) {
            // Entries only (reads): the insert and the commit sent together, one round
            // trip, so the log's lock is held one round trip less. A failed insert turns
            // the commit into a rollback. The order matters: `biased` polls the insert
            // first, and its first poll sends it (the statement is prepared already).
            let (inserted, committed) = tokio::join!(
                biased;
                client.execute(&insert, &params),
                client.batch_execute("COMMIT")
            );
            inserted.map_err(moved_or)?;
            committed.map_err(map_err(action))?;
            return tx.committed();
        }
        client.execute(&insert, &params).await.map_err(moved_or)?;
        for change in batch.iter().filter_map(|a| a.change.as_ref()) {
            match change {
                RecordChange::Put {
                    resident,
                    category,
                    record,
                } => {
                    client
                        .execute(
                            "INSERT INTO records (resident, category, version, created_at, sealed) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (resident, category, version) \
                         DO UPDATE SET created_at = EXCLUDED.created_at, sealed = EXCLUDED.sealed",
                            &[
                                resident,
                                category,
                                &i64::from(record.version),
                                &record.created_at,
                                &record.sealed,
                            ],
                        )
                        .await
                        .map_err(map_err(action))?;
                }
                RecordChange::Delete {
                    resident,
                    category,
                    versions,
                } => {
                    let versions: Vec<i64> = versions.iter().map(|v| i64::from(*v)).collect();
                    client
                        .execute(
                            "DELETE FROM records \
                         WHERE resident = $1 AND category = $2 AND version = ANY($3)",
                            &[resident, category, &versions],
                        )
                        .await
                        .map_err(map_err(action))?;
                }
                RecordChange::AddCaseStatus(row) => {
                    // A status about a vault erased meanwhile is not kept (its entry is).
                    client
                        .execute(
                            "INSERT INTO case_statuses (id, resident, posted_at, seen, value) \
                         SELECT $1, $2, $3, $4, $5 WHERE EXISTS \
                         (SELECT 1 FROM residents WHERE id = $2 FOR KEY SHARE) \
                         ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value, \
                         posted_at = EXCLUDED.posted_at, seen = EXCLUDED.seen",
                            &[
                                &row.id,
                                &row.resident,
                                &row.posted_at,
                                &row.seen_at.is_some(),
                                &value(row),
                            ],
                        )
                        .await
                        .map_err(map_err(action))?;
                }
                RecordChange::QueueEvent(_) => {}
            }
        }
        // Events in one statement, numbered in batch order (the log's lock orders the
        // batches of every node, so positions follow the order of commits).
        let events: Vec<&EventRow> = batch
            .iter()
            .filter_map(|a| match &a.change {
                Some(RecordChange::QueueEvent(row)) => Some(row),
                _ => None,
            })
            .collect();
        if !events.is_empty() {
            let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
            let departments: Vec<&str> = events.iter().map(|e| e.department.as_str()).collect();
            let values: Vec<Vec<u8>> = events.iter().map(|e| value(*e)).collect();
            client
                .execute(
                    "INSERT INTO events (id, department, acknowledged, value) \
                     SELECT id, department, false, value FROM \
                     unnest($1::uuid[], $2::text[], $3::bytea[]) WITH ORDINALITY \
                     AS e(id, department, value, n) ORDER BY n \
                     ON CONFLICT (id) DO NOTHING",
                    &[&ids, &departments, &values],
                )
                .await
                .map_err(map_err(action))?;
        }
        tx.commit().await
    }

    async fn put_cosignature(&self, size: u64, witness: &str, line: &str) -> StoreResult<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO cosignatures (size, witness, line) VALUES ($1, $2, $3) \
                 ON CONFLICT (size, witness) DO UPDATE SET line = EXCLUDED.line",
                &[&signed(size, "checkpoint size")?, &witness, &line],
            )
            .await
            .map_err(map_err("storing a cosignature"))?;
        Ok(())
    }

    async fn cosignatures(&self, size: u64) -> StoreResult<Vec<String>> {
        Ok(self
            .client()
            .await?
            .query(
                "SELECT line FROM cosignatures WHERE size = $1 ORDER BY witness",
                &[&signed(size, "checkpoint size")?],
            )
            .await
            .map_err(map_err("reading cosignatures"))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn sync_appends(&self) -> StoreResult<()> {
        self.sync().await
    }

    async fn sync(&self) -> StoreResult<()> {
        // A commit that waits for its WAL (and a synchronous standby's): the WAL is one
        // sequence, so it makes every earlier commit durable, whichever node made it.
        // Concurrent ones share a flush inside PostgreSQL. The message is the smallest
        // write that makes a commit wait; nothing stores it.
        self.client()
            .await?
            .batch_execute("SELECT pg_logical_emit_message(true, 'kluis', 'flush')")
            .await
            .map_err(map_err("making the log durable"))
    }

    async fn audit_len(&self) -> StoreResult<u64> {
        // Held by this node, the log cannot move: its length is the one read under the lock.
        // (Not waiting for the holder's mutex: whoever has it may be waiting for the lock.)
        if let Ok(holder) = self.audit_holder.try_lock()
            && let Some(held) = holder.as_ref()
        {
            return Ok(held.len);
        }
        let client = self.client().await?;
        let len: i64 = client
            .query_one("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries", &[])
            .await
            .map_err(map_err("reading the audit log"))?
            .get(0);
        unsigned(len, "audit length")
    }

    async fn audit_entries(&self, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT seq, entry FROM audit_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq",
            )
            .await
            .map_err(map_err("reading the audit log"))?;
        let rows = client
            .query(
                &stmt,
                &[&signed(from, "audit range")?, &signed(to, "audit range")?],
            )
            .await
            .map_err(map_err("reading the audit log"))?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, r) in (from..).zip(&rows) {
            if unsigned(r.get::<_, i64>(0), "audit sequence number")? != expected {
                return Err(StoreError::Corrupt(format!(
                    "audit entry {expected} is missing"
                )));
            }
            out.push(r.get::<_, Vec<u8>>(1));
        }
        Ok(out)
    }

    async fn audit_nodes(&self, nodes: &[(u8, u64)]) -> StoreResult<Vec<Option<[u8; 32]>>> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let levels: Vec<i16> = nodes.iter().map(|(l, _)| i16::from(*l)).collect();
        let indexes = nodes
            .iter()
            .map(|(_, i)| signed(*i, "audit node"))
            .collect::<StoreResult<Vec<i64>>>()?;
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT want.ord, n.hash FROM unnest($1::smallint[], $2::bigint[]) \
                 WITH ORDINALITY AS want(level, index, ord) \
                 LEFT JOIN audit_nodes n ON n.level = want.level AND n.index = want.index \
                 ORDER BY want.ord",
            )
            .await
            .map_err(map_err("reading the audit tree"))?;
        client
            .query(&stmt, &[&levels, &indexes])
            .await
            .map_err(map_err("reading the audit tree"))?
            .iter()
            .map(|r| {
                r.get::<_, Option<&[u8]>>(1)
                    .map(|h| {
                        <[u8; 32]>::try_from(h)
                            .map_err(|_| StoreError::Corrupt("audit node".into()))
                    })
                    .transpose()
            })
            .collect()
    }

    async fn audit_index(&self, key: &[u8], from_seq: u64, limit: usize) -> StoreResult<Vec<u64>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT seq FROM audit_index WHERE key = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
            )
            .await
            .map_err(map_err("reading an audit index"))?;
        client
            .query(
                &stmt,
                &[
                    &key,
                    &signed(from_seq, "audit index")?,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(map_err("reading an audit index"))?
            .iter()
            .map(|r| unsigned(r.get::<_, i64>(0), "audit index"))
            .collect()
    }
}
