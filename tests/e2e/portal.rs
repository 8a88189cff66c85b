// Long: every portal form is posted forged and honest against one shared vault snapshot helper.
//! The resident portal over plain HTTP (issue 6): every form post without the session's
//! CSRF token, with a wrong one, or from another origin changes nothing (must-show 4); every
//! page carries the strict headers; errors are pages in the resident's language, never
//! JSON. The browser tests (`portal_browser.rs`) walk the same pages in Chromium.

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::{TestDepartment, TestVault, ctx};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// A browser-like client of the portal, logged in as `subject` through the portal's
/// development login; it follows no redirects, so each answer can be checked.
pub struct PortalClient {
    http: reqwest::Client,
    url: String,
    cookie: String,
}

impl PortalClient {
    pub async fn login(vault: &TestVault, subject: &str) -> PortalClient {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = http
            .post(format!("{}/portal/dev-login", vault.url))
            .header(header::ORIGIN, &vault.url)
            .form(&[("subject", subject)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/portal");
        let cookie = response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        PortalClient {
            http,
            url: vault.url.clone(),
            cookie,
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    }

    /// The CSRF token the portal's own forms carry.
    pub async fn csrf(&self) -> String {
        let (_, _, html) = self.get("/portal").await;
        let start = html
            .find(r#"name="csrf" value=""#)
            .expect("a form with a CSRF token")
            + 19;
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    }

    /// Posts `form` to `path` with `origin` (None: no Origin header).
    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (StatusCode, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .header(header::COOKIE, &self.cookie)
            .form(form);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.text().await.unwrap();
        (status, if location.is_empty() { body } else { location })
    }
}

/// Everything a post could change: records, requests, grants, the vault, the session.
async fn everything(vault: &TestVault, henk: uuid::Uuid, portal: &PortalClient) -> Value {
    let residents = vault.app.residents();
    let records: Vec<Value> = match residents.overview(henk).await {
        Ok(list) => list
            .into_iter()
            .map(|s| json!([s.category, s.current_version]))
            .collect(),
        Err(_) => Vec::new(),
    };
    let consent = vault.app.consent();
    let requests: Vec<Value> = consent
        .resident_requests(henk, true)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| json!([r.id, r.state]))
        .collect();
    let grants: Vec<Value> = consent
        .resident_grants(henk)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|g| json!([g.id, g.state]))
        .collect();
    let exists = vault.app.store().resident(henk).await.unwrap().is_some();
    let logged_in = portal.get("/portal").await.0 == StatusCode::OK;
    let log = vault.app.audit().size().await;
    json!({"records": records, "requests": requests, "grants": grants, "exists": exists, "logged_in": logged_in, "audit_entries": log})
}

#[tokio::test]
async fn no_form_changes_anything_without_the_token_and_the_vaults_own_origin() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    residents_debts(&vault, henk).await;
    let g = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    let ask = json!({"resident": {"national_id": {"scheme": "bsn", "value": BSNS[0]}}, "processing_activity": "schuldhulp-traject", "categories": ["schulden.overzicht"], "duration_days": 30});
    let (_, pending) = debts
        .call(&vault, Method::POST, "/v1/dept/access-requests", Some(&ask))
        .await;
    let request = pending["id"].as_str().unwrap().to_owned();
    let portal = PortalClient::login(&vault, "henk").await;
    let csrf = portal.csrf().await;
    // Leaked once so the table of forms below can borrow it freely.
    let csrf_static: &'static str = Box::leak(csrf.clone().into_boxed_str());

    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/portal/records/schulden.overzicht/edit".into(),
            vec![
                ("schulden.count", "1"),
                ("schulden.0.schuldeiser", "X"),
                ("schulden.0.soort", "anders"),
            ],
        ),
        (
            "/portal/records/schulden.overzicht/items/0".into(),
            vec![("schuldeiser", "X"), ("soort", "anders"), ("bedrag", "1")],
        ),
        (
            "/portal/records/schulden.overzicht/items/0/remove".into(),
            vec![],
        ),
        (
            format!("/portal/requests/{request}/approve"),
            vec![("scope", "all")],
        ),
        (format!("/portal/requests/{request}/decline"), vec![]),
        (format!("/portal/grants/{}/revoke", g.id), vec![]),
        (
            format!("/portal/grants/{}/pause", g.id),
            vec![("reason", "other")],
        ),
        (format!("/portal/grants/{}/resume", g.id), vec![]),
        ("/portal/account/download".into(), vec![]),
        ("/portal/story/download".into(), vec![]),
        ("/portal/account/erase".into(), vec![("confirm", "yes")]),
        ("/portal/logout".into(), vec![]),
    ];
    let before = everything(&vault, henk, &portal).await;
    for (path, fields) in &posts {
        let with = |token: &'static str| -> Vec<(&str, &str)> {
            fields
                .iter()
                .copied()
                .chain((!token.is_empty()).then_some(("csrf", token)))
                .collect()
        };
        let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let own: &'static str = csrf_static;
        for (form, origin, what) in [
            (with(""), Some(vault.url.as_str()), "no token"),
            (with(wrong), Some(vault.url.as_str()), "a wrong token"),
            (with(own), Some("http://evil.example"), "another origin"),
            (with(own), Some("null"), "an opaque origin"),
            (with(own), None, "neither Origin nor Referer"),
        ] {
            let (status, body) = portal.post(path, &form, origin).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} with {what}: {body}");
            assert!(
                body.contains("Er is niets veranderd"),
                "{path} with {what} says so in words: {body}"
            );
            assert!(
                !body.contains("\"schulden\""),
                "{path} with {what} leaked the export"
            );
        }
        assert_eq!(
            everything(&vault, henk, &portal).await,
            before,
            "{path} changed something"
        );
    }
    // The department still reads: the grant was never revoked.
    assert_eq!(debts.read(&vault, &g, &["schulden.overzicht"]).await.0, 200);

    // With the token and from the vault's own origin, the same post works.
    let (status, location) = portal
        .post(
            &format!("/portal/grants/{}/revoke", g.id),
            &[("csrf", &csrf)],
            Some(&vault.url),
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/portal/grants?done=revoked")
    );
    assert_eq!(debts.read(&vault, &g, &["schulden.overzicht"]).await.0, 403);
}

async fn residents_debts(vault: &TestVault, henk: uuid::Uuid) {
    vault
        .app
        .residents()
        .write(&ctx(), henk, "schulden.overzicht", &json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]}))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_page_is_html_with_the_strict_headers_and_no_personal_data_cached() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    residents_debts(&vault, henk).await;
    let g = grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    let portal = PortalClient::login(&vault, "henk").await;
    for path in [
        "/portal".to_owned(),
        "/portal/records/schulden.overzicht".into(),
        "/portal/records/schulden.overzicht/edit".into(),
        "/portal/requests".into(),
        "/portal/grants".into(),
        format!("/portal/grants/{}/revoke", g.id),
        format!("/portal/grants/{}/pause", g.id),
        "/portal/history".into(),
        "/portal/account".into(),
        "/portal/account/erase".into(),
        "/portal/story".into(),
    ] {
        let (status, headers, html) = portal.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "style-src 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("script-src") && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            html.starts_with("<!doctype html>\n<html lang=\"nl\""),
            "{path}"
        );
        assert!(
            !html.contains("<script") && !html.contains(" style=\"") && !has_event_handler(&html),
            "{path} has script or inline style"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path} refers to another host"
        );
    }
    // The municipality's theme and logo: a stylesheet of tokens, and an SVG that can run
    // nothing even when opened on its own.
    let (status, headers, css) = portal.get("/assets/theme.css").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(css.contains(".gemeente-voorbeeld-theme"), "{css}");
    let (status, headers, svg) = portal.get("/assets/logo.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"),
        "{headers:?}"
    );
    assert!(svg.starts_with("<svg"));
    // The stylesheet holds the NL Design System (tokens and Utrecht components), not only
    // the plain fallback.
    let (status, headers, css) = portal.get("/assets/portal.css").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(
        css.contains(".voorbeeld-theme") && css.contains(".utrecht-button"),
        "the NL Design System styles are bundled"
    );
    assert!(
        !css.contains("@import") && !css.contains("url(http"),
        "the stylesheet loads nothing from elsewhere"
    );
}

#[tokio::test]
async fn mijn_verhaal_tells_the_situation_in_words_and_downloads_as_one_printable_file() {
    let vault = TestVault::start().await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    residents_debts(&vault, henk).await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    grant(
        &vault,
        &debts,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    let portal = PortalClient::login(&vault, "henk").await;
    let (status, _, page) = portal.get("/portal/story").await;
    assert_eq!(status, StatusCode::OK);
    let csrf = portal.csrf().await;
    let (status, file) = portal
        .post(
            "/portal/story/download",
            &[("csrf", csrf.as_str())],
            Some(vault.url.as_str()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    for html in [&page, &file] {
        for words in [
            "<h1",
            "Mijn verhaal",
            "Mijn schulden",
            "Woonkracht",
            "€ 2.628,00",
            "Afdeling schuldhulpverlening mag dit zien tot",
        ] {
            assert!(html.contains(words), "{words:?} missing: {html}");
        }
        assert!(!html.contains("2628"), "no raw amounts");
    }
    assert!(file.starts_with("<!doctype html>") && file.contains("<style>"));
    assert!(
        !file.contains("/assets/") && !file.contains("<script") && !file.contains("<form"),
        "the file stands alone and runs nothing"
    );
}

#[tokio::test]
async fn a_second_click_on_remove_changes_nothing_more() {
    let vault = TestVault::start().await;
    let (_, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    residents_debts(&vault, henk).await;
    vault
        .app
        .residents()
        .write(
            &ctx(),
            henk,
            "schulden.overzicht",
            &json!({"schulden": [
                {"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628},
                {"schuldeiser": "Incassobureau Noord", "soort": "incassobureau", "bedrag": 1184.5}
            ]}),
        )
        .await
        .unwrap();
    let portal = PortalClient::login(&vault, "henk").await;
    let (_, _, page) = portal
        .get("/portal/records/schulden.overzicht/items/0")
        .await;
    assert!(page.contains(r#"name="version" value="2""#), "{page}");
    let csrf = portal.csrf().await;
    let form = [("csrf", csrf.as_str()), ("version", "2")];
    let path = "/portal/records/schulden.overzicht/items/0/remove";
    let (status, location) = portal.post(path, &form, Some(vault.url.as_str())).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.ends_with("?done=removed"), "{location}");
    // The same form again (a double click): the item now at 0 is another one; refused.
    let (status, body) = portal.post(path, &form, Some(vault.url.as_str())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let debts = vault
        .app
        .residents()
        .read(henk, "schulden.overzicht", None)
        .await
        .unwrap();
    assert_eq!(debts.version, 3);
    assert_eq!(
        debts.data["schulden"][0]["schuldeiser"],
        "Incassobureau Noord"
    );
}

#[tokio::test]
async fn errors_are_pages_in_the_residents_language() {
    let vault = TestVault::start_now().await;
    let portal = PortalClient::login(&vault, "henk").await;
    for path in [
        "/portal/records/geen.categorie",
        "/portal/grants/not-a-uuid/revoke",
        "/portal/grants/5f0f0c8e-6d6a-4c5b-9c1e-2b7c4d1f0a11/revoke",
    ] {
        let (status, headers, html) = portal.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{path}"
        );
        assert!(html.contains("Deze pagina bestaat niet"), "{path}: {html}");
        assert!(!html.contains("geen.categorie"), "input is not echoed");
    }
    // In English after the switch, back on the page it was chosen on.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/language?to=en&back=%2Fportal%2Fgrants",
            vault.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::LOCATION], "/portal/grants");
    let language = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(language, "kluis_lang=en");
    let html = portal
        .http
        .get(format!("{}/portal/records/geen.categorie", vault.url))
        .header(header::COOKIE, format!("{}; {language}", portal.cookie))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<html lang=\"en\"") && html.contains("This page does not exist"),
        "{html}"
    );
    // The switch never sends the browser to another site, also not through characters a
    // browser drops (`/\t/evil.example` becomes `//evil.example`), and never fails on them.
    for back in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\u{0}/x",
    ] {
        let response = portal
            .http
            .get(format!("{}/language", vault.url))
            .query(&[("to", "en"), ("back", back)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{back:?}");
        assert_eq!(response.headers()[header::LOCATION], "/", "{back:?}");
    }
    // Without a login, a portal page sends the browser to the start page.
    let anonymous = portal
        .http
        .get(format!("{}/portal/grants", vault.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[header::LOCATION], "/?done=log_in_again");
}

#[tokio::test]
async fn the_form_says_what_to_correct_and_keeps_what_was_typed() {
    let vault = TestVault::start_now().await;
    let portal = PortalClient::login(&vault, "henk").await;
    let henk = vault
        .app
        .residents()
        .ensure_resident(kluis::auth::dev_login::DEV_ISSUER, "henk")
        .await
        .unwrap()
        .id;
    let csrf = portal.csrf().await;
    let path = "/portal/records/huishouden.samenstelling/edit";
    let (status, html) = portal
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("leden.count", "1"),
                ("leden.0.voornaam", "Sam"),
                ("leden.0.geboortejaar", "twintig"),
            ],
            Some(&vault.url),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Pas dit nog aan") && html.contains("href=\"#f-leefsituatie\""),
        "{html}"
    );
    // The message names the field and gives an example that fits it.
    assert!(
        html.contains("Geboortejaar: vul een heel getal in, zonder komma. Bijvoorbeeld 1985.")
            && html.contains("value=\"twintig\""),
        "{html}"
    );
    assert!(
        vault
            .app
            .residents()
            .overview(henk)
            .await
            .unwrap()
            .is_empty(),
        "nothing was saved"
    );

    let (status, location) = portal
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("leefsituatie", "alleenstaande_ouder"),
                ("leden.count", "1"),
                ("leden.0.rol", "kind"),
                ("leden.0.geboortejaar", "2015"),
            ],
            Some(&vault.url),
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/portal/records/huishouden.samenstelling?done=saved"
        )
    );
    let stored = vault
        .app
        .residents()
        .read(henk, "huishouden.samenstelling", None)
        .await
        .unwrap();
    assert_eq!(
        stored.data,
        json!({"leefsituatie": "alleenstaande_ouder", "leden": [{"rol": "kind", "geboortejaar": 2015, "woont_deels_hier": false}]})
    );
    let (_, _, page) = portal
        .get("/portal/records/huishouden.samenstelling?done=saved")
        .await;
    assert!(
        page.contains("Opgeslagen") && page.contains("Ik woon alleen met mijn kind of kinderen"),
        "{page}"
    );

    // Erasing needs the box ticked.
    let (status, html) = portal
        .post(
            "/portal/account/erase",
            &[("csrf", &csrf)],
            Some(&vault.url),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Er is niets gewist"));
    assert!(vault.app.store().resident(henk).await.unwrap().is_some());
}

/// Whether the HTML has an inline event handler attribute (` onclick=` and the like).
fn has_event_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(i, _)| {
        let rest = &html[i + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}
