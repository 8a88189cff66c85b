//! Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint): the
//! text `origin`, tree size and base64 root hash, one line each, then a blank line and
//! signature lines `— <name> <base64(key id ‖ signature)>`. The vault signs with Ed25519
//! (type 0x01) under the name of its origin; witnesses add timestamped cosignatures
//! (c2sp.org/tlog-cosignature, type 0x04). Verifier keys are written
//! `<name>+<key id in hex>+<base64(type ‖ public key)>`. Parsing and verifying are here;
//! the vault's key is [`NoteKey`](super::NoteKey), what it signs is `audit::witness`.

use super::{ed25519_verifies, sha256_of_parts};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The signature type of a note signed with Ed25519.
pub const ED25519: u8 = 0x01;
/// The signature type of a timestamped Ed25519 cosignature (cosignature/v1).
pub const COSIGNATURE_V1: u8 = 0x04;
/// The prefix of a signature line: an em dash and a space.
const DASH: &str = "\u{2014} ";
/// The most signatures a note may carry.
const MAX_SIGNATURES: usize = 100;

/// Why a note or a key was refused. Messages name the part, never echo input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is not a signed note.
    #[error("not a signed note: {0}")]
    Malformed(&'static str),
    /// The checkpoint text is not a checkpoint.
    #[error("not a checkpoint: {0}")]
    Checkpoint(&'static str),
    /// A verifier key is not one.
    #[error("not a verifier key: {0}")]
    Key(&'static str),
    /// A signature by the key does not verify, or there is none.
    #[error("{0}")]
    Signature(&'static str),
}

/// The 4-byte key id of `name`'s key of `kind` (the first four bytes of
/// SHA-256(name ‖ 0x0A ‖ kind ‖ public)).
pub fn key_id(name: &str, kind: u8, public: &[u8]) -> [u8; 4] {
    let digest = sha256_of_parts(&[name.as_bytes(), b"\n", &[kind], public]);
    [digest[0], digest[1], digest[2], digest[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

/// A key that verifies notes or cosignatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    /// Its name (a note signature names it).
    pub name: String,
    /// Its signature type ([`ED25519`] or [`COSIGNATURE_V1`]).
    pub kind: u8,
    /// The Ed25519 public key.
    pub public: [u8; 32],
}

impl VerifierKey {
    /// The key `name` of `kind` with `public`.
    pub fn new(name: &str, kind: u8, public: [u8; 32]) -> VerifierKey {
        VerifierKey {
            name: name.to_owned(),
            kind,
            public,
        }
    }

    /// Reads `<name>+<hex key id>+<base64(type ‖ key)>`, checking that the key id is the
    /// key's.
    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::Key("it has three parts joined by '+'"));
        };
        if !valid_name(name) {
            return Err(NoteError::Key("the name is empty or holds a space or '+'"));
        }
        let id = u32::from_str_radix(id, 16)
            .ok()
            .filter(|_| id.len() == 8)
            .ok_or(NoteError::Key("the key id is not 8 hex digits"))?;
        let key = B64
            .decode(key)
            .map_err(|_| NoteError::Key("the key is not base64"))?;
        let (kind, public) = key
            .split_first()
            .ok_or(NoteError::Key("the key is empty"))?;
        if !matches!(*kind, ED25519 | COSIGNATURE_V1) {
            return Err(NoteError::Key(
                "only Ed25519 keys (types 1 and 4) are supported",
            ));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::Key("an Ed25519 key has 32 bytes"))?;
        let parsed = VerifierKey::new(name, *kind, public);
        if u32::from_be_bytes(parsed.id()) != id {
            return Err(NoteError::Key("the key id does not match the key"));
        }
        Ok(parsed)
    }

    /// Its key id.
    pub fn id(&self) -> [u8; 4] {
        key_id(&self.name, self.kind, &self.public)
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = [&[self.kind][..], &self.public].concat();
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            u32::from_be_bytes(self.id()),
            B64.encode(key)
        )
    }
}

/// A checkpoint: the log `origin`, its size and root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteCheckpoint {
    /// Which log.
    pub origin: String,
    /// How many entries.
    pub size: u64,
    /// The RFC 9162 root of those entries.
    pub root: [u8; 32],
}

impl NoteCheckpoint {
    /// The note text: three lines.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Reads a note text (extension lines after the third are allowed and ignored).
    pub fn parse(text: &str) -> Result<NoteCheckpoint, NoteError> {
        let mut lines = text.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty());
        let origin = origin.ok_or(NoteError::Checkpoint("the first line names the log"))?;
        let size = lines
            .next()
            .filter(|s| !s.is_empty() && (s == &"0" || !s.starts_with('0')))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(NoteError::Checkpoint(
                "the second line is the tree size in decimal",
            ))?;
        let root: [u8; 32] = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::Checkpoint(
                "the third line is the base64 root hash of 32 bytes",
            ))?;
        Ok(NoteCheckpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// A signed note taken apart: its text and its signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text (ending in a newline).
    pub text: String,
    /// `(name, key id ‖ signature bytes)` of each signature line.
    pub signatures: Vec<(String, Vec<u8>)>,
}

impl Note {
    /// Takes `note` apart: the text up to the last blank line, then signature lines.
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed("it holds a control character"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        if signatures.is_empty() || !signatures.ends_with('\n') {
            return Err(NoteError::Malformed(
                "no signature lines ending in a newline",
            ));
        }
        let mut parsed = Vec::new();
        for line in signatures.lines() {
            let rest = line.strip_prefix(DASH).ok_or(NoteError::Malformed(
                "a signature line starts with an em dash",
            ))?;
            let (name, bytes) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("a signature line names its key"))?;
            let bytes = B64
                .decode(bytes)
                .ok()
                .filter(|b| b.len() >= 5 && valid_name(name))
                .ok_or(NoteError::Malformed(
                    "a signature is not base64 of at least 5 bytes",
                ))?;
            parsed.push((name.to_owned(), bytes));
        }
        if parsed.len() > MAX_SIGNATURES {
            return Err(NoteError::Malformed("more than 100 signatures"));
        }
        Ok(Note {
            text: text.to_owned(),
            signatures: parsed,
        })
    }

    /// The signed note: the text, a blank line, the signature lines.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n", self.text);
        for (name, bytes) in &self.signatures {
            out.push_str(&signature_line(name, bytes));
        }
        out
    }

    /// Checks the signature by `key`: there must be one, and it must verify. For a
    /// cosignature, returns its time (seconds).
    pub fn verify(&self, key: &VerifierKey) -> Result<Option<u64>, NoteError> {
        let id = key.id();
        let mine = self
            .signatures
            .iter()
            .filter(|(name, bytes)| *name == key.name && bytes[..4] == id);
        let mut found = None;
        for (_, bytes) in mine {
            let time = match key.kind {
                ED25519 => {
                    if !ed25519_verifies(&key.public, self.text.as_bytes(), &bytes[4..]) {
                        return Err(NoteError::Signature(
                            "a signature by the key does not verify",
                        ));
                    }
                    None
                }
                _ => {
                    let (time, signature) = cosignature_parts(bytes)?;
                    let message = cosigned_message(time, &self.text);
                    if !ed25519_verifies(&key.public, message.as_bytes(), signature) {
                        return Err(NoteError::Signature(
                            "a cosignature by the key does not verify",
                        ));
                    }
                    Some(time)
                }
            };
            found = Some(time);
        }
        found.ok_or(NoteError::Signature(
            "the note carries no signature by the key",
        ))
    }
}

fn cosignature_parts(bytes: &[u8]) -> Result<(u64, &[u8]), NoteError> {
    if bytes.len() != 4 + 8 + 64 {
        return Err(NoteError::Signature("a cosignature has 76 bytes"));
    }
    let mut time = [0u8; 8];
    time.copy_from_slice(&bytes[4..12]);
    Ok((u64::from_be_bytes(time), &bytes[12..]))
}

/// What a witness signs for a cosignature of `text` at `time` (cosignature/v1).
pub fn cosigned_message(time: u64, text: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

/// A signature line for `name` with `bytes` (key id ‖ signature).
pub fn signature_line(name: &str, bytes: &[u8]) -> String {
    format!("{DASH}{name} {}\n", B64.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of golang.org/x/mod/sumdb/note (note_test.go), also in C2SP's spec.
    const PETER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIGNED: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn the_published_example_verifies_and_a_changed_one_does_not() {
        let key = VerifierKey::parse(PETER).unwrap();
        assert_eq!(key.to_string(), PETER);
        let note = Note::parse(&format!("{TEXT}\n{SIGNED}")).unwrap();
        assert_eq!(note.verify(&key), Ok(None));
        let changed =
            Note::parse(&format!("{}\n{SIGNED}", TEXT.replace("answer", "cause"))).unwrap();
        assert!(changed.verify(&key).is_err());
        let other = VerifierKey::new("PeterNeumann", ED25519, [7; 32]);
        assert_eq!(
            note.verify(&other),
            Err(NoteError::Signature(
                "the note carries no signature by the key"
            ))
        );
    }

    #[test]
    fn bad_keys_and_notes_say_what_is_wrong() {
        assert!(
            VerifierKey::parse(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
        assert!(VerifierKey::parse("Peter Neumann+c74f20a3+AQ==").is_err());
        assert!(Note::parse(TEXT).is_err());
        assert!(Note::parse(&format!("{TEXT}\nno dash\n")).is_err());
        assert!(NoteCheckpoint::parse("origin\n012\nAAAA\n").is_err());
        let checkpoint = NoteCheckpoint {
            origin: "kluis.example.nl".into(),
            size: 12,
            root: [9; 32],
        };
        assert_eq!(NoteCheckpoint::parse(&checkpoint.text()), Ok(checkpoint));
    }
}
