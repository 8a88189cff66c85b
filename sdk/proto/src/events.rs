//! Events for departments on the wire: what the vault tells a department's system about a
//! resident's decisions, as signed Security Event Tokens (RFC 8417), fetched by poll
//! (RFC 8936) and, where a department registered an endpoint, pushed (RFC 8935).
//!
//! A SET names one event type (a URI below) in its `events` claim, with the event's
//! fields as that type's value. Its subject is the resident's pairwise reference for the
//! department (`sub_id`, format `opaque`, RFC 9493), never a national identifier; it
//! carries ids, categories and versions, never a record's value or a name.

use crate::consent::PauseReason;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// `typ` of an event token (RFC 8417 §2.3).
pub const SET_TYP: &str = "secevent+jwt";
/// The media type of a pushed event (RFC 8935 §2).
pub const SET_MEDIA_TYPE: &str = "application/secevent+jwt";
/// The prefix of every Kluis event type URI.
pub const EVENT_TYPE_PREFIX: &str = "urn:kluis:secevent:";
/// The kind name of an erasure request (as the log's notices name it).
pub const ERASURE_REQUESTED: &str = "erasure-requested";
/// The most events one poll returns.
pub const MAX_EVENTS_PER_POLL: usize = 100;
/// The most acknowledgements one poll may carry.
pub const MAX_ACKS_PER_POLL: usize = 100;

/// What happened, with what the department needs to act on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// The resident gave the department a grant on their own initiative (a share).
    GrantCreated {
        /// The grant.
        grant: Uuid,
        /// The categories it covers.
        categories: Vec<String>,
        /// Until when it runs.
        expires_at: DateTime<Utc>,
    },
    /// The resident withdrew the grant: read nothing more under it.
    GrantRevoked {
        /// The grant.
        grant: Uuid,
    },
    /// The grant ran out (its `exp` passed) without being withdrawn.
    GrantExpired {
        /// The grant.
        grant: Uuid,
    },
    /// The resident paused the grant (GDPR art. 18): stop processing what you read under
    /// it until it is resumed; keep it.
    GrantPaused {
        /// The grant.
        grant: Uuid,
        /// Why.
        reason: PauseReason,
    },
    /// The resident let a paused grant go on.
    GrantResumed {
        /// The grant.
        grant: Uuid,
    },
    /// The resident corrected a record the department read an older version of (GDPR
    /// art. 19): read it again under the grant if you still need it.
    RecordRectified {
        /// The grant the department read it under.
        grant: Uuid,
        /// The category.
        category: String,
        /// The new version.
        version: u32,
    },
    /// The resident asks the department to delete what it holds (GDPR art. 17(2)): under
    /// the whole grant, or (with `read`) what one read returned. Confirm with the event's
    /// id when it is done.
    ErasureRequested {
        /// The grant.
        grant: Uuid,
        /// The read it is limited to (its position in the audit log), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read: Option<u64>,
        /// The categories concerned.
        categories: Vec<String>,
    },
    /// The operator disabled the department: every read and request is refused until it
    /// is enabled again.
    DepartmentDisabled {},
    /// A kind this version does not know (sent by a newer vault): see the event's type
    /// URI and fields.
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// The kebab-case name (the last part of the event type URI).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::GrantCreated { .. } => "grant-created",
            EventKind::GrantRevoked { .. } => "grant-revoked",
            EventKind::GrantExpired { .. } => "grant-expired",
            EventKind::GrantPaused { .. } => "grant-paused",
            EventKind::GrantResumed { .. } => "grant-resumed",
            EventKind::RecordRectified { .. } => "record-rectified",
            EventKind::ErasureRequested { .. } => ERASURE_REQUESTED,
            EventKind::DepartmentDisabled {} => "department-disabled",
            EventKind::Unknown => "unknown",
        }
    }

    /// The event type URI (the key in the SET's `events` claim).
    pub fn type_uri(&self) -> String {
        format!("{EVENT_TYPE_PREFIX}{}", self.name())
    }

    /// The grant it is about, if any.
    pub fn grant(&self) -> Option<Uuid> {
        match self {
            EventKind::GrantCreated { grant, .. }
            | EventKind::GrantRevoked { grant }
            | EventKind::GrantExpired { grant }
            | EventKind::GrantPaused { grant, .. }
            | EventKind::GrantResumed { grant }
            | EventKind::RecordRectified { grant, .. }
            | EventKind::ErasureRequested { grant, .. } => Some(*grant),
            EventKind::DepartmentDisabled {} | EventKind::Unknown => None,
        }
    }

    /// The event's fields as they appear under its type URI in the SET (without `kind`).
    pub fn fields(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("kind");
        }
        value
    }

    /// The event from its type URI and fields, as read from a SET: [`EventKind::Unknown`]
    /// for a type or fields this version does not know.
    pub fn from_type_and_fields(uri: &str, fields: &serde_json::Value) -> EventKind {
        let known = || {
            let name = uri.strip_prefix(EVENT_TYPE_PREFIX)?;
            let mut value = fields.as_object()?.clone();
            value.insert("kind".into(), name.into());
            serde_json::from_value(serde_json::Value::Object(value)).ok()
        };
        known().unwrap_or(EventKind::Unknown)
    }
}

/// A poll for events (RFC 8936 §2.4): acknowledge what was processed, ask for more.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    /// The ids (`jti`) of events processed since the last poll. Acknowledged events are
    /// never delivered again.
    #[serde(default)]
    pub ack: Vec<String>,
    /// Events the department could not process (id → error), also acknowledged.
    #[serde(
        default,
        rename = "setErrs",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub set_errs: BTreeMap<String, SetError>,
    /// The most events to return (0: only acknowledge); at most
    /// [`MAX_EVENTS_PER_POLL`], which is also the default.
    #[serde(default, rename = "maxEvents", skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u32>,
    /// Accepted for RFC 8936; the vault always answers at once (no long polling).
    #[serde(
        default,
        rename = "returnImmediately",
        skip_serializing_if = "Option::is_none"
    )]
    pub return_immediately: Option<bool>,
}

/// Why a department could not process an event (RFC 8936 §2.4.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetError {
    /// An error code (RFC 8935 §2.4), such as `invalid_request`.
    pub err: String,
    /// A description (never shown to residents; at most 500 characters).
    pub description: String,
}

/// The answer to a poll (RFC 8936 §2.5): the oldest events not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResponse {
    /// Event id → signed SET, oldest first in the order the vault queued them (a JSON
    /// object keeps no order; [`PollResponse::order`] gives it).
    pub sets: BTreeMap<String, String>,
    /// The ids of `sets`, oldest first.
    pub order: Vec<String>,
    /// Whether more events wait after these.
    #[serde(rename = "moreAvailable")]
    pub more_available: bool,
}

/// A department reports that it deleted what an erasure request asked it to delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureConfirmed {
    /// The erasure request's event id.
    pub event: Uuid,
    /// When the vault logged the confirmation.
    pub confirmed_at: DateTime<Utc>,
}
