//! The audit log's rows: entries, Merkle nodes, index keys, and the record changes and case
//! statuses written in the same transaction as the entries that report them.

use super::{PostgresStore, map_err, signed, unsigned, value};
use crate::store::{AuditAppend, AuditStore, RecordChange, StoreError, StoreResult};
use async_trait::async_trait;

/// The advisory lock key appenders take ("kluis-au" in ASCII).
const AUDIT_LOCK: i64 = 0x6b6c_7569_732d_6175;

#[async_trait]
impl AuditStore for PostgresStore {
    async fn hold_audit(&self) -> StoreResult<()> {
        let mut holder = self.audit_holder.lock().await;
        if holder.is_some() {
            return Ok(());
        }
        let client = self.client().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&AUDIT_LOCK])
            .await
            .map_err(map_err("holding the audit log"))?;
        *holder = Some(client);
        Ok(())
    }

    async fn release_audit(&self) -> StoreResult<()> {
        let Some(client) = self.audit_holder.lock().await.take() else {
            return Ok(());
        };
        let unlocked = client
            .query_one("SELECT pg_advisory_unlock($1)", &[&AUDIT_LOCK])
            .await
            .is_ok_and(|row| row.get::<_, bool>(0));
        if !unlocked {
            // Never back into the pool while it may hold the lock: closing the connection
            // releases it.
            drop(deadpool_postgres::Object::take(client));
            return Err(StoreError::Unavailable(
                "the audit log's lock could not be released; its connection was closed".into(),
            ));
        }
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
        // On the connection that holds the log, if this node holds it (the lock below is
        // then already this session's: advisory locks are reentrant within a session).
        let mut holder = self.audit_holder.lock().await;
        let mut pooled;
        let client = match holder.as_mut() {
            Some(held) => held,
            None => {
                pooled = self.client().await?;
                &mut pooled
            }
        };
        let tx = client.transaction().await.map_err(map_err(action))?;
        // One appender at a time across every node; the log's end decides whether this
        // node's tree is current. The lock is held until commit, so the nodes' batches
        // queue behind each other (each node still groups its own). Two statements: under
        // READ COMMITTED a statement sees the data as of its own start, so the end must be
        // read after the lock was granted, not in the statement that waited for it.
        let lock = tx
            .prepare_cached("SELECT pg_advisory_xact_lock($1)")
            .await
            .map_err(map_err(action))?;
        tx.execute(&lock, &[&AUDIT_LOCK])
            .await
            .map_err(map_err(action))?;
        let end = tx
            .prepare_cached("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries")
            .await
            .map_err(map_err(action))?;
        let len: i64 = tx
            .query_one(&end, &[])
            .await
            .map_err(map_err(action))?
            .get(0);
        if seqs.first().is_some_and(|first| *first != len) {
            return Err(StoreError::AuditMoved(unsigned(len, "audit length")?));
        }
        let insert_entries = tx
            .prepare_cached(
                "INSERT INTO audit_entries (seq, entry) \
                 SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            )
            .await
            .map_err(map_err(action))?;
        tx.execute(&insert_entries, &[&seqs, &entries])
            .await
            .map_err(|e| match e.code() {
                // Only a writer that bypassed the lock could get here: let the caller
                // reload the tree rather than call the log corrupt.
                Some(code) if code == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                    StoreError::AuditMoved(u64::try_from(len).unwrap_or_default())
                }
                _ => map_err(action)(e),
            })?;
        if !levels.is_empty() {
            let insert_nodes = tx
                .prepare_cached(
                    "INSERT INTO audit_nodes (level, index, hash) \
                     SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
                )
                .await
                .map_err(map_err(action))?;
            tx.execute(&insert_nodes, &[&levels, &indexes, &hashes])
                .await
                .map_err(map_err(action))?;
        }
        if !keys.is_empty() {
            let insert_keys = tx
                .prepare_cached(
                    "INSERT INTO audit_index (key, seq) \
                     SELECT * FROM unnest($1::bytea[], $2::bigint[]) ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(map_err(action))?;
            tx.execute(&insert_keys, &[&keys, &key_seqs])
                .await
                .map_err(map_err(action))?;
        }
        for change in batch.iter().filter_map(|a| a.change.as_ref()) {
            match change {
                RecordChange::Put {
                    resident,
                    category,
                    record,
                } => {
                    tx.execute(
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
                    tx.execute(
                        "DELETE FROM records \
                         WHERE resident = $1 AND category = $2 AND version = ANY($3)",
                        &[resident, category, &versions],
                    )
                    .await
                    .map_err(map_err(action))?;
                }
                RecordChange::AddCaseStatus(row) => {
                    // A status about a vault erased meanwhile is not kept (its entry is).
                    tx.execute(
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
            }
        }
        tx.commit().await.map_err(map_err(action))
    }

    async fn sync(&self) -> StoreResult<()> {
        // Every append committed durably before it returned.
        Ok(())
    }

    async fn audit_len(&self) -> StoreResult<u64> {
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
