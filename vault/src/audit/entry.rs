//! One audit entry: metadata of one event, never contents or national identifiers. The
//! types are wire types (`kluis_proto::audit`), because officers' tools decode them too.

pub use kluis_proto::audit::{Action, Actor, Entry, Outcome};

/// The name of the access policy, as recorded with every read decision.
pub const ACCESS_POLICY: &str = "kluis.consent.access/1";
