//! Henk's journey against a real `kluis dev` process (issue 3, must-show 1): the same code
//! as `examples/henks_journey`, run here against a server started the way the README says.

use crate::henks_journey;

use crate::support::VaultProcess;

#[tokio::test]
async fn henks_journey_against_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let mut lines = Vec::new();
    let outcome = henks_journey::run(&vault.url, &dir.path().join("departments"), &mut |line| {
        lines.push(line)
    })
    .await
    .unwrap_or_else(|e| panic!("the journey failed: {e:#}\n{}", vault.output()));
    assert_eq!(
        outcome.categories_stored, 11,
        "nine of his own, two kept by departments"
    );
    assert_eq!(outcome.debts_read, 3);
    assert_eq!(
        outcome.income_categories_read,
        ["huishouden.samenstelling", "inkomen.bronnen"],
        "the categories asked for are a set; records come in category order"
    );
    assert!(
        outcome.out_of_scope_refused
            && outcome.youth_care_declined
            && outcome.read_after_revoke_refused
    );
    assert!((1..=4).contains(&outcome.life_event_new_questions));
    assert!(
        outcome
            .shared_categories_read
            .contains(&"werk.profiel".to_owned())
    );
    for step in ["1.", "2.", "3.", "4.", "5.", "6.", "7.", "8.", "9."] {
        assert!(
            lines.iter().any(|l| l.starts_with(step)),
            "step {step} was not printed"
        );
    }
    let output = vault.stop();
    assert!(
        !output.contains("999993653"),
        "Henk's BSN appeared in the log"
    );
    assert!(
        !output.contains("Woonkracht"),
        "record contents appeared in the log"
    );
}

/// A fresh `kluis dev` shows the core flow at once (issue 11, must-show 4): Henk has two
/// open requests, and a restart does not ask again.
#[tokio::test]
async fn a_fresh_kluis_dev_shows_henk_two_open_requests() {
    let dir = tempfile::tempdir().unwrap();
    let open_requests = async |url: &str| {
        let http = reqwest::Client::new();
        let login: serde_json::Value = http
            .post(format!("{url}/dev/login"))
            .json(&serde_json::json!({"subject": "henk"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let requests: Vec<serde_json::Value> = http
            .get(format!("{url}/v1/me/requests"))
            .bearer_auth(login["token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut from: Vec<String> = requests
            .iter()
            .map(|r| r["department"]["id"].as_str().unwrap().to_owned())
            .collect();
        from.sort();
        from
    };
    let vault = VaultProcess::dev(dir.path());
    assert_eq!(
        open_requests(&vault.url).await,
        ["jeugdhulp", "schuldhulpverlening"]
    );
    vault.stop();
    let again = VaultProcess::dev(dir.path());
    assert_eq!(open_requests(&again.url).await.len(), 2, "asked again");
    again.stop();
}
