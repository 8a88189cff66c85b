//! The category catalogue: which parts of a resident's situation Kluis can hold.
//!
//! The catalogue is data (`catalogue.json`, compiled into the binary), not code: each
//! category has a two-level id drawn from the municipal data models, a Dutch B1 label, an
//! English label, a one-sentence Dutch description, a special-category flag (GDPR art. 9)
//! and a JSON Schema that every record must satisfy. Adding a category is a data change.

use super::fields::{CategoryLabels, Field};
use crate::Error;
use crate::language::Language;
use kluis_proto::records::CategoryInfo;
use serde::Deserialize;
use std::collections::BTreeMap;

const CATALOGUE_JSON: &str = include_str!("catalogue.json");
const LABELS_JSON: &str = include_str!("labels.json");

/// At most this many schema problems are reported for one record.
const MAX_REPORTED_VIOLATIONS: usize = 10;

#[derive(Deserialize)]
struct CatalogueFile {
    version: u32,
    categories: Vec<CategoryInfo>,
}

/// One category with its compiled schema.
pub struct Category {
    /// What the API and portal show.
    pub info: CategoryInfo,
    /// Its fields, labelled, for forms.
    pub fields: Vec<Field>,
    description_en: String,
    validator: jsonschema::Validator,
}

impl Category {
    /// Its label in `language`.
    pub fn label(&self, language: Language) -> &str {
        language.pick(&self.info.label_nl, &self.info.label_en)
    }

    /// Whether a department fills it in (the resident only sees it).
    pub fn kept_by_department(&self) -> bool {
        self.info.written_by == kluis_proto::records::WrittenBy::Department
    }

    /// Its one-sentence description in `language`.
    pub fn description(&self, language: Language) -> &str {
        language.pick(&self.info.description_nl, &self.description_en)
    }

    /// Checks `data` against the category's schema. The error lists where and which rule
    /// failed, never the offending values (they are personal data).
    pub fn validate(&self, data: &serde_json::Value) -> Result<(), Error> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(data)
            .take(MAX_REPORTED_VIOLATIONS)
            .map(|e| {
                let at = match e.instance_path().to_string() {
                    p if p.is_empty() => "/".to_owned(),
                    p => p,
                };
                let what = match e.kind() {
                    jsonschema::error::ValidationErrorKind::AdditionalProperties { .. }
                    | jsonschema::error::ValidationErrorKind::UnevaluatedProperties { .. } => {
                        "has properties the category does not define".to_owned()
                    }
                    _ => e.masked().to_string(),
                };
                format!("{at}: {what}")
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::SchemaViolation(problems.join("; ")))
        }
    }
}

/// The loaded catalogue.
pub struct Catalogue {
    version: u32,
    categories: BTreeMap<String, Category>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("version", &self.version)
            .field("categories", &self.categories.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Catalogue {
    /// Loads and checks the built-in catalogue. Fails only if the shipped data is broken,
    /// which the test suite rules out.
    pub fn builtin() -> Result<Catalogue, String> {
        Catalogue::from_json(CATALOGUE_JSON, LABELS_JSON)
    }

    fn from_json(json: &str, labels: &str) -> Result<Catalogue, String> {
        let file: CatalogueFile =
            serde_json::from_str(json).map_err(|e| format!("catalogue: {e}"))?;
        let mut labels: BTreeMap<String, CategoryLabels> =
            serde_json::from_str(labels).map_err(|e| format!("catalogue labels: {e}"))?;
        let mut categories = BTreeMap::new();
        for info in file.categories {
            if !is_category_id(&info.id) {
                return Err(format!(
                    "catalogue: {:?} is not a valid category id",
                    info.id
                ));
            }
            if info.label_nl.trim().is_empty() || info.label_en.trim().is_empty() {
                return Err(format!("catalogue: {} lacks a label", info.id));
            }
            let validator = jsonschema::draft202012::new(&info.schema)
                .map_err(|e| format!("catalogue: schema of {}: {e}", info.id))?;
            let id = info.id.clone();
            if categories.contains_key(&id) {
                return Err(format!("catalogue: {id} appears twice"));
            }
            let category_labels = labels
                .remove(&id)
                .ok_or_else(|| format!("catalogue: {id} has no labels"))?;
            let fields = super::fields::from_schema(&info.schema, &category_labels)
                .map_err(|e| format!("catalogue: {id}: {e}"))?;
            let category = Category {
                info,
                fields,
                description_en: category_labels.description_en,
                validator,
            };
            categories.insert(id, category);
        }
        if let Some(extra) = labels.keys().next() {
            return Err(format!("catalogue labels: {extra} is not a category"));
        }
        Ok(Catalogue {
            version: file.version,
            categories,
        })
    }

    /// The catalogue's data version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The category `id`, or `UnknownCategory`.
    pub fn get(&self, id: &str) -> Result<&Category, Error> {
        self.categories
            .get(id)
            .ok_or_else(|| Error::UnknownCategory(printable_id(id)))
    }

    /// Whether `id` is in the catalogue.
    pub fn contains(&self, id: &str) -> bool {
        self.categories.contains_key(id)
    }

    /// Every category, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.categories.values()
    }
}

/// A category id: one or two lowercase words joined by a dot, at most 64 bytes.
pub fn is_category_id(id: &str) -> bool {
    id.len() <= 64
        && !id.is_empty()
        && id.split('.').count() <= 2
        && id.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
}

/// The id as it may appear in an error message: itself if it looks like an id, otherwise
/// nothing of it (it is caller input and could be anything).
fn printable_id(id: &str) -> String {
    if is_category_id(id) {
        id.to_owned()
    } else {
        "(not a category id)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_catalogue_is_complete() {
        let catalogue = Catalogue::builtin().unwrap();
        let ids: Vec<&str> = catalogue.iter().map(|c| c.info.id.as_str()).collect();
        for expected in [
            "identiteit.basis",
            "huishouden.samenstelling",
            "inkomen.bronnen",
            "inkomen.uitgaven",
            "schulden.overzicht",
            "schulden.traject",
            "wonen.situatie",
            "werk.profiel",
            "zorg.ondersteuningsbehoefte",
            "zorg.mantelzorg",
            "kinderen.situatie",
            "zelfredzaamheid.zrm",
            "levensgebeurtenis",
        ] {
            assert!(ids.contains(&expected), "missing {expected}");
        }
        assert!(
            catalogue
                .get("zorg.ondersteuningsbehoefte")
                .unwrap()
                .info
                .special_category
        );
        assert!(
            !catalogue
                .get("schulden.overzicht")
                .unwrap()
                .info
                .special_category
        );
    }

    #[test]
    fn schema_errors_name_the_place_but_not_the_value() {
        let catalogue = Catalogue::builtin().unwrap();
        let household = catalogue.get("huishouden.samenstelling").unwrap();
        household
            .validate(&json!({"leefsituatie": "alleenstaande_ouder"}))
            .unwrap();
        let err = household
            .validate(&json!({
                "leefsituatie": "GEHEIM-WAARDE",
                "leden": [{"rol": "kind", "geboortejaar": "GEHEIM-JAAR"}],
                "GEHEIME-SLEUTEL": 1
            }))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/leefsituatie") && err.contains("/leden/0/geboortejaar"),
            "{err}"
        );
        assert!(!err.contains("GEHEIM"), "values or keys leaked into: {err}");
        let missing = household.validate(&json!({})).unwrap_err().to_string();
        assert!(missing.contains("leefsituatie"), "{missing}");
    }

    #[test]
    fn ids_are_checked() {
        assert!(is_category_id("schulden.overzicht") && is_category_id("levensgebeurtenis"));
        for bad in [
            "",
            "a.b.c",
            "A.b",
            "a..b",
            ".a",
            "a/b",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(!is_category_id(bad), "{bad:?}");
        }
        let catalogue = Catalogue::builtin().unwrap();
        let err = catalogue
            .get("../../etc/passwd")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("passwd"), "{err}");
    }

    #[test]
    fn broken_catalogues_are_refused() {
        let category = |schema: &str| {
            format!(
                r#"{{"id":"a","label_nl":"A","label_en":"A","description_nl":"","special_category":false,"schema":{schema}}}"#
            )
        };
        let catalogue = |categories: &[String]| {
            format!(r#"{{"version":1,"categories":[{}]}}"#, categories.join(","))
        };
        let schema = r#"{"type":"object","properties":{"x":{"enum":["p","q"]}}}"#;
        let labels = r#"{"a":{"description_en":"A","fields":{"x":{"nl":"X","en":"X"}},"values":{"x":{"p":{"nl":"P","en":"P"},"q":{"nl":"Q","en":"Q"}}}}}"#;
        assert!(Catalogue::from_json(&catalogue(&[category(schema)]), labels).is_ok());

        let err = |json: &str, labels: &str| Catalogue::from_json(json, labels).unwrap_err();
        assert!(err(&catalogue(&[category(r#"{"type":"nope"}"#)]), labels).contains("schema"));
        assert!(err(&catalogue(&[category(schema), category(schema)]), labels).contains("twice"));
        assert!(err(&catalogue(&[category(schema)]), "{}").contains("no labels"));
        let extra_category = labels.replace(
            r#"{"a":"#,
            r#"{"b":{"description_en":"B","fields":{},"values":{}},"a":"#,
        );
        assert!(
            err(&catalogue(&[category(schema)]), &extra_category).contains("b is not a category")
        );
        let no_choice_label = labels.replace(r#","q":{"nl":"Q","en":"Q"}"#, "");
        assert!(
            err(&catalogue(&[category(schema)]), &no_choice_label)
                .contains("no label for \"x\" = \"q\"")
        );
        let extra_field = labels.replace(r#""fields":{"#, r#""fields":{"y":{"nl":"Y","en":"Y"},"#);
        assert!(err(&catalogue(&[category(schema)]), &extra_field).contains("not a field"));
        let no_english = labels.replace(r#""x":{"nl":"X","en":"X"}"#, r#""x":{"nl":"X","en":" "}"#);
        assert!(err(&catalogue(&[category(schema)]), &no_english).contains("lacks a language"));
        let unshowable =
            r#"{"type":"object","properties":{"x":{"type":"array","items":{"type":"integer"}}}}"#;
        let x_only =
            r#"{"a":{"description_en":"A","fields":{"x":{"nl":"X","en":"X"}},"values":{}}}"#;
        assert!(err(&catalogue(&[category(unshowable)]), x_only).contains("cannot show"));
    }

    #[test]
    fn every_builtin_field_and_choice_is_labelled_in_both_languages() {
        let catalogue = Catalogue::builtin().unwrap();
        let household = catalogue.get("huishouden.samenstelling").unwrap();
        assert_eq!(
            household.description(Language::En),
            "Who you live with and who is part of your family."
        );
        let members = household.fields.iter().find(|f| f.name == "leden").unwrap();
        let crate::residents::fields::FieldKind::List { item, .. } = &members.kind else {
            panic!("leden is a list")
        };
        let role = item.iter().find(|f| f.name == "rol").unwrap();
        assert_eq!(role.path, "leden/rol");
        assert!(role.required);
        let crate::residents::fields::FieldKind::Choice(choices) = &role.kind else {
            panic!("rol is a choice")
        };
        assert_eq!(choices[1].0, "kind");
        assert_eq!(choices[1].1.get(Language::Nl), "Kind");
        assert_eq!(choices[1].1.get(Language::En), "Child");
    }
}
