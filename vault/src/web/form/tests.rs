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
            .any(|(n, e)| n == "schulden.0.soort" && e.contains("kies een van de mogelijkheden")),
        "{errors:?}"
    );

    let identity = &catalogue.get("identiteit.basis").unwrap().fields;
    let values = form(&[
        ("voornamen", "Henk"),
        ("achternaam", "de Vries"),
        ("geboortedatum", "30-02-1975"),
    ]);
    let errors = record_of(identity, &values, NL).unwrap_err();
    assert_eq!(
        errors,
        [(
            "geboortedatum".to_owned(),
            "Geboortedatum: schrijf de datum als dag-maand-jaar, bijvoorbeeld 14-03-1985."
                .to_owned()
        )]
    );
}

#[test]
fn dates_months_postcodes_email_and_phone_are_read_as_people_write_them() {
    let catalogue = Catalogue::builtin().unwrap();
    let identity = &catalogue.get("identiteit.basis").unwrap().fields;
    let read = |field: &str, written: &str| {
        let values = form(&[
            ("voornamen", "Henk"),
            ("achternaam", "Jansen"),
            (field, written),
        ]);
        record_of(identity, &values, NL)
            .ok()
            .map(|r| r[field].as_str().unwrap_or_default().to_owned())
    };
    for (written, stored) in [
        ("14-03-1985", Some("1985-03-14")),
        ("14-3-1985", Some("1985-03-14")),
        ("14/03/1985", Some("1985-03-14")),
        ("14.03.1985", Some("1985-03-14")),
        ("14 maart 1985", Some("1985-03-14")),
        ("14 March 1985", Some("1985-03-14")),
        ("1985-03-14", Some("1985-03-14")),
        ("29-02-2024", Some("2024-02-29")),
        ("29-02-2023", None),
        ("14-03-85", None),
        ("03-14-1985", None),
        ("14-13-1985", None),
        ("gisteren", None),
    ] {
        assert_eq!(
            read("geboortedatum", written).as_deref(),
            stored,
            "{written}"
        );
    }
    for (written, stored) in [
        ("henk@example.nl", Some("henk@example.nl")),
        ("henk at hotmail", None),
        ("henk@hotmail", None),
        ("@example.nl", None),
    ] {
        assert_eq!(read("email", written).as_deref(), stored, "{written}");
    }
    for (written, stored) in [
        ("06 12345678", Some("06 12345678")),
        ("06-12345678", Some("06-12345678")),
        ("+31 6 12345678", Some("+31 6 12345678")),
        ("(078) 123 45 67", Some("(078) 123 45 67")),
        ("0612", None),
        ("06 1234 567a", None),
        ("06+12345678", None),
    ] {
        assert_eq!(read("telefoon", written).as_deref(), stored, "{written}");
    }

    let income = &catalogue.get("inkomen.bronnen").unwrap().fields;
    for (written, stored) in [
        ("03-2021", Some("2021-03")),
        ("3/2021", Some("2021-03")),
        ("maart 2021", Some("2021-03")),
        ("2021-03", Some("2021-03")),
        ("15-03-2021", Some("2021-03-15")),
        ("13-2021", None),
        ("2021", None),
    ] {
        let values = form(&[
            ("bronnen.count", "1"),
            ("bronnen.0.soort", "loon"),
            ("bronnen.0.bedrag_per_maand", "2.628,00"),
            ("bronnen.0.sinds", written),
        ]);
        let got = record_of(income, &values, NL)
            .ok()
            .map(|r| r["bronnen"][0]["sinds"].as_str().unwrap().to_owned());
        assert_eq!(got.as_deref(), stored, "{written}");
    }
    // Shown in the form again as people write them.
    let record =
        json!({"bronnen": [{"soort": "loon", "bedrag_per_maand": 2628.0, "sinds": "2021-03"}]});
    let values = values_of(income, &record, NL);
    assert_eq!(values["bronnen.0.sinds"], "03-2021");
    assert_eq!(values["bronnen.0.bedrag_per_maand"], "2628");

    let home = &catalogue.get("wonen.situatie").unwrap().fields;
    for (written, stored) in [
        ("3311ab", Some("3311 AB")),
        ("3311 AB", Some("3311 AB")),
        (" 3311  ab ", Some("3311 AB")),
        ("0311 AB", None),
        ("331 AB", None),
        ("3311 A", None),
    ] {
        let values = form(&[
            ("woonvorm", "huurwoning_corporatie"),
            ("adres.postcode", written),
        ]);
        let got = record_of(home, &values, NL)
            .ok()
            .map(|r| r["adres"]["postcode"].as_str().unwrap().to_owned());
        assert_eq!(got.as_deref(), stored, "{written}");
    }
}

#[test]
fn a_whole_number_error_gives_an_example_that_fits_the_field() {
    let fields = household();
    let values = form(&[
        ("leefsituatie", "alleenstaand"),
        ("leden.count", "1"),
        ("leden.0.rol", "kind"),
        ("leden.0.geboortejaar", "twintig"),
    ]);
    let errors = record_of(&fields, &values, NL).unwrap_err();
    assert_eq!(
        errors[0].1,
        "Geboortejaar: vul een heel getal in, zonder komma. Bijvoorbeeld 1985."
    );
}
