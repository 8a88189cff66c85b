//! `kluis-sdk`: the client a department's system links against to ask residents for
//! access and read what was granted.
//!
//! It depends on `kluis-proto` for the wire types and error codes, and on nothing of the
//! server: no OpenSSL, no sled, no axum. The department client itself (authentication
//! with the department's key, access requests, reads, typed errors) is built on top of the
//! consent API.
#![warn(missing_docs)]

pub use kluis_proto as proto;
