// Long: the consent service's rules, one test per rule, all on one fixture (a registered department, residents).
//! The consent service's rules, against the in-memory store: registration, requests,
//! decisions, grants, revocation and erasure, each saying no where it must and logging
//! what it did.

use crate::audit::entry::{Action, Actor, Outcome};
use crate::auth::departments::DepartmentPrincipal;
use crate::jose::keys::{KeySet, generate_department_jwk};
use crate::testing::{Services, ctx};
use crate::{Error, Result};
use kluis_proto::consent::{
    Approval, DepartmentSpec, GrantState, NewAccessRequest, OwnInitiativeGrant, RequestState,
    ResidentIdentifier,
};
use std::sync::Arc;

const BSN: &str = "999993653";

fn spec() -> DepartmentSpec {
    let (_, public) = generate_department_jwk("schuld-1").unwrap();
    DepartmentSpec {
        id: "schuldhulpverlening".into(),
        name: "Schuldhulpverlening".into(),
        jwks: serde_json::json!({"keys": [public]}),
        processing_activities: crate::dev::demo_departments().remove(1).2,
        privacy_officer: crate::dev::DEMO_PRIVACY_OFFICER.into(),
        events_endpoint: None,
    }
}

/// Registers the debt counsellors and returns them as an authenticated department.
async fn department(s: &Services) -> DepartmentPrincipal {
    s.consent
        .register_department(&ctx(), Actor::Operator, &spec())
        .await
        .unwrap();
    let row = s
        .store
        .department("schuldhulpverlening")
        .await
        .unwrap()
        .unwrap();
    let keys = Arc::new(KeySet::from_jwks(&row.jwks).unwrap());
    DepartmentPrincipal { row, keys }
}

fn ask(categories: &[&str], days: u32) -> NewAccessRequest {
    NewAccessRequest {
        resident: ResidentIdentifier::NationalId {
            scheme: "bsn".into(),
            value: BSN.into(),
        },
        processing_activity: "schuldhulp-traject".into(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        duration_days: days,
    }
}

async fn actions(s: &Services) -> Vec<(Action, Outcome)> {
    s.log()
        .await
        .iter()
        .map(|e| (e.action, e.outcome))
        .collect()
}

/// Registers the debt counsellors with one change to their activity; returns why it was
/// refused.
async fn refused(
    s: &Services,
    change: impl FnOnce(&mut kluis_proto::consent::ProcessingActivity),
) -> String {
    let mut bad = spec();
    change(&mut bad.processing_activities[0]);
    match s
        .consent
        .register_department(&ctx(), Actor::Operator, &bad)
        .await
    {
        Err(Error::InvalidParameter(message)) => message,
        other => panic!("accepted: {other:?}"),
    }
}

#[tokio::test]
async fn registration_refuses_requests_a_resident_cannot_decide_on() {
    let s = Services::start().await;
    let long = refused(&s, |a| {
        a.purpose = "We maken samen met u een plan om uw schulden op te lossen, \
            en we praten met de mensen aan wie u geld moet betalen."
            .into()
    })
    .await;
    assert!(
        long.contains("schuldhulp-traject: purpose has 25 words; keep it to 15"),
        "{long}"
    );
    let no_contact = refused(&s, |a| a.contact = " ".into()).await;
    assert!(no_contact.contains("contact must be 1 to"), "{no_contact}");
    let no_next = refused(&s, |a| a.next_step.clear()).await;
    assert!(no_next.contains("next_step must be 1 to"), "{no_next}");
    let silent = refused(&s, |a| {
        a.legal_basis.necessary = true;
        a.if_no.clear();
    })
    .await;
    assert!(silent.contains("if_no is required"), "{silent}");
    let jargon = refused(&s, |a| a.explanation = "We verwerken uw data.".into()).await;
    assert!(
        jargon.contains("explanation is not plain Dutch (jargon \"data\""),
        "{jargon}"
    );
    let writes = refused(&s, |a| a.writes = vec!["schulden.overzicht".into()]).await;
    assert!(writes.contains("writes may name only"), "{writes}");
    let hebt = refused(&s, |a| a.if_no = "Wat u hebt gegeven, blijft.".into()).await;
    assert!(hebt.contains("if_no is not plain Dutch"), "{hebt}");
    assert!(
        s.store.departments().await.unwrap().is_empty(),
        "nothing stored"
    );
    assert!(s.log().await.is_empty(), "nothing logged");

    let mut changed = spec();
    s.consent
        .register_department(&ctx(), Actor::Operator, &changed)
        .await
        .unwrap();
    changed.processing_activities[0].next_step = "We bellen u morgen.".into();
    let info = s
        .consent
        .register_department(&ctx(), Actor::Operator, &changed)
        .await
        .unwrap();
    assert_eq!(
        info.processing_activities[0].version, 2,
        "a changed text is a new version"
    );
    assert_eq!(
        info.processing_activities[0].next_step,
        "We bellen u morgen."
    );
}

#[tokio::test]
async fn registration_is_checked_versioned_and_logged_once() {
    let s = Services::start().await;
    let mut bad = spec();
    bad.id = "Schuld Hulp".into();
    assert!(matches!(
        s.consent
            .register_department(&ctx(), Actor::Operator, &bad)
            .await,
        Err(Error::InvalidParameter(_))
    ));
    let mut unknown = spec();
    unknown.processing_activities[0]
        .categories
        .push("geen.categorie".into());
    assert!(matches!(
        s.consent
            .register_department(&ctx(), Actor::Operator, &unknown)
            .await,
        Err(Error::UnknownCategory(_))
    ));
    assert!(s.log().await.is_empty());

    let spec = spec();
    s.consent
        .register_department(&ctx(), Actor::Operator, &spec)
        .await
        .unwrap();
    s.consent
        .register_department(&ctx(), Actor::Operator, &spec)
        .await
        .unwrap();
    assert_eq!(
        s.log().await.len(),
        1,
        "an unchanged registration is not logged again"
    );
    let mut changed = spec.clone();
    changed.processing_activities[0].retention_days += 1;
    let info = s
        .consent
        .register_department(&ctx(), Actor::Operator, &changed)
        .await
        .unwrap();
    assert_eq!(info.processing_activities[0].version, 2);
    assert_eq!(s.log().await.len(), 2);
}

#[tokio::test]
async fn a_request_by_bsn_waits_for_the_resident_and_is_decided_once() -> Result<()> {
    let s = Services::start().await;
    let debts = department(&s).await;
    let request = s
        .consent
        .create_request(
            &ctx(),
            &debts,
            &ask(&["schulden.overzicht", "inkomen.bronnen"], 90),
        )
        .await?;
    assert_eq!(request.state, RequestState::Pending);

    let henk = s.resident("henk").await;
    assert!(s.consent.resident_requests(henk, false).await?.is_empty());
    s.residents.set_national_id(henk, "bsn", BSN).await?;
    let open = s.consent.resident_requests(henk, false).await?;
    assert_eq!(
        open.len(),
        1,
        "the request waited for the vault with that BSN"
    );
    assert!(
        open[0]
            .summary_nl
            .contains("Schuldhulpverlening vraagt om deze gegevens")
    );

    // Longer than asked, or a category not asked: refused, nothing changes.
    let longer = Approval {
        categories: None,
        duration_days: Some(91),
    };
    assert!(matches!(
        s.consent.approve(&ctx(), henk, request.id, &longer).await,
        Err(Error::OutOfScope(_))
    ));
    let other = Approval {
        categories: Some(vec!["werk.profiel".into()]),
        duration_days: None,
    };
    assert!(matches!(
        s.consent.approve(&ctx(), henk, request.id, &other).await,
        Err(Error::OutOfScope(_))
    ));
    let part = Approval {
        categories: Some(vec!["schulden.overzicht".into()]),
        duration_days: Some(30),
    };
    let grant = s.consent.approve(&ctx(), henk, request.id, &part).await?;
    assert_eq!(grant.categories.len(), 1);
    assert_eq!(grant.state, GrantState::Active);
    assert!(matches!(
        s.consent.approve(&ctx(), henk, request.id, &part).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.consent.decline(&ctx(), henk, request.id).await,
        Err(Error::Conflict(_))
    ));
    // Another resident cannot even see it.
    let anna = s.resident("anna").await;
    assert!(matches!(
        s.consent.resident_request(anna, request.id).await,
        Err(Error::NotFound(_))
    ));
    let log = actions(&s).await;
    assert_eq!(
        &log[log.len() - 3..],
        [
            (Action::AccessRequest, Outcome::Done),
            (Action::RequestDecision, Outcome::Approved),
            (Action::Grant, Outcome::Done)
        ]
    );
    Ok(())
}

#[tokio::test]
async fn henk_cannot_write_or_delete_what_a_department_keeps() -> Result<()> {
    let s = Services::start().await;
    let henk = s.resident("henk").await;
    let step = serde_json::json!({"fase": "stabilisatie", "budgetbeheer": true});
    assert!(matches!(
        s.residents
            .write(&ctx(), henk, "schulden.traject", &step)
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        s.residents.delete(&ctx(), henk, "schulden.traject").await,
        Err(Error::Forbidden(_))
    ));
    assert!(s.log().await.is_empty(), "nothing logged, nothing stored");
    Ok(())
}

#[tokio::test]
async fn a_grant_on_own_initiative_is_checked_and_a_revoke_is_logged_once() -> Result<()> {
    let s = Services::start().await;
    let debts = department(&s).await;
    let henk = s.resident("henk").await;
    let grant = |categories: &[&str], days| OwnInitiativeGrant {
        department: debts.id().into(),
        processing_activity: "schuldhulp-traject".into(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        duration_days: days,
    };
    for (attempt, why) in [
        (grant(&[], 30), "nothing"),
        (
            grant(&["schulden.overzicht", "schulden.overzicht"], 30),
            "twice",
        ),
        (grant(&["schulden.overzicht"], 0), "no days"),
        (grant(&["schulden.overzicht"], 731), "over two years"),
    ] {
        assert!(
            matches!(
                s.consent.grant_own_initiative(&ctx(), henk, &attempt).await,
                Err(Error::InvalidParameter(_))
            ),
            "{why}"
        );
    }
    assert!(matches!(
        s.consent
            .grant_own_initiative(&ctx(), henk, &grant(&["zorg.mantelzorg"], 30))
            .await,
        Err(Error::OutOfScope(_))
    ));
    let view = s
        .consent
        .grant_own_initiative(&ctx(), henk, &grant(&["schulden.overzicht"], 30))
        .await?;
    let revoked = s.consent.revoke(&ctx(), henk, view.id).await?;
    assert_eq!(revoked.state, GrantState::Revoked);
    let again = s.consent.revoke(&ctx(), henk, view.id).await?;
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "the first revocation stands"
    );
    let revocations = s
        .log()
        .await
        .iter()
        .filter(|e| e.action == Action::Revocation)
        .count();
    assert_eq!(revocations, 1);
    let anna = s.resident("anna").await;
    assert!(matches!(
        s.consent.revoke(&ctx(), anna, view.id).await,
        Err(Error::NotFound(_))
    ));

    s.consent
        .set_department_disabled(&ctx(), Actor::Operator, debts.id(), true)
        .await?;
    assert!(matches!(
        s.consent
            .grant_own_initiative(&ctx(), henk, &grant(&["schulden.overzicht"], 30))
            .await,
        Err(Error::Conflict(_))
    ));
    Ok(())
}

#[tokio::test]
async fn a_pause_stops_reads_until_resumed_and_each_change_is_logged() -> Result<()> {
    use kluis_proto::consent::PauseReason;
    let s = Services::start().await;
    let debts = department(&s).await;
    let henk = s.resident("henk").await;
    let view = s
        .consent
        .grant_own_initiative(
            &ctx(),
            henk,
            &OwnInitiativeGrant {
                department: debts.id().into(),
                processing_activity: "schuldhulp-traject".into(),
                categories: vec!["schulden.overzicht".into()],
                duration_days: 30,
            },
        )
        .await?;
    let anna = s.resident("anna").await;
    assert!(matches!(
        s.consent
            .pause(&ctx(), anna, view.id, PauseReason::Other)
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.consent.resume(&ctx(), henk, view.id).await,
        Err(Error::Conflict(_))
    ));
    let paused = s
        .consent
        .pause(&ctx(), henk, view.id, PauseReason::DataIncorrect)
        .await?;
    assert_eq!(paused.state, GrantState::Paused);
    assert_eq!(
        paused.paused.map(|p| p.reason),
        Some(PauseReason::DataIncorrect)
    );
    assert!(matches!(
        s.consent
            .pause(&ctx(), henk, view.id, PauseReason::Other)
            .await,
        Err(Error::Conflict(_))
    ));
    let resumed = s.consent.resume(&ctx(), henk, view.id).await?;
    assert_eq!(resumed.state, GrantState::Active);
    assert_eq!(resumed.paused, None);

    // Paused, then revoked: the revocation stands and a resume cannot undo it.
    s.consent
        .pause(&ctx(), henk, view.id, PauseReason::ObjectionMade)
        .await?;
    let revoked = s.consent.revoke(&ctx(), henk, view.id).await?;
    assert_eq!(revoked.state, GrantState::Revoked);
    assert_eq!(
        revoked.paused, None,
        "a revoked grant is not shown as paused"
    );
    assert!(matches!(
        s.consent.resume(&ctx(), henk, view.id).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.consent
            .pause(&ctx(), henk, view.id, PauseReason::Other)
            .await,
        Err(Error::Conflict(_))
    ));
    let changes: Vec<(String, Option<String>)> = s
        .log()
        .await
        .iter()
        .filter(|e| e.action == Action::Pause)
        .map(|e| {
            assert_eq!(e.grant, Some(view.id));
            (
                e.details["change"].clone(),
                e.details.get("reason").cloned(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("paused".into(), Some("data_incorrect".into())),
            ("resumed".into(), None),
            ("paused".into(), Some("objection_made".into())),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_erasure_ends_grants_declines_requests_and_is_logged() -> Result<()> {
    let s = Services::start().await;
    let debts = department(&s).await;
    let henk = s.resident("henk").await;
    s.residents.set_national_id(henk, "bsn", BSN).await?;
    let first = s
        .consent
        .create_request(&ctx(), &debts, &ask(&["schulden.overzicht"], 90))
        .await?;
    let open = s
        .consent
        .create_request(&ctx(), &debts, &ask(&["inkomen.bronnen"], 90))
        .await?;
    let approval = Approval {
        categories: None,
        duration_days: None,
    };
    let grant = s.consent.approve(&ctx(), henk, first.id, &approval).await?;

    s.consent
        .erase_vault(&ctx(), henk, chrono::TimeDelta::hours(1))
        .await?;
    let stored = s.store.grant(grant.id).await?.unwrap();
    assert!(stored.revoked_at.is_some(), "the grant ended");
    let request = s.store.request(open.id).await?.unwrap();
    assert_eq!(request.state, RequestState::Declined);
    assert!(matches!(
        s.residents.resident(henk).await,
        Err(Error::NotFound(_))
    ));
    let log = actions(&s).await;
    assert_eq!(log.last(), Some(&(Action::Erasure, Outcome::Done)));
    assert!(log.contains(&(Action::Revocation, Outcome::Done)));
    assert!(log.contains(&(Action::RequestDecision, Outcome::Declined)));
    Ok(())
}
