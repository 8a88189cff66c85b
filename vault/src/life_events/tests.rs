//! The life-event flow's rules on the in-memory store: outside in, never ask twice, and
//! sharing only with those who can help.

use super::{Answers, LifeEvents};
use crate::audit::entry::{Action, Actor};
use crate::life_events::catalogue::LifeEventCatalogue;
use crate::testing::{Services, ctx};
use crate::{Error, Result};
use kluis_proto::consent::DepartmentSpec;
use serde_json::{Value, json};
use std::sync::Arc;

async fn flow(s: &Services) -> LifeEvents {
    for (id, name, activities) in crate::dev::demo_departments() {
        let (_, public) = crate::jose::keys::generate_department_jwk(&format!("{id}-1")).unwrap();
        let spec = DepartmentSpec {
            id: id.into(),
            name: name.into(),
            jwks: json!({"keys": [public]}),
            processing_activities: activities,
            privacy_officer: crate::dev::DEMO_PRIVACY_OFFICER.into(),
            events_endpoint: None,
        };
        s.consent
            .register_department(&ctx(), Actor::Operator, &spec)
            .await
            .unwrap();
    }
    let catalogue = LifeEventCatalogue::builtin(s.residents.catalogue()).unwrap();
    LifeEvents::new(Arc::new(catalogue), s.residents.clone(), s.consent.clone())
}

fn answers(pairs: &[(&str, Value)]) -> Answers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

async fn asked(
    events: &LifeEvents,
    resident: uuid::Uuid,
    event: &str,
    given: &Answers,
) -> Vec<String> {
    events
        .steps(resident, event, given)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.question.id)
        .collect()
}

#[tokio::test]
async fn a_question_about_children_only_for_a_resident_with_children() -> Result<()> {
    let s = Services::start().await;
    let events = flow(&s).await;
    let (with, without) = (s.resident("henk").await, s.resident("anna").await);
    s.residents
        .write(
            &ctx(),
            with,
            "huishouden.samenstelling",
            &json!({"leefsituatie": "samenwonend", "leden": [{"rol": "kind", "voornaam": "Sanne"}]}),
        )
        .await?;
    s.residents
        .write(
            &ctx(),
            without,
            "huishouden.samenstelling",
            &json!({"leefsituatie": "samenwonend", "leden": [{"rol": "partner"}]}),
        )
        .await?;
    let none = Answers::new();
    assert!(
        asked(&events, with, "uit-elkaar", &none)
            .await
            .contains(&"kinderen-wonen".into())
    );
    assert!(
        !asked(&events, without, "uit-elkaar", &none)
            .await
            .contains(&"kinderen-wonen".into())
    );
    Ok(())
}

#[tokio::test]
async fn conditions_follow_the_answers_given_before_the_vault() -> Result<()> {
    let s = Services::start().await;
    let events = flow(&s).await;
    let anna = s.resident("anna").await;
    // Nothing in the vault: "in" on the housing question's answer decides the rent question.
    let rent = asked(
        &events,
        anna,
        "schulden",
        &answers(&[("woonvorm", json!("koopwoning"))]),
    )
    .await;
    assert!(!rent.contains(&"huurachterstand".into()));
    let rent = asked(
        &events,
        anna,
        "schulden",
        &answers(&[("woonvorm", json!("huurwoning_corporatie"))]),
    )
    .await;
    assert!(rent.contains(&"huurachterstand".into()));
    // "is" on an answer: eviction only after rent arrears.
    let eviction = |arrears: bool| {
        answers(&[
            ("woonvorm", json!("huurwoning_corporatie")),
            ("huurachterstand", json!(arrears)),
        ])
    };
    assert!(
        asked(&events, anna, "schulden", &eviction(true))
            .await
            .contains(&"uitzetting".into())
    );
    assert!(
        !asked(&events, anna, "schulden", &eviction(false))
            .await
            .contains(&"uitzetting".into())
    );
    // And the vault counts when nothing was answered.
    s.residents
        .write(
            &ctx(),
            anna,
            "wonen.situatie",
            &json!({"woonvorm": "huurwoning_particulier", "huurachterstand": true}),
        )
        .await?;
    let from_vault = asked(&events, anna, "schulden", &Answers::new()).await;
    assert!(
        from_vault.contains(&"huurachterstand".into()) && from_vault.contains(&"uitzetting".into())
    );
    Ok(())
}

#[tokio::test]
async fn confirmed_answers_write_nothing_and_changed_ones_one_version() -> Result<()> {
    let s = Services::start().await;
    let events = flow(&s).await;
    let henk = s.resident("henk").await;
    for (category, data) in crate::dev::henk_situation() {
        s.residents.write(&ctx(), henk, category, &data).await?;
    }
    let before = s.log().await.len();
    let steps = events.steps(henk, "baan-kwijt", &Answers::new()).await?;
    let new: Vec<&str> = steps
        .iter()
        .filter(|s| s.held.is_none())
        .map(|s| s.question.id.as_str())
        .collect();
    assert!(
        new.len() <= 4,
        "Henk's vault answers most: only {new:?} are new"
    );
    // He confirms everything held, and answers the new ones.
    let mut given: Answers = steps
        .iter()
        .filter_map(|s| Some((s.question.id.clone(), s.held.clone()?)))
        .collect();
    given.insert("mantelzorg".into(), json!(false));
    let saved = events.save(&ctx(), henk, "baan-kwijt", &given).await?;
    assert_eq!(
        saved.written,
        ["zorg.mantelzorg"],
        "only the new answer is written"
    );
    assert_eq!(
        s.residents.versions(henk, "werk.profiel").await?.len(),
        1,
        "confirmed: no new version"
    );
    // A changed answer: one new version, the rest of the record kept.
    given.insert("uren".into(), json!(20));
    given.insert("laatste-werk".into(), json!("Heftruckchauffeur"));
    let saved = events.save(&ctx(), henk, "baan-kwijt", &given).await?;
    assert_eq!(saved.written, ["werk.profiel"]);
    let work = s.residents.read(henk, "werk.profiel", None).await?;
    assert_eq!(work.version, 2);
    assert_eq!(work.data["uren_beschikbaar_per_week"], 20);
    assert_eq!(
        work.data["vaardigheden"][0], "heftruckcertificaat",
        "other fields kept"
    );
    let writes = s.log().await[before..]
        .iter()
        .filter(|e| e.action == Action::RecordWrite)
        .count();
    assert_eq!(writes, 2, "the log shows exactly the two writes");
    Ok(())
}

#[tokio::test]
async fn sharing_goes_only_to_helpers_and_only_their_categories() -> Result<()> {
    let s = Services::start().await;
    let events = flow(&s).await;
    let henk = s.resident("henk").await;
    let helpers = events.helpers("baan-kwijt").await?;
    let ids: Vec<&str> = helpers.iter().map(|h| h.department.id.as_str()).collect();
    assert_eq!(ids, ["werk-en-inkomen", "schuldhulpverlening"]);
    for bad in [
        vec!["jeugdhulp".to_owned()],
        vec!["werk-en-inkomen".into(), "nergens".into()],
    ] {
        assert!(matches!(
            events.share(&ctx(), henk, "baan-kwijt", &bad).await,
            Err(Error::OutOfScope(_))
        ));
    }
    assert!(
        s.consent.resident_grants(henk).await?.is_empty(),
        "nothing granted"
    );
    assert!(matches!(
        events.share(&ctx(), henk, "bestaat-niet", &[]).await,
        Err(Error::NotFound(_))
    ));
    let grants = events
        .share(
            &ctx(),
            henk,
            "baan-kwijt",
            &["werk-en-inkomen".into(), "schuldhulpverlening".into()],
        )
        .await?;
    assert_eq!(grants.len(), 2);
    for (grant, helper) in grants.iter().zip(&helpers) {
        let shared: Vec<&str> = grant.categories.iter().map(|c| c.id.as_str()).collect();
        let meant: Vec<&str> = helper.categories.iter().map(|c| c.id.as_str()).collect();
        let mut meant_sorted = meant.clone();
        meant_sorted.sort();
        assert_eq!(shared, meant_sorted);
        assert!(helper.activity.categories.iter().any(|c| c == meant[0]));
    }
    Ok(())
}
