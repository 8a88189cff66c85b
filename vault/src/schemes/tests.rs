// Long: one table of hand-written fixtures per scheme, at every edge of every limit.
//! The built-in schemes at every threshold edge (issue 12, must-show 1): for each scheme, a
//! household just below, at and just above each limit, for each household type the rule
//! distinguishes, and with each needed input missing. Every expected outcome is written
//! here by hand from the example figures in `schemes.json` (bijstandsnorm 2026:
//! alleenstaand and alleenstaande ouder 1401.00, gehuwden 2001.00), never computed by
//! the rule under test. Also: a bad rule file is one line naming file and scheme, and a
//! record with a field of an unexpected type makes a rule say "cannot tell".

use super::facts::Facts;
use super::rules::{Outcome, RuleSet};
use crate::residents::catalogue::Catalogue;
use chrono::NaiveDate;
use serde_json::{Value, json};
use std::collections::HashMap;

const YES: Outcome = Outcome::MayFit;
const NO: Outcome = Outcome::DoesNotFit;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
}

fn rules() -> RuleSet {
    RuleSet::builtin(&Catalogue::builtin().unwrap(), 2026).unwrap()
}

/// What scheme `id` says about `facts`.
fn outcome(rules: &RuleSet, id: &str, facts: &[(&'static str, Value)]) -> Outcome {
    rules
        .evaluate(&Facts::from_pairs(facts), today())
        .into_iter()
        .find(|(s, _, _)| s.id == id)
        .unwrap_or_else(|| panic!("no scheme {id}"))
        .1
}

fn missing(facts: &[&'static str]) -> Outcome {
    Outcome::CannotTell(facts.to_vec())
}

/// A household's facts with every scheme's inputs known, changed by `overrides`.
fn household(
    kind: &str,
    income: f64,
    overrides: &[(&'static str, Value)],
) -> Vec<(&'static str, Value)> {
    let norm = if kind == "gehuwden" { 2001.0 } else { 1401.0 };
    let mut facts: Vec<(&'static str, Value)> = vec![
        ("leeftijd", json!(40)),
        ("huishouden", json!(kind)),
        ("kinderen", json!(0)),
        ("kinderen_onder_18", json!(0)),
        ("norm", json!(norm)),
        ("inkomen_per_maand", json!(income)),
        ("ontvangt", json!(["uitkering_bijstand"])),
        ("maanden_laag_inkomen", json!(48)),
        ("schulden_totaal", json!(0.0)),
        ("woonvorm", json!("huurwoning_corporatie")),
    ];
    for (name, value) in overrides {
        facts.retain(|(n, _)| n != name);
        facts.push((name, value.clone()));
    }
    facts
}

/// One fixture: household type, income per month, other facts changed, expected outcome.
type Row<'a> = (&'a str, f64, Vec<(&'static str, Value)>, Outcome);

/// Checks the fixtures `rows` for scheme `id`.
fn check(id: &str, rows: &[Row]) {
    let rules = rules();
    for (kind, income, overrides, expected) in rows {
        let got = outcome(&rules, id, &household(kind, *income, overrides));
        assert_eq!(
            &got, expected,
            "{id}: {kind}, income {income}, {overrides:?}"
        );
    }
}

/// Each needed input of scheme `id` missing in turn says which one is missing.
fn check_missing(id: &str, needs: &[&'static str]) {
    let rules = rules();
    for need in needs {
        let mut facts = household("alleenstaand", 1000.0, &[]);
        facts.retain(|(n, _)| n != need);
        assert_eq!(
            outcome(&rules, id, &facts),
            missing(&[need]),
            "{id} without {need}"
        );
    }
}

#[test]
fn individuele_inkomenstoeslag_at_105_percent_from_21_after_36_months() {
    // 105% of 1401.00 = 1471.05; of 2001.00 = 2101.05.
    check(
        "individuele-inkomenstoeslag",
        &[
            ("alleenstaand", 1471.04, vec![], YES),
            ("alleenstaand", 1471.05, vec![], YES),
            ("alleenstaand", 1471.06, vec![], NO),
            ("alleenstaande_ouder", 1471.04, vec![], YES),
            ("alleenstaande_ouder", 1471.05, vec![], YES),
            ("alleenstaande_ouder", 1471.06, vec![], NO),
            ("gehuwden", 2101.04, vec![], YES),
            ("gehuwden", 2101.05, vec![], YES),
            ("gehuwden", 2101.06, vec![], NO),
            ("alleenstaand", 1000.0, vec![("leeftijd", json!(20))], NO),
            ("alleenstaand", 1000.0, vec![("leeftijd", json!(21))], YES),
            ("alleenstaand", 1000.0, vec![("leeftijd", json!(22))], YES),
            (
                "alleenstaand",
                1000.0,
                vec![("maanden_laag_inkomen", json!(35))],
                NO,
            ),
            (
                "alleenstaand",
                1000.0,
                vec![("maanden_laag_inkomen", json!(36))],
                YES,
            ),
            (
                "alleenstaand",
                1000.0,
                vec![("maanden_laag_inkomen", json!(37))],
                YES,
            ),
        ],
    );
    check_missing(
        "individuele-inkomenstoeslag",
        &[
            "leeftijd",
            "inkomen_per_maand",
            "norm",
            "maanden_laag_inkomen",
        ],
    );
}

#[test]
fn white_goods_at_110_percent() {
    // 110% of 1401.00 = 1541.10; of 2001.00 = 2201.10.
    check(
        "bijzondere-bijstand-witgoed",
        &[
            ("alleenstaand", 1541.09, vec![], YES),
            ("alleenstaand", 1541.10, vec![], YES),
            ("alleenstaand", 1541.11, vec![], NO),
            ("alleenstaande_ouder", 1541.09, vec![], YES),
            ("alleenstaande_ouder", 1541.10, vec![], YES),
            ("alleenstaande_ouder", 1541.11, vec![], NO),
            ("gehuwden", 2201.09, vec![], YES),
            ("gehuwden", 2201.10, vec![], YES),
            ("gehuwden", 2201.11, vec![], NO),
        ],
    );
    check_missing(
        "bijzondere-bijstand-witgoed",
        &["inkomen_per_maand", "norm"],
    );
}

#[test]
fn remission_at_100_percent() {
    check(
        "kwijtschelding",
        &[
            ("alleenstaand", 1400.99, vec![], YES),
            ("alleenstaand", 1401.00, vec![], YES),
            ("alleenstaand", 1401.01, vec![], NO),
            ("alleenstaande_ouder", 1400.99, vec![], YES),
            ("alleenstaande_ouder", 1401.00, vec![], YES),
            ("alleenstaande_ouder", 1401.01, vec![], NO),
            ("gehuwden", 2000.99, vec![], YES),
            ("gehuwden", 2001.00, vec![], YES),
            ("gehuwden", 2001.01, vec![], NO),
        ],
    );
    check_missing("kwijtschelding", &["inkomen_per_maand", "norm"]);
}

#[test]
fn city_pass_at_130_percent() {
    // 130% of 1401.00 = 1821.30; of 2001.00 = 2601.30.
    check(
        "stadspas",
        &[
            ("alleenstaand", 1821.29, vec![], YES),
            ("alleenstaand", 1821.30, vec![], YES),
            ("alleenstaand", 1821.31, vec![], NO),
            ("alleenstaande_ouder", 1821.29, vec![], YES),
            ("alleenstaande_ouder", 1821.30, vec![], YES),
            ("alleenstaande_ouder", 1821.31, vec![], NO),
            ("gehuwden", 2601.29, vec![], YES),
            ("gehuwden", 2601.30, vec![], YES),
            ("gehuwden", 2601.31, vec![], NO),
        ],
    );
    check_missing("stadspas", &["inkomen_per_maand", "norm"]);
}

#[test]
fn free_debt_help_with_any_debt() {
    check(
        "gratis-schuldhulp",
        &[
            (
                "alleenstaand",
                5000.0,
                vec![("schulden_totaal", json!(0.0))],
                NO,
            ),
            (
                "alleenstaand",
                5000.0,
                vec![("schulden_totaal", json!(0.01))],
                YES,
            ),
            (
                "gehuwden",
                900.0,
                vec![("schulden_totaal", json!(2628.0))],
                YES,
            ),
        ],
    );
    check_missing("gratis-schuldhulp", &["schulden_totaal"]);
}

#[test]
fn rent_allowance_for_renters_up_to_3000_who_do_not_get_it() {
    let renting = |w: &str| ("woonvorm", json!(w));
    check(
        "huurtoeslag",
        &[
            ("alleenstaand", 2999.99, vec![], YES),
            ("alleenstaand", 3000.00, vec![], YES),
            ("alleenstaand", 3000.01, vec![], NO),
            (
                "gehuwden",
                3000.00,
                vec![renting("huurwoning_particulier")],
                YES,
            ),
            ("gehuwden", 1000.00, vec![renting("koopwoning")], NO),
            ("alleenstaand", 1000.00, vec![renting("inwonend")], NO),
            (
                "alleenstaand",
                1000.00,
                vec![("ontvangt", json!(["uitkering_ww", "toeslag_huur"]))],
                NO,
            ),
        ],
    );
    check_missing(
        "huurtoeslag",
        &["woonvorm", "inkomen_per_maand", "ontvangt"],
    );
}

#[test]
fn care_allowance_from_18_up_to_3300_for_who_does_not_get_it() {
    check(
        "zorgtoeslag",
        &[
            ("alleenstaand", 3299.99, vec![], YES),
            ("alleenstaand", 3300.00, vec![], YES),
            ("alleenstaand", 3300.01, vec![], NO),
            ("alleenstaand", 1000.0, vec![("leeftijd", json!(17))], NO),
            ("alleenstaand", 1000.0, vec![("leeftijd", json!(18))], YES),
            (
                "alleenstaand",
                1000.0,
                vec![("ontvangt", json!(["toeslag_zorg"]))],
                NO,
            ),
        ],
    );
    check_missing(
        "zorgtoeslag",
        &["leeftijd", "inkomen_per_maand", "ontvangt"],
    );
}

#[test]
fn child_budget_with_a_child_under_18_up_to_4000() {
    let children = |n: u32| ("kinderen_onder_18", json!(n));
    check(
        "kindgebonden-budget",
        &[
            ("alleenstaande_ouder", 3999.99, vec![children(1)], YES),
            ("alleenstaande_ouder", 4000.00, vec![children(1)], YES),
            ("alleenstaande_ouder", 4000.01, vec![children(1)], NO),
            ("gehuwden", 2500.00, vec![children(0)], NO),
            ("gehuwden", 2500.00, vec![children(2)], YES),
            (
                "alleenstaande_ouder",
                2500.00,
                vec![children(1), ("ontvangt", json!(["kindgebonden_budget"]))],
                NO,
            ),
        ],
    );
    check_missing(
        "kindgebonden-budget",
        &["kinderen_onder_18", "inkomen_per_maand", "ontvangt"],
    );
}

#[test]
fn a_value_of_an_unexpected_type_cannot_tell_never_a_wrong_yes() {
    let rules = rules();
    // "1000" as text would compare as a number in JSON Logic and say yes.
    let facts = household("alleenstaand", 0.0, &[("inkomen_per_maand", json!("1000"))]);
    for id in ["kwijtschelding", "stadspas", "individuele-inkomenstoeslag"] {
        assert_eq!(
            outcome(&rules, id, &facts),
            Outcome::CannotTell(vec![]),
            "{id}"
        );
    }

    // From a record: an amount written as text makes income unknown, so the income
    // schemes ask for it; the debt scheme, which does not read income, still answers.
    let records: HashMap<String, Value> = HashMap::from([
        (
            "huishouden.samenstelling".to_owned(),
            json!({"leefsituatie": "alleenstaand"}),
        ),
        (
            "inkomen.bronnen".to_owned(),
            json!({"bronnen": [{"soort": "uitkering_bijstand", "bedrag_per_maand": "1200,00"}]}),
        ),
        (
            "schulden.overzicht".to_owned(),
            json!({"schulden": [{"schuldeiser": "X", "soort": "energie", "bedrag": 10.0}]}),
        ),
    ]);
    let derived = Facts::derive(&records, today(), |_| Some(1401.0));
    assert_eq!(derived.get("inkomen_per_maand"), None);
    let said: HashMap<String, Outcome> = rules
        .evaluate(&derived, today())
        .into_iter()
        .map(|(s, o, _)| (s.id.clone(), o))
        .collect();
    assert_eq!(said["kwijtschelding"], missing(&["inkomen_per_maand"]));
    assert_eq!(said["gratis-schuldhulp"], YES);
}

#[test]
fn facts_come_from_current_sources_and_children_by_birth_year() {
    let records: HashMap<String, Value> = HashMap::from([
        (
            "identiteit.basis".to_owned(),
            json!({"voornamen": "Henk", "achternaam": "J", "geboortedatum": "1985-12-01"}),
        ),
        (
            "huishouden.samenstelling".to_owned(),
            json!({"leefsituatie": "alleenstaande_ouder", "leden": [
                {"rol": "kind", "geboortejaar": 2017},
                {"rol": "kind", "geboortejaar": 2008}
            ]}),
        ),
        (
            "inkomen.bronnen".to_owned(),
            json!({"bronnen": [
                {"soort": "uitkering_bijstand", "bedrag_per_maand": 1250.5, "sinds": "2023-11"},
                {"soort": "loon", "bedrag_per_maand": 900.0, "sinds": "2020-01", "tot": "2023-10"},
                {"soort": "toeslag_huur", "bedrag_per_maand": 312.0}
            ]}),
        ),
    ]);
    let facts = Facts::derive(&records, today(), |h| {
        (h == "alleenstaande_ouder").then_some(1401.0)
    });
    // Born 1 December 1985: 40 on 30 November 2026.
    assert_eq!(facts.get("leeftijd"), Some(&json!(40)));
    assert_eq!(facts.get("huishouden"), Some(&json!("alleenstaande_ouder")));
    assert_eq!(facts.get("norm"), Some(&json!(1401.0)));
    assert_eq!(facts.get("kinderen"), Some(&json!(2)));
    // 2026 - 2008 = 18: not under 18.
    assert_eq!(facts.get("kinderen_onder_18"), Some(&json!(1)));
    // The ended wage and the allowance do not count as income.
    assert_eq!(facts.get("inkomen_per_maand"), Some(&json!(1250.5)));
    assert_eq!(
        facts.get("ontvangt"),
        Some(&json!(["uitkering_bijstand", "toeslag_huur"]))
    );
    // November 2023 to November 2026.
    assert_eq!(facts.get("maanden_laag_inkomen"), Some(&json!(36)));
    assert_eq!(facts.get("schulden_totaal"), None);
    assert_eq!(facts.get("woonvorm"), None);
}

/// The built-in file with `change` applied, parsed for 2026.
fn changed(change: impl FnOnce(&mut Value)) -> Result<RuleSet, String> {
    let mut file: Value = serde_json::from_str(include_str!("schemes.json")).unwrap();
    change(&mut file);
    RuleSet::parse(
        &file.to_string(),
        "schemes file r.json",
        &Catalogue::builtin().unwrap(),
        2026,
    )
}

#[test]
fn each_mistake_in_a_rule_file_is_one_line_naming_file_and_scheme() {
    type Change = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "schemes file r.json: scheme stadspas: uses unknown field \"inkomen\"",
            Box::new(|f| f["schemes"][3]["rule"] = json!({"<=": [{"var": "inkomen"}, 5]})),
        ),
        (
            "schemes file r.json: parameter iit_bedrag has no value for 2026",
            Box::new(|f| {
                f["parameters"]["iit_bedrag"]["values"]
                    .as_object_mut()
                    .unwrap()
                    .remove("2026");
            }),
        ),
        (
            "schemes file r.json: scheme kwijtschelding: its limit names unknown parameter norm_x",
            Box::new(|f| f["schemes"][2]["limit"]["parameter"] = json!("norm_x")),
        ),
        (
            "schemes file r.json: scheme gratis-schuldhulp: shares unknown category schulden.alles",
            Box::new(|f| f["schemes"][4]["apply"]["shares"][0] = json!("schulden.alles")),
        ),
        (
            "schemes file r.json: scheme gratis-schuldhulp: needs unknown fact schuld",
            Box::new(|f| f["schemes"][4]["needs"] = json!(["schulden_totaal", "schuld"])),
        ),
        (
            "schemes file r.json: scheme gratis-schuldhulp: it reads fact woonvorm; list it in needs",
            Box::new(|f| {
                f["schemes"][4]["rule"] = json!({"and": [
                    {">": [{"var": "schulden_totaal"}, 0]},
                    {"==": [{"var": "woonvorm"}, "koopwoning"]}
                ]})
            }),
        ),
        (
            "schemes file r.json: scheme huurtoeslag: the link http://www.toeslagen.nl must be an https address",
            Box::new(|f| f["schemes"][5]["apply"]["url"] = json!("http://www.toeslagen.nl")),
        ),
    ];
    for (expected, change) in cases {
        let err = changed(change).unwrap_err();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(err, expected);
    }
    let unknown_operator = changed(|f| {
        f["schemes"][4]["rule"] = json!({"kleiner_dan": [{"var": "schulden_totaal"}, 0]})
    })
    .unwrap_err();
    assert!(
        unknown_operator
            .starts_with("schemes file r.json: scheme gratis-schuldhulp: the rule does not "),
        "{unknown_operator}"
    );
    let syntax = RuleSet::parse(
        "{\n\"id\": \"x\",\n\"schemes\": [",
        "schemes file r.json",
        &Catalogue::builtin().unwrap(),
        2026,
    )
    .unwrap_err();
    assert!(
        syntax.starts_with("schemes file r.json: line 3:"),
        "{syntax}"
    );
}

#[test]
fn a_new_version_of_a_scheme_takes_over_from_its_own_date() {
    // Stadspas at 130% until 2026-12-31; from 2027-01-01 at 120%, written as a second
    // version. A 2026 single on 1,750.00 (124.9%) may fit now, not in 2027.
    let set = changed(|f| {
        let mut newer = f["schemes"][3].clone();
        newer["valid_from"] = json!("2027-01-01");
        newer["limit"]["percent"] = json!(120);
        f["schemes"].as_array_mut().unwrap().push(newer);
    })
    .unwrap();
    let facts = Facts::from_pairs(&household("alleenstaand", 1750.0, &[]));
    let stadspas = |day: NaiveDate| -> Vec<Outcome> {
        set.evaluate(&facts, day)
            .into_iter()
            .filter(|(s, _, _)| s.id == "stadspas")
            .map(|(_, outcome, _)| outcome)
            .collect()
    };
    assert_eq!(stadspas(today()), vec![YES]);
    // 2027: 120% of 1,430.00 is 1,716.00.
    assert_eq!(
        stadspas(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()),
        vec![NO]
    );
    assert_eq!(
        set.scheme("stadspas", today()).unwrap().valid_from,
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    );

    let twice = changed(|f| {
        let same = f["schemes"][3].clone();
        f["schemes"].as_array_mut().unwrap().push(same);
    })
    .unwrap_err();
    assert_eq!(
        twice,
        "schemes file r.json: scheme stadspas: two versions are valid from 2026-01-01; give each its own date"
    );
}
