// Long: the file format, its checks with one line per mistake, and evaluation belong together.
//! The scheme catalogue: data a municipality replaces (`[schemes] file`), checked and
//! compiled once at start with a JSON Logic engine (`datalogic-rs`), then evaluated per
//! resident. One line per mistake, naming the file and the scheme; the vault refuses to
//! start on any.
//!
//! A rule reads the resident's facts (see `facts`), `grens` (the scheme's limit: a
//! percentage of a parameter for the resident's household), and `p.<parameter>` (the
//! current year's value for the household). A rule whose needed facts are unknown, or that
//! meets a value of an unexpected type, says "cannot tell", never yes.

use super::facts::{FACTS, Facts, Kind, is_fact};
use crate::residents::catalogue::Catalogue;
use crate::residents::fields::Text;
use crate::store::DepartmentRow;
use chrono::NaiveDate;
use datalogic_rs::{CompiledLogic, DataLogic};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const BUILTIN: &str = include_str!("schemes.json");

/// A named amount per year and household type.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// Where the figures come from.
    pub source: String,
    /// Whether they are example figures (the demo municipality's).
    #[serde(default)]
    pub example: bool,
    /// Year → household type → amount.
    pub values: BTreeMap<String, BTreeMap<String, f64>>,
}

/// A limit: a percentage of a parameter.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// The parameter.
    pub parameter: String,
    /// The percentage of it.
    pub percent: f64,
}

/// How to apply.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Apply {
    /// Share with a department's processing activity, in one step.
    Share {
        /// The department.
        department: String,
        /// Its activity.
        activity: String,
        /// What the scheme needs shared.
        shares: Vec<String>,
    },
    /// A public site (national schemes: a pointer only).
    Link {
        /// The address.
        url: String,
    },
}

/// One scheme.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheme {
    /// Its id.
    pub id: String,
    /// From when the rule applies (`YYYY-MM-DD`).
    pub valid_from: NaiveDate,
    /// A national scheme: "may be worth checking" only.
    #[serde(default)]
    pub national: bool,
    /// Its name.
    pub title: Text,
    /// What it is, in one line.
    pub what: Text,
    /// What it gives.
    pub gives: Text,
    /// The facts the rule needs known.
    pub needs: Vec<String>,
    /// Its limit, if it has one.
    #[serde(default)]
    pub limit: Option<Limit>,
    /// The rule (JSON Logic), true when the scheme may fit.
    pub rule: Value,
    /// Why it may fit, in the resident's own facts (`{fact}` placeholders).
    pub why: Vec<Text>,
    /// How to apply.
    pub apply: Apply,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    id: String,
    version: u32,
    #[serde(default)]
    #[allow(dead_code)] // a note for whoever edits the file
    about: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, Parameter>,
    schemes: Vec<Scheme>,
}

/// What a rule says about one resident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The scheme may fit.
    MayFit,
    /// It does not fit now.
    DoesNotFit,
    /// Not enough is known: these facts are missing (empty: a value had an unexpected type).
    CannotTell(Vec<&'static str>),
}

/// The compiled scheme catalogue.
pub struct RuleSet {
    id: String,
    version: u32,
    hash: String,
    parameters: BTreeMap<String, Parameter>,
    schemes: Vec<(Scheme, Arc<CompiledLogic>)>,
    engine: DataLogic,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("id", &self.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Every `{"var": ...}` name in a rule.
fn vars(rule: &Value, out: &mut Vec<String>) {
    match rule {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "var" {
                    match value {
                        Value::String(name) => out.push(name.clone()),
                        Value::Array(parts) => {
                            if let Some(Value::String(name)) = parts.first() {
                                out.push(name.clone());
                            }
                        }
                        _ => out.push(String::new()),
                    }
                } else {
                    vars(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| vars(i, out)),
        _ => {}
    }
}

/// Every `{placeholder}` in a text.
fn placeholders(text: &str) -> Vec<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

impl RuleSet {
    /// The built-in catalogue (the demo municipality's, with example figures).
    pub fn builtin(categories: &Catalogue, year: i32) -> Result<RuleSet, String> {
        RuleSet::parse(BUILTIN, "the built-in schemes", categories, year)
    }

    /// The catalogue in `path`.
    pub fn from_file(path: &Path, categories: &Catalogue, year: i32) -> Result<RuleSet, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("schemes file {}: cannot read it: {e}", path.display()))?;
        RuleSet::parse(
            &text,
            &format!("schemes file {}", path.display()),
            categories,
            year,
        )
    }

    /// Parses, checks and compiles `text` for the current `year`; `source` names it in errors.
    pub fn parse(
        text: &str,
        source: &str,
        categories: &Catalogue,
        year: i32,
    ) -> Result<RuleSet, String> {
        let file: File =
            serde_json::from_str(text).map_err(|e| format!("{source}: line {}: {e}", e.line()))?;
        let engine = DataLogic::new();
        let mut problems = Vec::new();
        let mut schemes = Vec::new();
        for (i, scheme) in file.schemes.iter().enumerate() {
            let mut problem = |p: String| problems.push(format!("scheme {}: {p}", scheme.id));
            if !crate::ids::is_id(&scheme.id) {
                problem("the id must be 2 to 64 lowercase letters, digits or dashes".into());
            }
            // A scheme may have several versions, each from its own date.
            if file.schemes[..i]
                .iter()
                .any(|s| s.id == scheme.id && s.valid_from == scheme.valid_from)
            {
                problem(format!(
                    "two versions are valid from {}; give each its own date",
                    scheme.valid_from
                ));
            }
            let mut known: Vec<String> = FACTS.iter().map(|f| f.name.to_owned()).collect();
            if let Some(limit) = &scheme.limit {
                known.push("grens".into());
                known.push(format!("p.{}", limit.parameter));
                if !file.parameters.contains_key(&limit.parameter) {
                    problem(format!(
                        "its limit names unknown parameter {}",
                        limit.parameter
                    ));
                }
            }
            for fact in &scheme.needs {
                if !is_fact(fact) {
                    problem(format!("needs unknown fact {fact}"));
                }
            }
            let mut used = Vec::new();
            vars(&scheme.rule, &mut used);
            // A fact the rule or a text reads but is not listed as needed could be unknown;
            // the engine compares an unknown value as null (null < 5 is true): refused.
            for name in &used {
                if is_fact(name) && !scheme.needs.contains(name) {
                    problem(format!("it reads fact {name}; list it in needs"));
                }
            }
            let texts = [&scheme.gives]
                .into_iter()
                .chain(&scheme.why)
                .flat_map(|t| [t.nl.as_str(), t.en.as_str()]);
            used.extend(texts.flat_map(placeholders).map(str::to_owned));
            for name in used {
                match name.strip_prefix("p.") {
                    Some(parameter) if !file.parameters.contains_key(parameter) => {
                        problem(format!("uses unknown parameter {parameter}"))
                    }
                    Some(_) => {}
                    None if !known.contains(&name) => {
                        problem(format!("uses unknown field {name:?}"))
                    }
                    None => {}
                }
            }
            match &scheme.apply {
                Apply::Share { shares, .. } => {
                    for category in shares {
                        if !categories.contains(category) {
                            problem(format!("shares unknown category {category}"));
                        }
                    }
                }
                Apply::Link { url } if !url.starts_with("https://") => {
                    problem(format!("the link {url} must be an https address"))
                }
                Apply::Link { .. } => {}
            }
            match engine.compile(&scheme.rule) {
                Err(e) => problem(format!("the rule does not compile: {e}")),
                Ok(compiled) => {
                    // A trial run with every fact known finds unknown operators.
                    let sample = sample_data();
                    if let Err(e) = engine.evaluate_owned(&compiled, sample) {
                        problem(format!("the rule does not run: {e}"));
                    }
                    schemes.push((scheme.clone(), compiled));
                }
            }
        }
        // A parameter needs this year's amounts: one line for the parameter, not one for
        // every scheme that uses it.
        for (name, parameter) in &file.parameters {
            if !parameter.values.contains_key(&year.to_string()) {
                problems.push(format!("parameter {name} has no value for {year}"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        problems.retain(|p| seen.insert(p.clone()));
        if problems.is_empty() {
            Ok(RuleSet {
                id: file.id,
                version: file.version,
                hash: hex(&crate::crypto::sha256(text.as_bytes())),
                parameters: file.parameters,
                schemes,
                engine,
            })
        } else {
            Err(problems
                .iter()
                .map(|p| format!("{source}: {p}"))
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }

    /// Checks that every department a scheme shares with is registered, with the activity
    /// (one line per mistake).
    pub fn check_departments(&self, registered: &[DepartmentRow]) -> Result<(), String> {
        let mut problems = Vec::new();
        for scheme in self.schemes() {
            let Apply::Share {
                department,
                activity,
                ..
            } = &scheme.apply
            else {
                continue;
            };
            match registered.iter().find(|d| &d.id == department) {
                None => problems.push(format!(
                    "scheme {}: department {department} is not registered; register it first (kluis department add)",
                    scheme.id
                )),
                Some(d) if !d.activities.iter().any(|a| &a.id == activity) => problems.push(
                    format!(
                        "scheme {}: department {department} has no processing activity {activity}",
                        scheme.id
                    ),
                ),
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Whether any parameter holds example figures (the pages say so).
    pub fn example(&self) -> bool {
        self.parameters.values().any(|p| p.example)
    }

    /// The rule set's id, version and hash (of the file), for receipts.
    pub fn identity(&self) -> (&str, u32, &str) {
        (&self.id, self.version, &self.hash)
    }

    /// Every scheme, every version.
    pub fn schemes(&self) -> impl Iterator<Item = &Scheme> {
        self.schemes.iter().map(|(s, _)| s)
    }

    /// The schemes in force on `today`: of each scheme, the version with the latest
    /// `valid_from` that is not after `today`.
    fn in_force(&self, today: NaiveDate) -> impl Iterator<Item = &(Scheme, Arc<CompiledLogic>)> {
        self.schemes.iter().filter(move |(scheme, _)| {
            scheme.valid_from <= today
                && !self.schemes.iter().any(|(other, _)| {
                    other.id == scheme.id
                        && other.valid_from > scheme.valid_from
                        && other.valid_from <= today
                })
        })
    }

    /// The version of scheme `id` in force on `today`.
    pub fn scheme(&self, id: &str, today: NaiveDate) -> Option<&Scheme> {
        self.in_force(today).map(|(s, _)| s).find(|s| s.id == id)
    }

    /// The value of parameter `name` in `year` for household type `household`.
    pub fn parameter(&self, name: &str, year: i32, household: &str) -> Option<f64> {
        self.parameters
            .get(name)?
            .values
            .get(&year.to_string())?
            .get(household)
            .copied()
    }

    /// What every scheme in force on `today` says about `facts`, with the limit it used.
    pub fn evaluate(
        &self,
        facts: &Facts,
        today: NaiveDate,
    ) -> Vec<(&Scheme, Outcome, Option<f64>)> {
        let year = chrono::Datelike::year(&today);
        let household = facts.get("huishouden").and_then(Value::as_str);
        self.in_force(today)
            .map(|(scheme, compiled)| {
                let missing: Vec<&'static str> = FACTS
                    .iter()
                    .map(|f| f.name)
                    .filter(|f| scheme.needs.iter().any(|n| n == f) && facts.get(f).is_none())
                    .collect();
                if !missing.is_empty() {
                    return (scheme, Outcome::CannotTell(missing), None);
                }
                // A value of an unexpected kind ("1200" for an amount) is never compared:
                // the engine would coerce it and could say a wrong yes.
                let odd = FACTS
                    .iter()
                    .filter(|f| scheme.needs.iter().any(|n| n == f.name))
                    .any(|f| facts.get(f.name).is_some_and(|value| !f.kind.fits(value)));
                if odd {
                    return (scheme, Outcome::CannotTell(Vec::new()), None);
                }
                let mut data = facts.as_json();
                let mut params = Map::new();
                for name in self.parameters.keys() {
                    if let Some(value) = household.and_then(|h| self.parameter(name, year, h)) {
                        params.insert(name.clone(), json!(value));
                    }
                }
                let limit = scheme.limit.as_ref().and_then(|l| {
                    household
                        .and_then(|h| self.parameter(&l.parameter, year, h))
                        .map(|amount| (amount * l.percent).round() / 100.0)
                });
                if scheme.limit.is_some() && limit.is_none() {
                    // No amount for this year (the file was checked for the year it
                    // started in): the vault cannot tell, and says so.
                    return (scheme, Outcome::CannotTell(Vec::new()), None);
                }
                if let Some(limit) = limit {
                    data.insert("grens".into(), json!(limit));
                }
                data.insert("p".into(), Value::Object(params));
                let outcome = match self.engine.evaluate_owned(compiled, Value::Object(data)) {
                    Ok(Value::Bool(true)) => Outcome::MayFit,
                    Ok(_) => Outcome::DoesNotFit,
                    Err(_) => Outcome::CannotTell(Vec::new()),
                };
                (scheme, outcome, limit)
            })
            .collect()
    }
}

/// Data for a trial run: every fact with a value of its kind, a limit and parameters.
fn sample_data() -> Value {
    let mut data = Map::new();
    for fact in &FACTS {
        let value = match fact.kind {
            Kind::Money | Kind::Count => json!(1),
            Kind::Word => json!("alleenstaand"),
            Kind::Words => json!(["loon"]),
        };
        data.insert(fact.name.to_owned(), value);
    }
    data.insert("grens".into(), json!(1));
    data.insert("p".into(), json!({}));
    Value::Object(data)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
