//! Forms that take Dutch input, in a real Chromium by keyboard with JavaScript off (issue
//! 11, must-show 1): Henk types "14-03-1985", "2.628,00" and "3311ab" and the vault stores
//! 1985-03-14, 2628 and "3311 AB"; a wrong date and an e-mail address without @ are each
//! refused with a message that names the field and gives a correct example, while
//! everything else he typed stays; every personal field carries its `autocomplete` token;
//! after each submit the focus lands on the result (the error summary, or "Opgeslagen");
//! and the pages show values as people read them ("€ 2.628,00", "14 maart 1985"). A long
//! list is filled in one item per page: "Opslaan en nog een toevoegen", change one, remove one.

use crate::portal_browser::{Hands, Resident};
use crate::support::chromium::Chromium;
use crate::support::{TestVault, ctx};
use kluis::auth::dev_login::DEV_ISSUER;
use kluis::residents::ResidentId;
use serde_json::Value;

/// The current record of `category`.
async fn stored(vault: &TestVault, resident: ResidentId, category: &str) -> Value {
    vault
        .app
        .residents()
        .read_current(resident, &[category.to_owned()])
        .await
        .unwrap()
        .remove(0)
        .data
}

/// Types `text` into the focused-by-Tab text box labelled `name`, replacing what it held.
async fn retype(henk: &mut Resident, name: &str, text: &str) {
    henk.tab_to("textbox", name).await;
    henk.browser.press("Control+A").await;
    henk.browser.press("Backspace").await;
    for key in text.chars() {
        henk.browser.press(&key.to_string()).await;
    }
}

#[tokio::test]
async fn henk_types_dutch_dates_amounts_and_postcodes_and_each_mistake_names_its_field() {
    let vault = TestVault::start_now().await;
    let henk_id = vault
        .app
        .residents()
        .ensure_resident(DEV_ISSUER, "henk")
        .await
        .unwrap()
        .id;
    for (category, mut data) in kluis::dev::henk_situation() {
        if category == "identiteit.basis" {
            // A birth date to be corrected, so the test sees the new one stored.
            data["geboortedatum"] = "1984-01-01".into();
        }
        vault
            .app
            .residents()
            .write(&ctx(), henk_id, category, &data)
            .await
            .unwrap();
    }
    let mut henk = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    henk.browser.new_context(false).await;
    henk.browser.goto(&format!("{}/", vault.url)).await;
    henk.activate("button", "Inloggen als testpersoon").await;

    // "Wie ik ben": every personal field says what it is, for the browser's autofill.
    henk.browser
        .goto(&format!(
            "{}/portal/records/identiteit.basis/edit",
            vault.url
        ))
        .await;
    for (field, token) in [
        ("#f-voornamen", "given-name"),
        ("#f-achternaam", "family-name"),
        ("#f-geboortedatum", "bday"),
        ("#f-telefoon", "tel"),
        ("#f-email", "email"),
    ] {
        assert_eq!(
            henk.browser
                .attribute(field, "autocomplete")
                .await
                .as_deref(),
            Some(token),
            "{field}"
        );
    }
    // One-line boxes, of the right type: no text areas for a date or an address.
    assert_eq!(henk.browser.count("textarea").await, 0);
    assert_eq!(
        henk.browser.attribute("#f-email", "type").await.as_deref(),
        Some("email")
    );
    assert_eq!(
        henk.browser
            .attribute("#f-telefoon", "type")
            .await
            .as_deref(),
        Some("tel")
    );

    // A date that does not exist and an address without @: both refused, by name.
    retype(&mut henk, "Geboortedatum", "31-02-1985").await;
    retype(&mut henk, "Telefoonnummer", "06 12345678").await;
    retype(&mut henk, "E-mailadres", "henk at hotmail").await;
    henk.activate("button", "Opslaan").await;
    let page = henk.text().await;
    for message in [
        "Geboortedatum: schrijf de datum als dag-maand-jaar, bijvoorbeeld 14-03-1985.",
        "E-mailadres: schrijf een e-mailadres met @ en een punt, bijvoorbeeld naam@voorbeeld.nl.",
    ] {
        assert!(page.contains(message), "{message:?} missing: {page}");
    }
    // The focus is on the error summary; the title stays the page's title.
    let focused = henk.browser.focused().await;
    assert_eq!(focused["id"], "error-summary", "{focused}");
    assert_eq!(henk.browser.text(Some("h1")).await, "Wie ik ben: aanpassen");
    // What he typed stays, the mistakes included, so he only fixes them.
    for (field, typed) in [
        ("#f-geboortedatum", "31-02-1985"),
        ("#f-telefoon", "06 12345678"),
        ("#f-email", "henk at hotmail"),
        ("#f-voornamen", "Henk"),
    ] {
        assert_eq!(
            henk.browser.attribute(field, "value").await.as_deref(),
            Some(typed),
            "{field}"
        );
    }
    assert_eq!(
        stored(&vault, henk_id, "identiteit.basis").await["geboortedatum"],
        "1984-01-01",
        "nothing was saved"
    );

    // Fixed the Dutch way: saved, and the focus lands on "Opgeslagen".
    retype(&mut henk, "Geboortedatum", "14-03-1985").await;
    retype(&mut henk, "E-mailadres", "henk@example.nl").await;
    let saved = henk.activate("button", "Opslaan").await;
    assert!(saved.ends_with("?done=saved"), "{saved}");
    let focused = henk.browser.focused().await;
    assert_eq!(focused["id"], "result", "{focused}");
    let record = stored(&vault, henk_id, "identiteit.basis").await;
    assert_eq!(record["geboortedatum"], "1985-03-14");
    assert_eq!(record["telefoon"], "06 12345678");
    assert_eq!(record["email"], "henk@example.nl");
    assert!(henk.text().await.contains("14 maart 1985"));

    // An amount with a thousands point and a decimal comma.
    henk.browser
        .goto(&format!(
            "{}/portal/records/inkomen.bronnen/edit",
            vault.url
        ))
        .await;
    retype(&mut henk, "Bedrag per maand", "2.628,00").await;
    henk.activate("button", "Opslaan").await;
    let income = stored(&vault, henk_id, "inkomen.bronnen").await;
    assert_eq!(income["bronnen"][0]["bedrag_per_maand"], 2628.0);
    let page = henk.text().await;
    assert!(page.contains("€ 2.628,00"), "{page}");

    // A postcode in lower case without the space.
    henk.browser
        .goto(&format!("{}/portal/records/wonen.situatie/edit", vault.url))
        .await;
    for (field, token) in [
        ("#f-adres-straat", "address-line1"),
        ("#f-adres-postcode", "postal-code"),
        ("#f-adres-plaats", "address-level2"),
    ] {
        assert_eq!(
            henk.browser
                .attribute(field, "autocomplete")
                .await
                .as_deref(),
            Some(token),
            "{field}"
        );
    }
    retype(&mut henk, "Postcode", "3311ab").await;
    henk.activate("button", "Opslaan").await;
    let home = stored(&vault, henk_id, "wonen.situatie").await;
    assert_eq!(home["adres"]["postcode"], "3311 AB");
    henk.browser.close().await;
}

#[tokio::test]
async fn henk_fills_in_his_debts_one_at_a_time_by_keyboard() {
    let vault = TestVault::start_now().await;
    let henk_id = vault
        .app
        .residents()
        .ensure_resident(DEV_ISSUER, "henk")
        .await
        .unwrap()
        .id;
    let mut henk = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    henk.browser.new_context(false).await;
    henk.browser.goto(&format!("{}/", vault.url)).await;
    henk.activate("button", "Inloggen als testpersoon").await;
    henk.browser
        .goto(&format!("{}/portal/records/schulden.overzicht", vault.url))
        .await;

    // The first debt on a page of its own; then the next, from the same page.
    henk.activate("link", "Gegevens invullen").await;
    assert_eq!(henk.browser.text(Some("h1")).await, "Nieuw: Schuld");
    retype(&mut henk, "Aan wie moet u geld betalen?", "Woonkracht").await;
    henk.choose("#f-soort", "Soort schuld", "huurachterstand", 1)
        .await;
    retype(&mut henk, "Bedrag", "2.628,00").await;
    let next = henk
        .activate("button", "Opslaan en nog een toevoegen")
        .await;
    assert!(next.contains("/items/1?done=saved"), "{next}");
    assert_eq!(henk.browser.focused().await["id"], "result");
    retype(
        &mut henk,
        "Aan wie moet u geld betalen?",
        "Incassobureau Noord",
    )
    .await;
    henk.choose("#f-soort", "Soort schuld", "huurachterstand", 1)
        .await;
    retype(&mut henk, "Bedrag", "1.184,50").await;
    let done = henk.activate("button", "Opslaan").await;
    assert!(
        done.ends_with("/portal/records/schulden.overzicht?done=saved"),
        "{done}"
    );
    let debts = stored(&vault, henk_id, "schulden.overzicht").await;
    assert_eq!(debts["schulden"][0]["schuldeiser"], "Woonkracht");
    assert_eq!(debts["schulden"][1]["bedrag"], 1184.5);
    let page = henk.text().await;
    assert!(page.contains("€ 3.812,50"), "the total: {page}");

    // One item changed on its own page; then one removed; the other stays.
    henk.activate("link", "Pas Schuld 2 aan").await;
    assert_eq!(henk.browser.text(Some("h1")).await, "Schuld 2");
    assert!(henk.text().await.contains("2 van 2"));
    retype(&mut henk, "Bedrag", "1.200,00").await;
    henk.activate("button", "Opslaan").await;
    assert_eq!(
        stored(&vault, henk_id, "schulden.overzicht").await["schulden"][1]["bedrag"],
        1200.0
    );
    henk.activate("link", "Pas Schuld 1 aan").await;
    let removed = henk.activate("button", "Verwijder dit").await;
    assert!(removed.ends_with("?done=removed"), "{removed}");
    let debts = stored(&vault, henk_id, "schulden.overzicht").await;
    assert_eq!(debts["schulden"].as_array().unwrap().len(), 1);
    assert_eq!(debts["schulden"][0]["schuldeiser"], "Incassobureau Noord");
    henk.browser.close().await;
}
