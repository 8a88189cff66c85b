// Long: the audit files' format, their crash rules and their tests, one place to read the on-disk contract.
//! The audit log's entries and tree nodes, in two append-only files next to the sled
//! database: `audit.log` (one record per entry: its stored form, see `audit::stored`, and
//! the tree nodes it completes) and `audit.idx` (where each record starts, 8 bytes per entry).
//!
//! sled holds a page table of every key in memory from the moment it opens, so a log kept
//! in sled makes the vault bigger and slower to open every year. These files cost nothing
//! to open. The log's committed length and the log file's committed size live in sled
//! (`meta`: `audit_len`, `audit_log_bytes`), written in the same transaction as the
//! entries' index keys and record changes: that is the commit point. A batch's records are
//! written and synced before it, so what lies beyond the committed size after a crash is a
//! batch that never committed, and is cut off at open. Files that disagree with the
//! committed length and size are refused, never cut.
//!
//! A record: entry length (u32 BE), node count (1), per node its level (1) and hash (32),
//! then the entry's bytes. Node `(level, index)` is kept in the record of the entry that
//! completes it: entry `((index + 1) << level) - 1`.

use crate::store::{StoreError, StoreResult};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The file of records.
pub(super) const LOG_FILE: &str = "audit.log";
/// The file of record offsets.
pub(super) const INDEX_FILE: &str = "audit.idx";

/// Entry length (4) and node count (1).
const HEADER: u64 = 5;
/// A node: level (1), hash (32).
const NODE: usize = 33;
/// The largest entry stored (entries are a few hundred bytes).
const MAX_ENTRY: u64 = 1 << 20;
/// The largest record: header, at most 64 nodes, the largest entry.
const MAX_RECORD: u64 = HEADER + 64 * NODE as u64 + MAX_ENTRY;
/// The most bytes one read of records holds in memory at once (besides one record).
const READ_PIECE: u64 = 8 << 20;

/// A node as the audit port passes it: level, index, hash.
pub(super) type NodeHash = (u8, u64, [u8; 32]);

/// One entry read back: its bytes and the nodes it completed.
pub(super) struct Record {
    pub(super) entry: Vec<u8>,
    pub(super) nodes: Vec<NodeHash>,
}

/// The two files, and how much of them is committed.
pub(super) struct AuditFiles {
    log: File,
    index: File,
    /// Committed entries: readers see no more.
    len: AtomicU64,
    /// The log file's committed size: stored before `len`, so it never lags behind it.
    committed: AtomicU64,
    /// Where the next record starts in the log; held by the one append in progress.
    end: Mutex<u64>,
    /// Set when a commit failed: sled may hold part of it, so nothing is appended until the
    /// store opens again (and sees what sled kept).
    failed: AtomicBool,
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
            log: open(LOG_FILE)?,
            index: open(INDEX_FILE)?,
            len: AtomicU64::new(len),
            committed: AtomicU64::new(log_bytes),
            end: Mutex::new(log_bytes),
            failed: AtomicBool::new(false),
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
        if indexed / 8 < len {
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
        // The committed records must end exactly at the committed size.
        let ends_at = match len.checked_sub(1) {
            None => 0,
            Some(last) => {
                let at = files.offset(last)?;
                if last > 0 && files.offset(last - 1)? >= at {
                    return Err(corrupt(format!(
                        "the offsets of its last entries run backwards; {restore}"
                    )));
                }
                at.saturating_add(files.record_size(at)?)
            }
        };
        if ends_at != log_bytes {
            return Err(corrupt(format!(
                "its last committed entry ends at byte {ends_at}, the database says {log_bytes}; {restore}"
            )));
        }
        if indexed > len * 8 || logged > log_bytes {
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

    /// The whole size of the record at byte `at`.
    fn record_size(&self, at: u64) -> StoreResult<u64> {
        let mut header = [0u8; HEADER as usize];
        Self::read_exact(&self.log, &mut header, at, "a record")?;
        let (len, nodes) = (
            u32::from_be_bytes([header[0], header[1], header[2], header[3]]),
            header[4],
        );
        Ok(HEADER + u64::from(nodes) * NODE as u64 + u64::from(len))
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

    /// Writes and syncs `appends` (entry bytes and nodes, from entry `first` on, or from
    /// the log's end when `None`) after the committed records, then runs `commit` with the
    /// new length and log size; only if it succeeds do readers see the records. Fails with
    /// [`StoreError::AuditMoved`] unless `first` is the log's length.
    pub(super) fn append<'a>(
        &self,
        first: Option<u64>,
        appends: impl Iterator<Item = (&'a [u8], &'a [NodeHash])>,
        commit: impl FnOnce(u64, u64) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        if self.failed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "an earlier audit commit failed; the store must be opened again".into(),
            ));
        }
        let len = self.len();
        if first.is_some_and(|first| first != len) {
            return Err(StoreError::AuditMoved(len));
        }
        let (mut log, mut offsets, mut seq) = (Vec::new(), Vec::new(), len);
        for (entry, nodes) in appends {
            offsets.extend_from_slice(&(*end + log.len() as u64).to_be_bytes());
            encode(&mut log, seq, entry, nodes)?;
            seq += 1;
        }
        let new_end = *end + log.len() as u64;
        self.log
            .write_all_at(&log, *end)
            .and_then(|_| self.index.write_all_at(&offsets, len * 8))
            .and_then(|_| self.log.sync_data())
            .and_then(|_| self.index.sync_data())
            .map_err(io("writing the audit log file"))?;
        if let Err(e) = commit(seq, new_end) {
            // sled may have applied part of the transaction before it failed.
            self.failed.store(true, Ordering::Release);
            return Err(e);
        }
        *end = new_end;
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
            encode(&mut log, at, &record.entry, &record.nodes)?;
        }
        self.log
            .write_all_at(&log, start)
            .and_then(|_| self.log.set_len(start + log.len() as u64))
            .and_then(|_| self.index.write_all_at(&offsets, seq * 8))
            .and_then(|_| self.log.sync_all())
            .and_then(|_| self.index.sync_all())
            .map_err(io("rewriting the audit log file"))?;
        *end = start + log.len() as u64;
        self.committed.store(*end, Ordering::Release);
        Ok(())
    }
}

/// Makes the names of files created in `dir` durable.
fn sync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing the data directory"))
}

/// Appends the record of entry `seq` to `out`.
fn encode(out: &mut Vec<u8>, seq: u64, entry: &[u8], nodes: &[NodeHash]) -> StoreResult<()> {
    let len = u32::try_from(entry.len())
        .ok()
        .filter(|len| u64::from(*len) <= MAX_ENTRY)
        .ok_or_else(|| StoreError::Unavailable(format!("audit entry {seq} is too large")))?;
    let count = u8::try_from(nodes.len()).map_err(|_| {
        StoreError::Unavailable(format!("audit entry {seq} completes too many nodes"))
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.push(count);
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
    out.extend_from_slice(entry);
    Ok(())
}

/// The record of entry `seq` at the start of `bytes`.
fn decode(bytes: &[u8], seq: u64) -> StoreResult<Record> {
    let cut = || corrupt(format!("the record of entry {seq} is cut off"));
    let (header, rest) = bytes.split_at_checked(HEADER as usize).ok_or_else(cut)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let (nodes, rest) = rest
        .split_at_checked(usize::from(header[4]) * NODE)
        .ok_or_else(cut)?;
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
    Ok(Record { entry, nodes })
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

    /// Appends entries `[from, to)`; returns the log's committed size.
    fn append(files: &AuditFiles, from: u64, to: u64) -> u64 {
        let entries: Vec<(Vec<u8>, Vec<NodeHash>)> = (from..to)
            .map(|seq| (format!("entry {seq}").into_bytes(), nodes_of(seq)))
            .collect();
        files
            .append(
                Some(from),
                entries.iter().map(|(e, n)| (e.as_slice(), n.as_slice())),
                |_, _| Ok(()),
            )
            .unwrap();
        files.log_bytes()
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
        let counted: usize = (0..13).map(|seq| nodes_of(seq).len()).sum();
        assert_eq!(node_count(13), 23);
        assert_eq!(node_count(13), counted as u64);
    }

    #[test]
    fn an_append_that_did_not_commit_is_invisible_and_cut_off_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::open(dir.path(), 0, 0).unwrap();
        let size = append(&files, 0, 4);
        let moved = files.append(Some(0), std::iter::empty(), |_, _| Ok(()));
        assert!(matches!(moved, Err(StoreError::AuditMoved(4))), "{moved:?}");
        let refused = files.append(
            Some(4),
            [(&b"lost"[..], &nodes_of(4)[..])].into_iter(),
            |_, _| Err(StoreError::Unavailable("the commit failed".into())),
        );
        assert!(refused.is_err());
        assert_eq!(files.len(), 4);
        assert!(files.records(4, 5).unwrap().is_empty());
        let after = files.append(None, std::iter::empty(), |_, _| Ok(()));
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
    fn files_that_disagree_with_the_committed_length_and_size_are_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let size = append(&AuditFiles::open(dir.path(), 0, 0).unwrap(), 0, 3);
        let refused = |len, bytes| {
            AuditFiles::open(dir.path(), len, bytes)
                .err()
                .expect("refused")
                .to_string()
        };
        assert!(refused(9, size).contains("the index file only 3"));
        assert!(refused(3, size + 1).contains("it holds"));
        assert!(refused(2, size).contains("ends at byte"));
        // A damaged last offset would place the end too early: refused, never cut there.
        write_at(dir.path(), INDEX_FILE, 16, &0u64.to_be_bytes());
        let err = refused(3, size);
        assert!(err.contains("run backwards"), "{err}");
        assert_eq!(
            std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
            size,
            "nothing was cut"
        );
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
}
