// Long: the officer's pages are one walk through the log (log in, search, seven reports, checkpoint, download) plus the refusals.
//! The privacy officer's pages in a real Chromium browser through the real OpenID Provider
//! (issue 18, must-shows 2 and 5): the officer logs in as staff, searches Henk's entries by
//! the debt team's own reference for him, opens every report, checks a checkpoint saved
//! earlier (a valid one holds, a forged one is refused with a clear message), downloads the
//! export, and `kluis audit verify` accepts the file. Keyboard only, JavaScript off, every
//! page axe-clean and plain, at 320 px too. A resident, a coach and a visitor without a
//! login get a page that says these pages are for the officer, and nothing of the log; the
//! officer's questions are logged as kinds and ids, never the BSN or words searched for.
//!
//! `KLUIS_SCREENSHOTS=DIR` saves screenshots of the Dutch pages as `DIR/officer-*.png`.

use crate::coaching::{DEBTS, vault_with_coaches};
use crate::consent::BSNS;
use crate::consent::{grant, resident_with_bsn};
use crate::portal_browser::{Hands, Resident};
use crate::support::chromium::Chromium;
use crate::support::process::kluis_cli;
use kluis::audit::entry::{Action, Actor};
use serde_json::json;

/// axe, plain Dutch and a screenshot, then the page at 320 px.
async fn check(browser: &mut Chromium, what: &str) {
    browser.assert_clean_page_at_320("officer-", what).await;
}

/// Types `text` into the text box labelled `name`, key by key.
async fn type_in(person: &mut Resident, name: &str, text: &str) {
    person.tab_to("textbox", name).await;
    for key in text.chars() {
        person.browser.press(&key.to_string()).await;
    }
}

/// Pastes `text` (a saved checkpoint: several lines and an em dash) into the text box
/// labelled `name`, reached by Tab.
async fn paste_in(person: &mut Resident, name: &str, text: &str) {
    person.tab_to("textbox", name).await;
    person.browser.paste(text).await;
}

/// A staff member logged in through the provider as `subject`, landing on `home`.
async fn staff(vault: &crate::support::TestVault, issuer: &str, subject: &str) -> Resident {
    let mut person = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    person.browser.new_context(false).await;
    person.browser.goto(&format!("{}/", vault.url)).await;
    let at_provider = person.activate("link", "Inloggen voor medewerkers").await;
    assert!(at_provider.starts_with(issuer), "{at_provider}");
    person
        .activate("link", &format!("Log in as {subject}"))
        .await;
    person
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_officer_searches_reports_checks_a_checkpoint_and_verifies_a_download() {
    let (vault, provider, debts) = vault_with_coaches().await;
    let (henk_token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    vault
        .app
        .residents()
        .write(
            &crate::support::ctx(),
            henk,
            DEBTS,
            &json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 812}]}),
        )
        .await
        .unwrap();
    let g = grant(
        &vault,
        &debts,
        &henk_token,
        BSNS[0],
        "schuldhulp-traject",
        &[DEBTS],
        json!({}),
    )
    .await;
    assert_eq!(debts.read(&vault, &g, &[DEBTS]).await.0, 200);

    let mut officer = staff(&vault, &provider.issuer, "fg").await;
    assert_eq!(
        officer.browser.url().await,
        format!("{}/officer", vault.url)
    );
    assert!(officer.text().await.contains("Logboek controleren"));
    check(&mut officer.browser, "start").await;

    // A search with a date that cannot be read: the field and its fix, nothing searched.
    officer.activate("link", "Zoeken").await;
    check(&mut officer.browser, "zoeken").await;
    let queries_before = officer_queries(&vault).await;
    type_in(&mut officer, "Vanaf datum", "32-13-2026").await;
    officer.activate("button", "Zoek in het logboek").await;
    let page = officer.text().await;
    assert!(
        page.contains("Datum: vul dag, maand en jaar in. Bijvoorbeeld 14-03-2026."),
        "{page}"
    );
    assert_eq!(
        officer_queries(&vault).await,
        queries_before,
        "nothing was asked"
    );
    check(&mut officer.browser, "zoeken fout").await;

    // Henk's entries, by the debt team's reference for him.
    officer
        .browser
        .goto(&format!("{}/officer/search", vault.url))
        .await;
    type_in(&mut officer, "Afdeling", "schuldhulpverlening").await;
    type_in(&mut officer, "Kenmerk van de inwoner", &g.resident).await;
    officer.activate("button", "Zoek in het logboek").await;
    let results = officer.browser.text(Some("#results")).await;
    for expected in [
        "access_request",
        "request_decision",
        "read",
        DEBTS,
        "allowed",
    ] {
        assert!(results.contains(expected), "{expected} in {results}");
    }
    assert!(
        !results.contains("Woonkracht"),
        "no vault contents: {results}"
    );
    check(&mut officer.browser, "zoeken resultaat").await;

    // Every report, with how it was computed.
    for title in [
        "Gelezen zonder geldige toestemming",
        "Pogingen na intrekken of verlopen",
        "Geweigerde leesacties",
        "Gegevens buiten de verwerking",
        "Leesacties per dag",
        "Gebruik van regelingen",
        "Ja gezegd door een coach",
    ] {
        officer
            .browser
            .goto(&format!("{}/officer/reports", vault.url))
            .await;
        officer.activate("link", title).await;
        let page = officer.text().await;
        assert!(page.contains("Zo is dit berekend"), "{title}: {page}");
        assert!(page.contains("Aantal bevindingen:"), "{title}: {page}");
        check(&mut officer.browser, &format!("rapport {title}")).await;
    }
    let findings = |page: &str| page.contains("Aantal bevindingen: 0");
    officer
        .browser
        .goto(&format!("{}/officer/reports/unauthorized-reads", vault.url))
        .await;
    assert!(
        findings(&officer.text().await),
        "a clean log has no findings"
    );
    officer
        .browser
        .goto(&format!("{}/officer/reports/volume", vault.url))
        .await;
    assert_eq!(
        officer.browser.count("figure svg rect").await,
        1,
        "one day of reads"
    );

    // The checkpoint now, saved; the log grows; the saved one still holds.
    officer.activate("link", "Controlepunt").await;
    let saved = officer.browser.text(Some("#note")).await;
    let saved_size: u64 = saved.lines().nth(1).unwrap().parse().unwrap();
    check(&mut officer.browser, "controlepunt").await;
    assert_eq!(debts.read(&vault, &g, &[DEBTS]).await.0, 200);
    officer
        .browser
        .goto(&format!("{}/officer/checkpoint", vault.url))
        .await;
    paste_in(&mut officer, "Bewaard controlepunt", saved.trim()).await;
    officer
        .activate("button", "Controleer dit controlepunt")
        .await;
    let verdict = officer.browser.text(Some("#verdict")).await;
    assert!(
        verdict.contains(&format!(
            "Het controlepunt klopt. De eerste {saved_size} regels staan nog ongewijzigd"
        )),
        "{verdict}"
    );
    check(&mut officer.browser, "controlepunt klopt").await;

    // A forged one: the size changed, the signature kept.
    let forged = saved.replacen(
        &format!("\n{saved_size}\n"),
        &format!("\n{}\n", saved_size - 1),
        1,
    );
    officer
        .browser
        .goto(&format!("{}/officer/checkpoint", vault.url))
        .await;
    paste_in(&mut officer, "Bewaard controlepunt", forged.trim()).await;
    officer
        .activate("button", "Controleer dit controlepunt")
        .await;
    let verdict = officer.browser.text(Some("#verdict")).await;
    assert!(
        verdict.contains("Dit controlepunt is niet door deze kluis ondertekend."),
        "{verdict}"
    );
    check(&mut officer.browser, "controlepunt vals").await;

    // The export, downloaded by keyboard, verifies offline against the published keys.
    officer.activate("link", "Downloads").await;
    check(&mut officer.browser, "downloads").await;
    officer
        .tab_to("link", "Download het logboek met bewijs")
        .await;
    let (file, name) = officer.browser.download_by_key("Enter").await;
    assert_eq!(name, "kluis-audit-kluis.jsonl");
    let jwks = reqwest::get(format!("{}/.well-known/jwks.json", vault.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks_file = file.with_file_name("jwks.json");
    std::fs::write(&jwks_file, jwks).unwrap();
    let (ok, out, err) = kluis_cli(&[
        "audit".as_ref(),
        "verify".as_ref(),
        file.as_os_str(),
        "--jwks".as_ref(),
        jwks_file.as_os_str(),
    ]);
    assert!(ok && out.starts_with("OK"), "verify: {out}{err}");

    // Everything the officer did is in the log, as kinds and ids.
    let questions = officer_queries(&vault).await;
    let endpoints: Vec<&str> = questions
        .iter()
        .filter_map(|d| d.get("endpoint").map(String::as_str))
        .collect();
    for endpoint in [
        "resident_lookup",
        "audit",
        "report",
        "checkpoint_check",
        "export",
    ] {
        assert!(endpoints.contains(&endpoint), "{endpoint} in {endpoints:?}");
    }
    officer.browser.close().await;
}

/// The details of every question officers asked, oldest first.
async fn officer_queries(
    vault: &crate::support::TestVault,
) -> Vec<std::collections::BTreeMap<String, String>> {
    let audit = vault.app.audit();
    let size = audit.size().await;
    audit
        .entries(0, size)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == Action::OfficerQuery && matches!(e.actor, Actor::Officer { .. }))
        .map(|e| e.details)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_coaches_and_visitors_are_refused_and_searches_log_no_bsn() {
    let (vault, provider, _debts) = vault_with_coaches().await;
    resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let pages = [
        "/officer",
        "/officer/search?department=schuldhulpverlening",
        "/officer/reports",
        "/officer/reports/refusals",
        "/officer/checkpoint",
        "/officer/downloads",
        "/officer/downloads/export?format=kluis",
    ];
    let size_before = vault.app.audit().size().await;

    // No login at all.
    let mut visitor = Chromium::start().await;
    visitor.new_context(false).await;
    for path in pages {
        let (_, status) = visitor.goto(&format!("{}{path}", vault.url)).await;
        assert_eq!(status, 401, "{path}");
        assert!(
            visitor
                .text(None)
                .await
                .contains("Log eerst in als medewerker."),
            "{path}"
        );
    }
    check(&mut visitor, "geen login").await;
    visitor.close().await;

    // A coach, through the staff login.
    let mut sanne = staff(&vault, &provider.issuer, "coach-sanne").await;
    // A resident, through the resident login.
    let mut henk_browser = Resident {
        browser: Chromium::start().await,
        hands: Hands::Keyboard,
    };
    henk_browser.browser.new_context(false).await;
    henk_browser.browser.goto(&format!("{}/", vault.url)).await;
    henk_browser.activate("link", "Inloggen met DigiD").await;
    henk_browser.activate("link", "Log in as henk").await;
    for person in [&mut sanne, &mut henk_browser] {
        for path in pages {
            let (_, status) = person.browser.goto(&format!("{}{path}", vault.url)).await;
            assert_eq!(status, 403, "{path}");
            let page = person.text().await;
            assert!(
                page.contains("Deze pagina's zijn voor de functionaris gegevensbescherming."),
                "{path}: {page}"
            );
            assert!(!page.contains("schuldhulpverlening"), "{path}: {page}");
        }
    }
    check(&mut sanne.browser, "geweigerd").await;
    sanne.browser.close().await;
    henk_browser.browser.close().await;
    let audit = vault.app.audit();
    let refused_entries = audit
        .entries(size_before, audit.size().await)
        .await
        .unwrap();
    assert!(
        refused_entries
            .iter()
            .all(|e| e.action != Action::OfficerQuery),
        "a refused visitor asked nothing: {refused_entries:?}"
    );

    // The officer searches by BSN (a post: the BSN stays out of every URL) and by words of
    // a purpose: the log keeps kinds and ids.
    let mut officer = staff(&vault, &provider.issuer, "fg").await;
    officer
        .browser
        .goto(&format!("{}/officer/search", vault.url))
        .await;
    type_in(&mut officer, "BSN van de inwoner", BSNS[0]).await;
    let landed = officer.activate("button", "Zoek op BSN").await;
    assert!(landed.contains("/officer/search?resident="), "{landed}");
    assert!(officer.text().await.contains("Gevonden regels"));
    type_in(&mut officer, "BSN van de inwoner", "123456789").await;
    officer.activate("button", "Zoek op BSN").await;
    let page = officer.text().await;
    assert!(
        page.contains("BSN: vul negen cijfers in die de elfproef halen."),
        "{page}"
    );
    assert!(
        !officer.browser.html().await.contains("123456789"),
        "not shown again"
    );
    type_in(&mut officer, "BSN van de inwoner", BSNS[2]).await;
    officer.activate("button", "Zoek op BSN").await;
    assert!(
        officer
            .text()
            .await
            .contains("BSN: er is geen kluis met dit BSN.")
    );
    officer
        .browser
        .goto(&format!(
            "{}/officer/search?purpose=Jan+Jansen+woont+hier",
            vault.url
        ))
        .await;
    assert!(officer.text().await.contains("Gevonden regels"));
    // A BSN typed where a log reference belongs is refused before anything is asked.
    let asked = officer_queries(&vault).await.len();
    let (_, status) = officer
        .browser
        .goto(&format!(
            "{}/officer/search?resident={}",
            vault.url, BSNS[1]
        ))
        .await;
    assert_eq!(status, 422);
    assert!(
        officer
            .text()
            .await
            .contains("Logboekkenmerk of klachtcode: vul een kenmerk van 43 tekens")
    );
    assert_eq!(officer_queries(&vault).await.len(), asked, "nothing asked");
    let requested = officer.browser.requests().await;
    assert!(
        !requested.iter().any(|url| url.contains(BSNS[0])),
        "no BSN in a URL: {requested:?}"
    );
    officer.browser.close().await;
    // (Henk's login through the provider carries his BSN: that vault is the one found.)
    let residents = vault.app.residents();
    let hash = residents.national_id_hash("bsn", BSNS[0]).unwrap();
    let found = residents.by_national_id(&hash).await.unwrap().unwrap();
    let henk_ref = residents.audit_reference(found.id);
    let size = audit.size().await;
    let logged = serde_json::to_string(&audit.entries(0, size).await.unwrap()).unwrap();
    for bsn in BSNS {
        assert!(!logged.contains(bsn), "no BSN in the log");
    }
    assert!(!logged.contains("Jansen"), "no searched words in the log");
    let questions = officer_queries(&vault).await;
    assert!(
        questions
            .iter()
            .any(|d| d.get("by").map(String::as_str) == Some("national_id")
                && d.get("resident") == Some(&henk_ref)),
        "{questions:?}"
    );
    assert!(
        questions
            .iter()
            .any(|d| d.get("purpose").map(String::as_str) == Some("(words, 21 characters)")),
        "{questions:?}"
    );
    assert!(
        questions
            .iter()
            .any(|d| d.get("by").map(String::as_str) == Some("national_id")
                && d.get("found").map(String::as_str) == Some("false")),
        "a lookup that found nobody is logged too: {questions:?}"
    );
}
