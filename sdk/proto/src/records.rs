//! Resident records and the category catalogue, as they travel over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One category of the catalogue, as `GET /v1/categories` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryInfo {
    /// The two-level id, such as `schulden.overzicht`.
    pub id: String,
    /// Dutch label at B1 level.
    pub label_nl: String,
    /// English label.
    pub label_en: String,
    /// One plain Dutch sentence on what the category holds.
    pub description_nl: String,
    /// Special category of personal data (GDPR art. 9), such as health.
    pub special_category: bool,
    /// Who fills it in: the resident, or a department that knows it better (the step of
    /// debt counselling, self-reliance scores). The resident sees it but cannot change it.
    #[serde(default)]
    pub written_by: WrittenBy,
    /// The JSON Schema a record of this category must satisfy.
    pub schema: serde_json::Value,
}

/// Who fills in a category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WrittenBy {
    /// The resident, in the portal or through the API.
    #[default]
    Resident,
    /// A department, through `PUT /v1/dept/grants/{id}/records/{category}`, under a grant
    /// that covers the category.
    Department,
}

/// The answer to a record write: which version was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordWritten {
    /// The category written.
    pub category: String,
    /// The new version number (1 for the first write; never reused).
    pub version: u32,
    /// When the vault stored it.
    pub created_at: DateTime<Utc>,
}

/// One version of a record, with its contents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The category.
    pub category: String,
    /// Its version number.
    pub version: u32,
    /// When this version was stored.
    pub created_at: DateTime<Utc>,
    /// The record itself, valid against the category's schema.
    pub data: serde_json::Value,
}

/// A version of a record without its contents, for listings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordVersion {
    /// Its version number.
    pub version: u32,
    /// When this version was stored.
    pub created_at: DateTime<Utc>,
}

/// A category the resident has filled in, for the overview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSummary {
    /// The category.
    pub category: String,
    /// The current version.
    pub current_version: u32,
    /// When the current version was stored.
    pub updated_at: DateTime<Utc>,
}
