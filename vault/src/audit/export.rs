//! The audit export and its offline verification.
//!
//! An export is JSON Lines. The first line is a header:
//!
//! ```json
//! {"format":"kluis-audit-export/1","issuer":"https://kluis.example.nl","from":0,"to":42,
//!  "left":["<base64url>", ...], "checkpoint":"<signed checkpoint at size 42>", "jwks":{...}}
//! ```
//!
//! followed by one line per entry `[from, to)`: `{"leaf_hash":"<base64url>","entry":{...}}`,
//! where `entry` is the entry's canonical bytes exactly as the tree hashed them. `left` holds
//! the perfect subtree hashes that cover the entries before `from`, so a range can be checked
//! against a checkpoint of the whole log. The export always runs up to its checkpoint.
//!
//! [`verify`] checks, in order, and names the first place that is wrong: the checkpoint's
//! signature (against the published JWKS the verifier trusts), that the entries run without
//! gaps or reordering from `from` to the checkpoint's size, that each entry matches its
//! recorded hash, that the whole reproduces the signed root, and, if an older checkpoint is
//! given, that the log's history up to it is unchanged.

use super::Audit;
use super::merkle::{self, Frontier, Hash};
use crate::jose::Checkpoint;
use crate::jose::compact::B64URL;
use crate::{Error, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The format tag of the header.
pub const FORMAT: &str = "kluis-audit-export/1";

/// The header line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// The vault's issuer URL.
    pub issuer: String,
    /// The first entry's sequence number.
    pub from: u64,
    /// One past the last entry: the checkpoint's size.
    pub to: u64,
    /// Perfect subtree hashes covering `[0, from)`, base64url.
    pub left: Vec<String>,
    /// The signed checkpoint at size `to`.
    pub checkpoint: String,
    /// The vault's JWKS at export time (a convenience: verify against the published one).
    pub jwks: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    leaf_hash: &'a str,
    #[serde(borrow)]
    entry: &'a RawValue,
}

/// Lines checked on their own at a time, spread over the machine's cores.
const BLOCK: usize = 1 << 16;

/// What one line says on its own: its entry's position and leaf hash, and whether that
/// hash is the one recorded next to it; or why it is not an export line.
type Checked = std::result::Result<(u64, Hash, bool), String>;

/// The line as the vault writes it, `{"leaf_hash":"<hash>","entry":<entry>}`, taken apart
/// without parsing the entry: its bytes are hashed as they stand, and only a hash that
/// reproduces the signed root is accepted, so a malformed entry cannot pass.
fn split_line(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(r#"{"leaf_hash":""#)?;
    let (hash, rest) = rest.split_once(r#"","entry":"#)?;
    Some((hash, rest.strip_suffix('}')?))
}

/// Checks one line on its own (no order yet): the parts that can run in parallel. A line
/// in another JSON layout (keys reordered, spaces) is read as JSON.
fn check_line(text: &str) -> Checked {
    let (leaf_hash, raw) = match split_line(text) {
        Some(parts) => parts,
        None => {
            let line: Line =
                serde_json::from_str(text).map_err(|e| format!("not an export line: {e}"))?;
            (line.leaf_hash, line.entry.get())
        }
    };
    let seq = leading_seq(raw).ok_or_else(|| {
        "not an audit entry: an entry's canonical form begins with its position, {\"seq\":"
            .to_owned()
    })?;
    let leaf = merkle::leaf_hash(raw.as_bytes());
    Ok((seq, leaf, hash_from(leaf_hash) == Some(leaf)))
}

/// The position an entry's canonical bytes begin with (`{"seq":42,`).
fn leading_seq(raw: &str) -> Option<u64> {
    let rest = raw.strip_prefix(r#"{"seq":"#)?;
    let end = rest.find([',', '}'])?;
    let digits = &rest[..end];
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok())?
}

/// Part of a block, checked by one thread: each line on its own, and, when its lines are
/// the entries of one perfect subtree of the log, in order and each with its recorded
/// hash, that subtree's level and root (so the fold takes them at once).
struct Part {
    checked: Vec<Checked>,
    subtree: Option<(u8, Hash)>,
}

/// Checks `lines`, which should hold the entries from position `first` on.
fn check_part(lines: &[(usize, &str)], first: u64) -> Part {
    let checked: Vec<Checked> = lines.iter().map(|(_, text)| check_line(text)).collect();
    let count = lines.len() as u64;
    let in_order = checked
        .iter()
        .enumerate()
        .all(|(i, c)| matches!(c, Ok((seq, _, true)) if Some(*seq) == first.checked_add(i as u64)));
    let subtree = (count.is_power_of_two() && first.is_multiple_of(count) && in_order).then(|| {
        let mut tree = Frontier::default();
        for (_, leaf, _) in checked.iter().flatten() {
            tree.append(*leaf);
        }
        (count.trailing_zeros() as u8, tree.root())
    });
    Part { checked, subtree }
}

/// Checks a block of `lines` (from position `first` on) in parallel parts, in order.
fn check_block(lines: &[(usize, &str)], first: u64) -> Vec<(usize, Part)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = lines.len().div_ceil(threads).next_power_of_two().max(1);
    if threads == 1 || lines.len() < 1024 {
        return vec![(0, check_part(lines, first))];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(per_thread)
            .enumerate()
            .map(|(i, chunk)| {
                let offset = i * per_thread;
                let at = first.saturating_add(offset as u64);
                (offset, scope.spawn(move || check_part(chunk, at)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(offset, h)| {
                let part = h.join().unwrap_or_else(|_| Part {
                    checked: vec![Err("the check of these lines failed".to_owned())],
                    subtree: None,
                });
                (offset, part)
            })
            .collect()
    })
}

impl Audit {
    /// Exports entries `[from, to)` with a checkpoint at `to`.
    pub async fn export(&self, from: u64, to: u64) -> Result<String> {
        if from > to || to > self.size().await {
            return Err(Error::InvalidParameter(
                "need from <= to <= the log's size".into(),
            ));
        }
        let header = Header {
            format: FORMAT.to_owned(),
            issuer: self.issuer.clone(),
            from,
            to,
            left: self
                .left_frontier(from)
                .await?
                .iter()
                .map(|h| B64URL.encode(h))
                .collect(),
            checkpoint: self.checkpoint_at(to).await?,
            jwks: self.keys.jwks(),
        };
        let mut out = serde_json::to_string(&header).map_err(|e| Error::Internal(e.to_string()))?;
        out.push('\n');
        for chunk_start in (from..to).step_by(1024) {
            for bytes in self
                .raw_entries(chunk_start, (chunk_start + 1024).min(to))
                .await?
            {
                out.push_str(r#"{"leaf_hash":""#);
                out.push_str(&B64URL.encode(merkle::leaf_hash(&bytes)));
                out.push_str(r#"","entry":"#);
                out.push_str(
                    std::str::from_utf8(&bytes)
                        .map_err(|_| Error::Internal("an audit entry is not UTF-8".into()))?,
                );
                out.push_str("}\n");
            }
        }
        Ok(out)
    }
}

/// What a successful verification established.
#[derive(Debug)]
pub struct Verified {
    /// The entries checked: `[from, to)`.
    pub from: u64,
    /// One past the last.
    pub to: u64,
    /// The signed checkpoint they reproduce.
    pub checkpoint: Checkpoint,
    /// Whether the checkpoint was checked against a JWKS the caller supplied (true) or only
    /// against the one inside the export (false).
    pub trusted_key: bool,
    /// Whether an older checkpoint was checked for consistency.
    pub consistent_with_older: bool,
}

/// Why an export fails verification: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct VerifyError {
    /// Where: "line 7 (entry 5)", "the checkpoint", "the header".
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

fn fail<T>(
    place: impl Into<String>,
    problem: impl Into<String>,
) -> std::result::Result<T, VerifyError> {
    Err(VerifyError {
        place: place.into(),
        problem: problem.into(),
    })
}

fn hash_from(b64: &str) -> Option<Hash> {
    B64URL.decode(b64).ok().and_then(|b| b.try_into().ok())
}

/// Verifies an export. `jwks` is the vault's published key set the caller trusts (without
/// it, the JWKS inside the export is used, which proves integrity but not origin);
/// `older` is a checkpoint the caller kept from before.
pub fn verify(
    export: &str,
    jwks: Option<&Value>,
    older: Option<&str>,
) -> std::result::Result<Verified, VerifyError> {
    let mut lines = export.lines().enumerate();
    let Some((_, first)) = lines.next() else {
        return fail("the export", "it is empty");
    };
    let header: Header = serde_json::from_str(first).or_else(|e| {
        fail(
            "the header (line 1)",
            format!("not a valid export header: {e}"),
        )
    })?;
    if header.format != FORMAT {
        return fail(
            "the header (line 1)",
            format!("unknown format {:?}", header.format),
        );
    }
    let trusted_key = jwks.is_some();
    let keys = jwks.unwrap_or(&header.jwks);
    let checkpoint = Checkpoint::verify(&header.checkpoint, keys).or_else(|e| {
        fail(
            "the checkpoint",
            format!("its signature or form does not verify ({e}); it is forged or altered"),
        )
    })?;
    if checkpoint.tree_size != header.to {
        return fail(
            "the header (line 1)",
            format!(
                "it says the export runs to {}, its signed checkpoint covers {}",
                header.to, checkpoint.tree_size
            ),
        );
    }
    if header.from > header.to {
        return fail("the header (line 1)", "from lies after to");
    }
    let left: Option<Vec<Hash>> = header.left.iter().map(|h| hash_from(h)).collect();
    let mut frontier = left
        .and_then(|hashes| Frontier::from_nodes(header.from, &hashes))
        .map_or_else(
            || {
                fail(
                    "the header (line 1)",
                    "the hashes before the first entry are malformed",
                )
            },
            Ok,
        )?;
    let older = match older {
        None => None,
        Some(token) => {
            let older = Checkpoint::verify(token.trim(), keys)
                .or_else(|e| fail("the older checkpoint", format!("it does not verify ({e})")))?;
            if older.tree_size < header.from || older.tree_size > header.to {
                return fail(
                    "the older checkpoint",
                    format!(
                        "its size {} lies outside this export ({}..{}); export a range that includes it",
                        older.tree_size, header.from, header.to
                    ),
                );
            }
            Some(older)
        }
    };
    let check_older = |frontier: &Frontier| -> std::result::Result<(), VerifyError> {
        match &older {
            Some(o) if o.tree_size == frontier.size() && frontier.root() != o.root_hash => fail(
                format!("entries up to {}", o.tree_size),
                format!(
                    "they differ from the older checkpoint of {} entries: the log's history was rewritten",
                    o.tree_size
                ),
            ),
            _ => Ok(()),
        }
    };
    check_older(&frontier)?;

    let mut expected = header.from;
    let lines: Vec<(usize, &str)> = lines.filter(|(_, text)| !text.trim().is_empty()).collect();
    for block in lines.chunks(BLOCK) {
        for (offset, part) in check_block(block, expected) {
            let count = part.checked.len() as u64;
            // A whole subtree, in order, inside the checkpoint, with no older checkpoint
            // ending inside it: folded at once.
            if let Some((level, root)) = part.subtree
                && expected
                    .checked_add(count)
                    .is_some_and(|end| end <= header.to)
                && older
                    .as_ref()
                    .is_none_or(|o| o.tree_size <= expected || o.tree_size >= expected + count)
                && frontier.append_subtree(level, root)
            {
                expected += count;
                check_older(&frontier)?;
                continue;
            }
            for (&(index, _), checked) in block[offset..].iter().zip(part.checked) {
                let place = || format!("line {} (entry {expected})", index + 1);
                if expected >= header.to {
                    return fail(
                        place(),
                        format!(
                            "the export holds more entries than its checkpoint covers ({})",
                            header.to
                        ),
                    );
                }
                let (seq, leaf, recorded) = checked.or_else(|problem| fail(place(), problem))?;
                if seq != expected {
                    return fail(
                        place(),
                        format!(
                            "it holds entry {seq} where entry {expected} belongs: entries were removed, added or reordered"
                        ),
                    );
                }
                if !recorded {
                    return fail(
                        place(),
                        "its contents do not match its recorded hash: the entry was altered",
                    );
                }
                frontier.append(leaf);
                check_older(&frontier)?;
                expected += 1;
            }
        }
    }
    if expected < header.to {
        return fail(
            format!("the end (after entry {})", expected.saturating_sub(1)),
            format!(
                "the export stops at entry {expected} but its checkpoint covers {}: it was truncated",
                header.to
            ),
        );
    }
    if frontier.root() != checkpoint.root_hash {
        return fail(
            "the checkpoint",
            "the entries do not reproduce its signed root: a recorded hash, or the hashes before the first entry, were rewritten",
        );
    }
    Ok(Verified {
        from: header.from,
        to: header.to,
        checkpoint,
        trusted_key,
        consistent_with_older: older.is_some(),
    })
}
