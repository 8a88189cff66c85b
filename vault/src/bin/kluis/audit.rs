//! `kluis audit verify`: checks an export offline, with no vault running.

use crate::{Failure, fail};
use std::path::Path;

/// Verifies `export`, against the published `jwks` if given, and against an `older`
/// checkpoint if given. Prints what holds; fails naming the first place that is wrong.
pub fn verify(export: &Path, jwks: Option<&Path>, older: Option<&Path>) -> Result<(), Failure> {
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
    if !verified.trusted_key {
        println!(
            "NOTE: checked against the key inside the export; pass --jwks with the vault's published /.well-known/jwks.json to check its origin"
        );
    }
    Ok(())
}
