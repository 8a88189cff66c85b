//! "Wat is er gebeurd?" in a real Chromium (issue 10, must-show 1): Henk logs in through
//! the real OpenID Provider, chooses "Ik ben mijn baan kwijt", confirms what his vault
//! holds and answers only what is new, sees who can help and shares with both in one
//! step; the departments read exactly that through the SDK; Werk en Inkomen posts an
//! appointment and asks for more information; Henk sees both under "Waar sta ik?" and the
//! open action on his home page. The same journey runs by keyboard alone with JavaScript
//! off, and axe checks every page of the flow in Dutch and in English.

use crate::portal_browser::{Hands, Resident, vault_with_provider};
use crate::support::chromium::Chromium;
use crate::support::{TestDepartment, TestVault};
use kluis::auth::dev_login::DEV_ISSUER;
use kluis_sdk::proto::cases::{CaseStatus, NewCaseStatus};

async fn axe_clean(browser: &mut Chromium, what: &str) {
    browser.assert_clean_page("life-event-", what).await;
}

/// Henk's situation in the vault of `issuer`'s `henk`, and the two departments that help.
async fn world(vault: &TestVault, issuer: &str) -> (uuid::Uuid, TestDepartment, TestDepartment) {
    let henk = vault
        .app
        .residents()
        .ensure_resident(issuer, "henk")
        .await
        .unwrap()
        .id;
    for (category, data) in kluis::dev::henk_situation() {
        vault
            .app
            .residents()
            .write(&crate::support::ctx(), henk, category, &data)
            .await
            .unwrap();
    }
    let work = TestDepartment::register_demo(vault, "werk-en-inkomen").await;
    let debts = TestDepartment::register_demo(vault, "schuldhulpverlening").await;
    (henk, work, debts)
}

/// The journey from the home page; returns how many questions were new to Henk.
async fn journey(
    vault: &TestVault,
    henk: &mut Resident,
    work: &TestDepartment,
    debts: &TestDepartment,
) {
    axe_clean(&mut henk.browser, "home").await;
    henk.activate("link", "Kies wat er is gebeurd").await;
    axe_clean(&mut henk.browser, "events").await;
    henk.activate("link", "Ik ben mijn baan kwijt").await;
    axe_clean(&mut henk.browser, "event start").await;
    henk.activate("link", "Begin met de vragen").await;
    let mut new = 0;
    let mut confirmed = 0;
    for _ in 0..12 {
        let page = henk.text().await;
        if page.contains("Klopt alles?") {
            break;
        }
        assert!(page.contains("Vraag "), "progress is shown: {page}");
        let held = page.contains("Dit staat al in uw kluis");
        let name = if held {
            "question held"
        } else {
            "question new"
        };
        axe_clean(&mut henk.browser, name).await;
        if held {
            confirmed += 1;
        } else {
            new += 1;
            assert!(
                page.contains("Zorgt u voor iemand die ziek is of hulp nodig heeft?"),
                "the only new question for Henk: {page}"
            );
            match henk.hands {
                Hands::Mouse => henk.browser.check("role=radio[name=\"Nee\"]").await,
                Hands::Keyboard => {
                    henk.tab_to("radio", "Ja").await;
                    henk.browser.press("ArrowDown").await;
                }
            }
        }
        henk.activate("button", "Volgende vraag").await;
    }
    assert!((1..=4).contains(&new), "{new} new questions");
    assert!(confirmed >= 4, "most answers were confirmed: {confirmed}");
    let summary = henk.text().await;
    assert!(
        summary.contains("Klopt alles?") && summary.contains("(nieuw)"),
        "{summary}"
    );
    axe_clean(&mut henk.browser, "summary").await;
    henk.activate("button", "Sla mijn antwoorden op").await;

    // Who can help: both departments, with what they would see and why.
    let help = henk.text().await;
    for seen in [
        "Uw antwoorden zijn opgeslagen.",
        "Werk en Inkomen",
        "Schuldhulpverlening",
        "We kijken of u recht heeft op een bijstandsuitkering",
        "Participatiewet",
        "Mijn werk",
        "Mijn schulden",
        "Wat kunt u zelf doen?",
        "Buurtteam Centrum (voorbeeld)",
    ] {
        assert!(help.contains(seen), "{seen:?} on the help page: {help}");
    }
    axe_clean(&mut henk.browser, "help").await;
    henk.tick("Deel mijn gegevens met Werk en Inkomen").await;
    henk.tick("Deel mijn gegevens met Schuldhulpverlening")
        .await;
    let shared = henk
        .activate("button", "Deel met wie ik heb aangevinkt")
        .await;
    assert!(shared.ends_with("/portal/cases?done=shared"), "{shared}");

    // Both departments read exactly what was shared.
    for department in [work, debts] {
        let client = department.client(vault);
        let grant = department.settled_shares(vault).await.grants.remove(0);
        let categories: Vec<&str> = grant.categories.iter().map(String::as_str).collect();
        let read = client.read(&grant, &categories).await.unwrap();
        assert!(!read.records.is_empty());
        assert!(client.read(&grant, &["kinderen.situatie"]).await.is_err());
    }
    let client = work.client(vault);
    let grant = client.shares(None).await.unwrap().grants.remove(0);
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
    for status in [
        CaseStatus::AppointmentPlanned {
            date,
            time: Some("10:30".into()),
            place: "Stadskantoor, balie 4".into(),
        },
        CaseStatus::MoreInformationNeeded {
            categories: vec!["werk.profiel".into()],
        },
    ] {
        client
            .post_status(
                &grant,
                &NewCaseStatus {
                    status,
                    contact: None,
                },
            )
            .await
            .unwrap();
    }

    // The open action on his home page, and both updates under "Waar sta ik?".
    henk.activate("link", "Mijn gegevens").await;
    let home = henk.text().await;
    assert!(
        home.contains("Werk en Inkomen vraagt u om Mijn werk aan te vullen.")
            && home.contains("Er is nieuws over uw aanvraag."),
        "{home}"
    );
    axe_clean(&mut henk.browser, "home with actions").await;
    henk.activate("link", "Waar sta ik?").await;
    let cases = henk.text().await;
    for seen in [
        "U deelde uw gegevens met Werk en Inkomen.",
        "U heeft een afspraak op 8 december 2026 om 10:30 uur.",
        "Werk en Inkomen heeft meer gegevens nodig. Vul dit aan:",
        "U deelde uw gegevens met Schuldhulpverlening.",
    ] {
        assert!(cases.contains(seen), "{seen:?}: {cases}");
    }
    axe_clean(&mut henk.browser, "cases").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henk_starts_from_losing_his_job_at_the_provider_with_the_mouse() {
    let (vault, provider) = vault_with_provider().await;
    let issuer = provider.lock().unwrap().as_ref().unwrap().issuer.clone();
    let (_, work, debts) = world(&vault, &issuer).await;
    let mut henk = Resident {
        browser: Chromium::start().await,
        hands: Hands::Mouse,
    };
    henk.browser.new_context(true).await;
    henk.browser.goto(&format!("{}/", vault.url)).await;
    henk.activate("link", "Inloggen met DigiD").await;
    let landed = henk.activate("link", "Log in as henk").await;
    assert_eq!(landed, format!("{}/portal", vault.url));
    journey(&vault, &mut henk, &work, &debts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henk_starts_from_losing_his_job_by_keyboard_without_javascript() {
    let vault = TestVault::start_now().await;
    let (_, work, debts) = world(&vault, DEV_ISSUER).await;
    let mut henk = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    henk.browser.new_context(false).await;
    henk.browser.goto(&format!("{}/", vault.url)).await;
    henk.activate("button", "Inloggen als testpersoon").await;
    journey(&vault, &mut henk, &work, &debts).await;
}

/// Every page of the flow, in English, including a question answered wrongly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_the_flow_passes_axe_in_english() {
    let vault = TestVault::start_now().await;
    let (_, work, _) = world(&vault, DEV_ISSUER).await;
    let mut browser = Chromium::start().await;
    browser.new_context(true).await;
    browser
        .goto(&format!("{}/language?to=en&back=/", vault.url))
        .await;
    browser
        .click("form[action=\"/portal/dev-login\"] button")
        .await;
    for path in ["/portal", "/portal/events", "/portal/events/baan-kwijt"] {
        browser.goto(&format!("{}{path}", vault.url)).await;
        axe_clean(&mut browser, path).await;
    }
    browser
        .goto(&format!("{}/portal/events/baan-kwijt/questions", vault.url))
        .await;
    for _ in 0..12 {
        axe_clean(&mut browser, "question").await;
        if browser.count("#answer[type=text]").await == 1 {
            // A wrong answer: the page says what to fix, and is still clean.
            browser.fill("#answer", "").await;
            browser.click("button[value=next]").await;
            assert!(
                browser.text(None).await.contains("fill this in"),
                "an error"
            );
            axe_clean(&mut browser, "question with an error").await;
            browser.fill("#answer", "32").await;
        } else if browser.count("input[type=radio]:checked").await == 0 {
            browser.check("input[type=radio] >> nth=1").await;
        }
        browser.click("button[value=next]").await;
        if browser.count("form[action$=\"/save\"]").await == 1 {
            break;
        }
    }
    axe_clean(&mut browser, "summary").await;
    browser.click("form[action$=\"/save\"] button").await;
    axe_clean(&mut browser, "help").await;
    browser.check("#share-werk-en-inkomen").await;
    browser.click("form[action$=\"/share\"] button").await;
    let grant = work.settled_shares(&vault).await.grants.remove(0);
    work.client(&vault)
        .post_status(
            &grant,
            &NewCaseStatus {
                status: CaseStatus::DecisionExpected {
                    by: chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(),
                },
                contact: None,
            },
        )
        .await
        .unwrap();
    browser.goto(&format!("{}/portal/cases", vault.url)).await;
    axe_clean(&mut browser, "cases").await;
    assert!(browser.text(None).await.contains("decides by"));
}
