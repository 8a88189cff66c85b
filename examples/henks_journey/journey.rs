//! Henk's journey, as a function both the example and the end-to-end test run.
//!
//! Henk's situation is stored once (by `kluis dev`). Work and income, debt counselling and
//! youth care each ask for what they need; Henk approves two (one only partly) and
//! declines one; both approved departments read through the SDK; Henk revokes one grant,
//! and that department's next read fails with `Revoked`. Then Henk starts from what
//! happened ("Ik ben mijn baan kwijt"): he confirms what his vault holds, answers what is
//! new, and shares with work and income again in one step; the department learns of the
//! share from its feed, reads it, and tells Henk where his case stands.

use anyhow::{Context, Result, anyhow, bail};
use kluis_sdk::proto::consent::{Approval, NewAccessRequest, RequestView, ResidentIdentifier};
use kluis_sdk::{Client, DepartmentKey, Error};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Henk's test BSN, which the departments already hold lawfully.
pub const HENK_BSN: &str = "999993653";

/// What happened, for the test to check.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Categories Henk's vault holds.
    pub categories_stored: usize,
    /// Debts the debt counsellors read.
    pub debts_read: usize,
    /// Categories work and income read.
    pub income_categories_read: Vec<String>,
    /// Whether work and income's attempt outside its partial grant was refused.
    pub out_of_scope_refused: bool,
    /// Whether youth care learned that Henk declined.
    pub youth_care_declined: bool,
    /// Whether the read after the revoke failed with `Revoked`.
    pub read_after_revoke_refused: bool,
    /// How many questions of "I lost my job" were new to Henk (the rest he confirmed).
    pub life_event_new_questions: usize,
    /// The categories work and income read after Henk shared from the life event.
    pub shared_categories_read: Vec<String>,
}

struct Henk {
    http: reqwest::Client,
    vault: String,
    token: String,
}

impl Henk {
    async fn log_in(vault: &str) -> Result<Henk> {
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{vault}/dev/login"))
            .json(&json!({"subject": "henk"}))
            .send()
            .await?
            .error_for_status()
            .context("the development login (is this `kluis dev`?)")?
            .json()
            .await?;
        let token = login["token"]
            .as_str()
            .ok_or_else(|| anyhow!("no token"))?
            .to_owned();
        Ok(Henk {
            http,
            vault: vault.to_owned(),
            token,
        })
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.vault))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Ok(response.error_for_status()?.json().await?)
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.vault))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("{path}: {status} {}", body["detail"]);
        }
        Ok(body)
    }
}

fn department(vault: &str, keys: &Path, id: &str) -> Result<Client> {
    let key = DepartmentKey::from_file(keys.join(format!("{id}.jwk")))
        .with_context(|| format!("the key of {id}"))?;
    Ok(Client::new(vault, id, key)?)
}

fn ask(activity: &str, categories: &[&str], days: u32) -> NewAccessRequest {
    NewAccessRequest {
        resident: ResidentIdentifier::NationalId {
            scheme: "bsn".into(),
            value: HENK_BSN.into(),
        },
        processing_activity: activity.into(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        duration_days: days,
    }
}

/// Runs the journey against the vault at `vault`, with the departments' keys in `keys`.
/// Every step is reported through `say`.
pub async fn run(vault: &str, keys: &Path, say: &mut dyn FnMut(String)) -> Result<Outcome> {
    let mut outcome = Outcome::default();

    say("1. Henk logs in and looks at his vault: his situation is stored once.".into());
    let henk = Henk::log_in(vault).await?;
    let records = henk.get("/v1/me/records").await?;
    let stored: Vec<&str> = records
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["category"].as_str())
        .collect();
    outcome.categories_stored = stored.len();
    say(format!(
        "   Henk's vault holds {} parts of his situation: {}",
        stored.len(),
        stored.join(", ")
    ));

    say(
        "2. Three departments ask for what they need, naming Henk by the BSN they already hold."
            .into(),
    );
    let work = department(vault, keys, "werk-en-inkomen")?;
    let debts = department(vault, keys, "schuldhulpverlening")?;
    let youth = department(vault, keys, "jeugdhulp")?;
    let work_asked = work
        .request_access(&ask(
            "bijstand-aanvraag",
            &[
                "identiteit.basis",
                "huishouden.samenstelling",
                "inkomen.bronnen",
                "inkomen.uitgaven",
                "wonen.situatie",
                "schulden.overzicht",
            ],
            180,
        ))
        .await?;
    let debts_asked = debts
        .request_access(&ask(
            "schuldhulp-traject",
            &[
                "schulden.overzicht",
                "inkomen.bronnen",
                "inkomen.uitgaven",
                "huishouden.samenstelling",
            ],
            365,
        ))
        .await?;
    let youth_asked = youth
        .request_access(&ask(
            "ondersteuning-gezin",
            &[
                "kinderen.situatie",
                "huishouden.samenstelling",
                "zorg.ondersteuningsbehoefte",
            ],
            180,
        ))
        .await?;
    say(format!(
        "   Work and income asks for 6 parts, debt counselling for 4, youth care for 3 (requests {}, {}, {}).",
        work_asked.id, debts_asked.id, youth_asked.id
    ));

    say("3. Henk reads each request in plain words.".into());
    let open: Vec<RequestView> = serde_json::from_value(henk.get("/v1/me/requests").await?)?;
    for id in [work_asked.id, debts_asked.id, youth_asked.id] {
        let request = open
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| anyhow!("Henk does not see request {id}"))?;
        say(format!("   - {}", request.summary_nl));
    }

    say("4. Henk decides: debt counselling gets everything; work and income gets all but his debts, for 90 days; youth care gets nothing.".into());
    henk.post(
        &format!("/v1/me/requests/{}/approve", debts_asked.id),
        json!({}),
    )
    .await?;
    let partial = Approval {
        categories: Some(
            [
                "identiteit.basis",
                "huishouden.samenstelling",
                "inkomen.bronnen",
                "inkomen.uitgaven",
                "wonen.situatie",
            ]
            .map(String::from)
            .to_vec(),
        ),
        duration_days: Some(90),
    };
    henk.post(
        &format!("/v1/me/requests/{}/approve", work_asked.id),
        serde_json::to_value(&partial)?,
    )
    .await?;
    henk.post(
        &format!("/v1/me/requests/{}/decline", youth_asked.id),
        json!({}),
    )
    .await?;

    say("5. The departments learn the decisions through the SDK.".into());
    let poll = Duration::from_millis(200);
    let limit = Duration::from_secs(30);
    let debts_grant = debts.wait_for_decision(debts_asked.id, poll, limit).await?;
    let work_grant = work.wait_for_decision(work_asked.id, poll, limit).await?;
    match youth.wait_for_decision(youth_asked.id, poll, limit).await {
        Err(Error::Declined) => {
            outcome.youth_care_declined = true;
            say("   Youth care: Henk declined. It gets no grant and reads nothing.".into());
        }
        other => bail!("youth care expected Declined, got {other:?}"),
    }
    say(format!(
        "   Debt counselling: granted {:?} until {}.",
        debts_grant.categories,
        debts_grant.expires_at.date_naive()
    ));
    say(format!(
        "   Work and income: granted {:?} until {}.",
        work_grant.categories,
        work_grant.expires_at.date_naive()
    ));

    say("6. Both read what was granted, and only that.".into());
    let read = debts
        .read(&debts_grant, &["schulden.overzicht", "inkomen.bronnen"])
        .await?;
    let debt_list = read
        .records
        .iter()
        .find(|r| r.category == "schulden.overzicht")
        .map(|r| r.data["schulden"].clone());
    let debt_list = debt_list
        .and_then(|d| d.as_array().cloned())
        .unwrap_or_default();
    let total: f64 = debt_list.iter().filter_map(|d| d["bedrag"].as_f64()).sum();
    outcome.debts_read = debt_list.len();
    say(format!(
        "   Debt counselling reads {} debts, EUR {total:.2} in all, and Henk's income.",
        debt_list.len()
    ));
    let read = work
        .read(
            &work_grant,
            &["inkomen.bronnen", "huishouden.samenstelling"],
        )
        .await?;
    outcome.income_categories_read = read.records.iter().map(|r| r.category.clone()).collect();
    say(format!(
        "   Work and income reads {:?}.",
        outcome.income_categories_read
    ));
    match work.read(&work_grant, &["schulden.overzicht"]).await {
        Err(Error::OutOfScope(why)) => {
            outcome.out_of_scope_refused = true;
            say(format!(
                "   Work and income tries Henk's debts too: refused ({why})."
            ));
        }
        other => bail!("expected OutOfScope, got {other:?}"),
    }

    say("7. Henk withdraws the grant of work and income.".into());
    henk.post(
        &format!("/v1/me/grants/{}/revoke", work_grant.id),
        json!({}),
    )
    .await?;
    match work.read(&work_grant, &["inkomen.bronnen"]).await {
        Err(Error::Revoked) => {
            outcome.read_after_revoke_refused = true;
            say("   Work and income reads again: refused, the grant is revoked. Nothing leaves the vault.".into());
        }
        other => bail!("expected Revoked, got {other:?}"),
    }
    say("8. Henk starts from what happened: \"Ik ben mijn baan kwijt\".".into());
    let steps = henk
        .post("/v1/me/life-events/baan-kwijt/steps", json!({}))
        .await?;
    let steps = steps.as_array().cloned().unwrap_or_default();
    let new: Vec<&Value> = steps.iter().filter(|s| s["held"].is_null()).collect();
    outcome.life_event_new_questions = new.len();
    say(format!(
        "   {} questions fit his situation; his vault answers {} of them, he confirms those.",
        steps.len(),
        steps.len() - new.len()
    ));
    let answers: serde_json::Map<String, Value> = new
        .iter()
        .filter_map(|s| Some((s["question"].as_str()?.to_owned(), json!(false))))
        .collect();
    let done = henk
        .post(
            "/v1/me/life-events/baan-kwijt",
            json!({"answers": answers, "share_with": ["werk-en-inkomen"]}),
        )
        .await?;
    say(format!(
        "   He answers the new ones ({}) and shares with work and income in one step.",
        new.iter()
            .filter_map(|s| s["ask_nl"].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    if done["grants"].as_array().map_or(0, Vec::len) != 1 {
        bail!("expected one share, got {done}");
    }

    say("9. Work and income learns of the share, reads it, and tells Henk where he stands.".into());
    // A share appears in the feed a few seconds after it was made; a department polls.
    let mut page = work.shares(None).await?;
    for _ in 0..30 {
        if !page.grants.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        page = work.shares(None).await?;
    }
    let shared = page
        .grants
        .last()
        .ok_or_else(|| anyhow!("no share in the feed after 30 seconds"))?;
    let categories: Vec<&str> = shared.categories.iter().map(String::as_str).collect();
    let read = work.read(shared, &categories).await?;
    outcome.shared_categories_read = read.records.iter().map(|r| r.category.clone()).collect();
    say(format!(
        "   Work and income reads {:?}.",
        outcome.shared_categories_read
    ));
    let status = kluis_sdk::proto::cases::NewCaseStatus {
        status: kluis_sdk::proto::cases::CaseStatus::Received,
        contact: Some(kluis_sdk::proto::cases::Contact {
            phone: Some("14 078".into()),
            desk: None,
        }),
    };
    work.post_status(shared, &status).await?;
    say("   It posts \"received\"; Henk sees it under \"Waar sta ik?\" in his portal.".into());
    say("Done: Henk told his story once, and decided who saw which part.".into());
    Ok(outcome)
}
