//! How both adapters encode a row as a stored value: a format byte, then JSON. The same
//! bytes in sled and in PostgreSQL, so a vault moves between them unchanged.

use super::{StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The format byte every value starts with.
pub const FORMAT_V1: u8 = 1;

/// `[FORMAT_V1]` + JSON.
pub(super) fn encode_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Serialising our own row types to a Vec cannot fail (no maps with non-string keys).
    serde_json::to_writer(&mut out, value).expect("row types serialise");
    out
}

/// The row in a `[FORMAT_V1]` + JSON value; `what` names it in the error.
pub(super) fn decode_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> StoreResult<T> {
    match bytes.split_first() {
        Some((&FORMAT_V1, json)) => {
            serde_json::from_slice(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!("{what}: unknown format {v}"))),
        None => Err(StoreError::Corrupt(format!("{what}: empty value"))),
    }
}
