//! Schemes in a real browser (issue 12, must-show 2), by keyboard alone with JavaScript
//! off, in Dutch and in English, every page axe-clean: Henk, on a low income for years,
//! sees the individuele inkomenstoeslag and the city pass with why in his own figures;
//! he applies for the first with Werk en Inkomen in one step and the department reads
//! exactly what that scheme needs; he raises his income in "Mijn inkomen" above its limit
//! and the suggestion is gone, while the city pass (with a higher limit) stays.

use crate::portal_browser::{Hands, Resident};
use crate::support::chromium::Chromium;
use crate::support::{TestDepartment, TestVault};
use kluis::auth::dev_login::DEV_ISSUER;
use serde_json::json;

/// The words of one language that the resident looks for.
struct Words {
    login: &'static str,
    schemes_nav: &'static str,
    iit: &'static str,
    city_pass: &'static str,
    why_income: &'static str,
    apply_at: &'static str,
    share: &'static str,
    records_nav: &'static str,
    income: &'static str,
    change: &'static str,
    amount: &'static str,
    save: &'static str,
}

const DUTCH: Words = Words {
    login: "Inloggen als testpersoon",
    schemes_nav: "Regelingen",
    iit: "Individuele inkomenstoeslag",
    city_pass: "Stadspas",
    why_income: "Uw inkomen is € 1.350,00 per maand.",
    apply_at: "Vraag het aan bij Werk en Inkomen : Individuele inkomenstoeslag",
    share: "Deel en vraag aan bij Werk en Inkomen",
    records_nav: "Mijn gegevens",
    income: "Mijn inkomen",
    change: "Pas Geld dat u krijgt 1 aan",
    amount: "Bedrag per maand (euro)",
    save: "Opslaan",
};

const ENGLISH: Words = Words {
    login: "Log in as test person",
    schemes_nav: "Schemes",
    iit: "Individual income supplement",
    city_pass: "City pass",
    why_income: "Your income is €1,350.00 a month.",
    apply_at: "Apply at Werk en Inkomen : Individual income supplement",
    share: "Share and apply at Werk en Inkomen",
    records_nav: "My information",
    income: "My income",
    change: "Change Money you receive 1",
    amount: "Amount per month (euros)",
    save: "Save",
};

async fn axe_clean(browser: &mut Chromium, what: &str) {
    browser.assert_clean_page("schemes-", what).await;
}

/// Henk with a social assistance benefit of 1350 a month since January 2021, and the two
/// departments schemes apply at.
async fn world(vault: &TestVault) -> TestDepartment {
    let henk = vault
        .app
        .residents()
        .ensure_resident(DEV_ISSUER, "henk")
        .await
        .unwrap()
        .id;
    for (category, data) in kluis::dev::henk_situation() {
        let data = if category == "inkomen.bronnen" {
            json!({"bronnen": [
                {"soort": "uitkering_bijstand", "bedrag_per_maand": 1350.0, "sinds": "2021-01"}
            ]})
        } else {
            data
        };
        vault
            .app
            .residents()
            .write(&crate::support::ctx(), henk, category, &data)
            .await
            .unwrap();
    }
    TestDepartment::register_demo(vault, "schuldhulpverlening").await;
    TestDepartment::register_demo(vault, "werk-en-inkomen").await
}

async fn journey(language: &str, words: &Words) {
    let vault = TestVault::start_now().await;
    let work = world(&vault).await;
    let mut henk = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    henk.browser.new_context(false).await;
    henk.browser
        .goto(&format!("{}/language?to={language}&back=/", vault.url))
        .await;
    henk.activate("button", words.login).await;

    // His suggestions, with why in his own figures.
    henk.activate("link", words.schemes_nav).await;
    let page = henk.text().await;
    for seen in [words.iit, words.city_pass, words.why_income] {
        assert!(page.contains(seen), "{seen:?}: {page}");
    }
    axe_clean(&mut henk.browser, "suggestions").await;

    // He applies for the income supplement: he sees what will be shared, then shares.
    henk.activate("link", words.apply_at).await;
    axe_clean(&mut henk.browser, "apply").await;
    let landed = henk.activate("button", words.share).await;
    assert!(
        landed.contains("/portal/cases?done=scheme_applied"),
        "{landed}"
    );
    axe_clean(&mut henk.browser, "applied").await;

    // The department reads exactly what the scheme needs, and nothing more.
    let grant = work.settled_shares(&vault).await.grants.remove(0);
    let mut shared: Vec<&str> = grant.categories.iter().map(String::as_str).collect();
    shared.sort();
    assert_eq!(
        shared,
        [
            "huishouden.samenstelling",
            "identiteit.basis",
            "inkomen.bronnen"
        ]
    );
    let client = work.client(&vault);
    let read = client.read(&grant, &shared).await.unwrap();
    assert_eq!(read.records.len(), 3);
    assert!(client.read(&grant, &["schulden.overzicht"]).await.is_err());

    // He raises his income above the supplement's limit (1471.05) but not the city
    // pass's (1821.30).
    henk.activate("link", words.records_nav).await;
    henk.activate("link", words.income).await;
    henk.activate("link", words.change).await;
    axe_clean(&mut henk.browser, "income").await;
    henk.tab_to("textbox", words.amount).await;
    henk.browser.press("End").await;
    for _ in 0..12 {
        henk.browser.press("Backspace").await;
    }
    for key in "1.500,00".chars() {
        henk.browser.press(&key.to_string()).await;
    }
    let saved = henk.activate("button", words.save).await;
    assert!(
        saved.ends_with("/portal/records/inkomen.bronnen?done=saved"),
        "{saved}"
    );
    henk.activate("link", words.schemes_nav).await;
    let page = henk.text().await;
    assert!(!page.contains(words.iit), "the supplement is gone: {page}");
    assert!(
        page.contains(words.city_pass),
        "the city pass stays: {page}"
    );
    axe_clean(&mut henk.browser, "after the raise").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henk_finds_and_applies_for_a_scheme_by_keyboard_in_dutch() {
    journey("nl", &DUTCH).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henk_finds_and_applies_for_a_scheme_by_keyboard_in_english() {
    journey("en", &ENGLISH).await;
}
