// Long: the look-along rules are one world of coaches, codes and residents; each test builds on the same set-up.
//! The look-along rules against the in-memory store: codes work once and for ten
//! minutes, a look-along ends by time or at once, a coach sees only what was allowed (and
//! every refusal is logged about the resident), proposals pass the schema and are stored
//! as the resident's own version only when confirmed; a yes on the resident's behalf needs a
//! witness statement, never covers special-category data, and is undone by "Dit klopt
//! niet".

use super::{Choice, Coaching, Length, Via};
use crate::Error;
use crate::audit::entry::{Action, Actor, Outcome};
use crate::auth::coaches::{CoachPrincipal, Coaches, NewCoach, principal};
use crate::auth::departments::DepartmentPrincipal;
use crate::jose::keys::{KeySet, generate_department_jwk};
use crate::residents::ResidentId;
use crate::store::HelpReason;
use crate::testing::{Services, ctx};
use chrono::TimeDelta;
use kluis_proto::coaching::Channel;
use kluis_proto::consent::{DepartmentSpec, NewAccessRequest, ResidentIdentifier};
use serde_json::json;
use std::sync::Arc;

const DEBTS: &str = "schulden.overzicht";
const INCOME: &str = "inkomen.bronnen";

struct World {
    s: Services,
    coaching: Coaching,
    anna: CoachPrincipal,
    bram: CoachPrincipal,
    henk: ResidentId,
}

/// Registers demo department number `index` as `id`; returns it as authenticated.
async fn register(s: &Services, id: &str, index: usize) -> DepartmentPrincipal {
    let (_, public) = generate_department_jwk(&format!("{id}-1")).unwrap();
    let spec = DepartmentSpec {
        id: id.into(),
        name: crate::dev::demo_departments()[index].1.into(),
        jwks: json!({"keys": [public]}),
        processing_activities: crate::dev::demo_departments().remove(index).2,
        privacy_officer: crate::dev::DEMO_PRIVACY_OFFICER.into(),
        events_endpoint: None,
    };
    s.consent
        .register_department(&ctx(), Actor::Operator, &spec)
        .await
        .unwrap();
    let row = s.store.department(id).await.unwrap().unwrap();
    let keys = Arc::new(KeySet::from_jwks(&row.jwks).unwrap());
    DepartmentPrincipal { row, keys }
}

async fn world() -> World {
    let s = Services::start().await;
    register(&s, "schuldhulp", 1).await;
    let coaches = Coaches::new(
        s.store.clone(),
        s.store.clone(),
        s.audit.clone(),
        s.clock.clone(),
    );
    let add = |id: &'static str, name: &'static str| NewCoach {
        id,
        name,
        department: "schuldhulp",
        provider: "staff",
        subject: id,
    };
    let anna = principal(coaches.add(&add("anna", "Anna Jansen")).await.unwrap());
    let bram = principal(coaches.add(&add("bram", "Bram Visser")).await.unwrap());
    let coaching = Coaching::new(
        s.store.clone(),
        coaches,
        (s.residents.clone(), s.consent.clone()),
        s.audit.clone(),
        s.clock.clone(),
    );
    let henk = s.resident("henk").await;
    World {
        s,
        coaching,
        anna,
        bram,
        henk,
    }
}

fn choice(code: &str, categories: &[&str]) -> Choice {
    Choice {
        via: Via::Code(code.into()),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        length: Length::Conversation,
        may_propose: true,
        may_see_schemes: false,
    }
}

fn debts(amount: f64) -> serde_json::Value {
    json!({"schulden": [{"schuldeiser": "Belastingdienst", "soort": "belastingdienst", "bedrag": amount}]})
}

#[tokio::test]
async fn a_code_works_once_for_ten_minutes_and_only_for_its_coach() {
    let w = world().await;
    let (code, _) = w.coaching.issue_code(&w.anna).await.unwrap();
    assert_eq!(
        w.coaching
            .coach_of_code(&code.to_lowercase().replace('-', " "))
            .await
            .unwrap()
            .map(|c| c.id),
        Some("anna".into()),
        "typed in lower case with a space, the code still names Anna"
    );
    let row = w
        .coaching
        .start(&ctx(), w.henk, &choice(&code, &[DEBTS]))
        .await
        .unwrap();
    assert_eq!(row.coach, "anna", "the code's coach, nobody else");
    let again = w
        .coaching
        .start(&ctx(), w.henk, &choice(&code, &[DEBTS]))
        .await;
    assert!(matches!(again, Err(Error::Forbidden(_))), "{again:?}");

    let (late, _) = w.coaching.issue_code(&w.bram).await.unwrap();
    w.s.clock.advance(TimeDelta::minutes(10));
    assert!(w.coaching.coach_of_code(&late).await.unwrap().is_none());
    let expired = w
        .coaching
        .start(&ctx(), w.henk, &choice(&late, &[DEBTS]))
        .await;
    assert!(matches!(expired, Err(Error::Forbidden(_))), "{expired:?}");
    let malformed = w
        .coaching
        .start(&ctx(), w.henk, &choice("BSN 111222333", &[DEBTS]))
        .await;
    assert!(
        matches!(malformed, Err(Error::InvalidParameter(_))),
        "{malformed:?}"
    );
    assert_eq!(
        w.coaching.of_coach(&w.bram).await.unwrap(),
        vec![],
        "Bram got nothing"
    );
}

#[tokio::test]
async fn a_coach_sees_only_the_allowed_parts_while_the_look_along_lasts() {
    let w = world().await;
    w.s.residents
        .write(&ctx(), w.henk, DEBTS, &debts(812.5))
        .await
        .unwrap();
    let (code, _) = w.coaching.issue_code(&w.anna).await.unwrap();
    let row = w
        .coaching
        .start(&ctx(), w.henk, &choice(&code, &[DEBTS, INCOME]))
        .await
        .unwrap();
    let seen = w
        .coaching
        .view(&ctx(), &w.anna, row.id, DEBTS)
        .await
        .unwrap()
        .1
        .unwrap();
    assert_eq!(seen.data, debts(812.5));
    assert!(
        w.coaching
            .view(&ctx(), &w.anna, row.id, INCOME)
            .await
            .unwrap()
            .1
            .is_none(),
        "allowed but empty"
    );
    let other_part = w
        .coaching
        .view(&ctx(), &w.anna, row.id, "wonen.situatie")
        .await;
    assert!(matches!(other_part, Err(Error::Forbidden(_))));
    let other_coach = w.coaching.view(&ctx(), &w.bram, row.id, DEBTS).await;
    assert!(matches!(other_coach, Err(Error::Forbidden(_))));

    w.s.clock.advance(TimeDelta::hours(2));
    let late = w.coaching.view(&ctx(), &w.anna, row.id, DEBTS).await;
    assert!(matches!(late, Err(Error::Forbidden(_))), "past two hours");
    assert!(w.coaching.of_coach(&w.anna).await.unwrap().is_empty());

    let reference = w.s.residents.audit_reference(w.henk);
    let looks: Vec<(Outcome, Vec<String>, String)> =
        w.s.log()
            .await
            .into_iter()
            .filter(|e| e.action == Action::CoachView)
            .map(|e| {
                assert_eq!(e.resident.as_ref(), Some(&reference), "about Henk");
                let Actor::Coach { id, staff, .. } = &e.actor else {
                    panic!("a coach's look is done by a coach: {:?}", e.actor);
                };
                assert_eq!(staff, &format!("staff:{id}"));
                (e.outcome, e.categories.clone(), id.clone())
            })
            .collect();
    assert_eq!(
        looks,
        vec![
            (Outcome::Allowed, vec![DEBTS.to_owned()], "anna".into()),
            (Outcome::Allowed, vec![INCOME.to_owned()], "anna".into()),
            (
                Outcome::Refused,
                vec!["wonen.situatie".into()],
                "anna".into()
            ),
            (Outcome::Refused, vec![], "bram".into()),
            (Outcome::Refused, vec![], "anna".into()),
        ]
    );
}

#[tokio::test]
async fn the_resident_ends_it_at_once_and_can_let_the_same_coach_in_again() {
    let w = world().await;
    let (code, _) = w.coaching.issue_code(&w.anna).await.unwrap();
    let mut until = choice(&code, &[DEBTS]);
    until.length = Length::Until((w.s.clock.now() + TimeDelta::days(91)).date_naive());
    let too_long = w.coaching.start(&ctx(), w.henk, &until).await;
    assert!(matches!(too_long, Err(Error::InvalidParameter(_))));
    until.length = Length::Until((w.s.clock.now() + TimeDelta::days(30)).date_naive());
    let row = w.coaching.start(&ctx(), w.henk, &until).await.unwrap();
    assert!(row.ends_at > w.s.clock.now() + TimeDelta::days(29));
    w.coaching.end(&ctx(), w.henk, row.id).await.unwrap();
    assert!(matches!(
        w.coaching.view(&ctx(), &w.anna, row.id, DEBTS).await,
        Err(Error::Forbidden(_))
    ));
    let mut again = choice("", &[DEBTS]);
    again.via = Via::Earlier("anna".into());
    w.coaching.start(&ctx(), w.henk, &again).await.unwrap();
    again.via = Via::Earlier("bram".into());
    assert!(matches!(
        w.coaching.start(&ctx(), w.henk, &again).await,
        Err(Error::Forbidden(_))
    ));
    let ina = w.s.resident("ina").await;
    assert!(matches!(
        w.coaching.end(&ctx(), ina, row.id).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn a_help_signal_puts_the_resident_first_in_the_coachs_list() {
    let w = world().await;
    let ina = w.s.resident("ina").await;
    for resident in [w.henk, ina] {
        let (code, _) = w.coaching.issue_code(&w.anna).await.unwrap();
        w.coaching
            .start(&ctx(), resident, &choice(&code, &[DEBTS]))
            .await
            .unwrap();
        w.s.clock.advance(TimeDelta::minutes(1));
    }
    assert_eq!(w.coaching.of_coach(&w.anna).await.unwrap()[0].resident, ina);
    w.coaching
        .ask_help(&ctx(), w.henk, HelpReason::FillIn)
        .await
        .unwrap();
    let list = w.coaching.of_coach(&w.anna).await.unwrap();
    assert_eq!(list[0].resident, w.henk);
    assert_eq!(list[0].help.as_ref().unwrap().reason, HelpReason::FillIn);
    let nobody = w.s.resident("piet").await;
    assert!(matches!(
        w.coaching.ask_help(&ctx(), nobody, HelpReason::Call).await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test]
async fn a_proposal_is_written_only_when_the_resident_confirms_it() {
    let w = world().await;
    w.s.residents
        .write(&ctx(), w.henk, DEBTS, &debts(812.5))
        .await
        .unwrap();
    let (code, _) = w.coaching.issue_code(&w.anna).await.unwrap();
    let row = w
        .coaching
        .start(&ctx(), w.henk, &choice(&code, &[DEBTS]))
        .await
        .unwrap();
    let bad =
        json!({"schulden": [{"schuldeiser": "X", "soort": "belastingdienst", "bedrag": "veel"}]});
    assert!(matches!(
        w.coaching
            .propose(&ctx(), &w.anna, row.id, DEBTS, 1, &bad)
            .await,
        Err(Error::SchemaViolation(_))
    ));
    assert!(matches!(
        w.coaching
            .propose(&ctx(), &w.anna, row.id, INCOME, 0, &json!({"bronnen": []}))
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(
        matches!(
            w.coaching
                .propose(&ctx(), &w.anna, row.id, DEBTS, 0, &debts(900.0))
                .await,
            Err(Error::Conflict(_))
        ),
        "made from an old version"
    );
    let proposal = w
        .coaching
        .propose(&ctx(), &w.anna, row.id, DEBTS, 1, &debts(900.0))
        .await
        .unwrap();
    assert_eq!(
        w.s.residents.read(w.henk, DEBTS, None).await.unwrap().data,
        debts(812.5),
        "nothing written before Henk confirms"
    );
    let ina = w.s.resident("ina").await;
    assert!(matches!(
        w.coaching.confirm(&ctx(), ina, proposal.id).await,
        Err(Error::NotFound(_))
    ));
    let shown = w.coaching.proposal(w.henk, proposal.id).await.unwrap();
    assert_eq!(shown.proposed, debts(900.0));
    assert_eq!(shown.current.unwrap().data, debts(812.5));
    w.coaching
        .confirm(&ctx(), w.henk, proposal.id)
        .await
        .unwrap();
    let now = w.s.residents.read(w.henk, DEBTS, None).await.unwrap();
    assert_eq!((now.version, now.data), (2, debts(900.0)));
    let write =
        w.s.log()
            .await
            .into_iter()
            .rfind(|e| e.action == Action::RecordWrite)
            .unwrap();
    assert!(
        matches!(write.actor, Actor::Resident { .. }),
        "Henk's own version"
    );
    assert_eq!(
        write.details.get("proposed_by").map(String::as_str),
        Some("anna")
    );
    assert!(
        matches!(
            w.coaching.confirm(&ctx(), w.henk, proposal.id).await,
            Err(Error::NotFound(_))
        ),
        "a proposal is decided once"
    );

    let lapsing = w
        .coaching
        .propose(&ctx(), &w.anna, row.id, DEBTS, 2, &debts(1.0))
        .await
        .unwrap();
    w.s.clock.advance(TimeDelta::days(14));
    assert!(w.coaching.open_proposals(w.henk).await.unwrap().is_empty());
    assert!(matches!(
        w.coaching.confirm(&ctx(), w.henk, lapsing.id).await,
        Err(Error::NotFound(_))
    ));
}

/// Asks Henk (by BSN) for `categories` under `activity` of `department`.
async fn ask(
    w: &World,
    department: &DepartmentPrincipal,
    activity: &str,
    categories: &[&str],
) -> uuid::Uuid {
    w.s.consent
        .create_request(
            &ctx(),
            department,
            &NewAccessRequest {
                resident: ResidentIdentifier::NationalId {
                    scheme: "bsn".into(),
                    value: "999993653".into(),
                },
                processing_activity: activity.into(),
                categories: categories.iter().map(|c| c.to_string()).collect(),
                duration_days: 90,
            },
        )
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn a_yes_on_the_residents_behalf_needs_a_statement_and_is_undone_by_dit_klopt_niet() {
    let w = world().await;
    w.s.residents
        .set_national_id(w.henk, "bsn", "999993653")
        .await
        .unwrap();
    let debts_department = register(&w.s, "schuldhulpverlening", 1).await;
    let youth = register(&w.s, "jeugdhulp", 2).await;
    let (code, _) = w.coaching.issue_code(&w.anna).await.unwrap();
    let look = w
        .coaching
        .start(
            &ctx(),
            w.henk,
            &choice(
                &code,
                &[DEBTS, "kinderen.situatie", "zorg.ondersteuningsbehoefte"],
            ),
        )
        .await
        .unwrap();
    let request = ask(&w, &debts_department, "schuldhulp-traject", &[DEBTS]).await;
    let special = ask(
        &w,
        &youth,
        "ondersteuning-gezin",
        &["kinderen.situatie", "zorg.ondersteuningsbehoefte"],
    )
    .await;

    // Special-category data: never on a statement; the request stays pending.
    let refused = w
        .coaching
        .approve_as_witness(&ctx(), &w.anna, (look.id, special), Channel::Phone)
        .await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    assert!(
        w.s.consent
            .resident_grants(w.henk)
            .await
            .unwrap()
            .is_empty()
    );
    // Another coach, and a request that is not Henk's, are refused too.
    assert!(matches!(
        w.coaching
            .approve_as_witness(&ctx(), &w.bram, (look.id, request), Channel::Phone)
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        w.coaching
            .approve_as_witness(
                &ctx(),
                &w.anna,
                (look.id, uuid::Uuid::new_v4()),
                Channel::Phone
            )
            .await,
        Err(Error::NotFound(_))
    ));

    // A request for more than the resident lets the coach see: refused.
    let wider = ask(
        &w,
        &debts_department,
        "schuldhulp-traject",
        &[DEBTS, INCOME],
    )
    .await;
    assert!(matches!(
        w.coaching
            .approve_as_witness(&ctx(), &w.anna, (look.id, wider), Channel::Phone)
            .await,
        Err(Error::Forbidden(_))
    ));
    let (_, listed) = w
        .coaching
        .look_at_resident(&ctx(), &w.anna, look.id)
        .await
        .unwrap();
    let mut listed: Vec<uuid::Uuid> = listed.iter().map(|r| r.id).collect();
    listed.sort();
    let mut expected = vec![request, special];
    expected.sort();
    assert_eq!(
        listed, expected,
        "the coach sees only requests within the parts"
    );
    let statement = w
        .coaching
        .approve_as_witness(&ctx(), &w.anna, (look.id, request), Channel::Phone)
        .await
        .unwrap();
    let grant = statement.grant.unwrap();
    let grants = w.s.consent.resident_grants(w.henk).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].id, grant);
    let decision =
        w.s.log()
            .await
            .into_iter()
            .find(|e| e.action == Action::RequestDecision)
            .unwrap();
    assert!(
        matches!(decision.actor, Actor::Coach { .. }),
        "the coach decided, not Henk"
    );
    assert_eq!(
        decision.details.get("witness_statement"),
        Some(&statement.id.to_string())
    );
    assert_eq!(
        w.coaching.open_statements(w.henk).await.unwrap(),
        vec![statement.clone()]
    );
    assert!(
        matches!(
            w.coaching
                .approve_as_witness(&ctx(), &w.anna, (look.id, request), Channel::Desk)
                .await,
            Err(Error::Conflict(_))
        ),
        "a request is decided once"
    );

    // "Dit klopt niet": the grant is revoked, the statement flagged.
    let ina = w.s.resident("ina").await;
    assert!(matches!(
        w.coaching
            .answer_statement(&ctx(), ina, statement.id, false)
            .await,
        Err(Error::NotFound(_))
    ));
    w.coaching
        .answer_statement(&ctx(), w.henk, statement.id, false)
        .await
        .unwrap();
    let after = w.s.consent.resident_grants(w.henk).await.unwrap();
    assert_eq!(after[0].state, kluis_proto::consent::GrantState::Revoked);
    assert!(w.coaching.open_statements(w.henk).await.unwrap().is_empty());
    let mut tally = crate::audit::reports::Report::WitnessStatements.tally(0, Vec::new());
    for entry in w.s.log().await {
        tally.observe(&entry);
    }
    let report = tally.answer();
    assert_eq!(report["statements_per_coach"]["anna"], 1);
    assert_eq!(report["disputed"][0]["statement"], statement.id.to_string());
    assert_eq!(report["disputed"][0]["grant"], grant.to_string());
    assert_eq!(
        report["refused"].as_array().unwrap().len(),
        1,
        "the special-category try"
    );
}

#[tokio::test]
async fn a_removed_coach_is_out_for_good_and_their_look_alongs_end() {
    let w = world().await;
    let (code, _) = w.coaching.issue_code(&w.anna).await.unwrap();
    let look = w
        .coaching
        .start(&ctx(), w.henk, &choice(&code, &[DEBTS]))
        .await
        .unwrap();
    let (late_code, _) = w.coaching.issue_code(&w.anna).await.unwrap();
    let coaches = w.coaching.coaches();
    let again = |subject: &'static str, department: &'static str| NewCoach {
        id: "anna",
        name: "Anna de Vries",
        department,
        provider: "staff",
        subject,
    };
    assert!(
        coaches.add(&again("anna", "schuldhulp")).await.is_ok(),
        "the same login may change its name"
    );
    assert!(matches!(
        coaches.add(&again("someone-else", "schuldhulp")).await,
        Err(Error::Conflict(_))
    ));
    w.coaching.remove_coach(&ctx(), "anna").await.unwrap();
    assert!(w.coaching.of_resident(w.henk).await.unwrap().is_empty());
    assert!(matches!(
        w.coaching.view(&ctx(), &w.anna, look.id, DEBTS).await,
        Err(Error::Unauthenticated(_))
    ));
    assert!(
        matches!(
            coaches.add(&again("anna", "schuldhulp")).await,
            Err(Error::Conflict(_))
        ),
        "a removed coach's id is never given out again"
    );
    assert!(
        matches!(
            w.coaching
                .start(&ctx(), w.henk, &choice(&late_code, &[DEBTS]))
                .await,
            Err(Error::Forbidden(_))
        ),
        "their last code is dead too"
    );
    let ended =
        w.s.log()
            .await
            .into_iter()
            .rfind(|e| e.action == Action::LookAlong)
            .unwrap();
    assert_eq!(ended.actor, Actor::Operator);
    assert_eq!(
        ended.details.get("change").map(String::as_str),
        Some("ended: coach removed")
    );
}
