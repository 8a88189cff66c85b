//! The languages residents can read Kluis in: Dutch (the default, at B1 level) and English.
//!
//! A domain notion, not a web one: the audit log's plain-language history, a request's
//! summary and the catalogue's labels come in both, and the portal picks one per request.
//!
//! - [`texts`]: every sentence a resident reads, from `web/messages.toml`, and dates.
//! - [`stories`]: the sentences built from data: a history entry, a request's summary.
//! - [`plain`]: the check that keeps Dutch sentences short and free of jargon.

pub mod plain;
pub mod stories;
pub mod texts;

pub use texts::Texts;

use serde::{Deserialize, Serialize};

/// A language of the resident-facing text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Dutch, at B1 level.
    #[default]
    Nl,
    /// English.
    En,
}

impl Language {
    /// The BCP 47 tag (`nl`, `en`), for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Nl => "nl",
            Language::En => "en",
        }
    }

    /// The language with this tag, if Kluis speaks it.
    pub fn from_tag(tag: &str) -> Option<Language> {
        match tag.trim() {
            "nl" => Some(Language::Nl),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    /// The other language (for the language switch).
    pub fn other(self) -> Language {
        match self {
            Language::Nl => Language::En,
            Language::En => Language::Nl,
        }
    }

    /// Picks the text in this language.
    pub fn pick<T>(self, nl: T, en: T) -> T {
        match self {
            Language::Nl => nl,
            Language::En => en,
        }
    }
}
