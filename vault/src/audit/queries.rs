//! Reading the log back: entries by range (each checked against its leaf hash), by index,
//! by time, and the officer's filtered pages.

use super::complaint::{complaint_code, parse_complaint_code};
use super::entry::{Action, Entry, Outcome};
use super::merkle::{self, Node};
use super::stored::{self, Opened};
use super::writer::{index_key, indexed_action};
use super::{Audit, OpenError};
use crate::{Error, Result};
use chrono::{DateTime, Utc};

/// The longest text part of an officer's filter.
const MAX_FILTER_CHARS: usize = 128;

/// Whether `text` looks like an id (an activity, a department): lowercase letters, digits,
/// dots and dashes, at most 64 characters.
pub(super) fn is_id_like(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// How many entries one read of a range takes at most.
pub(super) const CHUNK: u64 = 4096;

impl Audit {
    /// Entries `[from, to)` as their canonical bytes (the Merkle leaves, the export's lines).
    ///
    /// Each entry is checked against its stored leaf hash: an entry whose bytes were
    /// changed behind the vault's back is an integrity error, never an answer.
    pub async fn raw_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>> {
        let opened = self.opened_entries(from, to).await?;
        Ok(opened.into_iter().map(|o| o.canonical).collect())
    }

    /// Entries `[from, to)` opened from their stored form and checked against their leaf
    /// hashes.
    async fn opened_entries(&self, from: u64, to: u64) -> Result<Vec<Opened>> {
        let entries = self.store.audit_entries(from, to).await?;
        let leaves: Vec<Node> = (from..from + entries.len() as u64)
            .map(|i| (0u8, i))
            .collect();
        let hashes = self.store.audit_nodes(&leaves).await?;
        let mut out = Vec::with_capacity(entries.len());
        for ((seq, bytes), stored) in (from..).zip(&entries).zip(hashes) {
            let opened = stored::open(bytes).inspect_err(|_| {
                tracing::error!(seq, "an audit entry's stored bytes are in no known form");
            });
            match opened {
                Ok(opened) if stored == Some(merkle::leaf_hash(&opened.canonical)) => {
                    out.push(opened)
                }
                opened => {
                    if opened.is_ok() {
                        tracing::error!(seq, "an audit entry does not match its leaf hash");
                    }
                    return Err(Error::Integrity(crate::crypto::CryptoError::Integrity {
                        what: "audit entry",
                    }));
                }
            }
        }
        Ok(out)
    }

    /// Rehashes entries `[from, to)` against their stored leaf hashes, before serving:
    /// start-up checks the newest entries this way (the full check runs while serving,
    /// see `integrity`).
    pub async fn verify_entries(&self, from: u64, to: u64) -> std::result::Result<(), OpenError> {
        let mut at = from;
        while at < to {
            let end = (at + CHUNK).min(to);
            self.raw_entries(at, end).await.map_err(|_| {
                OpenError(format!(
                    "an audit entry between {at} and {end} no longer matches its hash: the log was rewritten; restore the database before serving"
                ))
            })?;
            at = end;
        }
        Ok(())
    }

    /// Entries `[from, to)`, decoded.
    pub async fn entries(&self, from: u64, to: u64) -> Result<Vec<Entry>> {
        self.opened_entries(from, to)
            .await?
            .into_iter()
            .map(|opened| match opened.entry {
                Some(entry) => Ok(entry),
                None => serde_json::from_slice(&opened.canonical)
                    .map_err(|e| Error::Internal(format!("an audit entry is unreadable: {e}"))),
            })
            .collect()
    }

    /// Feeds entries `[from, to)` to `visit` in order, one chunk in memory at a time: how
    /// reports and exports read a log of any length.
    pub async fn scan(&self, from: u64, to: u64, mut visit: impl FnMut(&Entry)) -> Result<()> {
        let mut at = from;
        while at < to {
            let end = (at + CHUNK).min(to);
            for entry in self.entries(at, end).await? {
                visit(&entry);
            }
            at = end;
        }
        Ok(())
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

    /// Every entry about grant `id`, oldest first.
    pub async fn about_grant(&self, id: uuid::Uuid) -> Result<Vec<Entry>> {
        self.indexed(&index_key(b'g', id.as_bytes()), 0, usize::MAX)
            .await
    }

    /// Every entry about the resident with this audit reference, oldest first: also an
    /// officer's search by their complaint code (logged under the code, as the officer
    /// cannot know the reference).
    pub async fn about_resident(&self, reference: &str) -> Result<Vec<Entry>> {
        let mut entries = self
            .indexed(&index_key(b'r', reference.as_bytes()), 0, usize::MAX)
            .await?;
        if let Some(code) = complaint_code(reference) {
            entries.extend(
                self.indexed(&index_key(b'r', code.as_bytes()), 0, usize::MAX)
                    .await?,
            );
            entries.sort_by_key(|e| e.seq);
        }
        Ok(entries)
    }
}

/// What an officer asks the log for. Every field narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// A resident's audit reference, or their complaint code ("K7QM-3XPA").
    pub resident: Option<String>,
    /// A department id.
    pub department: Option<String>,
    /// A coach id: every entry about what the coach did or was allowed.
    pub coach: Option<String>,
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
            return Some(index_key(b'g', g.as_bytes()));
        }
        if let Some(r) = &self.resident
            && parse_complaint_code(r).is_none()
        {
            return Some(index_key(b'r', r.as_bytes()));
        }
        if let Some(c) = &self.coach {
            return Some(index_key(b'c', c.as_bytes()));
        }
        if let Some(d) = &self.department {
            return Some(index_key(b'd', d.as_bytes()));
        }
        self.action
            .filter(|a| indexed_action(*a))
            .map(|a| index_key(b'a', a.as_str().as_bytes()))
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
        let resident_matches = |wanted: &String| {
            entry.resident.as_ref() == Some(wanted)
                || parse_complaint_code(wanted).is_some_and(|code| {
                    entry.resident.as_deref().and_then(complaint_code) == Some(code)
                })
        };
        self.resident.as_ref().is_none_or(resident_matches)
            && self
                .department
                .as_ref()
                .is_none_or(|d| entry.department.as_ref() == Some(d))
            && self
                .coach
                .as_ref()
                .is_none_or(|c| entry.details.get("coach") == Some(c))
            && self.grant.is_none_or(|g| entry.grant == Some(g))
            && self.purpose.as_deref().is_none_or(purpose_matches)
            && self.action.is_none_or(|a| entry.action == a)
            && self.outcome.is_none_or(|o| entry.outcome == o)
            && self.from.is_none_or(|f| entry.time >= f)
            && self.to.is_none_or(|t| entry.time < t)
    }

    /// Refuses a filter with a text part that is too long or holds a control character,
    /// naming the part (never echoing it). A resident is an audit reference or a complaint
    /// code, a department and a coach are ids: anything else (a name, a BSN typed in the
    /// wrong box) is refused, so it never reaches the log that records the question.
    pub fn check(&self) -> Result<()> {
        match self.problem() {
            Some((_, message)) => Err(Error::InvalidParameter(message.into())),
            None => Ok(()),
        }
    }

    /// The first part of the filter that cannot be used, and why.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        let plain =
            |v: &str| v.chars().count() <= MAX_FILTER_CHARS && !v.chars().any(char::is_control);
        let reference = |v: &str| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                || parse_complaint_code(v).is_some()
        };
        let wrong = |value: &Option<String>, ok: &dyn Fn(&str) -> bool| {
            value.as_deref().is_some_and(|v| !ok(v))
        };
        [
            (
                "resident",
                wrong(&self.resident, &reference),
                "resident is an audit reference of 43 characters or a complaint code, such as \"WSE2-EPTK\"",
            ),
            (
                "department",
                wrong(&self.department, &is_id_like),
                "department is a department id, such as \"schuldhulpverlening\"",
            ),
            (
                "coach",
                wrong(&self.coach, &is_id_like),
                "coach is a coach id, such as \"sanne\"",
            ),
            (
                "purpose",
                wrong(&self.purpose, &plain),
                "purpose is at most 128 characters without control characters, such as \"schuldhulp-traject\"",
            ),
        ]
        .into_iter()
        .find(|(_, wrong, _)| *wrong)
        .map(|(part, _, message)| (part, message))
    }

    /// The filter as entry details (for logging an officer's query): ids only.
    pub fn as_details(&self) -> std::collections::BTreeMap<String, String> {
        let mut details = std::collections::BTreeMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                details.insert(k.to_owned(), v);
            }
        };
        // A complaint code as the vault writes it, so the resident's history finds it.
        put(
            "resident",
            self.resident
                .as_ref()
                .map(|r| parse_complaint_code(r).unwrap_or_else(|| r.clone())),
        );
        put("department", self.department.clone());
        put("coach", self.coach.clone());
        put("grant", self.grant.map(|g| g.to_string()));
        // A purpose is logged only as an activity id; words searched for in purposes could
        // be anything (a name, a BSN), so of those only the length is kept.
        put(
            "purpose",
            self.purpose.as_ref().map(|p| {
                if is_id_like(p) {
                    p.clone()
                } else {
                    format!("(words, {} characters)", p.chars().count())
                }
            }),
        );
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
