//! When a question applies: conditions on what the resident answered earlier in the flow,
//! or on what their vault already holds. Pure: the caller says what is known.
//!
//! A condition names a field (`category/field`) and one test of its value:
//! `is` (equals), `in` (one of), `present` (filled in or not), `has` (a list holds an
//! item with these values). A field asked earlier in the flow is judged by the answer
//! given there; any other field by the vault.

use serde::Deserialize;
use serde_json::Value;

/// One condition of a question.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "Written")]
pub struct Condition {
    /// The field, as `category/field`.
    pub field: String,
    /// The test.
    pub test: Test,
}

/// A condition as written in the file: the field and exactly one test.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    field: String,
    is: Option<Value>,
    #[serde(rename = "in")]
    one_of: Option<Vec<Value>>,
    present: Option<bool>,
    has: Option<serde_json::Map<String, Value>>,
}

impl TryFrom<Written> for Condition {
    type Error = String;

    fn try_from(w: Written) -> Result<Condition, String> {
        let tests = [
            w.is.map(Test::Is),
            w.one_of.map(Test::In),
            w.present.map(Test::Present),
            w.has.map(Test::Has),
        ];
        let mut given = tests.into_iter().flatten();
        match (given.next(), given.next()) {
            (Some(test), None) => Ok(Condition {
                field: w.field,
                test,
            }),
            _ => Err(format!(
                "the condition on {} needs exactly one of is, in, present, has",
                w.field
            )),
        }
    }
}

/// What a condition checks of the field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// The value equals this.
    Is(Value),
    /// The value is one of these.
    In(Vec<Value>),
    /// The field is filled in (`true`) or not (`false`).
    Present(bool),
    /// The field is a list with an item that has every one of these values.
    Has(serde_json::Map<String, Value>),
}

impl Condition {
    /// The category of the field.
    pub fn category(&self) -> &str {
        self.field.split_once('/').map_or("", |(c, _)| c)
    }

    /// The field's name within its category.
    pub fn name(&self) -> &str {
        self.field.split_once('/').map_or("", |(_, f)| f)
    }

    /// Whether the condition holds for the field's `value` (`None`: not filled in).
    pub fn holds(&self, value: Option<&Value>) -> bool {
        let value = value.filter(|v| !v.is_null());
        match (&self.test, value) {
            (Test::Present(wanted), v) => v.is_some() == *wanted,
            (_, None) => false,
            (Test::Is(wanted), Some(v)) => v == wanted,
            (Test::In(wanted), Some(v)) => wanted.contains(v),
            (Test::Has(wanted), Some(v)) => v.as_array().is_some_and(|items| {
                items.iter().any(|item| {
                    wanted
                        .iter()
                        .all(|(key, value)| item.get(key) == Some(value))
                })
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn condition(text: Value) -> Condition {
        serde_json::from_value(text).unwrap()
    }

    #[test]
    fn is_holds_for_that_value_only() {
        let c = condition(json!({"field": "werk.profiel/situatie", "is": "werkzoekend"}));
        assert!(c.holds(Some(&json!("werkzoekend"))));
        assert!(!c.holds(Some(&json!("werkend"))));
        assert!(!c.holds(None), "an unknown value does not hold");
        let yes = condition(json!({"field": "wonen.situatie/huurachterstand", "is": true}));
        assert!(yes.holds(Some(&json!(true))) && !yes.holds(Some(&json!(false))));
    }

    #[test]
    fn in_holds_for_any_of_its_values() {
        let c = condition(
            json!({"field": "wonen.situatie/woonvorm", "in": ["huurwoning_corporatie", "huurwoning_particulier"]}),
        );
        assert!(c.holds(Some(&json!("huurwoning_particulier"))));
        assert!(!c.holds(Some(&json!("koopwoning"))));
        assert!(!c.holds(None));
    }

    #[test]
    fn present_tells_filled_in_from_empty() {
        let filled = condition(json!({"field": "werk.profiel/laatste_werk", "present": true}));
        let empty = condition(json!({"field": "werk.profiel/laatste_werk", "present": false}));
        assert!(filled.holds(Some(&json!("Orderpicker"))) && !filled.holds(None));
        assert!(empty.holds(None) && empty.holds(Some(&Value::Null)));
        assert!(!empty.holds(Some(&json!("Orderpicker"))));
    }

    #[test]
    fn has_looks_for_a_matching_item_in_a_list() {
        let c =
            condition(json!({"field": "huishouden.samenstelling/leden", "has": {"rol": "kind"}}));
        assert!(c.holds(Some(
            &json!([{"rol": "partner"}, {"rol": "kind", "voornaam": "Sanne"}])
        )));
        assert!(!c.holds(Some(&json!([{"rol": "partner"}]))));
        assert!(!c.holds(Some(&json!([]))));
        assert!(!c.holds(Some(&json!("kind"))), "not a list");
        assert!(!c.holds(None));
    }

    #[test]
    fn a_condition_has_exactly_one_test() {
        for bad in [
            json!({"field": "a/b"}),
            json!({"field": "a/b", "is": 1, "present": true}),
            json!({"field": "a/b", "equals": 1}),
        ] {
            assert!(
                serde_json::from_value::<Condition>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_condition_names_its_category_and_field() {
        let c = condition(json!({"field": "werk.profiel/situatie", "present": true}));
        assert_eq!((c.category(), c.name()), ("werk.profiel", "situatie"));
    }
}
