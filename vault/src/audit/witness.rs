//! The checkpoint as a C2SP signed note (the format the transparency ecosystem's tools and
//! witnesses read), and the cosignatures witnesses give it. The vault signs the note of any
//! size it holds with its Ed25519 note key under its origin (its public URL without the
//! scheme); a witness the operator trusts (`[audit] witnesses`) checks it and sends back the
//! note with its cosignature (cosignature/v1), which the vault keeps and adds to that
//! note from then on.

use super::Audit;
use crate::crypto::signed_note::{
    ED25519, Note, NoteCheckpoint, NoteError, VerifierKey, signature_line,
};
use crate::{Error, Result};

/// How far in the future a cosignature's time may lie (clock skew between vault and witness).
const MAX_FUTURE_SECS: u64 = 300;

impl Audit {
    /// The log's origin in notes: its public URL without the scheme.
    pub fn note_origin(&self) -> String {
        self.issuer
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// The key that verifies the vault's notes (`<origin>+<key id>+<base64 key>`).
    pub fn note_key(&self) -> VerifierKey {
        VerifierKey::new(&self.note_origin(), ED25519, self.keys.note_key().public())
    }

    /// The checkpoint of the log's first `size` entries (all, without a size) as a signed
    /// note, with every cosignature witnesses gave it.
    pub async fn checkpoint_note(&self, size: Option<u64>) -> Result<String> {
        let held = self.size().await;
        let size = size.unwrap_or(held);
        if size > held {
            return Err(Error::InvalidParameter(format!(
                "size is at most {held}, the number of entries the log holds"
            )));
        }
        let checkpoint = NoteCheckpoint {
            origin: self.note_origin(),
            size,
            root: self.root_at(size).await?,
        };
        let text = checkpoint.text();
        let key = self.note_key();
        let signature = [&key.id()[..], &self.keys.note_key().sign(text.as_bytes())].concat();
        let mut note = format!("{text}\n{}", signature_line(&key.name, &signature));
        for line in self.store.cosignatures(size).await? {
            note.push_str(&line);
        }
        Ok(note)
    }

    /// Keeps the cosignatures in `note` by the `witnesses` the operator trusts; returns the
    /// checkpoint's size and how many it kept. The note must be one this vault signed
    /// (so its size and root are this log's); a cosignature by a trusted witness must
    /// verify and may not be dated more than five minutes ahead of `now` (seconds).
    pub async fn add_cosignatures(
        &self,
        note: &str,
        witnesses: &[VerifierKey],
        now: u64,
    ) -> Result<(u64, usize)> {
        let parsed =
            Note::parse(note).map_err(|e| Error::InvalidParameter(format!("the body is {e}")))?;
        let checkpoint = NoteCheckpoint::parse(&parsed.text)
            .map_err(|e| Error::InvalidParameter(format!("the body is {e}")))?;
        if parsed.verify(&self.note_key()).is_err() {
            return Err(Error::Conflict(
                "the note is not a checkpoint this vault signed; cosign the note it publishes",
            ));
        }
        let mut kept = 0;
        for witness in witnesses {
            match parsed.verify(witness) {
                Ok(Some(time)) if time <= now + MAX_FUTURE_SECS => {
                    let id = witness.id();
                    let line = parsed
                        .signatures
                        .iter()
                        .find(|(name, bytes)| *name == witness.name && bytes[..4] == id)
                        .map(|(name, bytes)| signature_line(name, bytes))
                        .ok_or_else(|| Error::Internal("a verified cosignature vanished".into()))?;
                    self.store
                        .put_cosignature(checkpoint.size, &witness.name, &line)
                        .await?;
                    kept += 1;
                }
                Ok(Some(_)) => {
                    return Err(Error::Forbidden(
                        "a cosignature is dated in the future; check the witness's clock",
                    ));
                }
                Err(NoteError::Signature("the note carries no signature by the key")) => {}
                Ok(None) | Err(_) => {
                    return Err(Error::Forbidden(
                        "a cosignature by a witness this vault trusts does not verify",
                    ));
                }
            }
        }
        if kept == 0 {
            return Err(Error::Forbidden(
                "the note carries no cosignature by a witness this vault trusts",
            ));
        }
        Ok((checkpoint.size, kept))
    }
}
