// Long: one look-along is one story told in two browsers at once; its steps share both sessions.
//! A coach who looks along, in two real Chromium browsers through the real OpenID Provider
//! (issue 13, must-shows 1 and 5): Sanne logs in as staff and makes a code; Henk logs in
//! as a resident and, by keyboard with JavaScript off, lets her see "Mijn schulden" and
//! "Mijn inkomen" for this conversation; she sees exactly those, is refused anything else
//! (the page and the API), proposes a new amount; Henk sees old and new side by side and
//! takes it over (his own version, Sanne named as proposer in the log); he asks her for
//! help and she sees it first; she says yes to a request on his behalf with a witness
//! statement (he confirms one, and disputes another, which stops the department's reads);
//! he ends the look-along and her next page is refused. Both work by keyboard alone with
//! JavaScript off. Every new page is checked with axe and the plain-language check in
//! Dutch and English, and at 320 px.
//!
//! `KLUIS_SCREENSHOTS=DIR` saves screenshots of the Dutch pages as `DIR/coach-*.png`.

use crate::coaching::{DEBTS, INCOME, debts, vault_with_coaches};
use crate::portal_browser::{Hands, Resident};
use crate::support::chromium::Chromium;
use kluis::audit::entry::{Action, Actor};

/// The debt counsellors ask Henk (by his BSN) for his debts, for `days`. The SDK signs with
/// the real clock: the vault's manual clock is brought up to it first.
async fn ask_henk(
    vault: &crate::support::TestVault,
    department: &crate::support::TestDepartment,
    days: u32,
) -> kluis_proto::consent::DepartmentRequestStatus {
    vault.app.clock().set(kluis::Clock::system().now());
    department
        .client(vault)
        .request_access(&kluis_proto::consent::NewAccessRequest {
            resident: kluis_proto::consent::ResidentIdentifier::NationalId {
                scheme: "bsn".into(),
                value: "999993653".into(),
            },
            processing_activity: "schuldhulp-traject".into(),
            categories: vec![DEBTS.into()],
            duration_days: days,
        })
        .await
        .unwrap()
}

/// Replaces what the text box labelled `name` holds, by keyboard.
async fn retype(person: &mut Resident, name: &str, text: &str) {
    person.tab_to("textbox", name).await;
    person.browser.press("Control+a").await;
    person.browser.press("Delete").await;
    for key in text.chars() {
        person.browser.press(&key.to_string()).await;
    }
}

/// axe, plain Dutch and a screenshot, then the page at 320 px.
async fn check(browser: &mut Chromium, what: &str) {
    browser.assert_clean_page_at_320("coach-", what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henk_lets_his_coach_look_along_and_takes_over_her_proposal() {
    let (vault, provider, debts_department) = vault_with_coaches().await;
    let app = &vault.app;
    let henk_id = app
        .residents()
        .ensure_resident(&provider.issuer, "henk")
        .await
        .unwrap()
        .id;
    let context = crate::support::ctx();
    app.residents()
        .write(&context, henk_id, DEBTS, &debts(812.5))
        .await
        .unwrap();
    app.residents()
        .write(
            &context,
            henk_id,
            INCOME,
            &serde_json::json!({"bronnen": [{"soort": "uitkering_bijstand", "bedrag_per_maand": 1401.0}]}),
        )
        .await
        .unwrap();

    // Sanne, at her desk: staff login, then a code.
    let mut sanne = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    sanne.browser.new_context(false).await;
    sanne.browser.goto(&format!("{}/", vault.url)).await;
    let at_provider = sanne.activate("link", "Inloggen voor medewerkers").await;
    assert!(at_provider.starts_with(&provider.issuer), "{at_provider}");
    let landed = sanne.activate("link", "Log in as coach-sanne").await;
    assert_eq!(landed, format!("{}/coach", vault.url));
    assert!(
        sanne
            .text()
            .await
            .contains("Er laat u nu niemand meekijken.")
    );
    check(&mut sanne.browser, "mijn inwoners leeg").await;
    sanne.activate("button", "Maak een nieuwe code").await;
    let code = sanne.browser.text(Some("#code")).await;
    assert_eq!(code.len(), 9, "{code}");
    check(&mut sanne.browser, "code").await;

    // Henk, at home, by keyboard with JavaScript off.
    let mut henk = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    henk.browser.new_context(false).await;
    henk.browser.goto(&format!("{}/", vault.url)).await;
    henk.activate("link", "Inloggen met DigiD").await;
    let landed = henk.activate("link", "Log in as henk").await;
    assert_eq!(landed, format!("{}/portal", vault.url));
    henk.activate("link", "Meekijken").await;
    assert!(henk.text().await.contains("Er kijkt nu niemand mee."));
    check(&mut henk.browser, "meekijken leeg").await;
    henk.activate("link", "Iemand laten meekijken").await;
    check(&mut henk.browser, "code invullen").await;
    henk.type_into("#code", "Code van uw coach", &code.to_lowercase())
        .await;
    henk.activate("button", "Volgende: kies wat de coach ziet")
        .await;
    let page = henk.text().await;
    assert!(page.contains("Wat mag Sanne Bakker zien?"), "{page}");
    assert!(page.contains("Schuldhulpverlening"), "{page}");
    check(&mut henk.browser, "kiezen").await;
    henk.tab_to("radio", "Alles, behalve").await;
    henk.browser.press("ArrowDown").await;
    henk.tick("Mijn schulden").await;
    henk.tick("Mijn inkomen").await;
    henk.tick("Mijn coach mag zien welke regelingen").await;
    henk.activate("button", "Laat meekijken: Sanne Bakker")
        .await;
    let page = henk.text().await;
    assert!(page.contains("Uw coach kijkt nu mee."), "{page}");
    assert!(page.contains("Sanne Bakker"), "{page}");
    check(&mut henk.browser, "meekijken").await;

    // Sanne sees Henk, exactly the two parts, and nothing else.
    sanne.browser.goto(&format!("{}/coach", vault.url)).await;
    check(&mut sanne.browser, "mijn inwoners").await;
    sanne.activate("link", "Inwoner ").await;
    let resident_page = sanne.browser.url().await;
    let parts = sanne.browser.text(Some("main ul")).await;
    assert_eq!(
        sanne.browser.count("main a[href*='/records/']").await,
        2,
        "{parts}"
    );
    assert!(
        parts.contains("Mijn schulden") && parts.contains("Mijn inkomen"),
        "{parts}"
    );
    check(&mut sanne.browser, "inwoner").await;
    sanne
        .activate("link", "Regelingen die misschien passen")
        .await;
    check(&mut sanne.browser, "regelingen").await;
    sanne.browser.goto(&resident_page).await;
    sanne.activate("link", "Mijn schulden").await;
    assert!(sanne.text().await.contains("€ 812,50"));
    check(&mut sanne.browser, "mijn schulden").await;
    for other in [
        "wonen.situatie",
        "zorg.ondersteuningsbehoefte",
        "identiteit.basis",
    ] {
        let (_, status) = sanne
            .browser
            .goto(&format!("{resident_page}/records/{other}"))
            .await;
        assert_eq!(status, 403, "{other}");
        assert!(
            sanne
                .text()
                .await
                .contains("De inwoner heeft dit niet voor u opengezet"),
            "{other}"
        );
    }
    check(&mut sanne.browser, "geweigerd").await;
    // (The API's refusals, with a coach's bearer token: `coaching.rs`.)

    // She proposes a new amount.
    sanne
        .browser
        .goto(&format!("{resident_page}/records/{DEBTS}"))
        .await;
    sanne
        .activate("link", "Stel een wijziging voor in Schuld 1")
        .await;
    check(&mut sanne.browser, "voorstel maken").await;
    retype(&mut sanne, "Bedrag", "900,00").await;
    sanne
        .activate("button", "Stuur het voorstel naar de inwoner")
        .await;
    assert!(
        sanne
            .text()
            .await
            .contains("Uw voorstel is naar de inwoner gestuurd.")
    );
    assert_eq!(
        app.residents()
            .read(henk_id, DEBTS, None)
            .await
            .unwrap()
            .data,
        debts(812.5),
        "nothing stored before Henk says yes"
    );

    // Henk sees old and new side by side on his home page, and takes it over.
    henk.activate("link", "Mijn gegevens").await;
    assert!(
        henk.text()
            .await
            .contains("Uw coach Sanne Bakker stelt een wijziging voor in Mijn schulden.")
    );
    henk.activate("link", "Bekijk het voorstel").await;
    let compare = henk.browser.text(Some("table")).await;
    assert!(
        compare.contains("€ 812,50") && compare.contains("€ 900,00"),
        "{compare}"
    );
    check(&mut henk.browser, "voorstel").await;
    henk.activate("button", "Ja, neem dit over").await;
    assert!(henk.text().await.contains("De wijziging is opgeslagen."));
    let now = app.residents().read(henk_id, DEBTS, None).await.unwrap();
    assert_eq!(now.version, 2);
    assert_eq!(now.data["schulden"][0]["bedrag"], 900.0);
    assert_eq!(now.data["schulden"][0]["schuldeiser"], "Belastingdienst");
    let reference = app.residents().audit_reference(henk_id);
    let log = app
        .audit()
        .entries(0, app.audit().size().await)
        .await
        .unwrap();
    let write = log
        .iter()
        .rfind(|e| e.action == Action::RecordWrite)
        .unwrap();
    assert_eq!(
        write.actor,
        Actor::Resident {
            reference: reference.clone()
        },
        "the new version is Henk's own"
    );
    assert_eq!(
        write.details.get("proposed_by").map(String::as_str),
        Some("sanne")
    );

    // Henk asks for help; Sanne sees it first.
    henk.activate("link", "Ik wil hulp van mijn coach").await;
    check(&mut henk.browser, "hulp vragen").await;
    // A radio group is one Tab stop; the arrow key chooses the next answer.
    henk.tab_to("radio", "Ik begrijp een vraag").await;
    henk.browser.press("ArrowDown").await;
    henk.activate("button", "Stuur mijn vraag naar mijn coach")
        .await;
    assert!(
        henk.text()
            .await
            .contains("Uw vraag is naar uw coach gestuurd.")
    );
    sanne.browser.goto(&format!("{}/coach", vault.url)).await;
    assert!(
        sanne
            .text()
            .await
            .contains("Vraagt om hulp: Ik kom niet verder met invullen.")
    );
    check(&mut sanne.browser, "mijn inwoners hulp").await;

    // Henk says "yes, share it" on the phone; Sanne approves with a witness statement, and
    // Henk sees it at once on his home page.
    let asked = ask_henk(&vault, &debts_department, 90).await;
    sanne.browser.goto(&resident_page).await;
    sanne
        .activate("link", "Vraag van Schuldhulpverlening")
        .await;
    check(&mut sanne.browser, "ja namens inwoner").await;
    // None is chosen yet: Tab reaches the first answer, Space chooses it.
    sanne.tab_to("radio", "Aan de telefoon").await;
    sanne.browser.press("Space").await;
    sanne.tick("Ik las de vraag voor").await;
    sanne.activate("button", "Zeg ja namens de inwoner").await;
    assert!(sanne.text().await.contains("U zei ja namens de inwoner."));
    henk.activate("link", "Mijn gegevens").await;
    let home = henk.text().await;
    assert!(
        home.contains("Sanne Bakker schreef op dat u ja zei tegen Schuldhulpverlening."),
        "{home}"
    );
    check(&mut henk.browser, "ja van coach").await;
    henk.activate("button", "Dit klopt").await;
    assert!(
        henk.text()
            .await
            .contains("Dank u. De toestemming blijft staan.")
    );
    let status = debts_department
        .client(&vault)
        .request_status(asked.id)
        .await
        .unwrap();
    assert!(status.grant.is_some());

    // "Wie keek er" names the coach and what she looked at.
    henk.activate("link", "Wie keek er").await;
    let history = henk.text().await;
    assert!(
        history.contains("Uw coach Sanne Bakker keek naar:"),
        "{history}"
    );

    // The new pages in English too.
    sanne
        .browser
        .goto(&format!("{resident_page}/records/{DEBTS}"))
        .await;
    sanne
        .activate("link", "Stel een wijziging voor in Schuld 1")
        .await;
    retype(&mut sanne, "Bedrag", "950,00").await;
    sanne
        .activate("button", "Stuur het voorstel naar de inwoner")
        .await;
    henk.activate("link", "English").await;
    henk.browser.goto(&format!("{}/portal", vault.url)).await;
    henk.activate("link", "See the proposal").await;
    check(&mut henk.browser, "proposal en").await;
    henk.activate("button", "No, do not accept").await;
    assert!(henk.text().await.contains("Nothing changed."));
    for (path, what) in [
        ("/portal/coach", "looking along en"),
        ("/portal/coach/help", "help en"),
        ("/portal/coach/new", "code en"),
    ] {
        henk.browser.goto(&format!("{}{path}", vault.url)).await;
        check(&mut henk.browser, what).await;
    }
    sanne.activate("link", "English").await;
    sanne.browser.goto(&format!("{}/coach", vault.url)).await;
    check(&mut sanne.browser, "my residents en").await;
    sanne.activate("button", "Make a new code").await;
    check(&mut sanne.browser, "my residents code en").await;
    let english_code = sanne.browser.text(Some("#code")).await;
    henk.type_into("#code", "Your coach's code", &english_code)
        .await;
    henk.activate("button", "Next: choose what the coach sees")
        .await;
    check(&mut henk.browser, "choose en").await;
    sanne.browser.goto(&resident_page).await;
    check(&mut sanne.browser, "resident en").await;
    sanne
        .browser
        .goto(&format!("{resident_page}/records/{DEBTS}/propose?item=0"))
        .await;
    check(&mut sanne.browser, "propose en").await;
    sanne
        .browser
        .goto(&format!("{resident_page}/records/wonen.situatie"))
        .await;
    check(&mut sanne.browser, "refused en").await;
    for (path, what) in [
        (format!("{resident_page}/records/{DEBTS}"), "part en"),
        (format!("{resident_page}/schemes"), "schemes en"),
    ] {
        sanne.browser.goto(&path).await;
        check(&mut sanne.browser, what).await;
    }
    // A second request: Sanne says yes in English, Henk (in English) says it is wrong.
    let again = ask_henk(&vault, &debts_department, 30).await;
    sanne.browser.goto(&resident_page).await;
    sanne
        .activate("link", "Request from Schuldhulpverlening")
        .await;
    check(&mut sanne.browser, "witness en").await;
    sanne.tab_to("radio", "On the phone").await;
    sanne.browser.press("Space").await;
    sanne.tick("I read the request aloud").await;
    sanne.activate("button", "Say yes for the resident").await;
    henk.browser.goto(&format!("{}/portal", vault.url)).await;
    check(&mut henk.browser, "statement en").await;
    henk.activate("button", "This is wrong").await;
    assert!(henk.text().await.contains("The permission was stopped."));
    let stopped = debts_department
        .client(&vault)
        .request_status(again.id)
        .await
        .unwrap()
        .grant
        .expect("approved, then revoked");
    assert!(matches!(
        debts_department
            .client(&vault)
            .read(&stopped, &[DEBTS])
            .await,
        Err(kluis_sdk::Error::Revoked)
    ));
    // The coach's pages are refused to a resident, with the way back.
    henk.browser.goto(&format!("{}/coach", vault.url)).await;
    check(&mut henk.browser, "only coaches en").await;
    sanne.activate("link", "Nederlands").await;

    // Henk ends it with one click; Sanne's next page is refused at once.
    henk.browser
        .goto(&format!("{}/portal/coach", vault.url))
        .await;
    henk.activate("link", "Nederlands").await;
    henk.browser.goto(&format!("{}/coach", vault.url)).await;
    assert!(
        henk.text()
            .await
            .contains("Deze pagina's zijn voor coaches.")
    );
    check(&mut henk.browser, "alleen coaches").await;
    henk.browser
        .goto(&format!("{}/portal/coach", vault.url))
        .await;
    henk.activate("button", "Stop het meekijken van Sanne Bakker")
        .await;
    assert!(
        henk.text()
            .await
            .contains("Het meekijken is gestopt. De coach ziet niets meer.")
    );
    let (_, status) = sanne.browser.goto(&resident_page).await;
    assert_eq!(status, 403);
    assert!(
        sanne
            .text()
            .await
            .contains("De inwoner heeft dit niet voor u opengezet, of het meekijken is gestopt.")
    );
    let (_, status) = sanne
        .browser
        .goto(&format!("{resident_page}/records/{DEBTS}"))
        .await;
    assert_eq!(status, 403);
    assert!(!sanne.text().await.contains("900"));
    sanne.browser.close().await;
    henk.browser.close().await;
}
