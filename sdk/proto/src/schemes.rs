//! Scheme suggestions over the resident's own API (`/v1/me/schemes`): the same as the
//! portal's "Misschien heeft u recht op...". Computed in the resident's vault on each
//! request; a department never sees them.

use serde::{Deserialize, Serialize};

/// What a scheme's rule says about the resident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemeOutcome {
    /// It may fit: worth applying (not a decision).
    MayFit,
    /// It does not fit now.
    DoesNotFit,
    /// The vault cannot tell yet (see `to_fill`).
    CannotTell,
}

/// How to apply for a scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HowToApply {
    /// Share these categories with a department's activity, in one step
    /// (`POST /v1/me/schemes/{id}/apply`).
    Share {
        /// The department.
        department: String,
        /// Its processing activity.
        processing_activity: String,
        /// What the scheme needs shared.
        categories: Vec<String>,
    },
    /// At a public site (a national scheme).
    Link {
        /// The address.
        url: String,
    },
}

/// One scheme as it stands for the resident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemeView {
    /// Its id.
    pub id: String,
    /// Its name (Dutch).
    pub title_nl: String,
    /// Its name (English).
    pub title_en: String,
    /// A national scheme: "may be worth checking" only.
    pub national: bool,
    /// What its rule says.
    pub outcome: SchemeOutcome,
    /// The resident said "niet voor mij" while their situation was as it is now.
    pub hidden: bool,
    /// Why it may fit, in the resident's own facts (Dutch); empty unless `may_fit`.
    pub why_nl: Vec<String>,
    /// The same in English.
    pub why_en: Vec<String>,
    /// The categories to fill in to settle a `cannot_tell` (empty: a value in the
    /// resident's records has an unexpected type).
    pub to_fill: Vec<String>,
    /// How to apply.
    pub apply: HowToApply,
}

/// Whether the municipality may approach the resident about support they may be
/// entitled to (`GET`/`PUT /v1/me/schemes/approach`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproachChoice {
    /// The choice (`null` in a `GET`: not chosen yet).
    pub may_approach: Option<bool>,
}
