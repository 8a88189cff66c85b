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
    assert_eq!(outcome.categories_stored, 10);
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
