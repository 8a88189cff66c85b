//! Life events over the JSON API (`/v1/life-events`, `/v1/me/life-events/...`): the same
//! flow as the portal's "Wat is er gebeurd?", for apps and the examples.

use crate::consent::GrantView;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A life event a resident can start from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifeEventInfo {
    /// Its id.
    pub id: String,
    /// Its title (Dutch).
    pub title_nl: String,
    /// Its title (English).
    pub title_en: String,
    /// One sentence more (Dutch).
    pub description_nl: String,
}

/// The answers given so far, by question id (`POST /v1/me/life-events/{id}/steps`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// Question id → answer (a JSON value of the field's type).
    #[serde(default)]
    pub answers: BTreeMap<String, Value>,
}

/// One question that applies, with what the vault holds and what was answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    /// The question's id.
    pub question: String,
    /// The field it fills (`category/field`).
    pub field: String,
    /// The question (Dutch).
    pub ask_nl: String,
    /// The values offered, for a choice.
    pub options: Vec<String>,
    /// What the vault holds now (then the question only asks to confirm it).
    pub held: Option<Value>,
    /// The answer given in this flow.
    pub answer: Option<Value>,
}

/// Saving a flow and sharing (`POST /v1/me/life-events/{id}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    /// Question id → answer; a question not answered keeps what the vault holds.
    #[serde(default)]
    pub answers: BTreeMap<String, Value>,
    /// The departments to share with (ids among those that help with the event).
    #[serde(default)]
    pub share_with: Vec<String>,
}

/// What completing a flow did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completed {
    /// The categories written (one new version each).
    pub written: Vec<String>,
    /// The questions confirmed as they stood.
    pub confirmed: Vec<String>,
    /// The grants made, one per department shared with.
    pub grants: Vec<GrantView>,
}
