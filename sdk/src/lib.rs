//! `kluis-sdk`: the client a department's system links against to ask residents for
//! access to parts of their vault and to read exactly what was granted.
//!
//! ```no_run
//! use kluis_sdk::{Client, DepartmentKey};
//! use kluis_sdk::proto::consent::{NewAccessRequest, ResidentIdentifier};
//! # async fn demo() -> Result<(), kluis_sdk::Error> {
//! let key = DepartmentKey::from_file("schuldhulpverlening.jwk")?;
//! let client = Client::new("https://kluis.example.nl", "schuldhulpverlening", key)?;
//! let asked = client
//!     .request_access(&NewAccessRequest {
//!         resident: ResidentIdentifier::NationalId { scheme: "bsn".into(), value: "999993653".into() },
//!         processing_activity: "schuldhulp-traject".into(),
//!         categories: vec!["schulden.overzicht".into(), "inkomen.bronnen".into()],
//!         duration_days: 90,
//!     })
//!     .await?;
//! let grant = client.wait_for_decision(asked.id, std::time::Duration::from_secs(5), std::time::Duration::from_secs(3600)).await?;
//! let read = client.read(&grant, &["schulden.overzicht"]).await?;
//! println!("{} records", read.records.len());
//! # Ok(()) }
//! ```
//!
//! Every call proves the department holds its registered private key: a fresh
//! `private_key_jwt` client assertion (RFC 7523) on every call but a read, and on a read a
//! DPoP proof (RFC 9449) bound to the grant, which is all a read needs. Keys are EC P-256 (ES256), loaded from a PEM (PKCS#8) or
//! JWK file. Errors are typed ([`Error`]) so a department's system can tell a revoked grant
//! from an expired one from a vault that is down. Only calls that are safe to repeat are
//! retried.
//!
//! The crate pulls in no server code: no OpenSSL, no sled, no axum. Signing uses ring.
#![warn(missing_docs)]

mod client;
mod error;
mod events;
pub mod jwe;
mod key;

pub use client::{APPROACH_CATEGORY, Client};
pub use error::Error;
pub use events::{Event, Events};
pub use key::DepartmentKey;
pub use kluis_proto as proto;

/// A grant as the department holds it: the signed token plus what it allows.
///
/// ```no_run
/// # async fn demo(client: kluis_sdk::Client) -> Result<(), kluis_sdk::Error> {
/// for grant in client.grants().await? {
///     println!("{} may read {:?} until {}", grant.resident, grant.categories, grant.expires_at);
/// }
/// # Ok(()) }
/// ```
pub type Grant = kluis_proto::consent::DepartmentGrant;
