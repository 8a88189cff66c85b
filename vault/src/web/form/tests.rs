//! Forms from fields and back: values, widgets, and every check saying no.

use super::*;
use crate::language::Language;
use crate::residents::catalogue::Catalogue;
use serde_json::json;

const NL: Texts = Texts {
    language: Language::Nl,
};

fn household() -> Vec<Field> {
    Catalogue::builtin()
        .unwrap()
        .get("huishouden.samenstelling")
        .unwrap()
        .fields
        .clone()
}

fn form(pairs: &[(&str, &str)]) -> Values {
    posted(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[test]
fn a_record_survives_the_round_trip_through_its_form() {
    let fields = household();
    let record = json!({"leefsituatie": "alleenstaande_ouder", "leden": [
        {"rol": "kind", "voornaam": "Sam", "geboortejaar": 2015, "woont_deels_hier": true},
        {"rol": "kind", "voornaam": "Noor", "geboortejaar": 2018, "woont_deels_hier": false}]});
    let values = values_of(&fields, &record, NL);
    assert_eq!(record_of(&fields, &values, NL).unwrap(), record);
    // One empty item more than the record holds, and no remove box on it.
    let widgets = widgets(&fields, &values, &Vec::new(), NL);
    assert!(widgets.iter().any(|w| w.name == "leden.2.rol"));
    assert!(!widgets.iter().any(|w| w.name == "leden.2.remove"));
    assert!(widgets.iter().any(|w| w.name == "leden.1.remove"));
    assert_eq!(
        widgets
            .iter()
            .find(|w| w.name == "leden.count")
            .unwrap()
            .value,
        "3"
    );
}

#[test]
fn the_empty_item_adds_when_filled_and_remove_removes() {
    let fields = household();
    let values = form(&[
        ("leefsituatie", "samenwonend"),
        ("leden.count", "2"),
        ("leden.0.rol", "kind"),
        ("leden.0.voornaam", "Sam"),
        ("leden.0.remove", "on"),
        ("leden.1.rol", "partner"),
        ("leden.1.geboortejaar", " 1980 "),
    ]);
    assert_eq!(
        record_of(&fields, &values, NL).unwrap(),
        json!({"leefsituatie": "samenwonend", "leden": [{"rol": "partner", "geboortejaar": 1980, "woont_deels_hier": false}]})
    );
}

#[test]
fn mistakes_are_named_per_field_in_words() {
    let fields = household();
    let values = form(&[
        ("leden.count", "1"),
        ("leden.0.voornaam", "Sam"),
        ("leden.0.geboortejaar", "twintig"),
        ("toelichting", &"x".repeat(2001)),
    ]);
    let errors = record_of(&fields, &values, NL).unwrap_err();
    let names: Vec<&str> = errors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "leefsituatie",
            "leden.0.rol",
            "leden.0.geboortejaar",
            "toelichting"
        ]
    );
    assert!(errors[2].1.contains("heel getal"), "{}", errors[2].1);
    assert!(errors[3].1.contains("2000"), "{}", errors[3].1);
    // The form shows them next to their fields.
    let widgets = widgets(&fields, &values, &errors, NL);
    let year = widgets
        .iter()
        .find(|w| w.name == "leden.0.geboortejaar")
        .unwrap();
    assert!(year.error.is_some() && year.described_by().contains("-error"));
    assert_eq!(year.value, "twintig", "what was typed stays");
    // The empty "new" item stays new, not a second person.
    let values = form(&[
        ("leefsituatie", "samenwonend"),
        ("leden.count", "2"),
        ("leden.0.rol", "kind"),
        ("leden.0.geboortejaar", "x"),
    ]);
    let errors = record_of(&fields, &values, NL).unwrap_err();
    let widgets = super::widgets(&fields, &values, &errors, NL);
    assert!(widgets.iter().any(|w| w.name == "leden.0.remove"));
    assert!(!widgets.iter().any(|w| w.name == "leden.1.remove"));
    assert_eq!(
        widgets
            .iter()
            .find(|w| w.name == "leden.count")
            .unwrap()
            .value,
        "2"
    );
}

#[test]
fn numbers_patterns_and_choices_are_checked() {
    let catalogue = Catalogue::builtin().unwrap();
    let debts = &catalogue.get("schulden.overzicht").unwrap().fields;
    let values = form(&[
        ("schulden.count", "1"),
        ("schulden.0.schuldeiser", "Woonkracht"),
        ("schulden.0.soort", "huurachterstand"),
        ("schulden.0.bedrag", "€ 2.628,50"),
    ]);
    // As people write it: the dot groups thousands, the comma starts the cents.
    let record = record_of(debts, &values, NL).unwrap();
    assert_eq!(record["schulden"][0]["bedrag"], serde_json::json!(2628.5));
    for (written, read) in [
        ("1.500", Some(1500.0)),
        ("1.500,00", Some(1500.0)),
        ("12.50", Some(12.5)),
        ("12,5", Some(12.5)),
        ("1.234.567,89", Some(1234567.89)),
        ("€\u{a0}900", Some(900.0)),
        ("2.62,50", None),
        ("1,2,3", None),
        ("12,345", None),
        ("1.2.3", None),
        (",50", None),
        ("twaalf", None),
    ] {
        let values = form(&[
            ("schulden.count", "1"),
            ("schulden.0.schuldeiser", "Woonkracht"),
            ("schulden.0.soort", "huurachterstand"),
            ("schulden.0.bedrag", written),
        ]);
        let got = record_of(debts, &values, NL)
            .ok()
            .and_then(|r| r["schulden"][0]["bedrag"].as_f64());
        assert_eq!(got, read, "{written}");
    }
    let values = form(&[
        ("schulden.count", "1"),
        ("schulden.0.schuldeiser", "Woonkracht"),
        ("schulden.0.soort", "huurachterstand"),
        ("schulden.0.bedrag", "2628,50"),
    ]);
    let record = record_of(debts, &values, NL).unwrap();
    assert_eq!(record["schulden"][0]["bedrag"], 2628.5);
    let values = form(&[("schulden.count", "1"), ("schulden.0.soort", "iets-anders")]);
    let errors = record_of(debts, &values, NL).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|(n, e)| n == "schulden.0.soort" && e.contains("Kies")),
        "{errors:?}"
    );

    let identity = &catalogue.get("identiteit.basis").unwrap().fields;
    let values = form(&[
        ("voornamen", "Henk"),
        ("achternaam", "de Vries"),
        ("geboortedatum", "1-2-1975"),
    ]);
    let errors = record_of(identity, &values, NL).unwrap_err();
    assert_eq!(errors[0].0, "geboortedatum");
}
