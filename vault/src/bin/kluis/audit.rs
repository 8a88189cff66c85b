//! `kluis audit verify`: checks an export offline, with no vault running.

use crate::{Failure, fail};
use std::path::Path;

/// Verifies `export`, against the published `jwks` if given, against an `older`
/// checkpoint if given, and against a signed `note` (file, the vault's note key) of the same
/// checkpoint if given, which must carry a valid cosignature by each of `witnesses`.
/// Prints what holds; fails naming the first place that is wrong.
pub fn verify(
    export: &Path,
    jwks: Option<&Path>,
    older: Option<&Path>,
    note: Option<(&Path, &str)>,
    witnesses: &[String],
) -> Result<(), Failure> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| fail(2, format!("cannot read {}: {e}", path.display())))
    };
    let text = read(export)?;
    let jwks = match jwks {
        Some(path) => Some(
            serde_json::from_str::<serde_json::Value>(&read(path)?)
                .map_err(|e| fail(2, format!("{} is not a JWKS: {e}", path.display())))?,
        ),
        None => None,
    };
    let older = match older {
        Some(path) => Some(read(path)?),
        None => None,
    };
    let verified = kluis::audit::export::verify(&text, jwks.as_ref(), older.as_deref())
        .map_err(|e| fail(1, format!("verification failed at {e}")))?;
    println!(
        "OK: entries {}..{} reproduce the checkpoint of {} entries signed by {} at {}",
        verified.from,
        verified.to,
        verified.checkpoint.tree_size,
        verified.checkpoint.kid,
        chrono::DateTime::from_timestamp(verified.checkpoint.time, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    );
    if verified.consistent_with_older {
        println!("OK: consistent with the older checkpoint: history was not rewritten");
    }
    if let Some((path, key)) = note {
        verify_note(&read(path)?, key, witnesses, &verified.checkpoint)?;
    }
    if !verified.trusted_key {
        println!(
            "NOTE: checked against the key inside the export; pass --jwks with the vault's published /.well-known/jwks.json to check its origin"
        );
    }
    Ok(())
}

/// Checks that `note` is the vault's (signed by `key`) note of `checkpoint` and carries a
/// valid cosignature by each of `witnesses`.
fn verify_note(
    note: &str,
    key: &str,
    witnesses: &[String],
    checkpoint: &kluis::jose::Checkpoint,
) -> Result<(), Failure> {
    use kluis::crypto::signed_note::{Note, NoteCheckpoint, VerifierKey};
    let key = VerifierKey::parse(key).map_err(|e| fail(2, format!("--note-key: {e}")))?;
    let parsed = Note::parse(note).map_err(|e| fail(1, format!("the note: {e}")))?;
    parsed
        .verify(&key)
        .map_err(|e| fail(1, format!("the note's signature by {}: {e}", key.name)))?;
    let body =
        NoteCheckpoint::parse(&parsed.text).map_err(|e| fail(1, format!("the note: {e}")))?;
    if body.size != checkpoint.tree_size || body.root != checkpoint.root_hash {
        return Err(fail(
            1,
            format!(
                "the note is the checkpoint of {} entries with another root than the export's of {}: fetch the note with ?size={}",
                body.size, checkpoint.tree_size, checkpoint.tree_size
            ),
        ));
    }
    println!(
        "OK: the signed note of {} entries is the export's checkpoint",
        body.size
    );
    for witness in witnesses {
        let witness =
            VerifierKey::parse(witness).map_err(|e| fail(2, format!("--witness-key: {e}")))?;
        match parsed.verify(&witness) {
            Ok(Some(time)) => println!(
                "OK: cosigned by witness {} at {}",
                witness.name,
                chrono::DateTime::from_timestamp(i64::try_from(time).unwrap_or(0), 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            ),
            Ok(None) => {
                return Err(fail(
                    2,
                    format!(
                        "--witness-key {}: not a cosignature key (type 4)",
                        witness.name
                    ),
                ));
            }
            Err(e) => return Err(fail(1, format!("witness {}: {e}", witness.name))),
        }
    }
    Ok(())
}
