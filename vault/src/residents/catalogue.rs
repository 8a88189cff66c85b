//! The category catalogue: which parts of a resident's situation Kluis can hold.
//!
//! The catalogue is data (`catalogue.json`, compiled into the binary), not code: each
//! category has a two-level id drawn from the municipal data models, a Dutch B1 label, an
//! English label, a one-sentence Dutch description, a special-category flag (GDPR art. 9)
//! and a JSON Schema that every record must satisfy. Adding a category is a data change.

use crate::Error;
use kluis_proto::records::CategoryInfo;
use serde::Deserialize;
use std::collections::BTreeMap;

const CATALOGUE_JSON: &str = include_str!("catalogue.json");

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
    validator: jsonschema::Validator,
}

impl Category {
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
        Catalogue::from_json(CATALOGUE_JSON)
    }

    fn from_json(json: &str) -> Result<Catalogue, String> {
        let file: CatalogueFile =
            serde_json::from_str(json).map_err(|e| format!("catalogue: {e}"))?;
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
            if categories
                .insert(id.clone(), Category { info, validator })
                .is_some()
            {
                return Err(format!("catalogue: {id} appears twice"));
            }
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
        assert!(Catalogue::from_json(r#"{"version":1,"categories":[{"id":"a","label_nl":"A","label_en":"A","description_nl":"","special_category":false,"schema":{"type":"nope"}}]}"#).is_err());
        let twice = r#"{"version":1,"categories":[
            {"id":"a","label_nl":"A","label_en":"A","description_nl":"","special_category":false,"schema":{}},
            {"id":"a","label_nl":"A","label_en":"A","description_nl":"","special_category":false,"schema":{}}]}"#;
        assert!(Catalogue::from_json(twice).unwrap_err().contains("twice"));
    }
}
