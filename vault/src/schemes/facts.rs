//! The facts scheme rules read, derived from a resident's own current records, in memory
//! only. Each fact is a number or a word, or unknown: a record that is missing, or a field
//! of an unexpected type, makes its fact unknown, and a rule that needs it says "cannot
//! tell yet" (never a wrong yes).

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// What kind of value a fact holds (how a page shows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An amount of euros.
    Money,
    /// A count of months, years or people.
    Count,
    /// A word from a fixed list.
    Word,
    /// A list of words.
    Words,
}

/// A fact a rule can read: its name, the category a resident fills in to make it known,
/// and its kind.
pub struct FactInfo {
    /// The name rules use (`{"var": "inkomen_per_maand"}`).
    pub name: &'static str,
    /// The category it comes from.
    pub category: &'static str,
    /// What kind of value it is.
    pub kind: Kind,
}

impl Kind {
    /// Whether `value` is a value of this kind.
    pub fn fits(self, value: &Value) -> bool {
        match self {
            Kind::Money | Kind::Count => value.is_number(),
            Kind::Word => value.is_string(),
            Kind::Words => value
                .as_array()
                .is_some_and(|words| words.iter().all(Value::is_string)),
        }
    }
}

const fn fact(name: &'static str, category: &'static str, kind: Kind) -> FactInfo {
    FactInfo {
        name,
        category,
        kind,
    }
}

/// Every fact there is.
pub const FACTS: [FactInfo; 10] = [
    fact("leeftijd", "identiteit.basis", Kind::Count),
    fact("huishouden", "huishouden.samenstelling", Kind::Word),
    fact("kinderen", "huishouden.samenstelling", Kind::Count),
    fact("kinderen_onder_18", "huishouden.samenstelling", Kind::Count),
    fact("norm", "huishouden.samenstelling", Kind::Money),
    fact("inkomen_per_maand", "inkomen.bronnen", Kind::Money),
    fact("ontvangt", "inkomen.bronnen", Kind::Words),
    fact("maanden_laag_inkomen", "inkomen.bronnen", Kind::Count),
    fact("schulden_totaal", "schulden.overzicht", Kind::Money),
    fact("woonvorm", "wonen.situatie", Kind::Word),
];

/// The categories facts are read from (and so the categories an evaluation decrypts).
pub fn categories() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = FACTS.iter().map(|f| f.category).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The fact called `name`.
pub fn info(name: &str) -> Option<&'static FactInfo> {
    FACTS.iter().find(|f| f.name == name)
}

/// Whether `name` is a fact.
pub fn is_fact(name: &str) -> bool {
    info(name).is_some()
}

/// Income sources that are allowances, not income, for comparing with a norm.
const NOT_INCOME: [&str; 4] = [
    "toeslag_huur",
    "toeslag_zorg",
    "kindgebonden_budget",
    "kinderbijslag",
];

/// The kinds of benefit that mean a low income.
const BENEFITS: [&str; 3] = ["uitkering_ww", "uitkering_bijstand", "uitkering_wia"];

/// One resident's facts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    values: BTreeMap<&'static str, Value>,
}

impl Facts {
    /// The facts of the records `records` (category → current data), on `today`; `norm`
    /// gives the norm amount for a household type.
    pub fn derive(
        records: &HashMap<String, Value>,
        today: NaiveDate,
        norm: impl Fn(&str) -> Option<f64>,
    ) -> Facts {
        let field = |category: &str, name: &str| records.get(category).and_then(|r| r.get(name));
        let mut values = BTreeMap::new();
        let mut put = |name: &'static str, value: Option<Value>| {
            if let Some(value) = value {
                values.insert(name, value);
            }
        };
        put(
            "leeftijd",
            field("identiteit.basis", "geboortedatum")
                .and_then(Value::as_str)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .and_then(|born| today.years_since(born))
                .map(|years| json!(years)),
        );
        let household = field("huishouden.samenstelling", "leefsituatie")
            .and_then(Value::as_str)
            .and_then(|situation| match situation {
                "alleenstaand" | "inwonend_bij_familie" => Some("alleenstaand"),
                "alleenstaande_ouder" => Some("alleenstaande_ouder"),
                "samenwonend" | "getrouwd_of_partnerschap" => Some("gehuwden"),
                _ => None,
            });
        put("huishouden", household.map(|h| json!(h)));
        put("norm", household.and_then(&norm).map(|n| json!(n)));
        // No `leden` in a household record means nobody else lives there.
        let members: Option<&[Value]> =
            records
                .get("huishouden.samenstelling")
                .and_then(|r| match r.get("leden") {
                    None => Some(&[][..]),
                    Some(Value::Array(members)) => Some(members.as_slice()),
                    Some(_) => None,
                });
        let children = || members.into_iter().flatten().filter(|m| m["rol"] == "kind");
        put("kinderen", members.map(|_| json!(children().count())));
        put(
            "kinderen_onder_18",
            members.and_then(|_| {
                children()
                    .map(|c| {
                        c["geboortejaar"]
                            .as_i64()
                            .map(|born| today.year() as i64 - born < 18)
                    })
                    .collect::<Option<Vec<bool>>>()
                    .map(|young| json!(young.into_iter().filter(|y| *y).count()))
            }),
        );
        // Only sources that have not ended: `tot` (YYYY-MM or YYYY-MM-DD) absent or not
        // before this month.
        let this_month = format!("{:04}-{:02}", today.year(), today.month());
        let sources: Option<Vec<&Value>> = field("inkomen.bronnen", "bronnen")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .filter(|s| {
                        s["tot"]
                            .as_str()
                            .is_none_or(|tot| tot.get(..7).is_none_or(|m| m >= this_month.as_str()))
                    })
                    .collect()
            });
        let sources = sources.as_deref();
        put(
            "inkomen_per_maand",
            sources.and_then(|sources| {
                sources
                    .iter()
                    .filter(|s| !NOT_INCOME.iter().any(|n| s["soort"] == *n))
                    .map(|s| s["bedrag_per_maand"].as_f64())
                    .sum::<Option<f64>>()
                    .map(|total| json!((total * 100.0).round() / 100.0))
            }),
        );
        put(
            "ontvangt",
            sources.and_then(|sources| {
                sources
                    .iter()
                    .map(|s| s["soort"].as_str().map(|k| json!(k)))
                    .collect::<Option<Vec<Value>>>()
                    .map(Value::Array)
            }),
        );
        put(
            "maanden_laag_inkomen",
            sources.and_then(|sources| {
                sources
                    .iter()
                    .filter(|s| BENEFITS.iter().any(|b| s["soort"] == *b))
                    .filter_map(|s| s["sinds"].as_str())
                    .filter_map(|since| {
                        let (year, rest) = since.split_once('-')?;
                        let month = rest.get(..2)?;
                        NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)
                    })
                    .min()
                    .map(|since| {
                        let months = (today.year() - since.year()) * 12 + today.month() as i32
                            - since.month() as i32;
                        json!(months.max(0))
                    })
            }),
        );
        put(
            "schulden_totaal",
            field("schulden.overzicht", "schulden")
                .and_then(Value::as_array)
                .and_then(|debts| {
                    debts
                        .iter()
                        .map(|d| d["bedrag"].as_f64())
                        .sum::<Option<f64>>()
                        .map(|total| json!((total * 100.0).round() / 100.0))
                }),
        );
        put(
            "woonvorm",
            field("wonen.situatie", "woonvorm")
                .and_then(Value::as_str)
                .map(|w| json!(w)),
        );
        Facts { values }
    }

    /// The value of fact `name`, if known.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Every known fact, for a rule to read.
    pub fn as_json(&self) -> serde_json::Map<String, Value> {
        self.values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    /// Facts set by hand (for tests and the benchmark's generated residents).
    pub fn from_pairs(pairs: &[(&'static str, Value)]) -> Facts {
        Facts {
            values: pairs.iter().cloned().collect(),
        }
    }
}
