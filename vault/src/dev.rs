//! Henk's demo vault for `kluis dev`.
//!
//! Henk (41) is the persona of `USERS.md`: a single father of Sanne (9) who lost his job
//! at a warehouse, with rent arrears and two debts at collection agencies. His situation
//! is realistic enough for a newcomer to see what Kluis holds and for the examples to
//! show departments asking for parts of it. None of it is a real person.

use crate::Result;
use crate::auth::dev_login::{DEV_ISSUER, HENK};
use crate::residents::Residents;
use serde_json::{Value, json};

/// Henk's situation, one record per category.
pub fn henk_situation() -> Vec<(&'static str, Value)> {
    vec![
        (
            "identiteit.basis",
            json!({
                "voornamen": "Henk", "achternaam": "Jansen", "geboortedatum": "1985-03-14",
                "telefoon": "06-12345678", "voorkeurstaal": "nl"
            }),
        ),
        (
            "huishouden.samenstelling",
            json!({
                "leefsituatie": "alleenstaande_ouder",
                "leden": [{"rol": "kind", "voornaam": "Sanne", "geboortejaar": 2017}],
                "toelichting": "Sinds de scheiding in 2024 woont Sanne bij mij. Om het andere weekend is ze bij haar moeder."
            }),
        ),
        (
            "inkomen.bronnen",
            json!({"bronnen": [
                {"soort": "uitkering_ww", "bedrag_per_maand": 1685.00, "sinds": "2026-06"},
                {"soort": "toeslag_huur", "bedrag_per_maand": 312.00},
                {"soort": "toeslag_zorg", "bedrag_per_maand": 131.00},
                {"soort": "kindgebonden_budget", "bedrag_per_maand": 289.00},
                {"soort": "kinderbijslag", "omschrijving": "per kwartaal, omgerekend", "bedrag_per_maand": 93.00}
            ]}),
        ),
        (
            "inkomen.uitgaven",
            json!({"uitgaven": [
                {"soort": "huur", "bedrag_per_maand": 876.00},
                {"soort": "energie", "bedrag_per_maand": 165.00},
                {"soort": "zorgverzekering", "bedrag_per_maand": 148.00},
                {"soort": "telefoon_internet", "bedrag_per_maand": 62.00},
                {"soort": "water", "bedrag_per_maand": 24.00}
            ]}),
        ),
        (
            "schulden.overzicht",
            json!({"schulden": [
                {"schuldeiser": "Woonkracht Drechtsteden", "soort": "huurachterstand", "bedrag": 2628.00,
                 "betalingsregeling": false, "toelichting": "Drie maanden huur niet betaald na het verlies van mijn baan."},
                {"schuldeiser": "Incassobureau Noord", "soort": "incassobureau", "bedrag": 1184.50,
                 "bij_incassobureau_of_deurwaarder": true, "toelichting": "Oude telefoonrekening met kosten erbovenop."},
                {"schuldeiser": "Incasso Partners Zuid", "soort": "incassobureau", "bedrag": 742.15,
                 "bij_incassobureau_of_deurwaarder": true, "toelichting": "Zorgverzekering van vorig jaar."}
            ]}),
        ),
        (
            "wonen.situatie",
            json!({
                "woonvorm": "huurwoning_corporatie",
                "adres": {"straat": "Voorbeeldstraat", "huisnummer": "12", "postcode": "3311 AB", "plaats": "Dordrecht"},
                "huurachterstand": true, "dreigende_uitzetting": false
            }),
        ),
        (
            "werk.profiel",
            json!({
                "situatie": "werkzoekend", "laatste_werk": "Orderpicker in een distributiecentrum",
                "opleidingsniveau": "mbo2", "uren_beschikbaar_per_week": 32, "rijbewijs": true,
                "vaardigheden": ["heftruckcertificaat", "magazijnbeheer"],
                "toelichting": "Ik wil werken onder schooltijd, zodat ik Sanne kan halen en brengen."
            }),
        ),
        (
            "kinderen.situatie",
            json!({"kinderen": [{
                "voornaam": "Sanne", "geboortejaar": 2017, "school_of_opvang": "Basisschool, groep 5",
                "woont_bij": "mij", "zorgen": "Ze slaapt slecht sinds de scheiding en wil niet meer naar zwemles."
            }]}),
        ),
        (
            "levensgebeurtenis",
            json!({"gebeurtenissen": [
                {"soort": "scheiding", "wanneer": "2024-02"},
                {"soort": "baanverlies", "wanneer": "2026-05", "toelichting": "Het distributiecentrum is gesloten."},
                {"soort": "schulden", "wanneer": "2026-08"}
            ]}),
        ),
        (
            "zelfredzaamheid.zrm",
            json!({"scores": {
            "financien": 2, "werk_en_opleiding": 2, "tijdsbesteding": 3, "huisvesting": 3,
            "huiselijke_relaties": 3, "geestelijke_gezondheid": 3, "lichamelijke_gezondheid": 4,
            "verslaving": 5, "adl": 5, "sociaal_netwerk": 3, "maatschappelijke_participatie": 3, "justitie": 5
        }, "ingevuld_op": "2026-10-01"}),
        ),
    ]
}

/// Creates Henk's vault with his situation, unless he already has records.
pub async fn seed_henk(residents: &Residents) -> Result<()> {
    let henk = residents.ensure_resident(DEV_ISSUER, HENK).await?;
    if !residents.overview(henk.id).await?.is_empty() {
        return Ok(());
    }
    for (category, data) in henk_situation() {
        residents.write(henk.id, category, &data).await?;
    }
    Ok(())
}
