// Long: the sealed blocks' format, its checks and their tests, one place to read the on-disk contract.
//! The audit index's sealed blocks. Once a block of the log's positions is complete, its
//! postings leave sled's tree for that block for one immutable file in `audit_index/`:
//! sled keeps the postings of the newest entries only, so its page table, its own log and
//! the vault's start-up stay small however long the audit log grows, and an old posting
//! costs a few bytes on disk instead of a page rewritten many times.
//!
//! A block file, `<first position, 20 digits>.blk`:
//! - magic `KLUISIX1` (8), the first position (u64 BE), the positions it covers (u64 BE),
//!   the number of keys (u32 BE), the number of postings (u64 BE: one per key and entry);
//! - one slot per key, sorted by hash then key: the key's hash (the first 8 bytes of its
//!   SHA-256, u64 BE) and where the key's record starts in the file (u32 BE);
//! - the records: key length (u16 BE), the key, the number of positions (u32 BE), the
//!   positions (u32 BE each, counted from the first, rising).
//!
//! A block is written under a temporary name, synced and renamed: whole or absent. A
//! lookup reads a few slots (a binary search) and one record. Every length and offset is
//! checked against the file: a damaged block is an error, never a panic or a huge read.

use crate::store::{StoreError, StoreResult};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The directory of the blocks, in the data directory.
pub(super) const DIR: &str = "audit_index";

const MAGIC: &[u8; 8] = b"KLUISIX1";
/// Magic, first position, positions covered, key count, posting count.
const HEADER: u64 = 8 + 8 + 8 + 4 + 8;
/// A slot: hash, record offset.
const SLOT: u64 = 12;
/// The longest key a record may hold (index keys are a kind byte and an id).
const MAX_KEY: u64 = u16::MAX as u64;

/// A block's header: the positions `[first, first + entries)` it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Block {
    pub(super) first: u64,
    pub(super) entries: u64,
}

impl Block {
    pub(super) fn end(&self) -> u64 {
        self.first.saturating_add(self.entries)
    }
}

fn io(action: &str) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("{action}: {e}"))
}

fn corrupt(first: u64, what: &str) -> StoreError {
    StoreError::Corrupt(format!("the audit index block at {first}: {what}"))
}

/// The file of the block starting at `first`.
pub(super) fn path(dir: &Path, first: u64) -> PathBuf {
    dir.join(DIR).join(format!("{first:020}.blk"))
}

/// The hash a key is sorted and searched by.
fn hash(key: &[u8]) -> u64 {
    let digest = crate::crypto::sha256(key);
    u64::from_be_bytes(digest[..8].try_into().unwrap_or_default())
}

/// Writes the block of positions `[first, first + entries)` with `postings` (key to rising
/// positions inside the block), synced, under its final name. Returns its size.
pub(super) fn write(
    dir: &Path,
    block: Block,
    postings: &BTreeMap<Vec<u8>, Vec<u64>>,
) -> StoreResult<u64> {
    let mut keys: Vec<(u64, &[u8], &[u64])> = postings
        .iter()
        .map(|(key, seqs)| (hash(key), key.as_slice(), seqs.as_slice()))
        .collect();
    keys.sort_unstable();
    let count = u32::try_from(keys.len()).map_err(|_| corrupt(block.first, "too many keys"))?;
    let mut slots = Vec::with_capacity(keys.len() * SLOT as usize);
    let mut records = Vec::new();
    let records_start = HEADER + SLOT * u64::from(count);
    for (hash, key, seqs) in keys {
        let at = u32::try_from(records_start + records.len() as u64)
            .map_err(|_| corrupt(block.first, "larger than 4 GiB"))?;
        slots.extend_from_slice(&hash.to_be_bytes());
        slots.extend_from_slice(&at.to_be_bytes());
        let key_len = u16::try_from(key.len()).map_err(|_| corrupt(block.first, "a long key"))?;
        records.extend_from_slice(&key_len.to_be_bytes());
        records.extend_from_slice(key);
        let n = u32::try_from(seqs.len()).map_err(|_| corrupt(block.first, "a long posting"))?;
        records.extend_from_slice(&n.to_be_bytes());
        for seq in seqs {
            let offset = seq
                .checked_sub(block.first)
                .filter(|o| *o < block.entries)
                .and_then(|o| u32::try_from(o).ok())
                .ok_or_else(|| corrupt(block.first, "a position outside the block"))?;
            records.extend_from_slice(&offset.to_be_bytes());
        }
    }
    let mut bytes = Vec::with_capacity(HEADER as usize + slots.len() + records.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&block.first.to_be_bytes());
    bytes.extend_from_slice(&block.entries.to_be_bytes());
    bytes.extend_from_slice(&count.to_be_bytes());
    let total: u64 = postings.values().map(|seqs| seqs.len() as u64).sum();
    bytes.extend_from_slice(&total.to_be_bytes());
    bytes.extend_from_slice(&slots);
    bytes.extend_from_slice(&records);
    let final_path = path(dir, block.first);
    let folder = dir.join(DIR);
    if !folder.exists() {
        std::fs::create_dir_all(&folder)
            .and_then(|_| File::open(dir)?.sync_all())
            .map_err(io("creating the audit index directory"))?;
    }
    let temporary = folder.join(format!("{:020}.tmp", block.first));
    let mut file = File::create(&temporary).map_err(io("writing an audit index block"))?;
    file.write_all(&bytes)
        .and_then(|_| file.sync_all())
        .and_then(|_| std::fs::rename(&temporary, &final_path))
        .and_then(|_| File::open(&folder)?.sync_all())
        .map_err(io("writing an audit index block"))?;
    Ok(bytes.len() as u64)
}

/// An open block file.
struct Reader {
    file: File,
    size: u64,
    block: Block,
    keys: u64,
    postings: u64,
}

impl Reader {
    fn open(dir: &Path, first: u64) -> StoreResult<Reader> {
        let file = File::open(path(dir, first)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => corrupt(first, "the file is missing"),
            _ => io("opening an audit index block")(e),
        })?;
        let size = file
            .metadata()
            .map_err(io("opening an audit index block"))?
            .len();
        let mut header = [0u8; HEADER as usize];
        read_at(&file, size, &mut header, 0, first)?;
        let field =
            |at: usize| u64::from_be_bytes(header[at..at + 8].try_into().unwrap_or_default());
        let keys = u64::from(u32::from_be_bytes(
            header[24..28].try_into().unwrap_or_default(),
        ));
        let postings = field(28);
        let block = Block {
            first: field(8),
            entries: field(16),
        };
        if &header[..8] != MAGIC || block.first != first {
            return Err(corrupt(first, "not an audit index block"));
        }
        if HEADER + keys * SLOT > size {
            return Err(corrupt(first, "the key table is cut off"));
        }
        Ok(Reader {
            file,
            size,
            block,
            keys,
            postings,
        })
    }

    fn slot(&self, index: u64) -> StoreResult<(u64, u64)> {
        let mut slot = [0u8; SLOT as usize];
        read_at(
            &self.file,
            self.size,
            &mut slot,
            HEADER + index * SLOT,
            self.block.first,
        )?;
        Ok((
            u64::from_be_bytes(slot[..8].try_into().unwrap_or_default()),
            u64::from(u32::from_be_bytes(slot[8..].try_into().unwrap_or_default())),
        ))
    }

    /// The record at `at`: its key, its positions and where the next record starts.
    fn record(&self, at: u64) -> StoreResult<(Vec<u8>, Vec<u64>, u64)> {
        let first = self.block.first;
        let mut len = [0u8; 2];
        read_at(&self.file, self.size, &mut len, at, first)?;
        let key_len = u64::from(u16::from_be_bytes(len));
        let mut key = vec![0u8; key_len.min(MAX_KEY) as usize];
        read_at(&self.file, self.size, &mut key, at + 2, first)?;
        let mut count = [0u8; 4];
        read_at(&self.file, self.size, &mut count, at + 2 + key_len, first)?;
        let count = u64::from(u32::from_be_bytes(count));
        let start = at + 2 + key_len + 4;
        if count.saturating_mul(4) > self.size.saturating_sub(start) {
            return Err(corrupt(first, "a posting is cut off"));
        }
        let mut raw = vec![0u8; (count * 4) as usize];
        read_at(&self.file, self.size, &mut raw, start, first)?;
        let mut seqs = Vec::with_capacity(count as usize);
        for chunk in raw.chunks_exact(4) {
            let offset = u64::from(u32::from_be_bytes(chunk.try_into().unwrap_or_default()));
            if offset >= self.block.entries || seqs.last().is_some_and(|l| first + offset <= *l) {
                return Err(corrupt(
                    first,
                    "a position out of order or outside the block",
                ));
            }
            seqs.push(first + offset);
        }
        Ok((key, seqs, start + count * 4))
    }

    /// The positions under `key`.
    fn lookup(&self, key: &[u8]) -> StoreResult<Vec<u64>> {
        let wanted = hash(key);
        // The first slot whose hash is at least the key's.
        let (mut lo, mut hi) = (0, self.keys);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.slot(mid)?.0 < wanted {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // Keys that share a hash lie side by side: compare each.
        while lo < self.keys {
            let (hash, at) = self.slot(lo)?;
            if hash != wanted {
                break;
            }
            let (stored, seqs, _) = self.record(at)?;
            if stored == key {
                return Ok(seqs);
            }
            lo += 1;
        }
        Ok(Vec::new())
    }
}

fn read_at(file: &File, size: u64, buf: &mut [u8], at: u64, first: u64) -> StoreResult<()> {
    if at.saturating_add(buf.len() as u64) > size {
        return Err(corrupt(first, "cut off"));
    }
    file.read_exact_at(buf, at)
        .map_err(io("reading an audit index block"))
}

/// The positions under `key` in the block starting at `first`, rising.
pub(super) fn lookup(dir: &Path, first: u64, key: &[u8]) -> StoreResult<Vec<u64>> {
    Reader::open(dir, first)?.lookup(key)
}

/// Every key of the block starting at `first` with its positions, in the file's order.
pub(super) fn postings(dir: &Path, first: u64) -> StoreResult<Vec<(Vec<u8>, Vec<u64>)>> {
    let reader = Reader::open(dir, first)?;
    let mut at = HEADER + reader.keys * SLOT;
    let mut out = Vec::with_capacity(reader.keys as usize);
    let mut total = 0;
    for _ in 0..reader.keys {
        let (key, seqs, next) = reader.record(at)?;
        total += seqs.len() as u64;
        out.push((key, seqs));
        at = next;
    }
    if at != reader.size {
        return Err(corrupt(first, "bytes after the last record"));
    }
    if total != reader.postings {
        return Err(corrupt(
            first,
            "a posting count that its records do not have",
        ));
    }
    Ok(out)
}

/// How many postings the block starting at `first` holds (from its header).
pub(super) fn posting_count(dir: &Path, first: u64) -> StoreResult<u64> {
    Ok(Reader::open(dir, first)?.postings)
}

/// The blocks in `dir`, which must follow each other from position 0 (none if there is no
/// block directory yet). Temporary files of a block that was never renamed are removed.
pub(super) fn list(dir: &Path) -> StoreResult<Vec<Block>> {
    let folder = dir.join(DIR);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("listing the audit index blocks")(e)),
    };
    let mut firsts = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("listing the audit index blocks"))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(first) = name.strip_suffix(".blk") {
            firsts.push(first.parse::<u64>().map_err(|_| {
                StoreError::Corrupt(format!("{DIR}/{name} is not an audit index block"))
            })?);
        } else if name.ends_with(".tmp") {
            std::fs::remove_file(entry.path()).map_err(io("removing an unfinished block"))?;
        }
    }
    firsts.sort_unstable();
    let mut blocks = Vec::with_capacity(firsts.len());
    let mut expected = 0;
    for first in firsts {
        if first != expected {
            return Err(corrupt(expected, "the file is missing"));
        }
        let block = Reader::open(dir, first)?.block;
        if block.entries == 0 {
            return Err(corrupt(first, "covers no positions"));
        }
        expected = block.end();
        blocks.push(block);
    }
    Ok(blocks)
}

/// Copies the blocks `blocks` from `from` into `to` and syncs them.
pub(super) fn copy(from: &Path, to: &Path, blocks: &[Block]) -> StoreResult<()> {
    if blocks.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(to.join(DIR)).map_err(io("copying the audit index"))?;
    for block in blocks {
        let target = path(to, block.first);
        std::fs::copy(path(from, block.first), &target)
            .and_then(|_| File::open(&target)?.sync_all())
            .map_err(io("copying the audit index"))?;
    }
    File::open(to.join(DIR))
        .and_then(|d| d.sync_all())
        .map_err(io("copying the audit index"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(first: u64, entries: u64, keys: u64) -> BTreeMap<Vec<u8>, Vec<u64>> {
        let mut postings: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
        for seq in first..first + entries {
            postings
                .entry(format!("r{}", seq % keys).into_bytes())
                .or_default()
                .push(seq);
            postings.entry(b"dgemeente".to_vec()).or_default().push(seq);
        }
        postings
    }

    #[test]
    fn every_key_finds_its_positions_and_unknown_keys_find_none() {
        let dir = tempfile::tempdir().unwrap();
        let block = Block {
            first: 4096,
            entries: 4096,
        };
        let written = sample(4096, 4096, 700);
        write(dir.path(), block, &written).unwrap();
        for (key, seqs) in &written {
            assert_eq!(&lookup(dir.path(), 4096, key).unwrap(), seqs);
        }
        assert!(lookup(dir.path(), 4096, b"r700").unwrap().is_empty());
        assert!(lookup(dir.path(), 4096, b"").unwrap().is_empty());
        let mut all = postings(dir.path(), 4096).unwrap();
        all.sort();
        assert_eq!(all, written.into_iter().collect::<Vec<_>>());
        let gap = list(dir.path()).unwrap_err().to_string();
        assert!(gap.contains("block at 0: the file is missing"), "{gap}");
    }

    #[test]
    fn blocks_must_follow_each_other_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
        for first in [0, 100] {
            let block = Block {
                first,
                entries: 100,
            };
            write(dir.path(), block, &sample(first, 100, 7)).unwrap();
        }
        std::fs::write(dir.path().join(DIR).join("x.tmp"), b"half").unwrap();
        let blocks = list(dir.path()).unwrap();
        assert_eq!(
            blocks.iter().map(Block::end).collect::<Vec<_>>(),
            [100, 200]
        );
        assert!(!dir.path().join(DIR).join("x.tmp").exists());
        std::fs::remove_file(path(dir.path(), 0)).unwrap();
        let missing = list(dir.path()).unwrap_err().to_string();
        assert!(
            missing.contains("block at 0: the file is missing"),
            "{missing}"
        );
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let block = Block {
            first: 0,
            entries: 64,
        };
        let written = sample(0, 64, 5);
        write(dir.path(), block, &written).unwrap();
        let whole = std::fs::read(path(dir.path(), 0)).unwrap();
        // Every cut: every reader refuses or answers without panicking.
        for cut in 0..whole.len() {
            std::fs::write(path(dir.path(), 0), &whole[..cut]).unwrap();
            assert!(postings(dir.path(), 0).is_err(), "cut at {cut}");
            let _ = lookup(dir.path(), 0, b"r3");
        }
        // Every flipped byte: no panic, and the whole block never reads back as it was.
        for at in 0..whole.len() {
            let mut damaged = whole.clone();
            damaged[at] ^= 0xff;
            std::fs::write(path(dir.path(), 0), &damaged).unwrap();
            let _ = lookup(dir.path(), 0, b"r3");
            let _ = list(dir.path());
            if let Ok(read) = postings(dir.path(), 0) {
                let read: BTreeMap<_, _> = read.into_iter().collect();
                // A flipped slot leaves the records intact (only lookups may miss), and a
                // larger count of positions is caught by the next block's start.
                let in_table = (HEADER as usize..(HEADER + 6 * SLOT) as usize).contains(&at);
                let in_count = (16..24).contains(&at);
                assert!(in_table || in_count || read != written, "flip at {at}");
            }
        }
    }

    #[test]
    fn positions_outside_the_block_are_refused_when_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut outside = BTreeMap::new();
        outside.insert(b"r1".to_vec(), vec![5, 200]);
        let block = Block {
            first: 0,
            entries: 100,
        };
        assert!(write(dir.path(), block, &outside).is_err());
        assert!(!path(dir.path(), 0).exists());
    }
}
