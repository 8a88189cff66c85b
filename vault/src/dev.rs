// Long: the whole demo (Henk, the departments, their requests, the coach) is one story told in one place.
//! The demo world of `kluis dev`: Henk's vault and three departments.
//!
//! Henk (41) is the persona of `USERS.md`: a single father of Sanne (9) who lost his job
//! at a warehouse, with rent arrears and two debts at collection agencies. His situation
//! is realistic enough for a newcomer to see what Kluis holds and for the examples to
//! show departments asking for parts of it. None of it is a real person. The departments
//! (work and income, debt counselling, youth care) carry realistic processing activities;
//! their private keys are left in the development data directory.

use crate::audit::Context;
use crate::audit::entry::{Action, Actor, Entry, Outcome};
use crate::auth::dev_login::{DEV_ISSUER, HENK};
use crate::consent::Consent;
use crate::residents::Residents;
use crate::{Error, Result};
use kluis_proto::consent::{
    DepartmentSpec, LegalBasis, NewAccessRequest, ProcessingActivity, ResidentIdentifier,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Henk's (test) BSN: it passes the eleven-test and lies in the range reserved for tests.
pub const HENK_BSN: &str = "999993653";

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
    ]
}

/// What departments keep in Henk's vault (the catalogue's `written_by: department`
/// categories): department id, category, record.
pub fn kept_by_departments() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "schuldhulpverlening",
            "schulden.traject",
            json!({"fase": "stabilisatie", "budgetbeheer": true, "gestart_op": "2026-09-15", "contactpersoon": "Mevrouw De Vries"}),
        ),
        (
            "werk-en-inkomen",
            "zelfredzaamheid.zrm",
            json!({"scores": {
            "financien": 2, "werk_en_opleiding": 2, "tijdsbesteding": 3, "huisvesting": 3,
            "huiselijke_relaties": 3, "geestelijke_gezondheid": 3, "lichamelijke_gezondheid": 4,
            "verslaving": 5, "adl": 5, "sociaal_netwerk": 3, "maatschappelijke_participatie": 3, "justitie": 5
        }, "ingevuld_op": "2026-10-01"}),
        ),
    ]
}

/// The demo coach's login (the development coach login, `POST /coach/dev-login`).
pub const DEV_COACH_LOGIN: (&str, &str) = ("dev", "coach");

/// Puts the demo coach on the coach list: Sanne Bakker, debt counselling, who logs in
/// with the development coach login. Call after [`seed_departments`].
pub async fn seed_coach(coaches: &crate::auth::coaches::Coaches) -> Result<()> {
    if coaches
        .by_login(DEV_COACH_LOGIN.0, DEV_COACH_LOGIN.1)
        .await?
        .is_some()
    {
        return Ok(());
    }
    coaches
        .add(&crate::auth::coaches::NewCoach {
            id: "demo-coach",
            name: "Sanne Bakker",
            department: "schuldhulpverlening",
            provider: DEV_COACH_LOGIN.0,
            subject: DEV_COACH_LOGIN.1,
        })
        .await
        .map(|_| ())
}

/// Creates Henk's vault with his situation, unless he already has records.
pub async fn seed_henk(context: &Context, residents: &Residents) -> Result<()> {
    let henk = residents.ensure_resident(DEV_ISSUER, HENK).await?;
    residents.set_national_id(henk.id, "bsn", HENK_BSN).await?;
    if !residents.overview(henk.id).await?.is_empty() {
        return Ok(());
    }
    for (category, data) in henk_situation() {
        residents.write(context, henk.id, category, &data).await?;
    }
    // In a real vault a department writes these under a grant (`PUT
    // /v1/dept/grants/{id}/records/{category}`); the demo puts them in as those departments.
    for (department, category, data) in kept_by_departments() {
        let mut entry = Entry::new(
            Action::RecordWrite,
            Outcome::Done,
            Actor::Department {
                id: department.into(),
            },
        );
        entry.department = Some(department.into());
        entry.resident = Some(residents.audit_reference(henk.id));
        entry.categories = vec![category.into()];
        residents
            .write_for_department(context, henk.id, category, &data, entry)
            .await?;
    }
    Ok(())
}

/// What a demo activity tells the resident on its request page.
struct Explained {
    explanation: &'static str,
    if_no: &'static str,
    contact: &'static str,
    next_step: &'static str,
    recipients: &'static str,
}

#[allow(clippy::too_many_arguments)]
fn activity(
    id: &str,
    name: &str,
    purpose: &str,
    (law, article, necessary): (&str, &str, bool),
    categories: &[&str],
    retention_days: u32,
    explained: Explained,
) -> ProcessingActivity {
    ProcessingActivity {
        id: id.into(),
        version: 0,
        name: name.into(),
        purpose: purpose.into(),
        explanation: explained.explanation.into(),
        if_no: explained.if_no.into(),
        contact: explained.contact.into(),
        next_step: explained.next_step.into(),
        legal_basis: LegalBasis {
            law: law.into(),
            article: article.into(),
            necessary,
        },
        categories: categories.iter().map(|c| c.to_string()).collect(),
        writes: Vec::new(),
        retention_days,
        recipients: explained.recipients.into(),
    }
}

/// The activity, filling in `writes` for the resident.
fn filling_in(activity: ProcessingActivity, writes: &[&str]) -> ProcessingActivity {
    ProcessingActivity {
        writes: writes.iter().map(|c| c.to_string()).collect(),
        ..activity
    }
}

/// How residents reach the demo municipality's data protection officer.
pub const DEMO_PRIVACY_OFFICER: &str = "privacy@gemeente-voorbeeld.nl of 14 078";

/// The three demo departments: id, name, processing activities.
pub fn demo_departments() -> Vec<(&'static str, &'static str, Vec<ProcessingActivity>)> {
    vec![
        (
            "werk-en-inkomen",
            "Werk en Inkomen",
            vec![
                activity(
                    "bijstand-aanvraag",
                    "Aanvraag bijstandsuitkering",
                    "We kijken of u recht heeft op een bijstandsuitkering, en hoe hoog die is.",
                    ("Participatiewet", "artikel 17 en artikel 53a", true),
                    &[
                        "identiteit.basis",
                        "huishouden.samenstelling",
                        "inkomen.bronnen",
                        "inkomen.uitgaven",
                        "wonen.situatie",
                        "werk.profiel",
                        "schulden.overzicht",
                        "regelingen.benaderen",
                    ],
                    3650,
                    Explained {
                        explanation: "De wet zegt dat u ons alles moet vertellen wat nodig is voor uw uitkering. \
                            Met deze gegevens rekenen we uit hoeveel geld u krijgt. \
                            We bewaren ze omdat de wet dat vraagt.",
                        if_no: "Dan kunnen we uw aanvraag niet afmaken. \
                            U kunt de gegevens ook op papier brengen.",
                        contact: "Bel 14 078 en vraag naar Werk en Inkomen.",
                        next_step: "Binnen 2 weken belt een medewerker u. \
                            Binnen 8 weken hoort u of u een uitkering krijgt.",
                        recipients: "Het UWV, als dat nodig is voor uw uitkering.",
                    },
                ),
                filling_in(
                    activity(
                        "re-integratie",
                        "Begeleiding naar werk",
                        "We zoeken samen met u werk dat past bij uw situatie en uw gezin.",
                        ("Participatiewet", "artikel 7", false),
                        &[
                            "werk.profiel",
                            "huishouden.samenstelling",
                            "kinderen.situatie",
                            "zelfredzaamheid.zrm",
                        ],
                        1825,
                        Explained {
                            explanation: "Een werkcoach kijkt wat u kunt en wat u wilt. \
                            Ook kijkt de coach wat uw gezin nodig heeft.",
                            if_no: "Dan vraagt de werkcoach u de gegevens in een gesprek.",
                            contact: "Bel 14 078 en vraag naar uw werkcoach.",
                            next_step: "De werkcoach maakt een afspraak met u.",
                            recipients: "Niemand.",
                        },
                    ),
                    &["zelfredzaamheid.zrm"],
                ),
            ],
        ),
        (
            "schuldhulpverlening",
            "Schuldhulpverlening",
            vec![filling_in(
                activity(
                    "schuldhulp-traject",
                    "Hulp bij schulden",
                    "We maken samen met u een plan om uw schulden op te lossen.",
                    (
                        "Wet gemeentelijke schuldhulpverlening",
                        "artikel 3 en artikel 4a",
                        false,
                    ),
                    &[
                        "schulden.overzicht",
                        "schulden.traject",
                        "inkomen.bronnen",
                        "inkomen.uitgaven",
                        "huishouden.samenstelling",
                        "wonen.situatie",
                    ],
                    1825,
                    Explained {
                        explanation: "We kijken hoeveel geld u elke maand overhoudt. \
                        Daarna praten we met de mensen aan wie u geld moet betalen.",
                        if_no: "Dan vragen we u de papieren mee te nemen naar een gesprek.",
                        contact: "Bel 14 078 en vraag naar Schuldhulpverlening.",
                        next_step: "Binnen 3 werkdagen belt een schuldhulpverlener u voor een afspraak.",
                        recipients: "Uw schuldeisers, alleen als u met een regeling instemt.",
                    },
                ),
                &["schulden.traject"],
            )],
        ),
        (
            "jeugdhulp",
            "Jeugd en Gezin",
            vec![activity(
                "ondersteuning-gezin",
                "Ondersteuning van het gezin",
                "We kijken welke hulp uw kinderen en uw gezin nodig hebben.",
                ("Jeugdwet", "artikel 2.3", false),
                &[
                    "kinderen.situatie",
                    "huishouden.samenstelling",
                    "zorg.ondersteuningsbehoefte",
                    "levensgebeurtenis",
                ],
                7300,
                Explained {
                    explanation: "Een medewerker van het wijkteam praat met u en uw kinderen. \
                        Samen kiest u welke hulp past.",
                    if_no: "Dan vraagt het wijkteam u de gegevens in een gesprek.",
                    contact: "Bel 14 078 en vraag naar het wijkteam.",
                    next_step: "Het wijkteam belt u binnen een week.",
                    recipients: "Niemand.",
                },
            )],
        ),
    ]
}

/// Registers the demo departments. Each department's private key is kept in
/// `key_dir/<id>.jwk` (created on first use), so the example and a newcomer can act as
/// that department. Returns the key files.
pub async fn seed_departments(
    context: &Context,
    consent: &Consent,
    key_dir: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(key_dir)
        .map_err(|e| Error::Internal(format!("{}: {e}", key_dir.display())))?;
    let mut files = Vec::new();
    for (id, name, activities) in demo_departments() {
        let path = key_dir.join(format!("{id}.jwk"));
        let public = match std::fs::read_to_string(&path) {
            Ok(private) => public_of(&private)
                .ok_or_else(|| Error::Internal(format!("{} is not a JWK", path.display())))?,
            Err(_) => {
                let (private, public) =
                    crate::jose::keys::generate_department_jwk(&format!("{id}-1"))
                        .map_err(|e| Error::Internal(e.to_string()))?;
                write_private(&path, private.as_bytes())?;
                public
            }
        };
        let spec = DepartmentSpec {
            id: id.into(),
            name: name.into(),
            jwks: json!({"keys": [public]}),
            processing_activities: activities,
            privacy_officer: DEMO_PRIVACY_OFFICER.into(),
            events_endpoint: None,
        };
        consent
            .register_department(context, Actor::System, &spec)
            .await?;
        files.push(path);
    }
    Ok(files)
}

/// Two departments ask Henk for access, so that a fresh `kluis dev` shows the core flow at
/// once (the home page says he has requests). Only when he never had any: a request he
/// answered stays answered across restarts.
pub async fn seed_requests(
    context: &Context,
    residents: &Residents,
    consent: &Consent,
) -> Result<()> {
    let id = residents.ensure_resident(DEV_ISSUER, HENK).await?.id;
    let earlier = consent.resident_requests(id, true).await?;
    let henk = ResidentIdentifier::NationalId {
        scheme: "bsn".into(),
        value: HENK_BSN.into(),
    };
    let asks = [
        (
            "schuldhulpverlening",
            "schuldhulp-traject",
            &["schulden.overzicht", "inkomen.bronnen", "inkomen.uitgaven"][..],
            180,
        ),
        (
            "jeugdhulp",
            "ondersteuning-gezin",
            &["kinderen.situatie", "huishouden.samenstelling"][..],
            365,
        ),
    ];
    for (department, activity, categories, days) in asks {
        if earlier.iter().any(|r| r.department.id == department) {
            continue;
        }
        let principal = consent.registered_department(department).await?;
        consent
            .create_request(
                context,
                &principal,
                &NewAccessRequest {
                    resident: henk.clone(),
                    processing_activity: activity.into(),
                    categories: categories.iter().map(|c| (*c).to_owned()).collect(),
                    duration_days: days,
                },
            )
            .await?;
    }
    Ok(())
}

/// The public half of a private JWK.
fn public_of(private: &str) -> Option<Value> {
    let mut jwk: Value = serde_json::from_str(private).ok()?;
    jwk.as_object_mut()?.remove("d");
    Some(jwk)
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))
}
