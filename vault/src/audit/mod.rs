//! The tamper-evident audit log: who did what with whose data, when, why, and how it
//! ended. Privacy officers audit it; residents see their own part of it.
//!
//! - [`entry`]: the entry format (metadata only).
//! - [`merkle`]: RFC 9162 hashing, proofs and their verification.
//! - [`export`]: the export file and its offline verification (`kluis audit verify`).
//! - [`reports`]: the questions privacy officers ask, answered from the log.
//! - [`resident`]: a resident's own entries in plain Dutch.
//! - [`standards`]: the entries in the shape of Logius' Authorization Decision Log and
//!   Logboek Dataverwerkingen.
//!
//! Every entry is a leaf of an append-only Merkle tree. The vault signs checkpoints (size,
//! root, time) with its published key and keeps the latest outside the store (next to the
//! keyring); at start it refuses to serve if the stored log no longer matches it.
//!
//! **Fail closed.** [`Audit::record`] returns only when the entry is durable; concurrent
//! appends share one flush. A read is answered only after its entry is recorded: if the
//! log cannot be written, the read is refused and no data leaves the vault. An append that
//! fails leaves no gap: the next one takes the same position.

pub mod entry;
pub mod export;
pub mod merkle;
pub mod reports;
pub mod resident;
pub mod standards;

use crate::clock::Clock;
use crate::jose::Checkpoint;
use crate::jose::keys::VaultKeys;
use crate::store::Store;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use entry::{Action, Entry, Outcome};
use merkle::{Frontier, Hash, Node};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The W3C trace context of one request, and when it began.
#[derive(Clone, Debug)]
pub struct Context {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// This request's span: 16 lowercase hex digits.
    pub span_id: String,
    /// The caller's span, from its `traceparent`.
    pub parent_span_id: Option<String>,
    /// When the request began.
    pub started: DateTime<Utc>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG failing is fatal elsewhere; here a zero id is still a valid trace.
    let _ = crate::crypto::random_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

impl Context {
    /// A new trace, for work the vault starts itself (seeding, CLI, maintenance).
    pub fn new(clock: &Clock) -> Context {
        Context {
            trace_id: random_hex(16),
            span_id: random_hex(8),
            parent_span_id: None,
            started: clock.now(),
        }
    }

    /// The context of a request with the caller's `traceparent` header, if it sent a
    /// valid one (W3C Trace Context, version 00); a new trace otherwise.
    pub fn from_traceparent(header: Option<&str>, clock: &Clock) -> Context {
        let mut context = Context::new(clock);
        if let Some(value) = header {
            let parts: Vec<&str> = value.trim().split('-').collect();
            if let [version, trace, parent, flags] = parts[..]
                && version == "00"
                && is_hex(trace, 32)
                && is_hex(parent, 16)
                && flags.len() == 2
            {
                context.trace_id = trace.to_owned();
                context.parent_span_id = Some(parent.to_owned());
            }
        }
        context
    }

    /// The `traceparent` to pass on: this trace, this request's span.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

/// The audit log service.
pub struct Audit {
    store: Arc<dyn Store>,
    clock: Clock,
    keys: Arc<VaultKeys>,
    issuer: String,
    checkpoint_file: PathBuf,
    /// The tree as appended so far; only the writer task changes it.
    frontier: Arc<std::sync::Mutex<Frontier>>,
    /// The size of the checkpoint last saved to `checkpoint_file`.
    saved: std::sync::atomic::AtomicU64,
    /// Entries waiting for the writer task.
    queue: tokio::sync::mpsc::Sender<Pending>,
}

/// An entry waiting to be appended, and who to tell when it is durable.
struct Pending {
    context: Context,
    entry: Entry,
    done: tokio::sync::oneshot::Sender<Result<u64>>,
}

/// The most entries appended in one store transaction.
const MAX_BATCH: usize = 1024;

fn lock(frontier: &std::sync::Mutex<Frontier>) -> std::sync::MutexGuard<'_, Frontier> {
    frontier
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The one writer of the log: takes every entry waiting, gives them consecutive positions,
/// appends them in one store transaction, and lets each caller go once a flush covering
/// them is done. The next batch is collected while that flush runs, so under load many
/// appends share one transaction and one flush.
async fn writer(
    store: Arc<dyn Store>,
    clock: Clock,
    frontier: Arc<std::sync::Mutex<Frontier>>,
    mut queue: tokio::sync::mpsc::Receiver<Pending>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let mut next = lock(&frontier).clone();
        let now = clock.now();
        let appends: Vec<crate::store::AuditAppend> = batch
            .iter_mut()
            .map(|p| {
                let entry = &mut p.entry;
                entry.seq = next.size();
                entry.time = now;
                entry.started = p.context.started.min(now);
                entry.trace_id = p.context.trace_id.clone();
                entry.span_id = p.context.span_id.clone();
                entry.parent_span_id = p.context.parent_span_id.clone();
                let bytes = entry.canonical();
                let nodes = next.push(merkle::leaf_hash(&bytes));
                crate::store::AuditAppend {
                    seq: entry.seq,
                    entry: bytes,
                    nodes,
                    index_keys: index_keys(entry),
                }
            })
            .collect();
        if let Err(e) = store.append_audit(&appends).await {
            tracing::error!(error = %e, entries = appends.len(), "audit entries could not be written");
            for p in batch {
                let _ = p.done.send(Err(Error::AuditUnavailable));
            }
            continue;
        }
        *lock(&frontier) = next;
        let store = store.clone();
        tokio::spawn(async move {
            let synced = store.sync().await;
            if let Err(e) = &synced {
                tracing::error!(error = %e, "audit entries could not be made durable");
            }
            for (p, append) in batch.into_iter().zip(appends) {
                let _ = p.done.send(
                    synced
                        .as_ref()
                        .map(|_| append.seq)
                        .map_err(|_| Error::AuditUnavailable),
                );
            }
        });
    }
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("checkpoint_file", &self.checkpoint_file)
            .finish_non_exhaustive()
    }
}

/// Why the log cannot be opened: it no longer matches what was signed before.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(pub String);

/// The index keys of an entry (for queries by resident, department, grant, action).
fn index_keys(entry: &Entry) -> Vec<Vec<u8>> {
    let mut keys = vec![[b"a".as_slice(), entry.action.as_str().as_bytes()].concat()];
    if let Some(r) = &entry.resident {
        keys.push([b"r".as_slice(), r.as_bytes()].concat());
    }
    if let Some(d) = &entry.department {
        keys.push([b"d".as_slice(), d.as_bytes()].concat());
    }
    if let Some(g) = &entry.grant {
        keys.push([b"g".as_slice(), g.as_bytes()].concat());
    }
    keys
}

impl Audit {
    /// Opens the log in `store`, signing with `keys` as `issuer`, and checks it against the
    /// checkpoint kept in `checkpoint_file` (if there is one).
    pub async fn open(
        store: Arc<dyn Store>,
        clock: Clock,
        keys: Arc<VaultKeys>,
        issuer: String,
        checkpoint_file: PathBuf,
    ) -> std::result::Result<Audit, OpenError> {
        let fail =
            |e: crate::store::StoreError| OpenError(format!("cannot read the audit log: {e}"));
        let size = store.audit_len().await.map_err(fail)?;
        let hashes = store
            .audit_nodes(&merkle::frontier_nodes(size))
            .await
            .map_err(fail)?;
        let hashes: Option<Vec<Hash>> = hashes.into_iter().collect();
        let frontier = hashes
            .and_then(|h| Frontier::from_nodes(size, &h))
            .ok_or_else(|| {
                OpenError(
                    "the audit log's tree is incomplete; restore the database from backup".into(),
                )
            })?;
        let frontier = Arc::new(std::sync::Mutex::new(frontier));
        let (queue, pending) = tokio::sync::mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(writer(
            store.clone(),
            clock.clone(),
            frontier.clone(),
            pending,
        ));
        let audit = Audit {
            store,
            clock,
            keys,
            issuer,
            checkpoint_file,
            frontier,
            saved: std::sync::atomic::AtomicU64::new(0),
            queue,
        };
        let saved = audit.check_against_saved_checkpoint().await?;
        audit
            .saved
            .store(saved, std::sync::atomic::Ordering::SeqCst);
        Ok(audit)
    }

    /// Checks the stored log against the saved checkpoint; returns the checkpoint's size.
    async fn check_against_saved_checkpoint(&self) -> std::result::Result<u64, OpenError> {
        let token = match std::fs::read_to_string(&self.checkpoint_file) {
            Ok(token) => token,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(OpenError(format!(
                    "cannot read {}: {e}",
                    self.checkpoint_file.display()
                )));
            }
        };
        let saved = Checkpoint::verify(token.trim(), &self.keys.jwks()).map_err(|e| {
            OpenError(format!(
                "the saved audit checkpoint {} does not verify ({e}); it was altered",
                self.checkpoint_file.display()
            ))
        })?;
        let size = self.size().await;
        if saved.tree_size > size {
            return Err(OpenError(format!(
                "the audit log holds {size} entries but its last signed checkpoint covers {}: the log was truncated; restore the database before serving",
                saved.tree_size
            )));
        }
        let root = self
            .root_at(saved.tree_size)
            .await
            .map_err(|e| OpenError(e.to_string()))?;
        if root != saved.root_hash {
            return Err(OpenError(format!(
                "the first {} entries of the audit log no longer match their signed checkpoint: the log was rewritten; restore the database before serving",
                saved.tree_size
            )));
        }
        Ok(saved.tree_size)
    }

    /// Appends `entry` (its position, times and trace filled in from `context` and the
    /// clock) and returns once it is durable. `Unavailable` if it could not be written.
    pub async fn record(&self, context: &Context, entry: Entry) -> Result<u64> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Pending {
                context: context.clone(),
                entry,
                done,
            })
            .await
            .map_err(|_| Error::AuditUnavailable)?;
        answer.await.map_err(|_| Error::AuditUnavailable)?
    }

    /// How many entries the log holds.
    pub async fn size(&self) -> u64 {
        lock(&self.frontier).size()
    }

    async fn nodes(&self, wanted: &[Node]) -> Result<std::collections::HashMap<Node, Hash>> {
        let hashes = self.store.audit_nodes(wanted).await?;
        wanted
            .iter()
            .zip(hashes)
            .map(|(n, h)| {
                h.map(|h| (*n, h))
                    .ok_or_else(|| Error::Internal(format!("audit node {n:?} is missing")))
            })
            .collect()
    }

    /// The root of the log's first `size` entries.
    pub async fn root_at(&self, size: u64) -> Result<Hash> {
        let wanted = merkle::frontier_nodes(size);
        let nodes = self.nodes(&wanted).await?;
        let hashes: Vec<Hash> = wanted.iter().map(|n| nodes[n]).collect();
        Ok(merkle::fold(&hashes).unwrap_or_else(merkle::empty_root))
    }

    /// A signed checkpoint of the log's first `size` entries (at most its size).
    pub async fn checkpoint_at(&self, size: u64) -> Result<String> {
        if size > self.size().await {
            return Err(Error::InvalidParameter(
                "the log is not that long yet".into(),
            ));
        }
        // Never sign for entries that are not on disk yet.
        self.store
            .sync()
            .await
            .map_err(|_| Error::AuditUnavailable)?;
        let checkpoint = Checkpoint {
            issuer: self.issuer.clone(),
            tree_size: size,
            root_hash: self.root_at(size).await?,
            time: self.clock.now().timestamp(),
            kid: self.keys.current().kid.clone(),
        };
        checkpoint
            .sign(self.keys.current())
            .map_err(|e| Error::Internal(format!("signing a checkpoint: {e}")))
    }

    /// Signs a checkpoint of the whole log and keeps it outside the store, replacing the
    /// saved one (atomically). Returns it.
    pub async fn checkpoint(&self) -> Result<String> {
        let frontier = lock(&self.frontier).clone();
        // Never sign for entries that are not on disk yet: a crash would then make the
        // log look truncated against its own checkpoint.
        self.store
            .sync()
            .await
            .map_err(|_| Error::AuditUnavailable)?;
        let checkpoint = Checkpoint {
            issuer: self.issuer.clone(),
            tree_size: frontier.size(),
            root_hash: frontier.root(),
            time: self.clock.now().timestamp(),
            kid: self.keys.current().kid.clone(),
        };
        let token = checkpoint
            .sign(self.keys.current())
            .map_err(|e| Error::Internal(format!("signing a checkpoint: {e}")))?;
        save_atomically(&self.checkpoint_file, token.as_bytes()).map_err(|e| {
            Error::Internal(format!(
                "saving the checkpoint to {}: {e}",
                self.checkpoint_file.display()
            ))
        })?;
        self.saved
            .fetch_max(frontier.size(), std::sync::atomic::Ordering::SeqCst);
        Ok(token)
    }

    /// Signs and saves a checkpoint if the log grew since the last one saved.
    pub async fn checkpoint_if_grown(&self) -> Result<()> {
        if self.size().await > self.saved.load(std::sync::atomic::Ordering::SeqCst) {
            self.checkpoint().await?;
        }
        Ok(())
    }

    /// An inclusion proof for entry `seq` in the log's first `size` entries.
    pub async fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>> {
        if seq >= size || size > self.size().await {
            return Err(Error::InvalidParameter(
                "seq must lie below size, and size within the log".into(),
            ));
        }
        let plan = merkle::inclusion_plan(seq, size);
        let nodes = self.nodes(&merkle::plan_nodes(&plan)).await?;
        merkle::assemble(&plan, |n| nodes.get(&n).copied())
            .ok_or_else(|| Error::Internal("incomplete audit tree".into()))
    }

    /// A consistency proof between the log's first `old` and first `new` entries.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        if old == 0 || old > new || new > self.size().await {
            return Err(Error::InvalidParameter(
                "need 0 < old <= new <= the log's size".into(),
            ));
        }
        let plan = merkle::consistency_plan(old, new);
        let nodes = self.nodes(&merkle::plan_nodes(&plan)).await?;
        merkle::assemble(&plan, |n| nodes.get(&n).copied())
            .ok_or_else(|| Error::Internal("incomplete audit tree".into()))
    }

    /// The leaf hashes of the perfect subtrees covering `[0, from)` (an export's start).
    pub async fn left_frontier(&self, from: u64) -> Result<Vec<Hash>> {
        let wanted = merkle::frontier_nodes(from);
        let nodes = self.nodes(&wanted).await?;
        Ok(wanted.iter().map(|n| nodes[n]).collect())
    }

    /// Entries `[from, to)` as stored (their canonical bytes).
    ///
    /// Each entry is checked against its stored leaf hash: an entry whose bytes were
    /// changed behind the vault's back is an integrity error, never an answer.
    pub async fn raw_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>> {
        let entries = self.store.audit_entries(from, to).await?;
        let leaves: Vec<Node> = (from..from + entries.len() as u64)
            .map(|i| (0u8, i))
            .collect();
        let hashes = self.store.audit_nodes(&leaves).await?;
        for ((seq, bytes), stored) in (from..).zip(&entries).zip(hashes) {
            if stored != Some(merkle::leaf_hash(bytes)) {
                tracing::error!(seq, "an audit entry does not match its leaf hash");
                return Err(Error::Integrity(crate::crypto::CryptoError::Integrity {
                    what: "audit entry",
                }));
            }
        }
        Ok(entries)
    }

    /// Rehashes every entry and compares it with its stored leaf hash: the check that
    /// catches an entry rewritten without its tree. Cost grows with the log (about
    /// eight seconds per million entries here); see `[audit] verify_entries_at_start`.
    pub async fn verify_all_entries(&self) -> std::result::Result<(), OpenError> {
        let size = self.size().await;
        let mut at = 0;
        while at < size {
            let to = (at + 4096).min(size);
            self.raw_entries(at, to).await.map_err(|_| {
                OpenError(format!(
                    "an audit entry between {at} and {to} no longer matches its hash: the log was rewritten; restore the database before serving"
                ))
            })?;
            at = to;
        }
        Ok(())
    }

    /// Entries `[from, to)`, decoded.
    pub async fn entries(&self, from: u64, to: u64) -> Result<Vec<Entry>> {
        self.raw_entries(from, to)
            .await?
            .iter()
            .map(|bytes| {
                serde_json::from_slice(bytes)
                    .map_err(|e| Error::Internal(format!("an audit entry is unreadable: {e}")))
            })
            .collect()
    }

    /// Entries of index `key` from `from_seq` on, at most `limit`.
    async fn indexed(&self, key: &[u8], from_seq: u64, limit: usize) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for seq in self.store.audit_index(key, from_seq, limit).await? {
            out.extend(self.entries(seq, seq + 1).await?);
        }
        Ok(out)
    }

    /// The first sequence number whose entry was logged at or after `time`.
    pub async fn seq_at(&self, time: DateTime<Utc>) -> Result<u64> {
        let (mut lo, mut hi) = (0, self.size().await);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let entry = self
                .entries(mid, mid + 1)
                .await?
                .pop()
                .ok_or_else(|| Error::Internal("audit gap".into()))?;
            if entry.time < time {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Entries matching `filter`, from `cursor` on, at most `limit`; and the cursor of the
    /// next page, if there is one.
    pub async fn query(
        &self,
        filter: &Filter,
        cursor: u64,
        limit: usize,
    ) -> Result<(Vec<Entry>, Option<u64>)> {
        let limit = limit.clamp(1, 1000);
        let start = match filter.from {
            Some(from) => cursor.max(self.seq_at(from).await?),
            None => cursor,
        };
        let key = filter.index_key();
        let mut out = Vec::new();
        let mut at = start;
        let size = self.size().await;
        while out.len() <= limit && at < size {
            let batch = match &key {
                Some(key) => self.indexed(key, at, 256).await?,
                None => self.entries(at, (at + 256).min(size)).await?,
            };
            let Some(last) = batch.last() else { break };
            at = last.seq + 1;
            for entry in batch {
                if filter.to.is_some_and(|to| entry.time >= to) {
                    at = size;
                    break;
                }
                if filter.matches(&entry) {
                    out.push(entry);
                }
            }
        }
        let next = if out.len() > limit {
            out.truncate(limit);
            out.last().map(|e| e.seq + 1)
        } else {
            None
        };
        Ok((out, next))
    }

    /// Every entry about the resident with this audit reference, oldest first.
    pub async fn about_resident(&self, reference: &str) -> Result<Vec<Entry>> {
        self.indexed(
            &[b"r".as_slice(), reference.as_bytes()].concat(),
            0,
            usize::MAX,
        )
        .await
    }
}

/// What an officer asks the log for. Every field narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// A resident's audit reference.
    pub resident: Option<String>,
    /// A department id.
    pub department: Option<String>,
    /// A grant id.
    pub grant: Option<uuid::Uuid>,
    /// A processing activity id, or a word of its purpose.
    pub purpose: Option<String>,
    /// An action.
    pub action: Option<Action>,
    /// An outcome.
    pub outcome: Option<Outcome>,
    /// From this time on.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
}

impl Filter {
    fn index_key(&self) -> Option<Vec<u8>> {
        if let Some(g) = &self.grant {
            return Some([b"g".as_slice(), g.as_bytes()].concat());
        }
        if let Some(r) = &self.resident {
            return Some([b"r".as_slice(), r.as_bytes()].concat());
        }
        if let Some(d) = &self.department {
            return Some([b"d".as_slice(), d.as_bytes()].concat());
        }
        self.action
            .map(|a| [b"a".as_slice(), a.as_str().as_bytes()].concat())
    }

    /// Whether `entry` passes every part of the filter.
    pub fn matches(&self, entry: &Entry) -> bool {
        let purpose_matches = |wanted: &str| {
            let wanted = wanted.to_lowercase();
            entry
                .processing_activity
                .as_ref()
                .is_some_and(|a| a.id == wanted)
                || entry
                    .purpose
                    .as_ref()
                    .is_some_and(|p| p.to_lowercase().contains(&wanted))
        };
        self.resident
            .as_ref()
            .is_none_or(|r| entry.resident.as_ref() == Some(r))
            && self
                .department
                .as_ref()
                .is_none_or(|d| entry.department.as_ref() == Some(d))
            && self.grant.is_none_or(|g| entry.grant == Some(g))
            && self.purpose.as_deref().is_none_or(purpose_matches)
            && self.action.is_none_or(|a| entry.action == a)
            && self.outcome.is_none_or(|o| entry.outcome == o)
            && self.from.is_none_or(|f| entry.time >= f)
            && self.to.is_none_or(|t| entry.time < t)
    }

    /// The filter as entry details (for logging an officer's query): ids only.
    pub fn as_details(&self) -> std::collections::BTreeMap<String, String> {
        let mut details = std::collections::BTreeMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                details.insert(k.to_owned(), v);
            }
        };
        put("resident", self.resident.clone());
        put("department", self.department.clone());
        put("grant", self.grant.map(|g| g.to_string()));
        put("purpose", self.purpose.clone());
        put("action", self.action.map(|a| a.as_str().to_owned()));
        put(
            "outcome",
            self.outcome
                .and_then(|o| serde_json::to_value(o).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
        );
        put("from", self.from.map(|t| t.to_rfc3339()));
        put("to", self.to.map(|t| t.to_rfc3339()));
        details
    }
}

/// Writes `contents` to `path` atomically: temp file, fsync, rename, fsync of the directory.
fn save_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
