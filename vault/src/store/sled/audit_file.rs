// Long: the audit files' format, their crash rules and their tests, one place to read the on-disk contract.
//! The audit log's entries and tree nodes, in two append-only files next to the sled
//! database: `audit.log` (one record per entry: its stored form, see `audit::stored`, and
//! the tree nodes it completes) and `audit.idx` (where each record starts, 8 bytes per entry).
//!
//! sled holds a page table of every key in memory from the moment it opens, so a log kept
//! in sled makes the vault bigger and slower to open every year. These files cost nothing
//! to open. The log's committed length and the log file's committed size live in sled
//! (`meta`: `audit_len`, `audit_log_bytes`), written in the same transaction as the
//! entries' index keys and record changes. A batch's records are written and synced before
//! that transaction.
//!
//! Each batch syncs `audit.log`; `audit.idx` is synced only once [`INDEX_UNSYNCED`] entries'
//! offsets wait for it. The offsets of the last that many entries (and the one before, where
//! the check starts) are checked against the log at open and written again where a crash
//! lost them: the log is the truth, the index a way into it.
//!
//! A batch that changes records is durable once sled has flushed that transaction: what
//! such a batch left beyond the committed size after a crash was never acknowledged, and is
//! cut off at open. A batch of entries alone (most of the log: the reads) is durable once
//! its records are synced, without waiting for sled: its records are marked so, and its
//! first one carries the one-time token ids recorded since the batch before. After a crash
//! the marked records beyond the committed size are the log's *tail*: `audit` checks them
//! against the tree and has them taken up (their index keys and the new length into sled,
//! their token ids back among the remembered ones); nothing is appended before. Files that
//! disagree with the committed length and size are refused, never cut (the offsets of the
//! last entries excepted: they are written again from the log).
//!
//! A record: entry length (u32 BE); flags and node count (1: bit 7 marks a record durable
//! by its own sync, bit 6 one with token ids, the low six bits count its nodes); with bit
//! 6, the number of token ids (u16 BE); per node its level (1) and hash (32); per token id
//! its key (32) and expiry (i64 BE, microseconds since 1970); then the entry's bytes. Node
//! `(level, index)` is kept in the record of the entry that completes it: entry
//! `((index + 1) << level) - 1`.

use crate::store::{StoreError, StoreResult};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The file of records.
pub(super) const LOG_FILE: &str = "audit.log";
/// The file of record offsets.
pub(super) const INDEX_FILE: &str = "audit.idx";

/// Entry length (4), flags and node count (1).
const HEADER: u64 = 5;
/// The header with the number of token ids a record may have after it.
const LONG_HEADER: usize = HEADER as usize + 2;
/// Flag: the record is durable by its own sync (taken up after a crash, never cut off).
const DURABLE_ALONE: u8 = 0x80;
/// Flag: the number of token ids follows the header.
const WITH_TOKEN_IDS: u8 = 0x40;
/// The bits that count the nodes.
const NODE_COUNT: u8 = 0x3f;
/// A node: level (1), hash (32).
const NODE: usize = 33;
/// A token id: key (32), expiry (8).
const TOKEN_ID: usize = 40;
/// The largest entry stored (entries are a few hundred bytes).
const MAX_ENTRY: u64 = 1 << 20;
/// The largest record: header, at most 63 nodes and 65,535 token ids, the largest entry.
const MAX_RECORD: u64 = LONG_HEADER as u64
    + NODE_COUNT as u64 * NODE as u64
    + u16::MAX as u64 * TOKEN_ID as u64
    + MAX_ENTRY;
/// How far ahead of the log's end `audit.log` and `audit.idx` are written with zeros: a
/// sync that changes a file's size also commits the file system's journal (ext4), so most
/// batches' syncs change none. A zero header is no record: the tail ends there.
const LOG_AHEAD: u64 = 1 << 20;
const INDEX_AHEAD: u64 = 128 << 10;
/// The most entries whose offsets in `audit.idx` may wait for a sync: a batch that would
/// leave more syncs the index too. At open the last this many offsets are checked against
/// the log (a walk over their record headers, well under a millisecond from the cache).
const INDEX_UNSYNCED: u64 = 4096;
/// The most records of a tail read at open: sled flushes twice a second and batches of
/// reads wait at most 2,048 entries for their sled transaction (see `deferred`), so a crash
/// leaves a tail of well under a second of appends, or a few idle batches.
const MAX_TAIL: usize = 1 << 20;
/// The most bytes one read of records holds in memory at once (besides one record).
const READ_PIECE: u64 = 8 << 20;

/// A node as the audit port passes it: level, index, hash.
pub(super) type NodeHash = (u8, u64, [u8; 32]);

/// A one-time token id as a record carries it: key and expiry (microseconds since 1970).
pub(super) type TokenId = ([u8; 32], i64);

/// How a batch of records becomes durable.
#[derive(Clone, Copy)]
pub(super) enum Durable<'a> {
    /// By sled's flush after its commit (it changes records): cut off after a crash.
    BySled,
    /// By the records' sync, carrying these token ids: taken up after a crash.
    Alone(&'a [TokenId]),
}

/// One entry read back: its bytes, the nodes it completed, and what an entry durable by
/// its own sync carries.
pub(super) struct Record {
    pub(super) entry: Vec<u8>,
    pub(super) nodes: Vec<NodeHash>,
    pub(super) token_ids: Vec<TokenId>,
    pub(super) durable_alone: bool,
}

/// The two files, and how much of them is committed.
pub(super) struct AuditFiles {
    /// The directory that holds them.
    dir: PathBuf,
    log: File,
    index: File,
    /// Committed entries: readers see no more.
    len: AtomicU64,
    /// Entries whose offsets `audit.idx` holds durably (at most [`INDEX_UNSYNCED`] fewer
    /// than `len`); changed while `end` is held.
    index_synced: AtomicU64,
    /// The log file's committed size: stored before `len`, so it never lags behind it.
    committed: AtomicU64,
    /// Where the next record starts in the log; held by the one append in progress.
    end: Mutex<u64>,
    /// The sizes of the log and index files, zeros past their ends included (see
    /// [`LOG_AHEAD`]); changed while `end` is held.
    written: Mutex<(u64, u64)>,
    /// Set when a commit failed: sled may hold part of it, so nothing is appended until the
    /// store opens again (and sees what sled kept).
    failed: AtomicBool,
    /// Records durable alone that a crash left beyond the committed size, each with where
    /// it ends; nothing is appended until they are taken up.
    tail: Mutex<Vec<(u64, Record)>>,
}

fn io(action: &str) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("{action}: {e}"))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(format!("the audit log file: {what}"))
}

/// The entry whose record holds node `(level, index)`, if the log can hold one.
pub(super) fn completing_entry(level: u8, index: u64) -> Option<u64> {
    index
        .checked_add(1)?
        .checked_mul(1u64.checked_shl(u32::from(level))?)?
        .checked_sub(1)
}

/// How many nodes (leaves included) a log of `len` entries has.
pub(super) fn node_count(len: u64) -> u64 {
    2 * len - u64::from(len.count_ones())
}

impl AuditFiles {
    /// Opens (or creates) the files in `dir` for a log of `len` committed entries in
    /// `log_bytes` bytes, and cuts off what an interrupted append left beyond them.
    pub(super) fn open(dir: &Path, len: u64, log_bytes: u64) -> StoreResult<AuditFiles> {
        let created = !dir.join(LOG_FILE).exists() || !dir.join(INDEX_FILE).exists();
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join(name))
                .map_err(io("opening the audit log file"))
        };
        let files = AuditFiles {
            dir: dir.to_path_buf(),
            log: open(LOG_FILE)?,
            index: open(INDEX_FILE)?,
            len: AtomicU64::new(len),
            index_synced: AtomicU64::new(len),
            committed: AtomicU64::new(log_bytes),
            end: Mutex::new(log_bytes),
            written: Mutex::new((log_bytes, len * 8)),
            failed: AtomicBool::new(false),
            tail: Mutex::default(),
        };
        if created {
            sync_dir(dir)?;
        }
        let size = |file: &File| file.metadata().map(|m| m.len());
        let (indexed, logged) = (
            size(&files.index).map_err(io("reading the audit index file"))?,
            size(&files.log).map_err(io("reading the audit log file"))?,
        );
        let restore = "restore the data directory from a backup";
        // Offsets before the last INDEX_UNSYNCED entries were synced before sled committed
        // the length: the index must hold them, and the walk starts at one of them.
        let checked_from = len.saturating_sub(INDEX_UNSYNCED + 1);
        if checked_from > 0 && indexed / 8 <= checked_from {
            return Err(corrupt(format!(
                "the database says the log holds {len} entries, the index file only {}; {restore}",
                indexed / 8
            )));
        }
        if logged < log_bytes {
            return Err(corrupt(format!(
                "the database says the log file holds {log_bytes} bytes, it holds {logged}; {restore}"
            )));
        }
        files.check_last_offsets(checked_from, indexed)?;
        let indexed = indexed.max(len * 8);
        let tail = files.scan_tail(logged)?;
        if !tail.is_empty() {
            *files.tail.lock().unwrap_or_else(|p| p.into_inner()) = tail;
            *files.written.lock().unwrap_or_else(|p| p.into_inner()) = (logged, indexed);
        } else if indexed > len * 8 || logged > log_bytes {
            files
                .index
                .set_len(len * 8)
                .and_then(|_| files.log.set_len(log_bytes))
                .and_then(|_| files.index.sync_all())
                .and_then(|_| files.log.sync_all())
                .map_err(io("cutting off an uncommitted audit batch"))?;
        }
        Ok(files)
    }

    /// Walks the committed records from entry `from` to the log's end, and writes (and
    /// syncs) their offsets where the index file (of `indexed` bytes) lacks them or holds
    /// others: a crash can lose offsets not yet synced (see [`INDEX_UNSYNCED`]). The walk
    /// must end exactly at the committed size.
    fn check_last_offsets(&self, from: u64, indexed: u64) -> StoreResult<()> {
        let (len, log_bytes) = (self.len(), self.log_bytes());
        let restore = "restore the data directory from a backup";
        let mut at = if from == 0 { 0 } else { self.offset(from)? };
        let mut walked = Vec::with_capacity(((len - from) * 8) as usize);
        for seq in from..len {
            let size = match at.checked_add(LONG_HEADER as u64) {
                Some(header_end) if header_end <= log_bytes => self.record_size(at)?,
                _ => 0,
            };
            if size == 0 || size > MAX_RECORD || at + size > log_bytes {
                return Err(corrupt(format!(
                    "entry {seq} at byte {at} runs past the committed log of {log_bytes} bytes; {restore}"
                )));
            }
            walked.extend_from_slice(&at.to_be_bytes());
            at += size;
        }
        if at != log_bytes {
            return Err(corrupt(format!(
                "its last committed entry ends at byte {at}, the database says {log_bytes}; {restore}"
            )));
        }
        let mut held = vec![0u8; walked.len()];
        let present = indexed.saturating_sub(from * 8).min(held.len() as u64) as usize;
        if present > 0 {
            Self::read_exact(&self.index, &mut held[..present], from * 8, "the offsets")?;
        }
        if present < walked.len() || held != walked {
            let rewritten = walked
                .chunks_exact(8)
                .zip(held.chunks_exact(8))
                .filter(|(w, h)| w != h)
                .count();
            self.index
                .write_all_at(&walked, from * 8)
                .map_err(io("writing the audit index file"))?;
            tracing::warn!(
                rewritten,
                "offsets of the audit log's last entries differ from the log (lost in a crash, or damaged); written again from the log"
            );
        }
        // Offsets a killed process left in the page cache become durable now, so that
        // `index_synced` starts at the length.
        self.index
            .sync_data()
            .map_err(io("syncing the audit index file"))
    }

    /// The records durable alone that follow the committed ones in a log file of
    /// `file_size` bytes, up to the first that is not (or is cut short or damaged).
    fn scan_tail(&self, file_size: u64) -> StoreResult<Vec<(u64, Record)>> {
        let (mut at, mut seq, mut tail) = (self.log_bytes(), self.len(), Vec::new());
        while tail.len() < MAX_TAIL && at.saturating_add(LONG_HEADER as u64) <= file_size {
            let mut header = [0u8; LONG_HEADER];
            Self::read_exact(&self.log, &mut header, at, "a record")?;
            let size = size_of(&header);
            if header[4] & DURABLE_ALONE == 0 || size > MAX_RECORD || at + size > file_size {
                break;
            }
            let mut bytes = vec![0u8; size as usize];
            Self::read_exact(&self.log, &mut bytes, at, "a record")?;
            let Ok(record) = decode(&bytes, seq) else {
                break;
            };
            at += size;
            seq += 1;
            tail.push((at, record));
        }
        Ok(tail)
    }

    /// The tail a crash left (see the module's doc): its records in order, from the
    /// committed length on.
    pub(super) fn tail(&self) -> Vec<Record> {
        self.tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, r)| Record {
                entry: r.entry.clone(),
                nodes: r.nodes.clone(),
                token_ids: r.token_ids.clone(),
                durable_alone: r.durable_alone,
            })
            .collect()
    }

    /// How many records the tail holds.
    pub(super) fn tail_len(&self) -> usize {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Takes up the tail's first `count` records: writes their offsets, runs `commit` with
    /// the new length and log size, and cuts off the rest of the tail.
    pub(super) fn take_up(
        &self,
        count: usize,
        commit: impl FnOnce(u64, u64) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        if self.failed.load(Ordering::Acquire) || count > tail.len() {
            return Err(StoreError::Unavailable(
                "the audit log's tail cannot be taken up now".into(),
            ));
        }
        let len = self.len();
        let (mut offsets, mut start) = (Vec::new(), *end);
        for (stop, _) in &tail[..count] {
            offsets.extend_from_slice(&start.to_be_bytes());
            start = *stop;
        }
        let new_len = len + count as u64;
        if let Some((tail_end, _)) = tail.last().filter(|_| count < tail.len()) {
            self.keep_cut_off(start, *tail_end, new_len)?;
        }
        self.index
            .write_all_at(&offsets, len * 8)
            .and_then(|_| self.index.sync_data())
            .map_err(io("writing the audit index file"))?;
        if let Err(e) = commit(new_len, start) {
            self.failed.store(true, Ordering::Release);
            return Err(e);
        }
        self.log
            .set_len(start)
            .and_then(|_| self.index.set_len(new_len * 8))
            .and_then(|_| self.log.sync_all())
            .and_then(|_| self.index.sync_all())
            .map_err(io("cutting off the rest of the audit log's tail"))?;
        tail.clear();
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = (start, new_len * 8);
        *end = start;
        self.index_synced.store(new_len, Ordering::Release);
        self.committed.store(start, Ordering::Release);
        self.len.store(new_len, Ordering::Release);
        Ok(())
    }

    /// Copies the log's bytes `[from, to)`, marked records that were not taken up, into
    /// `audit.log.cut-at-<position>` beside it before they are cut off: a record damaged by
    /// something other than a crash leaves its evidence.
    fn keep_cut_off(&self, from: u64, to: u64, position: u64) -> StoreResult<()> {
        let name = format!("{LOG_FILE}.cut-at-{position}");
        let mut bytes = vec![0u8; (to - from) as usize];
        Self::read_exact(&self.log, &mut bytes, from, "the records not taken up")?;
        let keep = io("keeping the audit records not taken up");
        let copy = File::create(self.dir.join(&name)).map_err(&keep)?;
        copy.write_all_at(&bytes, 0)
            .and_then(|_| copy.sync_all())
            .map_err(&keep)?;
        sync_dir(&self.dir)?;
        tracing::error!(
            file = %name,
            position,
            bytes = bytes.len(),
            "audit records after a crash did not check out and are cut off; a copy is kept"
        );
        Ok(())
    }

    /// Cuts both files back to the committed records after a failed write, so that what
    /// it left is never taken for a tail; if that fails too, nothing more is appended.
    fn cut_back(&self, end: u64, len: u64) {
        let cut = self
            .log
            .set_len(end)
            .and_then(|_| self.index.set_len(len * 8))
            .and_then(|_| self.log.sync_all())
            .and_then(|_| self.index.sync_all());
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = (end, len * 8);
        if cut.is_err() {
            self.failed.store(true, Ordering::Release);
        }
    }

    /// Stops appends until the store opens again: sled may hold part of a failed commit.
    pub(super) fn stop_appends(&self) {
        self.failed.store(true, Ordering::Release);
    }

    /// Committed entries.
    pub(super) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Bytes of committed records.
    pub(super) fn log_bytes(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    fn read_exact(file: &File, buf: &mut [u8], at: u64, what: &str) -> StoreResult<()> {
        file.read_exact_at(buf, at).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt(format!("{what} at byte {at} is cut off")),
            _ => StoreError::Unavailable(format!("reading the audit log file: {e}")),
        })
    }

    fn offset(&self, seq: u64) -> StoreResult<u64> {
        let mut buf = [0u8; 8];
        Self::read_exact(&self.index, &mut buf, seq * 8, "an offset")?;
        Ok(u64::from_be_bytes(buf))
    }

    /// The whole size of the record at byte `at` (every record is longer than a long
    /// header: it holds at least its leaf).
    fn record_size(&self, at: u64) -> StoreResult<u64> {
        let mut header = [0u8; LONG_HEADER];
        Self::read_exact(&self.log, &mut header, at, "a record")?;
        Ok(size_of(&header))
    }

    /// Committed records `[from, to)` (to at most the length). Damaged offsets or lengths
    /// are an error, never a read of more than a piece of the file at a time.
    pub(super) fn records(&self, from: u64, to: u64) -> StoreResult<Vec<Record>> {
        let len = self.len();
        let to = to.min(len);
        if from >= to {
            return Ok(Vec::new());
        }
        // Where each record starts, and where the last one ends: the next committed offset,
        // or (at the log's end) its own header, within the committed size.
        let upto = (to + 1).min(len);
        let mut raw = vec![0u8; ((upto - from) * 8) as usize];
        Self::read_exact(&self.index, &mut raw, from * 8, "the offsets")?;
        let mut bounds: Vec<u64> = raw
            .chunks_exact(8)
            .map(|o| u64::from_be_bytes(o.try_into().unwrap_or_default()))
            .collect();
        if upto == to {
            let last = bounds[bounds.len() - 1];
            let end = last.saturating_add(self.record_size(last)?);
            if end > self.log_bytes() {
                return Err(corrupt(format!(
                    "entry {} runs past the committed log",
                    to - 1
                )));
            }
            bounds.push(end);
        }
        for (pair, seq) in bounds.windows(2).zip(from..) {
            if pair[1] <= pair[0] || pair[1] - pair[0] > MAX_RECORD {
                return Err(corrupt(format!(
                    "the offset of entry {seq} or the next is damaged"
                )));
            }
        }
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut first = 0;
        while first < bounds.len() - 1 {
            // A piece of whole records, at most READ_PIECE bytes (or one record).
            let mut last = first + 1;
            while last < bounds.len() - 1 && bounds[last + 1] - bounds[first] <= READ_PIECE {
                last += 1;
            }
            let start = bounds[first];
            let mut bytes = vec![0u8; (bounds[last] - start) as usize];
            Self::read_exact(&self.log, &mut bytes, start, "the records")?;
            for (i, seq) in (first..last).zip(from + first as u64..) {
                let record = &bytes[(bounds[i] - start) as usize..(bounds[i + 1] - start) as usize];
                out.push(decode(record, seq)?);
            }
            first = last;
        }
        Ok(out)
    }

    /// Stored node `(level, index)`, if the log holds it.
    pub(super) fn node(&self, level: u8, index: u64) -> StoreResult<Option<[u8; 32]>> {
        let Some(seq) = completing_entry(level, index).filter(|seq| *seq < self.len()) else {
            return Ok(None);
        };
        Ok(self
            .records(seq, seq + 1)?
            .pop()
            .and_then(|r| r.nodes.into_iter().find(|n| n.0 == level))
            .map(|n| n.2))
    }

    /// Writes `appends` (entry bytes and nodes, from entry `first` on, or from the log's end
    /// when `None`) after the committed records, marked as `durable` says, and syncs the log
    /// (the index only when [`INDEX_UNSYNCED`] entries' offsets would wait for it otherwise),
    /// then runs `commit` with the new length and log size; only if it succeeds do readers
    /// see the records. Fails with [`StoreError::AuditMoved`] unless `first` is the log's
    /// length.
    pub(super) fn append<'a>(
        &self,
        first: Option<u64>,
        appends: impl Iterator<Item = (&'a [u8], &'a [NodeHash])>,
        durable: Durable<'_>,
        commit: impl FnOnce(u64, u64) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        if self.failed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "an earlier audit commit failed; the store must be opened again".into(),
            ));
        }
        if self.tail_len() > 0 {
            return Err(StoreError::Unavailable(
                "the audit log's last entries from before a crash are not taken up yet".into(),
            ));
        }
        let len = self.len();
        if first.is_some_and(|first| first != len) {
            return Err(StoreError::AuditMoved(len));
        }
        let (mut log, mut offsets, mut seq) = (Vec::new(), Vec::new(), len);
        for (entry, nodes) in appends {
            offsets.extend_from_slice(&(*end + log.len() as u64).to_be_bytes());
            let marks = match durable {
                Durable::BySled => None,
                // The token ids go with the batch's first record.
                Durable::Alone(ids) if seq == len => Some(ids),
                Durable::Alone(_) => Some(&[][..]),
            };
            encode(&mut log, seq, entry, nodes, marks)?;
            seq += 1;
        }
        let new_end = *end + log.len() as u64;
        let sync_index = seq - self.index_synced.load(Ordering::Acquire) > INDEX_UNSYNCED;
        {
            let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
            let (log_size, index_size) = &mut *written;
            write_ahead(&self.log, log_size, new_end, LOG_AHEAD)
                .and_then(|_| write_ahead(&self.index, index_size, seq * 8, INDEX_AHEAD))
                .map_err(io("writing the audit log file ahead"))?;
        }
        let written = self
            .log
            .write_all_at(&log, *end)
            .and_then(|_| self.index.write_all_at(&offsets, len * 8))
            .and_then(|_| self.log.sync_data())
            .and_then(|_| match sync_index {
                true => self.index.sync_data(),
                false => Ok(()),
            });
        if let Err(e) = written {
            self.cut_back(*end, len);
            if sync_index {
                // Offsets of committed entries the disk may have dropped: only a new open
                // (which checks them against the log) may append after them.
                self.failed.store(true, Ordering::Release);
            }
            return Err(io("writing the audit log file")(e));
        }
        if let Err(e) = commit(seq, new_end) {
            // sled may have applied part of the transaction before it failed.
            self.failed.store(true, Ordering::Release);
            return Err(e);
        }
        *end = new_end;
        if sync_index {
            self.index_synced.store(seq, Ordering::Release);
        }
        self.committed.store(new_end, Ordering::Release);
        self.len.store(seq, Ordering::Release);
        Ok(())
    }

    /// Copies the committed part of both files into `dir` and syncs the copies.
    pub(super) fn copy_into(&self, dir: &Path) -> StoreResult<()> {
        let end = self.log_bytes();
        for (file, name, bytes) in [
            (&self.log, LOG_FILE, end),
            (&self.index, INDEX_FILE, self.len() * 8),
        ] {
            let mut copy = File::create(dir.join(name)).map_err(io("copying the audit log"))?;
            let mut reader = std::io::Read::take(file.try_clone().map_err(io("copying"))?, bytes);
            std::io::Seek::rewind(&mut reader.get_mut()).map_err(io("copying the audit log"))?;
            let copied =
                std::io::copy(&mut reader, &mut copy).map_err(io("copying the audit log"))?;
            if copied != bytes {
                return Err(corrupt(format!("{name} ended while it was copied")));
            }
            copy.sync_all().map_err(io("copying the audit log"))?;
        }
        sync_dir(dir)
    }

    /// Rewrites entry `seq`'s bytes (keeping its nodes), and every record after it in
    /// place: what an attacker with write access to the files could do.
    #[cfg(any(test, feature = "test-support"))]
    pub(super) fn rewrite_entry(&self, seq: u64, bytes: Vec<u8>) -> StoreResult<()> {
        let mut end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        let len = self.len();
        let mut records = self.records(seq, len)?;
        let first = records
            .first_mut()
            .ok_or_else(|| corrupt(format!("no entry {seq}")))?;
        first.entry = bytes;
        let start = self.offset(seq)?;
        let (mut log, mut offsets) = (Vec::new(), Vec::new());
        for (record, at) in records.iter().zip(seq..) {
            offsets.extend_from_slice(&(start + log.len() as u64).to_be_bytes());
            let marks = record.durable_alone.then_some(&record.token_ids[..]);
            encode(&mut log, at, &record.entry, &record.nodes, marks)?;
        }
        self.log
            .write_all_at(&log, start)
            .and_then(|_| self.log.set_len(start + log.len() as u64))
            .and_then(|_| self.index.write_all_at(&offsets, seq * 8))
            .and_then(|_| self.log.sync_all())
            .and_then(|_| self.index.sync_all())
            .map_err(io("rewriting the audit log file"))?;
        *end = start + log.len() as u64;
        self.written.lock().unwrap_or_else(|p| p.into_inner()).0 = *end;
        self.committed.store(*end, Ordering::Release);
        Ok(())
    }
}

/// Writes zeros to `file` (of `size` bytes) up to the next multiple of `ahead` past
/// `needed`, unless it reaches `needed` already. A page at a time: one large write gives the
/// page cache large pages, and a later write of a few bytes into one makes the kernel count
/// the whole large page as written (though it writes only the blocks changed).
fn write_ahead(file: &File, size: &mut u64, needed: u64, ahead: u64) -> std::io::Result<()> {
    const PAGE: u64 = 4096;
    if needed <= *size {
        return Ok(());
    }
    let to = (needed / ahead + 1) * ahead;
    let zeros = [0u8; PAGE as usize];
    while *size < to {
        let piece = (PAGE - *size % PAGE).min(to - *size);
        file.write_all_at(&zeros[..piece as usize], *size)?;
        *size += piece;
    }
    Ok(())
}

/// Makes the names of files created in `dir` durable.
fn sync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing the data directory"))
}

/// The whole size of the record whose long header is `header`.
fn size_of(header: &[u8; LONG_HEADER]) -> u64 {
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let flags = header[4];
    let ids = if flags & WITH_TOKEN_IDS == 0 {
        0
    } else {
        2 + u64::from(u16::from_be_bytes([header[5], header[6]])) * TOKEN_ID as u64
    };
    HEADER + ids + u64::from(flags & NODE_COUNT) * NODE as u64 + u64::from(len)
}

/// Appends the record of entry `seq` to `out`; with `durable_alone`, marked so and
/// carrying those token ids.
fn encode(
    out: &mut Vec<u8>,
    seq: u64,
    entry: &[u8],
    nodes: &[NodeHash],
    durable_alone: Option<&[TokenId]>,
) -> StoreResult<()> {
    let len = u32::try_from(entry.len())
        .ok()
        .filter(|len| u64::from(*len) <= MAX_ENTRY)
        .ok_or_else(|| StoreError::Unavailable(format!("audit entry {seq} is too large")))?;
    let count = u8::try_from(nodes.len())
        .ok()
        .filter(|count| *count <= NODE_COUNT)
        .ok_or_else(|| {
            StoreError::Unavailable(format!("audit entry {seq} completes too many nodes"))
        })?;
    let ids = durable_alone.unwrap_or_default();
    let id_count = u16::try_from(ids.len()).map_err(|_| {
        StoreError::Unavailable(format!("audit entry {seq} carries too many token ids"))
    })?;
    let mut flags = count;
    if durable_alone.is_some() {
        flags |= DURABLE_ALONE;
    }
    if !ids.is_empty() {
        flags |= WITH_TOKEN_IDS;
    }
    out.extend_from_slice(&len.to_be_bytes());
    out.push(flags);
    if !ids.is_empty() {
        out.extend_from_slice(&id_count.to_be_bytes());
    }
    for (level, index, hash) in nodes {
        // Only the level is stored: the index follows from the entry that completes it.
        if completing_entry(*level, *index) != Some(seq) {
            return Err(StoreError::Unavailable(format!(
                "audit entry {seq} does not complete node ({level}, {index})"
            )));
        }
        out.push(*level);
        out.extend_from_slice(hash);
    }
    for (key, expiry) in ids {
        out.extend_from_slice(key);
        out.extend_from_slice(&expiry.to_be_bytes());
    }
    out.extend_from_slice(entry);
    Ok(())
}

/// The record of entry `seq` at the start of `bytes`.
fn decode(bytes: &[u8], seq: u64) -> StoreResult<Record> {
    let cut = || corrupt(format!("the record of entry {seq} is cut off"));
    let (header, rest) = bytes.split_at_checked(HEADER as usize).ok_or_else(cut)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let flags = header[4];
    let (id_count, rest) = if flags & WITH_TOKEN_IDS == 0 {
        (0, rest)
    } else {
        let (count, rest) = rest.split_at_checked(2).ok_or_else(cut)?;
        (usize::from(u16::from_be_bytes([count[0], count[1]])), rest)
    };
    let (nodes, rest) = rest
        .split_at_checked(usize::from(flags & NODE_COUNT) * NODE)
        .ok_or_else(cut)?;
    let (ids, rest) = rest.split_at_checked(id_count * TOKEN_ID).ok_or_else(cut)?;
    if rest.len() != len {
        return Err(corrupt(format!(
            "the record of entry {seq} does not fill its place"
        )));
    }
    let entry = rest.to_vec();
    let nodes = nodes
        .chunks_exact(NODE)
        .map(|node| {
            let level = node[0];
            let hash: [u8; 32] = node[1..].try_into().map_err(|_| cut())?;
            let index = seq.checked_shr(u32::from(level)).unwrap_or(0);
            Ok((level, index, hash))
        })
        .collect::<StoreResult<_>>()?;
    let token_ids = ids
        .chunks_exact(TOKEN_ID)
        .map(|id| {
            let (key, expiry) = id.split_at(32);
            Ok((
                key.try_into().map_err(|_| cut())?,
                i64::from_be_bytes(expiry.try_into().map_err(|_| cut())?),
            ))
        })
        .collect::<StoreResult<_>>()?;
    Ok(Record {
        entry,
        nodes,
        token_ids,
        durable_alone: flags & DURABLE_ALONE != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes_of(seq: u64) -> Vec<NodeHash> {
        (0u8..64)
            .take_while(|level| completing_entry(*level, seq >> level) == Some(seq))
            .map(|level| (level, seq >> level, [level; 32]))
            .collect()
    }

    /// Appends entries `[from, to)`, durable as `durable` says; returns the log's
    /// committed size.
    fn append_as(files: &AuditFiles, from: u64, to: u64, durable: Durable<'_>) -> u64 {
        let entries: Vec<(Vec<u8>, Vec<NodeHash>)> = (from..to)
            .map(|seq| (format!("entry {seq}").into_bytes(), nodes_of(seq)))
            .collect();
        files
            .append(
                Some(from),
                entries.iter().map(|(e, n)| (e.as_slice(), n.as_slice())),
                durable,
                |_, _| Ok(()),
            )
            .unwrap();
        files.log_bytes()
    }

    /// Appends entries `[from, to)` as a batch that changes records.
    fn append(files: &AuditFiles, from: u64, to: u64) -> u64 {
        append_as(files, from, to, Durable::BySled)
    }

    fn write_at(dir: &Path, name: &str, at: u64, bytes: &[u8]) {
        let file = OpenOptions::new().write(true).open(dir.join(name)).unwrap();
        file.write_all_at(bytes, at).unwrap();
    }

    #[test]
    fn records_and_nodes_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        append(&files, 0, 5);
        append(&files, 5, 13);
        let records = files.records(3, 100).unwrap();
        assert_eq!(records.len(), 10, "reads stop at the length");
        assert_eq!(records[0].entry, b"entry 3");
        assert_eq!(records[0].nodes, nodes_of(3));
        assert_eq!(records[9].entry, b"entry 12");
        assert_eq!(files.records(2, 4).unwrap()[1].entry, b"entry 3");
        assert_eq!(
            files.node(3, 0).unwrap(),
            Some([3; 32]),
            "completed by entry 7"
        );
        assert_eq!(
            files.node(2, 2).unwrap(),
            Some([2; 32]),
            "completed by entry 11"
        );
        assert_eq!(files.node(2, 3).unwrap(), None, "entry 15 is not there yet");
        assert_eq!(files.node(63, u64::MAX).unwrap(), None, "no overflow");
        let size = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().len();
        assert_eq!(
            (size(LOG_FILE), size(INDEX_FILE)),
            (LOG_AHEAD, INDEX_AHEAD),
            "written ahead with zeros"
        );
        let (len, bytes) = (files.len(), files.log_bytes());
        drop(files);
        let files = AuditFiles::open(dir.path(), len, bytes).unwrap();
        assert_eq!(files.tail_len(), 0, "zeros are no tail");
        assert_eq!((size(LOG_FILE), size(INDEX_FILE)), (bytes, len * 8));
        assert_eq!(files.records(12, 13).unwrap()[0].entry, b"entry 12");
        let counted: usize = (0..13).map(|seq| nodes_of(seq).len()).sum();
        assert_eq!(node_count(13), 23);
        assert_eq!(node_count(13), counted as u64);
    }

    #[test]
    fn an_append_that_did_not_commit_is_invisible_and_cut_off_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        let size = append(&files, 0, 4);
        let moved = files.append(Some(0), std::iter::empty(), Durable::BySled, |_, _| Ok(()));
        assert!(matches!(moved, Err(StoreError::AuditMoved(4))), "{moved:?}");
        let refused = files.append(
            Some(4),
            [(&b"lost"[..], &nodes_of(4)[..])].into_iter(),
            Durable::BySled,
            |_, _| Err(StoreError::Unavailable("the commit failed".into())),
        );
        assert!(refused.is_err());
        assert_eq!(files.len(), 4);
        assert!(files.records(4, 5).unwrap().is_empty());
        let after = files.append(None, std::iter::empty(), Durable::BySled, |_, _| Ok(()));
        assert!(
            matches!(after, Err(StoreError::Unavailable(_))),
            "after a failed commit nothing is appended until the store opens again: {after:?}"
        );
        drop(files);
        assert!(std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len() > size);
        let reopened = AuditFiles::open(dir.path(), 4, size).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
            size,
            "the uncommitted record is cut off"
        );
        append(&reopened, 4, 6);
        assert_eq!(reopened.records(0, 6).unwrap()[5].entry, b"entry 5");
    }

    #[test]
    fn files_that_disagree_with_the_committed_length_and_size_are_refused_and_last_offsets_follow_the_log()
     {
        let dir = tempfile::tempdir().unwrap();
        let size = append(&AuditFiles::open(dir.path(), 0, 0).unwrap(), 0, 3);
        // Opened once more: the zeros written ahead are cut off.
        drop(AuditFiles::open(dir.path(), 3, size).unwrap());
        let refused = |len, bytes| {
            AuditFiles::open(dir.path(), len, bytes)
                .err()
                .expect("refused")
                .to_string()
        };
        assert!(refused(9, size).contains("entry 3 at byte"));
        assert!(refused(3, size + 1).contains("it holds"));
        assert!(refused(2, size).contains("ends at byte"));
        // A damaged last offset is not believed: the log says where entry 2 starts.
        write_at(dir.path(), INDEX_FILE, 16, &0u64.to_be_bytes());
        let files = AuditFiles::open(dir.path(), 3, size).unwrap();
        assert_eq!(files.records(2, 3).unwrap()[0].entry, b"entry 2");
        assert_eq!(
            std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
            size,
            "nothing was cut"
        );
    }

    #[test]
    fn offsets_a_crash_lost_are_written_again_from_the_log_and_older_ones_must_be_there() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        let mut len = 0;
        while len < 10_000 {
            append_alone(&files, len, len + 100, &[]);
            len += 100;
            let synced = files.index_synced.load(Ordering::Acquire);
            assert!(
                len - synced <= INDEX_UNSYNCED,
                "{len} entries, {synced} synced"
            );
        }
        assert!(
            files.index_synced.load(Ordering::Acquire) < len,
            "a batch does not sync the index each time"
        );
        let bytes = files.log_bytes();
        drop(files);
        // A crash lost the last offsets: zeros where some were, none past the file's end.
        let lost = 1_000;
        write_at(
            dir.path(),
            INDEX_FILE,
            (len - lost) * 8,
            &vec![0u8; 8 * 100],
        );
        let index = OpenOptions::new()
            .write(true)
            .open(dir.path().join(INDEX_FILE))
            .unwrap();
        index.set_len((len - 10) * 8).unwrap();
        let files = AuditFiles::open(dir.path(), len, bytes).unwrap();
        let records = files.records(len - lost, len).unwrap();
        assert_eq!(records.len() as u64, lost);
        assert_eq!(
            records[0].entry,
            format!("entry {}", len - lost).into_bytes()
        );
        assert_eq!(
            records[lost as usize - 1].entry,
            format!("entry {}", len - 1).into_bytes()
        );
        append_alone(&files, len, len + 1, &[]);
        assert_eq!(
            files.records(len, len + 1).unwrap()[0].entry,
            format!("entry {len}").into_bytes()
        );
        let bytes = files.log_bytes();
        drop(files);
        let len = len + 1;
        // The walk starts at the offset of entry `len - INDEX_UNSYNCED - 1`, synced before
        // sled committed `len`. A damaged one there is not taken for the truth.
        let start = len - INDEX_UNSYNCED - 1;
        let kept = std::fs::read(dir.path().join(INDEX_FILE)).unwrap();
        let at_start = &kept[(start * 8) as usize..(start * 8 + 8) as usize];
        write_at(dir.path(), INDEX_FILE, start * 8, &7u64.to_be_bytes());
        let refused = AuditFiles::open(dir.path(), len, bytes)
            .err()
            .expect("refused")
            .to_string();
        assert!(refused.contains("restore the data directory"), "{refused}");
        write_at(dir.path(), INDEX_FILE, start * 8, at_start);
        // An index that holds the walk's start opens; one that does not is refused.
        index.set_len((start + 1) * 8).unwrap();
        drop(AuditFiles::open(dir.path(), len, bytes).expect("the walk's start is there"));
        index.set_len(start * 8).unwrap();
        let refused = AuditFiles::open(dir.path(), len, bytes)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            refused.contains(&format!("the index file only {start}")),
            "{refused}"
        );
    }

    #[test]
    fn a_short_log_opens_with_an_empty_index_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        let bytes = append_alone(&files, 0, 40, &[]);
        drop(files);
        let index = OpenOptions::new()
            .write(true)
            .open(dir.path().join(INDEX_FILE))
            .unwrap();
        index.set_len(0).unwrap();
        let files = AuditFiles::open(dir.path(), 40, bytes).unwrap();
        assert_eq!(files.records(0, 40).unwrap()[39].entry, b"entry 39");
    }

    #[test]
    fn damaged_offsets_and_lengths_are_errors_not_panics_or_huge_reads() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        append(&files, 0, 6);
        let corrupt = |files: &AuditFiles| {
            let err = files.records(0, 6).err().expect("an error");
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        };
        // An offset pointing far beyond the file.
        write_at(dir.path(), INDEX_FILE, 8 * 2, &u64::MAX.to_be_bytes());
        corrupt(&files);
        // An offset that runs backwards.
        write_at(dir.path(), INDEX_FILE, 8 * 2, &1u64.to_be_bytes());
        corrupt(&files);
        drop(files);
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        append(&files, 0, 6);
        // The last entry's length claims four gigabytes.
        let last = files.offset(5).unwrap();
        write_at(dir.path(), LOG_FILE, last, &u32::MAX.to_be_bytes());
        corrupt(&files);
        // A middle entry's length that does not fill its place.
        write_at(dir.path(), LOG_FILE, 0, &1u32.to_be_bytes());
        let err = files.records(0, 2).err().expect("an error");
        assert!(err.to_string().contains("does not fill its place"), "{err}");
    }

    /// Appends entries `[from, to)` durable alone, the first carrying `ids`.
    fn append_alone(files: &AuditFiles, from: u64, to: u64, ids: &[TokenId]) -> u64 {
        append_as(files, from, to, Durable::Alone(ids))
    }

    #[test]
    fn records_durable_alone_past_the_committed_log_are_a_tail_taken_up_in_part() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        let committed = append(&files, 0, 3);
        let id = ([9u8; 32], 1_234_567);
        append_alone(&files, 3, 6, &[id]);
        drop(files);
        // sled lost the commit of entries 3 to 5; their records are synced.
        let files = AuditFiles::open(dir.path(), 3, committed).unwrap();
        assert_eq!(files.len(), 3);
        let tail = files.tail();
        assert_eq!(tail.len(), 3);
        assert_eq!(tail[0].entry, b"entry 3");
        assert_eq!(tail[0].nodes, nodes_of(3));
        assert_eq!(
            tail[0].token_ids,
            [id],
            "the batch's first record carries its ids"
        );
        assert!(tail[1].token_ids.is_empty() && tail.iter().all(|r| r.durable_alone));
        let refused = files.append(None, std::iter::empty(), Durable::BySled, |_, _| Ok(()));
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "nothing is appended before the tail is taken up: {refused:?}"
        );
        let mut seen = None;
        files
            .take_up(2, |len, bytes| {
                seen = Some((len, bytes));
                Ok(())
            })
            .unwrap();
        let (len, bytes) = seen.unwrap();
        assert_eq!((len, files.len(), files.log_bytes()), (5, 5, bytes));
        assert_eq!(files.records(0, 9).unwrap()[4].entry, b"entry 4");
        assert_eq!(files.tail_len(), 0);
        assert_eq!(
            std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
            bytes,
            "the record not taken up is cut off"
        );
        append_alone(&files, 5, 7, &[]);
        drop(files);
        let files = AuditFiles::open(dir.path(), 5, bytes).unwrap();
        assert_eq!(files.tail_len(), 2, "the new batch is a tail again");
    }

    #[test]
    fn a_tail_ends_at_a_record_that_waits_for_sled_or_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        let committed = append(&files, 0, 2);
        append_alone(&files, 2, 4, &[]);
        append(&files, 4, 5);
        append_alone(&files, 5, 6, &[]);
        drop(files);
        let files = AuditFiles::open(dir.path(), 2, committed).unwrap();
        assert_eq!(
            files.tail_len(),
            2,
            "entry 4 waited for sled's flush: the tail ends there"
        );
        drop(files);
        // A record cut short by the crash: its length runs past the file.
        let third = committed + (HEADER + NODE as u64 * nodes_of(2).len() as u64 + 7);
        write_at(dir.path(), LOG_FILE, third, &(8u32 << 20).to_be_bytes());
        let files = AuditFiles::open(dir.path(), 2, committed).unwrap();
        assert_eq!(files.tail_len(), 1);
        drop(files);
        // Nothing marked at all: cut off at open, as before.
        write_at(dir.path(), LOG_FILE, committed + 4, &[0]);
        let files = AuditFiles::open(dir.path(), 2, committed).unwrap();
        assert_eq!(files.tail_len(), 0);
        assert_eq!(
            std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
            committed
        );
    }
}
