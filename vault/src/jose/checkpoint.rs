//! Signed checkpoints of the audit log.

use super::compact::{self, B64URL};
use super::keys::{KeySet, VaultKey};
use super::{CHECKPOINT_TYP, JoseError, Kind, check_header, header_kid, string_claim, time_claim};
use base64::Engine;
use serde_json::{Value, json};

/// A signed statement of the audit log's state: "at `time`, the log of `issuer` held
/// `tree_size` entries with Merkle root `root_hash`".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The vault's issuer URL.
    pub issuer: String,
    /// Entries in the log.
    pub tree_size: u64,
    /// RFC 9162 root of those entries.
    pub root_hash: [u8; 32],
    /// When it was signed (seconds).
    pub time: i64,
    /// The key that signed it.
    pub kid: String,
}

impl Checkpoint {
    /// Signs the checkpoint with `key`.
    pub fn sign(&self, key: &VaultKey) -> Result<String, JoseError> {
        let claims = json!({
            "iss": self.issuer, "tree_size": self.tree_size,
            "root_hash": B64URL.encode(self.root_hash), "time": self.time,
        });
        key.sign(CHECKPOINT_TYP, &claims)
    }

    /// Verifies a checkpoint against a JWKS (the vault's published keys): strict parsing,
    /// `typ`, ES256, the `kid` naming one key exactly, the signature, well-formed claims.
    pub fn verify(token: &str, jwks: &Value) -> Result<Checkpoint, JoseError> {
        let parsed = compact::parse(token)?;
        check_header(&parsed, Kind::Checkpoint)?;
        let kid =
            header_kid(&parsed).ok_or(JoseError::Header("a checkpoint names its key in kid"))?;
        let keys = KeySet::from_jwks(jwks)?;
        let key = keys.select(Some(kid))?;
        let claims = parsed.claims()?;
        let tree_size = match claims.get("tree_size") {
            Some(Value::Number(n)) if !n.is_f64() => n
                .as_u64()
                .ok_or(JoseError::Claims("tree_size is not a count"))?,
            _ => return Err(JoseError::Claims("tree_size is not a count")),
        };
        let root_hash: [u8; 32] = claims
            .get("root_hash")
            .and_then(Value::as_str)
            .and_then(|s| B64URL.decode(s).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or(JoseError::Claims(
                "root_hash is not a base64url SHA-256 hash",
            ))?;
        let time =
            time_claim(&claims, "time")?.ok_or(JoseError::Claims("a required claim is missing"))?;
        let issuer = string_claim(&claims, "iss")?.to_owned();
        key.verify(parsed.signing_input.as_bytes(), &parsed.signature)?;
        Ok(Checkpoint {
            issuer,
            tree_size,
            root_hash,
            time,
            kid: kid.to_owned(),
        })
    }
}
