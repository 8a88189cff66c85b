//! The life-event catalogue: data a municipality can replace (`[life_events] file`),
//! checked when the vault starts, with one line per mistake naming the event and the
//! question. The built-in file (`life_events.json`) is Henk's demo world.

use super::checks::check_event;
use super::conditions::Condition;
use crate::residents::catalogue::Catalogue;
use crate::residents::fields::{Field, Text};
use crate::store::DepartmentRow;
use serde::Deserialize;
use std::path::Path;

const BUILTIN: &str = include_str!("life_events.json");

/// What happened in a resident's life, and what follows from it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifeEvent {
    /// Its id, in URLs.
    pub id: String,
    /// The kind of event it is recorded as in the `levensgebeurtenis` category, if any.
    #[serde(default)]
    pub records_as: Option<String>,
    /// What the resident picks ("Ik ben mijn baan kwijt").
    pub title: Text,
    /// One sentence more.
    pub description: Text,
    /// The categories that matter, in the order they are asked.
    pub categories: Vec<String>,
    /// The questions, in order; each fills one field of one category.
    pub questions: Vec<Question>,
    /// What the resident can do themselves.
    #[serde(default)]
    pub self_help: Vec<SelfHelp>,
    /// The departments' processing activities that can help.
    #[serde(default)]
    pub helpers: Vec<Helper>,
    /// Help in the neighbourhood (nothing is shared with them).
    #[serde(default)]
    pub neighbourhood: Vec<Neighbour>,
}

/// One question: it fills one field.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Its id within the event.
    pub id: String,
    /// The field it fills, as `category/field`.
    pub field: String,
    /// The question itself.
    pub ask: Text,
    /// For a choice: the (at most three) values offered.
    #[serde(default)]
    pub options: Vec<String>,
    /// When it applies: every condition must hold.
    #[serde(default)]
    pub when: Vec<Condition>,
}

impl Question {
    /// The category it fills.
    pub fn category(&self) -> &str {
        self.field.split_once('/').map_or("", |(c, _)| c)
    }

    /// The field it fills, within its category.
    pub fn name(&self) -> &str {
        self.field.split_once('/').map_or("", |(_, f)| f)
    }
}

/// Something the resident can do themselves.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfHelp {
    /// What to do.
    pub title: Text,
    /// One or two sentences.
    pub text: Text,
    /// Where (a public https site).
    pub url: String,
}

/// A department's processing activity that can help with the event.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helper {
    /// The department's id.
    pub department: String,
    /// Its processing activity.
    pub activity: String,
    /// How long a share with it runs.
    pub duration_days: u32,
}

/// Help in the neighbourhood.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbour {
    /// The organisation.
    pub name: String,
    /// What it does.
    pub what: Text,
    /// How to reach it.
    pub contact: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)] // the file's edit number, for whoever maintains it
    version: u32,
    #[serde(default)]
    #[allow(dead_code)] // a note for whoever edits the file
    about: Option<String>,
    events: Vec<LifeEvent>,
}

/// Every life event, checked against the category catalogue.
#[derive(Clone, Debug)]
pub struct LifeEventCatalogue {
    events: Vec<LifeEvent>,
}

impl LifeEventCatalogue {
    /// The built-in catalogue (the demo municipality's).
    pub fn builtin(categories: &Catalogue) -> Result<LifeEventCatalogue, String> {
        LifeEventCatalogue::parse(BUILTIN, "the built-in life events", categories)
    }

    /// The catalogue in `path`.
    pub fn from_file(path: &Path, categories: &Catalogue) -> Result<LifeEventCatalogue, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("life events file {}: cannot read it: {e}", path.display()))?;
        LifeEventCatalogue::parse(
            &text,
            &format!("life events file {}", path.display()),
            categories,
        )
    }

    /// Parses and checks `text`; `source` names it in errors (one line per mistake).
    pub fn parse(
        text: &str,
        source: &str,
        categories: &Catalogue,
    ) -> Result<LifeEventCatalogue, String> {
        let file: File =
            serde_json::from_str(text).map_err(|e| format!("{source}: line {}: {e}", e.line()))?;
        let mut problems = Vec::new();
        for (i, event) in file.events.iter().enumerate() {
            if file.events[..i].iter().any(|e| e.id == event.id) {
                problems.push(format!("event {} appears twice", event.id));
            }
            check_event(event, categories, &mut problems);
        }
        if file.events.is_empty() {
            problems.push("there are no events".into());
        }
        if problems.is_empty() {
            Ok(LifeEventCatalogue {
                events: file.events,
            })
        } else {
            Err(problems
                .iter()
                .map(|p| format!("{source}: {p}"))
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }

    /// Checks that every helper names a registered department and one of its current
    /// activities (for a municipality's own file, at start).
    pub fn check_departments(&self, registered: &[DepartmentRow]) -> Result<(), String> {
        let mut problems = Vec::new();
        for event in &self.events {
            for helper in &event.helpers {
                match registered.iter().find(|d| d.id == helper.department) {
                    None => problems.push(format!(
                        "event {}: department {} is not registered; register it first (kluis department add)",
                        event.id, helper.department
                    )),
                    Some(d) if !d.activities.iter().any(|a| a.id == helper.activity) => problems
                        .push(format!(
                            "event {}: department {} has no processing activity {}",
                            event.id, helper.department, helper.activity
                        )),
                    Some(_) => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Every event, in the file's order.
    pub fn events(&self) -> &[LifeEvent] {
        &self.events
    }

    /// The event with this id.
    pub fn get(&self, id: &str) -> Option<&LifeEvent> {
        self.events.iter().find(|e| e.id == id)
    }
}

/// The top-level field `name` of category `category`, if both exist.
pub fn field<'a>(categories: &'a Catalogue, category: &str, name: &str) -> Option<&'a Field> {
    categories
        .get(category)
        .ok()?
        .fields
        .iter()
        .find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories() -> Catalogue {
        Catalogue::builtin().unwrap()
    }

    /// The built-in file with `change` applied to its JSON.
    fn changed(change: impl FnOnce(&mut serde_json::Value)) -> Result<LifeEventCatalogue, String> {
        let mut file: serde_json::Value = serde_json::from_str(BUILTIN).unwrap();
        change(&mut file);
        LifeEventCatalogue::parse(&file.to_string(), "test file", &categories())
    }

    #[test]
    fn the_builtin_catalogue_is_valid_and_has_the_ten_events() {
        let catalogue = LifeEventCatalogue::builtin(&categories()).unwrap();
        for id in [
            "baan-kwijt",
            "uit-elkaar",
            "schulden",
            "kind-op-komst",
            "verhuizen",
            "ziek",
            "partner-overleden",
            "dakloos",
            "uit-detentie",
            "achttien",
        ] {
            assert!(catalogue.get(id).is_some(), "{id}");
        }
    }

    #[test]
    fn each_mistake_is_one_line_naming_the_event_and_question() {
        type Change = Box<dyn FnOnce(&mut serde_json::Value)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "event baan-kwijt: unknown category werk.onbekend",
                Box::new(|f| f["events"][0]["categories"][0] = "werk.onbekend".into()),
            ),
            (
                "event baan-kwijt, question situatie: unknown field werk.profiel/baan",
                Box::new(|f| f["events"][0]["questions"][0]["field"] = "werk.profiel/baan".into()),
            ),
            (
                "event baan-kwijt, question uren: a condition on werk.profiel/situatie is asked by this or a later question",
                Box::new(|f| {
                    let questions = f["events"][0]["questions"].as_array_mut().unwrap();
                    questions.swap(0, 2);
                }),
            ),
            (
                "event baan-kwijt, question situatie: huurwoning is not a choice of werk.profiel/situatie",
                Box::new(|f| f["events"][0]["questions"][0]["options"][0] = "huurwoning".into()),
            ),
            (
                "event baan-kwijt: it asks about werk.profiel but not its required field situatie",
                Box::new(|f| {
                    f["events"][0]["questions"]
                        .as_array_mut()
                        .unwrap()
                        .remove(0);
                }),
            ),
            (
                "event baan-kwijt: question woonvorm fills the required field woonvorm of wonen.situatie only when its conditions hold; give every question of wonen.situatie the same conditions, or none",
                Box::new(|f| {
                    f["events"][0]["questions"][4]["when"] =
                        serde_json::json!([{"field": "werk.profiel/situatie", "is": "werkzoekend"}])
                }),
            ),
            (
                "event baan-kwijt, question mantelzorg: a condition names unknown field zorg.mantelzorg/niets",
                Box::new(|f| {
                    f["events"][0]["questions"][6]["when"] =
                        serde_json::json!([{"field": "zorg.mantelzorg/niets", "is": true}])
                }),
            ),
            (
                "event baan-kwijt, question hulp-schulden: schulden.traject/fase is kept by a department; ask the resident only what they fill in",
                Box::new(|f| {
                    f["events"][0]["categories"]
                        .as_array_mut()
                        .unwrap()
                        .push("schulden.traject".into());
                    f["events"][0]["questions"]
                        .as_array_mut()
                        .unwrap()
                        .push(serde_json::json!({"id": "hulp-schulden", "field": "schulden.traject/fase", "ask": {"nl": "Waar staat u?", "en": "Where are you?"}}));
                }),
            ),
        ];
        for (expected, change) in cases {
            let err = changed(change).unwrap_err();
            assert!(
                err.lines().any(|l| l == format!("test file: {expected}")),
                "expected {expected:?}, got {err}"
            );
        }
        let syntax =
            LifeEventCatalogue::parse("{\n\"version\": 1,\n\"events\": [", "f", &categories())
                .unwrap_err();
        assert!(syntax.starts_with("f: line 3:"), "{syntax}");
    }

    #[test]
    fn helpers_must_be_registered_departments() {
        let catalogue = LifeEventCatalogue::builtin(&categories()).unwrap();
        let err = catalogue.check_departments(&[]).unwrap_err();
        assert!(
            err.lines()
                .any(|l| l.contains("department werk-en-inkomen is not registered")),
            "{err}"
        );
    }
}
