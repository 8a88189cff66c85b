//! The storage port: what the vault needs from a database, as traits, and the adapters.
//!
//! Services never see a database type. The port is split by area ([`ports`]: one trait
//! each) and every service holds only the part it uses: the record service a
//! [`VaultStore`], the consent service a [`ConsentStorage`], sessions a [`SessionStore`],
//! the audit log an [`AuditStore`]. An adapter implements them all and is a [`Store`].
//! The embedded default is [`sled`](self::sled) (one binary, one data directory); the
//! [`postgres`] adapter implements the same traits for deployments that outgrow one
//! machine: several vault nodes on one replicated database.
//!
//! Contract every adapter keeps (checked by the shared suite in `contract`, which every
//! adapter runs):
//! - **Durable on return.** A write method returns only after the write is durable; an
//!   adapter shares one flush between concurrent writers (group commit). Audit appends are
//!   the exception: they are made durable by [`AuditStore::sync`].
//! - **Audited record changes.** A record version is stored or removed only in the same
//!   transaction as the audit entry that reports it ([`RecordChange`]).
//! - **Opaque sealed bytes.** Records arrive already encrypted; the store never sees
//!   plaintext and cannot tell a record's contents.
//! - **Versioned values.** Every stored value starts with a format version byte, so a
//!   future layout can be read next to the old one, and an unknown one is refused.
//!
//! With the `test-support` feature (and in this crate's own tests) two more adapters
//! exist for tests: [`memory`] (in memory, for unit tests of the services' rules) and
//! [`faults`] (a wrapper around any store that fails on command).

mod encoding;
mod local_lookups;
mod ports;
pub mod postgres;
mod rows;
pub mod sled;

#[cfg(any(test, feature = "test-support"))]
pub mod contract;
#[cfg(any(test, feature = "test-support"))]
pub mod faults;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;

pub use ports::*;
pub use rows::*;

use crate::config::{Config, StoreKind};
use std::sync::Arc;

/// What can go wrong in storage. Messages name keys and operations, never contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or written (I/O error, failed flush, full disk).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored value cannot be decoded: corruption or an unknown format version.
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// The database was created by an incompatible version of Kluis, or is not a Kluis
    /// database at all.
    #[error("{0}")]
    Incompatible(String),
    /// Another vault node appended to the audit log first: nothing of this batch was
    /// stored, and its positions are taken. The writer reloads the tree and tries again.
    #[error("the audit log grew to {0} entries on another node")]
    AuditMoved(u64),
    /// A new vault's data key is wrapped under a KEK that a rotation (on another node)
    /// replaced by version {0}: nothing was stored; wrap it again under the newer KEK.
    #[error("the key-encryption key was replaced by version {0}")]
    KekReplaced(u32),
}

/// Shorthand for results of the storage port.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where the store `config` names is, for messages: sled's directory, or the PostgreSQL
/// database described from its parts, never with a password.
pub fn describe(config: &Config) -> String {
    match &config.store {
        StoreKind::Sled => format!("in {}", config.data_dir.display()),
        StoreKind::Postgres(settings) => format!("at {}", postgres::describe(&settings.url)),
    }
}

/// Opens the store `config` names: the embedded sled database in `data_dir`, or the
/// PostgreSQL database at `[storage] url` (migrated to this build's schema).
pub async fn open(config: &Config) -> StoreResult<Arc<dyn Store>> {
    Ok(match &config.store {
        StoreKind::Sled => Arc::new(sled::SledStore::open(&config.data_dir, config.cache_bytes)?),
        StoreKind::Postgres(settings) => Arc::new(postgres::PostgresStore::open(settings).await?),
    })
}
