//! The resident's words: every sentence a resident reads, in Dutch (B1) and English, kept
//! in `web/messages.toml` (beside the portal that shows most of them) so that they can be
//! read and reviewed as text, not hunted in code. The JSON API's Dutch summaries come
//! from the same file.
//!
//! A key missing from the file shows as the key itself; a test checks that every key the
//! templates and handlers use is there, in both languages.

use super::Language;
use chrono::{DateTime, Utc};
use chrono_tz::Europe::Amsterdam;
use std::collections::HashMap;
use std::sync::LazyLock;

const MESSAGES_TOML: &str = include_str!("../web/messages.toml");

/// Key → (Dutch, English). The file's tables nest by the dots in the key
/// (`[overview.title]`); a table with `nl` and `en` is one message.
static MESSAGES: LazyLock<HashMap<String, (String, String)>> = LazyLock::new(|| {
    let table: toml::Table = toml::from_str(MESSAGES_TOML).unwrap_or_default();
    let mut messages = HashMap::new();
    flatten("", &table, &mut messages);
    messages
});

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, (String, String)>) {
    if let (Some(nl), Some(en)) = (
        table.get("nl").and_then(|v| v.as_str()),
        table.get("en").and_then(|v| v.as_str()),
    ) {
        out.insert(prefix.to_owned(), (nl.to_owned(), en.to_owned()));
        return;
    }
    for (key, value) in table {
        if let Some(inner) = value.as_table() {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            flatten(&path, inner, out);
        }
    }
}

/// The portal's text in one language.
#[derive(Clone, Copy, Debug)]
pub struct Texts {
    /// The language.
    pub language: Language,
}

impl Texts {
    /// The message `key`.
    pub fn get(&self, key: &str) -> &'static str {
        match MESSAGES.get(key) {
            Some((nl, en)) => self.language.pick(nl, en),
            None => {
                tracing::error!(key, "a portal message is missing");
                "…"
            }
        }
    }

    /// The message `key` with `{name}` placeholders filled in.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        values
            .iter()
            .fold(self.get(key).to_owned(), |text, (name, value)| {
                text.replace(&format!("{{{name}}}"), value)
            })
    }

    /// A day, as residents write it: "22 november 2026" / "22 November 2026" (Dutch time).
    pub fn date(&self, at: DateTime<Utc>) -> String {
        let local = at.with_timezone(&Amsterdam);
        let locale = self
            .language
            .pick(chrono::Locale::nl_NL, chrono::Locale::en_GB);
        local.format_localized("%-d %B %Y", locale).to_string()
    }

    /// A day without a time, in words: "14 maart 1985" / "14 March 1985".
    pub fn day(&self, day: chrono::NaiveDate) -> String {
        let locale = self
            .language
            .pick(chrono::Locale::nl_NL, chrono::Locale::en_GB);
        day.format_localized("%-d %B %Y", locale).to_string()
    }

    /// A month in words: "juni 2026" / "June 2026".
    pub fn month(&self, first_day: chrono::NaiveDate) -> String {
        let locale = self
            .language
            .pick(chrono::Locale::nl_NL, chrono::Locale::en_GB);
        first_day.format_localized("%B %Y", locale).to_string()
    }

    /// An amount of euros as residents read it: "€ 1.471,05" / "€1,471.05".
    pub fn euros(&self, amount: f64) -> String {
        let cents = (amount * 100.0).round() as i64;
        let whole = (cents.abs() / 100).to_string();
        let (thousands, decimal) = self.language.pick(('.', ','), (',', '.'));
        let mut grouped = String::new();
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(thousands);
            }
            grouped.push(digit);
        }
        let sign = if cents < 0 { "-" } else { "" };
        let cents = cents.abs() % 100;
        self.language.pick(
            format!("{sign}€ {grouped}{decimal}{cents:02}"),
            format!("{sign}€{grouped}{decimal}{cents:02}"),
        )
    }

    /// A moment: the day and the time ("22 november 2026, 14:05").
    pub fn date_time(&self, at: DateTime<Utc>) -> String {
        format!("{}, {}", self.date(at), self.time(at))
    }

    /// The time of day, Dutch time ("14:05").
    pub fn time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&Amsterdam).format("%H:%M").to_string()
    }
}

/// Every Dutch message (for the plain-language check).
pub fn dutch() -> Vec<String> {
    MESSAGES.values().map(|(nl, _)| nl.clone()).collect()
}

/// Whether the message file has `key` in both languages (for the tests).
pub fn has_message(key: &str) -> bool {
    MESSAGES
        .get(key)
        .is_some_and(|(nl, en)| !nl.trim().is_empty() && !en.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn euros_read_as_residents_write_them() {
        let (nl, en) = (
            Texts {
                language: Language::Nl,
            },
            Texts {
                language: Language::En,
            },
        );
        assert_eq!(nl.euros(1471.05), "€ 1.471,05");
        assert_eq!(en.euros(1471.05), "€1,471.05");
        assert_eq!(nl.euros(2628.0), "€ 2.628,00");
        assert_eq!(nl.euros(465.0), "€ 465,00");
        assert_eq!(nl.euros(1_234_567.8), "€ 1.234.567,80");
        assert_eq!(nl.euros(0.01), "€ 0,01");
    }

    #[test]
    fn the_message_file_parses() {
        assert!(toml::from_str::<toml::Table>(MESSAGES_TOML).is_ok());
        assert!(MESSAGES.len() > 50);
    }

    /// Every message key the templates and the portal's code name exists in both
    /// languages, and every message in the file is used somewhere.
    #[test]
    fn every_message_used_exists_and_every_message_is_used() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        fn read_all(dir: &std::path::Path, sources: &mut String) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    read_all(&path, sources);
                } else if path.extension().is_some_and(|e| e == "html" || e == "rs") {
                    sources.push_str(&std::fs::read_to_string(path).unwrap());
                }
            }
        }
        let mut sources = String::new();
        for dir in ["templates", "src/web", "src/language"] {
            read_all(&root.join(dir), &mut sources);
        }
        let mut used = std::collections::BTreeSet::new();
        for piece in sources.split('"') {
            let key = piece.split_once('?').map_or(piece, |(_, q)| q);
            let word =
                |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if let Some(code) = key.strip_prefix("done=").filter(|c| word(c)) {
                used.insert(format!("done.{code}"));
            } else if [".html", ".rs", ".css", ".json"]
                .iter()
                .any(|ext| key.ends_with(ext))
            {
                continue;
            } else if MESSAGES.contains_key(key)
                || key.split_once('.').is_some_and(|(group, rest)| {
                    MESSAGES.keys().any(|k| k.starts_with(&format!("{group}.")))
                        && !rest.is_empty()
                        && word(rest)
                })
            {
                used.insert(key.to_owned());
            }
        }
        let missing: Vec<&String> = used.iter().filter(|k| !has_message(k)).collect();
        assert!(
            missing.is_empty(),
            "used but not in messages.toml: {missing:?}"
        );
        let unused: Vec<&String> = MESSAGES.keys().filter(|k| !used.contains(*k)).collect();
        assert!(
            unused.is_empty(),
            "in messages.toml but never used: {unused:?}"
        );
    }

    #[test]
    fn dates_are_in_dutch_time_and_words() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap();
        let nl = Texts {
            language: Language::Nl,
        };
        let en = Texts {
            language: Language::En,
        };
        assert_eq!(nl.date(at), "23 november 2026");
        assert_eq!(en.date(at), "23 November 2026");
        assert_eq!(nl.date_time(at), "23 november 2026, 00:30");
    }

    #[test]
    fn placeholders_are_filled() {
        let nl = Texts {
            language: Language::Nl,
        };
        let text = nl.fill("overview.changed_on", &[("date", "1 mei 2027")]);
        assert!(text.contains("1 mei 2027") && !text.contains('{'), "{text}");
    }
}
