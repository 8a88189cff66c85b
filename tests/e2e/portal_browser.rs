// Long: Henk's whole journey in a real browser is one story; its steps share one session and page.
//! The resident portal in a real Chromium (issue 6, must-shows 1, 2, 3 and 5).
//!
//! One journey, run twice: Henk logs in through the real OpenID Provider and clicks
//! through with JavaScript on; and Henk uses the keyboard alone (Tab, Space, Enter, arrow
//! keys) with JavaScript off, after the development login. Both times he edits his
//! household, approves part of a request, sees the department's read in "who looked",
//! withdraws the grant, says yes to all of one request and no to another, downloads his
//! data and erases his vault; so every form is used by keyboard alone. Each step is checked on
//! the page and in the vault, and the browser fetched nothing from any host but the vault.
//! A third test runs axe-core on every page in Dutch and in English.
//!
//! `KLUIS_SCREENSHOTS=DIR` saves screenshots of the main pages (that is how the ones in
//! `docs/screenshots/` are made).

use crate::consent::BSNS;
use crate::login::residents;
use crate::support::chromium::Chromium;
use crate::support::oidc::TestProvider;
use crate::support::{TestDepartment, TestVault};
use kluis::auth::dev_login::DEV_ISSUER;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// How the resident works the pages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hands {
    /// Mouse clicks, JavaScript on.
    Mouse,
    /// The keyboard alone, JavaScript off.
    Keyboard,
}

/// A browser and the way its user works it.
pub struct Resident {
    pub browser: Chromium,
    pub hands: Hands,
}

impl Resident {
    /// Follows a link or presses a button with this accessible name.
    pub async fn activate(&mut self, role: &str, name: &str) -> String {
        match self.hands {
            Hands::Mouse => self.browser.click(&role_selector(role, name)).await,
            Hands::Keyboard => {
                self.tab_to(role, name).await;
                self.browser.press("Enter").await
            }
        }
    }

    /// Ticks a checkbox.
    pub async fn tick(&mut self, name: &str) {
        match self.hands {
            Hands::Mouse => self.browser.check(&role_selector("checkbox", name)).await,
            Hands::Keyboard => {
                self.tab_to("checkbox", name).await;
                self.browser.press("Space").await;
            }
        }
    }

    /// Opens the folded part (`<details>`) whose summary says `name`.
    pub async fn unfold(&mut self, name: &str) {
        match self.hands {
            Hands::Mouse => {
                self.browser
                    .click(&format!("summary:has-text(\"{name}\")"))
                    .await;
            }
            Hands::Keyboard => {
                self.tab_to("DisclosureTriangle", name).await;
                self.browser.press("Enter").await;
            }
        }
    }

    /// Types into the text box labelled `name`.
    pub async fn type_into(&mut self, selector: &str, name: &str, text: &str) {
        match self.hands {
            Hands::Mouse => self.browser.fill(selector, text).await,
            Hands::Keyboard => {
                self.tab_to("textbox", name).await;
                for key in text.chars() {
                    self.browser.press(&key.to_string()).await;
                }
            }
        }
    }

    /// Chooses an option of the select labelled `name`: by value with the mouse, by
    /// pressing the down arrow `downs` times from the keyboard.
    pub async fn choose(&mut self, selector: &str, name: &str, value: &str, downs: usize) {
        match self.hands {
            Hands::Mouse => self.browser.select(selector, value).await,
            Hands::Keyboard => {
                self.tab_to("combobox", name).await;
                for _ in 0..downs {
                    self.browser.press("ArrowDown").await;
                }
            }
        }
    }

    /// Presses Tab until the element with this role and (part of this) name has the focus.
    pub async fn tab_to(&mut self, role: &str, name: &str) {
        let mut seen = Vec::new();
        for _ in 0..120 {
            self.browser.press("Tab").await;
            let focused = self.browser.focused().await;
            let (got_role, got_name) = (
                focused["role"].as_str().unwrap_or(""),
                focused["name"].as_str().unwrap_or(""),
            );
            if got_role == role && got_name.contains(name) {
                return;
            }
            seen.push(format!("{got_role}:{got_name}"));
        }
        panic!("Tab never reached the {role} {name:?}; it went through {seen:?}");
    }

    pub async fn text(&mut self) -> String {
        self.browser.text(None).await
    }
}

/// A Playwright selector for the element with this role whose accessible name contains
/// `name` (as the keyboard run's [`Resident::tab_to`] matches).
fn role_selector(role: &str, name: &str) -> String {
    let escaped: String = name
        .chars()
        .flat_map(|c| {
            if "\\^$.|?*+()[]{}/".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect();
    format!("role={role}[name=/{escaped}/]")
}

/// A vault with a real OpenID Provider for residents (no development login), and the
/// debt-counselling and income departments.
pub async fn vault_with_provider() -> (TestVault, Arc<Mutex<Option<TestProvider>>>) {
    let slot: Arc<Mutex<Option<TestProvider>>> = Arc::default();
    let keep = slot.clone();
    let vault = TestVault::start_configured(
        tempfile::tempdir().unwrap(),
        kluis::Clock::system(),
        move |config, url| {
            let provider = TestProvider::start(
                &[format!("{url}/login/residents/callback")],
                &[format!("{url}/")],
                None,
            );
            config.dev_login = false;
            config.oidc = vec![residents(&provider.issuer)];
            *keep.lock().unwrap() = Some(provider);
        },
    )
    .await;
    (vault, slot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henk_logs_in_at_the_provider_and_clicks_through_his_vault() {
    let (vault, provider) = vault_with_provider().await;
    let issuer = provider.lock().unwrap().as_ref().unwrap().issuer.clone();
    let mut henk = Resident {
        browser: Chromium::start().await,
        hands: Hands::Mouse,
    };
    henk.browser.new_context(true).await;
    henk.browser.goto(&format!("{}/", vault.url)).await;
    // The start page offers the provider; the provider shows its own login page.
    let at_provider = henk.activate("link", "Inloggen met DigiD").await;
    assert!(at_provider.starts_with(&issuer), "{at_provider}");
    let landed = henk.activate("link", "Log in as henk").await;
    assert_eq!(landed, format!("{}/portal", vault.url));
    let logged_in_at = henk.browser.requests().await.len();
    let resident = vault
        .app
        .residents()
        .ensure_resident(&issuer, "henk")
        .await
        .unwrap();
    journey(&vault, &mut henk, resident.id).await;
    // After the login, every request the pages made went to the vault itself.
    let requests = henk.browser.requests().await;
    let elsewhere: Vec<&String> = requests[logged_in_at..]
        .iter()
        .filter(|u| !u.starts_with(&format!("{}/", vault.url)))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "the portal fetched from other hosts: {elsewhere:?}"
    );
    assert!(
        requests
            .iter()
            .all(|u| u.starts_with(&vault.url) || u.starts_with(&issuer)),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henk_does_it_all_with_the_keyboard_and_javascript_off() {
    let vault = TestVault::start_now().await;
    let mut henk = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    henk.browser.new_context(false).await;
    henk.browser.goto(&format!("{}/", vault.url)).await;
    let landed = henk.activate("button", "Inloggen als testpersoon").await;
    assert_eq!(landed, format!("{}/portal", vault.url));
    let resident = vault
        .app
        .residents()
        .ensure_resident(DEV_ISSUER, "henk")
        .await
        .unwrap();
    journey(&vault, &mut henk, resident.id).await;
    let requests = henk.browser.requests().await;
    assert!(
        requests
            .iter()
            .all(|u| u.starts_with(&format!("{}/", vault.url))),
        "{requests:?}"
    );

    // Logging out works from the keyboard too (in a new vault: the old one is erased).
    henk.activate("button", "Inloggen als testpersoon").await;
    let out = henk.activate("button", "Uitloggen").await;
    assert_eq!(out, format!("{}/?done=logged_out", vault.url));
    assert!(henk.text().await.contains("U bent uitgelogd."));
    henk.browser.goto(&format!("{}/portal", vault.url)).await;
    assert!(
        henk.text().await.contains("U bent niet (meer) ingelogd"),
        "the session ended"
    );
}

/// The journey both runs share; starts on the overview, logged in as `resident`.
async fn journey(vault: &TestVault, henk: &mut Resident, resident: uuid::Uuid) {
    let app = &vault.app;
    vault
        .app
        .residents()
        .set_national_id(resident, "bsn", BSNS[0])
        .await
        .unwrap();
    assert!(henk.text().await.contains("Mijn huishouden"));

    // 1. He fills in his household.
    henk.activate("link", "Mijn huishouden").await;
    assert!(
        henk.text()
            .await
            .contains("U heeft hier nog niets ingevuld.")
    );
    henk.activate("link", "Gegevens invullen").await;
    henk.choose(
        "#f-leefsituatie",
        "Uw situatie thuis",
        "alleenstaande_ouder",
        2,
    )
    .await;
    henk.choose("#f-leden-0-rol", "Wie is dit voor u?", "kind", 2)
        .await;
    henk.type_into("#f-leden-0-voornaam", "Voornaam", "Sanne")
        .await;
    henk.type_into("#f-leden-0-geboortejaar", "Geboortejaar", "2017")
        .await;
    let saved = henk.activate("button", "Opslaan").await;
    assert!(
        saved.ends_with("/portal/records/huishouden.samenstelling?done=saved"),
        "{saved}"
    );
    let page = henk.text().await;
    assert!(
        page.contains("Opgeslagen.")
            && page.contains("Ik woon alleen met mijn kind of kinderen")
            && page.contains("Sanne"),
        "{page}"
    );
    let stored = app
        .residents()
        .read(resident, "huishouden.samenstelling", None)
        .await
        .unwrap();
    assert_eq!(
        stored.data,
        json!({"leefsituatie": "alleenstaande_ouder", "leden": [{"rol": "kind", "voornaam": "Sanne", "geboortejaar": 2017, "woont_deels_hier": false}]})
    );
    app.residents()
        .write(&crate::support::ctx(), resident, "schulden.overzicht", &json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]}))
        .await
        .unwrap();

    // 2. Debt counselling asks for his debts and his household; he shares only his debts.
    let debts = TestDepartment::register(vault, "schuldhulpverlening").await;
    let ask = json!({"resident": {"national_id": {"scheme": "bsn", "value": BSNS[0]}}, "processing_activity": "schuldhulp-traject", "categories": ["schulden.overzicht", "huishouden.samenstelling"], "duration_days": 90});
    let (status, created) = debts
        .call(vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
        .await;
    assert_eq!(status, 201, "{created}");
    henk.activate("link", "Vragen aan mij").await;
    let list = henk.text().await;
    assert!(
        list.contains("Afdeling schuldhulpverlening: Hulp bij schulden")
            && !list.contains("Welke wet?"),
        "the list names each request in one line: {list}"
    );
    henk.activate("link", "Hulp bij schulden").await;
    let page = henk.text().await;
    for plain in [
        "Afdeling schuldhulpverlening vraagt of zij uw gegevens mag zien.",
        "We maken samen met u een plan om uw schulden op te lossen.",
        "Welke wet?",
        "Wet gemeentelijke schuldhulpverlening",
        "Mijn schulden",
        "Mijn huishouden",
        "Tot wanneer mag de afdeling kijken?",
        "Hoe lang bewaart de afdeling wat zij ziet?\n5 jaar",
        "Bel 14 078 en vraag naar Schuldhulpverlening.",
        "Binnen 3 werkdagen belt een schuldhulpverlener u",
        "Dan vragen we u de papieren mee te nemen naar een gesprek.",
    ] {
        assert!(page.contains(plain), "the request says {plain:?}: {page}");
    }
    henk.unfold("Ik wil zelf kiezen").await;
    henk.tick("Mijn schulden").await;
    let approved = henk
        .activate("button", "Deel alleen wat ik heb aangevinkt")
        .await;
    assert!(
        approved.ends_with("/portal/requests?done=approved_part"),
        "{approved}"
    );
    assert!(
        henk.text()
            .await
            .contains("De afdeling mag nu alleen zien wat u heeft aangevinkt.")
    );
    let (_, status) = debts
        .call(
            vault,
            Method::GET,
            &format!(
                "/v1/dept/access-requests/{}",
                created["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let grant: kluis_sdk::Grant = serde_json::from_value(status["grant"].clone()).unwrap();
    assert_eq!(
        grant.categories,
        ["schulden.overzicht"],
        "only what he ticked"
    );

    // 3. The department reads; he sees it in "who looked".
    let read = debts
        .client(vault)
        .read(&grant, &["schulden.overzicht"])
        .await
        .expect("the read is allowed");
    assert_eq!(read.records.len(), 1);
    let refused = debts
        .client(vault)
        .read(&grant, &["huishouden.samenstelling"])
        .await;
    assert!(refused.is_err(), "the household was not shared");
    henk.activate("link", "Wie keek er").await;
    let page = henk.text().await;
    assert!(
        page.contains("Afdeling schuldhulpverlening heeft deze gegevens bekeken:\n\nMijn schulden"),
        "{page}"
    );

    // 4. He withdraws the grant; the confirmation says what will happen first.
    henk.activate("link", "Wie mag wat zien").await;
    henk.activate("link", "Toestemming stoppen").await;
    let page = henk.text().await;
    assert!(page.contains("Afdeling schuldhulpverlening kan de gegevens hierboven daarna niet meer zien. Dat gaat meteen in.") && page.contains("Mijn schulden"), "{page}");
    let revoked = henk.activate("button", "Ja, stop de toestemming").await;
    assert!(
        revoked.ends_with("/portal/grants?done=revoked"),
        "{revoked}"
    );
    let page = henk.text().await;
    assert!(
        page.contains("De toestemming is gestopt") && page.contains("Door u gestopt"),
        "{page}"
    );
    let after = debts
        .client(vault)
        .read(&grant, &["schulden.overzicht"])
        .await;
    assert!(matches!(after, Err(kluis_sdk::Error::Revoked)), "{after:?}");

    // 5. The other two answers: yes to everything, and no.
    for (answer, state) in [
        ("Ja, deel alles", "approved"),
        ("Nee, deel niets", "declined"),
    ] {
        let ask = json!({"resident": {"national_id": {"scheme": "bsn", "value": BSNS[0]}}, "processing_activity": "schuldhulp-traject", "categories": ["inkomen.bronnen", "inkomen.uitgaven"], "duration_days": 30});
        let (_, created) = debts
            .call(vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
            .await;
        henk.activate("link", "Vragen aan mij").await;
        henk.activate("link", "Hulp bij schulden").await;
        let answered = henk.activate("button", answer).await;
        assert!(answered.contains("/portal/requests?done="), "{answered}");
        let (_, status) = debts
            .call(
                vault,
                Method::GET,
                &format!(
                    "/v1/dept/access-requests/{}",
                    created["id"].as_str().unwrap()
                ),
                None,
            )
            .await;
        assert_eq!(status["state"], state, "{answer}");
        if state == "approved" {
            assert_eq!(
                status["grant"]["categories"],
                json!(["inkomen.bronnen", "inkomen.uitgaven"]),
                "everything asked"
            );
        }
    }
    assert!(henk.text().await.contains("U heeft nee gezegd."));

    // 6. He downloads everything.
    henk.activate("link", "Mijn account").await;
    let (file, name) = match henk.hands {
        Hands::Mouse => {
            henk.browser
                .download("role=button[name=\"Download mijn gegevens\"]")
                .await
        }
        Hands::Keyboard => {
            henk.tab_to("button", "Download mijn gegevens").await;
            henk.browser.download_by_key("Enter").await
        }
    };
    assert_eq!(name, "mijn-kluis.json");
    let export: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(
        export["records"]["huishouden.samenstelling"][0]["data"]["leden"][0]["voornaam"],
        "Sanne"
    );
    let states: Vec<&str> = export["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"revoked") && states.contains(&"active"),
        "{states:?}"
    );
    assert!(export["audit"].to_string().contains("\"read\""));

    // 7. He erases his vault, after ticking that he understands.
    henk.activate("link", "Lees wat wissen betekent").await;
    let refused = henk.activate("button", "Wis mijn kluis").await;
    assert!(refused.ends_with("/portal/account/erase"), "{refused}");
    assert!(henk.text().await.contains("Er is niets gewist."));
    assert!(app.store().resident(resident).await.unwrap().is_some());
    henk.tick("Ik begrijp dat al mijn gegevens worden gewist")
        .await;
    let erased = henk.activate("button", "Wis mijn kluis").await;
    assert_eq!(erased, format!("{}/?done=erased", vault.url));
    assert!(henk.text().await.contains("Uw kluis is gewist."));
    assert!(
        app.store().resident(resident).await.unwrap().is_none(),
        "the vault is gone"
    );
    assert!(app.residents().overview(resident).await.unwrap().is_empty());
}

/// axe-core finds no WCAG 2.1 A/AA violation on any page, in either language: the pages
/// of a vault with data, requests and grants, the pages that answer a mistake, the error
/// page, and the start page after logging out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_in_dutch_and_in_english() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let mut browser = Chromium::start().await;
    browser.new_context(true).await;
    let shots = std::env::var_os("KLUIS_SCREENSHOTS").map(std::path::PathBuf::from);
    if let Some(dir) = &shots {
        std::fs::create_dir_all(dir).unwrap();
    }
    for language in ["nl", "en"] {
        browser
            .goto(&format!("{}/language?to={language}&back=/", vault.url))
            .await;
        let check = async |browser: &mut Chromium, what: &str| {
            let violations = browser.axe().await;
            assert!(
                violations.is_empty(),
                "{language} {what} ({}): {violations:#?}",
                browser.url().await
            );
            let lang = browser.attribute("html", "lang").await;
            assert_eq!(lang.as_deref(), Some(language), "{what}");
            let theme = browser.attribute("html", "class").await.unwrap_or_default();
            assert!(
                theme.contains("gemeente-voorbeeld-theme"),
                "{what} wears the municipality's theme: {theme}"
            );
            browser.assert_plain_dutch(what).await;
            // At a phone's 320 px: nothing wider than the screen, and axe still clean.
            browser.set_viewport(320, 640).await;
            let width = browser.width().await;
            assert!(
                width <= 320,
                "{language} {what} is {width} px wide at 320 px"
            );
            let violations = browser.axe().await;
            assert!(
                violations.is_empty(),
                "{language} {what} at 320 px: {violations:#?}"
            );
            browser.set_viewport(1280, 800).await;
            if let Some(dir) = &shots
                && language == "nl"
            {
                browser.set_viewport(1000, 800).await;
                browser
                    .screenshot(&dir.join(format!("{what}.png")), true)
                    .await;
            }
        };
        check(&mut browser, "start").await;
        browser
            .click("form[action=\"/portal/dev-login\"] button")
            .await;
        let henk = vault
            .app
            .residents()
            .ensure_resident(DEV_ISSUER, "henk")
            .await
            .unwrap()
            .id;
        vault
            .app
            .residents()
            .set_national_id(henk, "bsn", BSNS[0])
            .await
            .unwrap();
        for (category, data) in kluis::dev::henk_situation() {
            vault
                .app
                .residents()
                .write(&crate::support::ctx(), henk, category, &data)
                .await
                .unwrap();
        }
        let ask = json!({"resident": {"national_id": {"scheme": "bsn", "value": BSNS[0]}}, "processing_activity": "schuldhulp-traject", "categories": ["schulden.overzicht", "inkomen.bronnen"], "duration_days": 365});
        let (_, first) = debts
            .call(&vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
            .await;
        let (_, open) = debts
            .call(&vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
            .await;
        let open_request = open["id"].as_str().unwrap().to_owned();
        let grant_id = vault
            .app
            .consent()
            .approve(
                &crate::support::ctx(),
                henk,
                first["id"].as_str().unwrap().parse().unwrap(),
                &Default::default(),
            )
            .await
            .unwrap()
            .id;
        // The team reads once, so "Wie keek er" has a read to ask about.
        let (_, held) = debts
            .call(
                &vault,
                Method::GET,
                &format!("/v1/dept/grants/{grant_id}"),
                None,
            )
            .await;
        let held: kluis_sdk::Grant = serde_json::from_value(held).unwrap();
        let (status, _) = debts.read(&vault, &held, &["schulden.overzicht"]).await;
        assert_eq!(status, 200);
        let audit = vault.app.audit();
        let read = audit
            .entries(0, audit.size().await)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .find(|e| e.action == kluis::audit::entry::Action::Read)
            .unwrap()
            .seq;
        check(&mut browser, "overview").await;
        for (path, what) in [
            (
                "/portal/records/huishouden.samenstelling".to_owned(),
                "record",
            ),
            (
                "/portal/records/huishouden.samenstelling/edit".into(),
                "edit",
            ),
            ("/portal/records/schulden.traject".into(), "record-kept"),
            ("/portal/records/zorg.mantelzorg".into(), "record-empty"),
            ("/portal/records/schulden.overzicht".into(), "record-list"),
            ("/portal/records/schulden.overzicht/items/1".into(), "item"),
            (
                "/portal/records/schulden.overzicht/items/3".into(),
                "item-new",
            ),
            ("/portal/requests".into(), "requests"),
            (format!("/portal/requests/{open_request}"), "request"),
            ("/portal/grants".into(), "grants"),
            (format!("/portal/grants/{grant_id}/revoke"), "revoke"),
            (format!("/portal/grants/{grant_id}/pause"), "pause"),
            ("/portal/history".into(), "history"),
            (format!("/portal/history/{read}/erasure"), "read-erasure"),
            (
                format!("/portal/history/{read}/complaint"),
                "read-complaint",
            ),
            ("/portal/events".into(), "events"),
            ("/portal/events/baan-kwijt".into(), "event-start"),
            (
                "/portal/events/baan-kwijt/questions".into(),
                "event-question",
            ),
            ("/portal/events/baan-kwijt/help".into(), "event-help"),
            ("/portal/cases".into(), "cases"),
            ("/portal/schemes".into(), "schemes"),
            ("/portal/schemes/approach".into(), "schemes-approach"),
            ("/portal/account".into(), "account"),
            ("/portal/story".into(), "story"),
            ("/portal/account/erase".into(), "erase"),
            ("/portal/records/geen.categorie".into(), "error"),
            // An unknown path: a page with the menu, not JSON.
            ("/bestaatniet".into(), "not-found"),
        ] {
            browser.goto(&format!("{}{path}", vault.url)).await;
            check(&mut browser, what).await;
        }
        // The pages that answer a mistake.
        browser
            .goto(&format!(
                "{}/portal/records/huishouden.samenstelling/edit",
                vault.url
            ))
            .await;
        browser.fill("#f-leden-0-geboortejaar", "twintig").await;
        browser
            .click("button[type=submit].utrecht-button--primary-action")
            .await;
        check(&mut browser, "edit-with-errors").await;
        browser
            .goto(&format!("{}/portal/requests/{open_request}", vault.url))
            .await;
        let choose = if language == "nl" {
            "Ik wil zelf kiezen"
        } else {
            "I want to choose myself"
        };
        browser
            .click(&format!("summary:has-text(\"{choose}\")"))
            .await;
        browser.click("form:has(input[value=some]) button").await;
        check(&mut browser, "requests-nothing-ticked").await;
        browser
            .goto(&format!("{}/portal/account/erase", vault.url))
            .await;
        browser
            .click("form[action=\"/portal/account/erase\"] button")
            .await;
        check(&mut browser, "erase-not-confirmed").await;
        // Asking the team to delete what it read: the history says it was asked.
        browser
            .goto(&format!("{}/portal/history/{read}/erasure", vault.url))
            .await;
        browser
            .click(&format!(
                "form[action=\"/portal/history/{read}/erasure\"] button"
            ))
            .await;
        check(&mut browser, "history-erasure-asked").await;
        // Pausing: without a reason the page names the field; with one, the grants page
        // shows the pause and the button that lets it go on.
        let pause_form = format!("form[action=\"/portal/grants/{grant_id}/pause\"] button");
        browser
            .goto(&format!("{}/portal/grants/{grant_id}/pause", vault.url))
            .await;
        browser.click(&pause_form).await;
        check(&mut browser, "pause-without-reason").await;
        browser.click("#reason-data_incorrect").await;
        browser.click(&pause_form).await;
        check(&mut browser, "grants-paused").await;
        // The first page after logging out; the next language starts a new vault.
        vault
            .app
            .consent()
            .erase_vault(&crate::support::ctx(), henk, chrono::TimeDelta::zero())
            .await
            .unwrap();
        browser.goto(&format!("{}/portal", vault.url)).await;
        check(&mut browser, "logged-out").await;
    }
}
