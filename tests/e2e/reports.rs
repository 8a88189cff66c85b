//! The officer's reports on a log with known violations (issue 18, must-show 1): each
//! report finds nothing on a clean log, and exactly the violations planted afterwards: two
//! reads no grant justifies (planted through the audit service, as a bug or an intruder
//! would leave them), attempts after a revoke and after expiry, a refusal of each kind, a
//! category outside the activity, and a day of unusual volume.

use crate::consent::{BSNS, resident_with_bsn};
use crate::signals::debt_grant;
use crate::support::{TestDepartment, TestVault};
use chrono::TimeDelta;
use kluis::audit::entry::{Action, Actor, Entry, Outcome};
use kluis_proto::consent::ActivityRef;
use kluis_sdk::Grant;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const DEBTS: &str = "schulden.overzicht";
const ACTIVITY: &str = "schuldhulp-traject";
const TEAM: &str = "schuldhulpverlening";

async fn report(vault: &TestVault, officer: &str, name: &str) -> Value {
    let (status, answer) = vault
        .get(officer, &format!("/v1/officer/reports/{name}"))
        .await;
    assert_eq!(status, 200, "{name}: {answer}");
    answer["result"].clone()
}

/// A read under `token` with the DPoP proof `proof` (and `assertion`, if any); its status.
async fn raw_read(
    vault: &TestVault,
    team: &TestDepartment,
    (resident, token): (&str, &str),
    proof: String,
    assertion: Option<String>,
) -> u16 {
    let body = json!({"resident": resident, "categories": [DEBTS]});
    team.read_raw(vault, assertion, Some(token), Some(proof), body)
        .await
        .0
        .as_u16()
}

async fn read(vault: &TestVault, team: &TestDepartment, grant: &Grant, categories: &[&str]) -> u16 {
    team.read(vault, grant, categories).await.0.as_u16()
}

/// A read entry as the read pipeline would log an allowed one, planted directly.
async fn plant_read(vault: &TestVault, resident: &str, grant: uuid::Uuid, category: &str) -> u64 {
    let mut entry = Entry::new(
        Action::Read,
        Outcome::Allowed,
        Actor::Department { id: TEAM.into() },
    );
    entry.department = Some(TEAM.into());
    entry.resident = Some(resident.to_owned());
    entry.grant = Some(grant);
    entry.categories = vec![category.into()];
    entry.processing_activity = Some(ActivityRef {
        id: ACTIVITY.into(),
        version: 1,
    });
    vault
        .app
        .audit()
        .record(&crate::support::ctx(), entry)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_finds_exactly_the_planted_violations_and_nothing_on_a_clean_log() {
    let vault = TestVault::start_now().await;
    let officer = vault.officer().await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let debts = json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]});
    let (status, _) = vault
        .put(&token, &format!("/v1/me/records/{DEBTS}"), &debts)
        .await;
    assert_eq!(status, 201);
    let team = TestDepartment::register_demo(&vault, TEAM).await;
    let g = debt_grant(&vault, &team, &token).await;
    let clock = vault.app.clock();

    // A clean log: two ordinary days with one read each.
    assert_eq!(read(&vault, &team, &g, &[DEBTS]).await, 200);
    clock.advance(TimeDelta::days(1));
    assert_eq!(read(&vault, &team, &g, &[DEBTS]).await, 200);
    let unauthorized = report(&vault, &officer, "unauthorized-reads").await;
    assert_eq!(unauthorized["without_valid_grant"], json!([]));
    assert_eq!(unauthorized["reads_checked"], 2);
    assert_eq!(report(&vault, &officer, "late-attempts").await, json!([]));
    assert_eq!(report(&vault, &officer, "refusals").await, json!({}));
    for usage in report(&vault, &officer, "categories")
        .await
        .as_array()
        .unwrap()
    {
        assert_eq!(usage["outside_activity"], json!([]), "{usage}");
    }
    let volume = report(&vault, &officer, "volume").await;
    assert!(
        volume
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["unusual"] == false),
        "{volume}"
    );

    // A day of unusual volume: fifteen reads.
    clock.advance(TimeDelta::days(1));
    let busy_day = clock.now().format("%Y-%m-%d").to_string();
    for _ in 0..15 {
        assert_eq!(read(&vault, &team, &g, &[DEBTS]).await, 200);
    }
    // Two reads nothing justifies (they count on the busy day too): under no grant, and
    // outside the grant and the activity.
    let reference = vault.app.residents().audit_reference(henk);
    let no_grant = plant_read(&vault, &reference, uuid::Uuid::new_v4(), DEBTS).await;
    let outside = plant_read(&vault, &reference, g.id, "kinderen.situatie").await;
    // A refusal of each kind the read pipeline gives.
    let proof = |overrides: Value| team.dpop_with(&vault, &g.token, overrides);
    let who = (g.resident.as_str(), g.token.as_str());
    let bad_token = (g.resident.as_str(), "not-a-grant");
    assert_eq!(
        raw_read(&vault, &team, bad_token, proof(json!({})), None).await,
        401
    );
    let elsewhere = proof(json!({"htu": "https://elders.example/v1/dept/read"}));
    assert_eq!(raw_read(&vault, &team, who, elsewhere, None).await, 401);
    let bad_assertion = Some("not-an-assertion".to_owned());
    assert_eq!(
        raw_read(&vault, &team, who, proof(json!({})), bad_assertion).await,
        401
    );
    assert_eq!(read(&vault, &team, &g, &["kinderen.situatie"]).await, 403);
    assert_eq!(read(&vault, &team, &g, &[]).await, 400);
    // Henk logs in again: the days that passed ended his session.
    let token = vault.login("henk").await;
    let path = |what: &str| format!("/v1/me/grants/{}/{what}", g.id);
    vault
        .post(&token, &path("pause"), &json!({"reason": "other"}))
        .await;
    assert_eq!(read(&vault, &team, &g, &[DEBTS]).await, 403);
    vault.post(&token, &path("resume"), &json!({})).await;
    // Attempts after a revoke and after expiry.
    let second = debt_grant(&vault, &team, &token).await;
    vault
        .post(
            &token,
            &format!("/v1/me/grants/{}/revoke", second.id),
            &json!({}),
        )
        .await;
    assert_eq!(read(&vault, &team, &second, &[DEBTS]).await, 403);
    clock.advance(TimeDelta::days(91));
    assert_eq!(read(&vault, &team, &g, &[DEBTS]).await, 403);

    // The officer's credential ran out with the months that passed: a new one. The
    // refusals nothing could be attributed to are counted per minute: log them now.
    let officer = vault.officer().await;
    vault.app.audit().log_tallies(true).await.unwrap();
    let unauthorized = report(&vault, &officer, "unauthorized-reads").await;
    assert_eq!(
        unauthorized["without_valid_grant"],
        json!([
            {"seq": no_grant, "problem": "no grant entry precedes it"},
            {"seq": outside, "problem": "kinderen.situatie lies outside the grant"},
        ])
    );
    let late = report(&vault, &officer, "late-attempts").await;
    let late: Vec<(String, String)> = late
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["grant"].as_str().unwrap().to_owned(),
                l["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        late,
        [
            (second.id.to_string(), "grant_revoked".to_owned()),
            (g.id.to_string(), "grant_expired".to_owned()),
        ]
    );
    let refusals: BTreeMap<String, BTreeMap<String, u64>> =
        serde_json::from_value(report(&vault, &officer, "refusals").await).unwrap();
    let all: BTreeMap<String, u64> = refusals.values().flat_map(|r| r.clone()).collect();
    assert_eq!(
        all,
        BTreeMap::from(
            [
                "grant_expired",
                "grant_paused",
                "grant_revoked",
                "invalid_client",
                "invalid_dpop_proof",
                "invalid_grant",
                "invalid_parameter",
                "out_of_scope",
            ]
            .map(|reason| (reason.to_owned(), 1))
        ),
        "{refusals:?}"
    );
    let categories = report(&vault, &officer, "categories").await;
    let outside: Vec<&Value> = categories
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["outside_activity"] != json!([]))
        .collect();
    assert_eq!(outside.len(), 1, "{categories}");
    assert_eq!(outside[0]["department"], TEAM);
    assert_eq!(outside[0]["outside_activity"], json!(["kinderen.situatie"]));
    let volume = report(&vault, &officer, "volume").await;
    let unusual: Vec<(&str, u64)> = volume
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["unusual"] == true)
        .map(|d| (d["day"].as_str().unwrap(), d["reads"].as_u64().unwrap()))
        .collect();
    assert_eq!(unusual, [(busy_day.as_str(), 17)], "{volume}");
}
