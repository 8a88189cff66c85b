//! Wire types shared by the Kluis vault (`kluis`) and the department SDK (`kluis-sdk`).
//!
//! Keeping them in one small crate makes an error typed end to end: the vault turns its
//! error into a [`Problem`] with a stable [`ErrorCode`], and the SDK decodes the same body
//! back into the same code. Nothing here does I/O; it is serde types only, so a
//! department's build pulls in no server code.
//!
//! - [`error`]: the error codes and the RFC 9457 problem document.
//! - [`records`]: resident records and the category catalogue.
//! - [`consent`]: departments, access requests, grants and reads.
//! - [`audit`]: audit entries and the privacy officer's answers.
//! - [`events`]: signed events that tell departments of residents' decisions.
//! - [`cases`]: where a resident's case stands: departments' status updates.
//! - [`jwk`]: the RFC 7638 thumbprint both sides compute.
//! - [`life_events`]: the life-event flow over the JSON API.
#![warn(missing_docs)]

pub mod audit;
pub mod cases;
pub mod coaching;
pub mod consent;
pub mod error;
pub mod events;
pub mod jwk;
pub mod life_events;
pub mod records;
pub mod schemes;

pub use error::{ErrorCode, Problem};
