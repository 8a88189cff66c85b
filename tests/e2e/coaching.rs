// Long: every refusal of the look-along rules is shown over HTTP on one shared set-up.
//! A coach who looks along (issue 13) over plain HTTP, with coaches logging in through the
//! real OpenID Provider's staff client and residents through the development login: a
//! code works once, for ten minutes, and only for the coach who made it; a look-along ends
//! by time; every wrong caller and every bad input is refused with nothing changed; the
//! officer lists every look by a coach from the log alone, and the resident's own history
//! shows the same looks. The browser test (`coach_browser.rs`) walks the pages in Chromium.

use crate::login::{residents, staff};
use crate::support::oidc::{Browser, TestProvider};
use crate::support::{TestDepartment, TestVault, status_and_json};
use chrono::TimeDelta;
use kluis::Clock;
use kluis::auth::coaches::NewCoach;
use kluis::auth::dev_login::DEV_ISSUER;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const DEBTS: &str = "schulden.overzicht";
pub const INCOME: &str = "inkomen.bronnen";

/// A vault with a residents provider, a staff provider and the development login, long
/// sessions (so a test can move the clock past a look-along and keep its login), two
/// departments and two coaches: Sanne Bakker (debt counselling) and Bram Visser (work
/// and income). Also returns the debt counsellors, to ask and read.
pub async fn vault_with_coaches() -> (TestVault, TestProvider, TestDepartment) {
    let (client_key, client_public) =
        kluis::jose::keys::generate_department_jwk("kluis-staff-1").unwrap();
    let slot: Arc<Mutex<Option<TestProvider>>> = Arc::default();
    let keep = slot.clone();
    let vault = TestVault::start_configured(
        tempfile::tempdir().unwrap(),
        Clock::manual(Clock::system().now()),
        move |config, url| {
            let provider = TestProvider::start(
                &[format!("{url}/login/residents/callback")],
                &[format!("{url}/")],
                Some((&format!("{url}/login/staff/callback"), &client_public)),
            );
            config.oidc = vec![
                residents(&provider.issuer),
                staff(&provider.issuer, &client_key),
            ];
            config.session_idle = Duration::from_secs(24 * 3600);
            config.session_absolute = Duration::from_secs(24 * 3600);
            *keep.lock().unwrap() = Some(provider);
        },
    )
    .await;
    let debts = TestDepartment::register_demo(&vault, "schuldhulpverlening").await;
    TestDepartment::register_demo(&vault, "werk-en-inkomen").await;
    for (id, name, department) in [
        ("sanne", "Sanne Bakker", "schuldhulpverlening"),
        ("bram", "Bram Visser", "werk-en-inkomen"),
    ] {
        vault
            .app
            .coaching()
            .coaches()
            .add(&NewCoach {
                id,
                name,
                department,
                provider: "staff",
                subject: &format!("coach-{id}"),
            })
            .await
            .unwrap();
    }
    let provider = slot.lock().unwrap().take().unwrap();
    (vault, provider, debts)
}

/// Henk's debts: one of € 812,50.
pub fn debts(amount: f64) -> Value {
    json!({"schulden": [{"schuldeiser": "Belastingdienst", "soort": "belastingdienst", "bedrag": amount}]})
}

/// A logged-in browser session over HTTP: forms are posted with the page's CSRF token
/// from the vault's own origin.
pub struct Session {
    browser: Browser,
    url: String,
}

impl Session {
    /// A coach, logged in as `account` through the staff provider; lands on "Mijn
    /// inwoners".
    pub async fn coach(vault: &TestVault, account: &str) -> Session {
        let browser = Browser::default();
        let landed = browser
            .walk(
                &format!("{}/login/staff", vault.url),
                account,
                &vault.url,
                &|u| u,
                None,
            )
            .await;
        assert!(
            landed.visited.last().unwrap().ends_with("/coach"),
            "{:?}",
            landed.visited
        );
        Session {
            browser,
            url: vault.url.clone(),
        }
    }

    /// A resident, logged in through the development login as `subject`.
    pub async fn resident(vault: &TestVault, subject: &str) -> Session {
        let browser = Browser::default();
        let response = browser
            .http
            .post(format!("{}/portal/dev-login", vault.url))
            .header(header::ORIGIN, &vault.url)
            .form(&[("subject", subject)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        Session {
            browser,
            url: vault.url.clone(),
        }
    }

    /// `GET path`: status and body.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .browser
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Posts `form` to `path` with the CSRF token of page `from`: status, and the
    /// redirect's target or the page.
    pub async fn post(
        &self,
        from: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let (_, page) = self.get(from).await;
        let start = page
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("{from} has a form: {page}"))
            + 19;
        let csrf = page[start..start + page[start..].find('"').unwrap()].to_owned();
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &csrf));
        let response = self
            .browser
            .http
            .post(format!("{}{path}", self.url))
            .header(header::ORIGIN, &self.url)
            .form(&fields)
            .send()
            .await
            .unwrap();
        let status = response.status();
        match response.headers().get(header::LOCATION) {
            Some(location) => (status, location.to_str().unwrap().to_owned()),
            None => (status, response.text().await.unwrap()),
        }
    }
}

/// The coach proposes debt 1 of `form` (a form post with the page's CSRF token): the
/// version it was made from, the kind of debt and the amount as typed.
async fn propose_debt(
    coach: &Session,
    path: &str,
    (version, soort, bedrag): (&str, &str, &str),
) -> (StatusCode, String) {
    let form = [
        ("version", version),
        ("item", "0"),
        ("schuldeiser", "Belastingdienst"),
        ("soort", soort),
        ("bedrag", bedrag),
    ];
    coach.post("/coach", path, &form).await
}

/// A fresh code from the coach's page.
pub async fn code_of(coach: &Session) -> String {
    let (status, page) = coach.post("/coach", "/coach/code", &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let start = page.find(r#"id="code" role="status">"#).expect("a code") + 24;
    page[start..start + 9].to_owned()
}

/// The resident lets the coach behind `code` see `parts` for this conversation; returns
/// the answer.
pub async fn let_in(resident: &Session, code: &str, parts: &[&str]) -> (StatusCode, String) {
    let (status, page) = resident
        .post("/portal/coach/new", "/portal/coach/new", &[("code", code)])
        .await;
    if status != StatusCode::OK {
        return (status, page);
    }
    let mut form = vec![
        ("code", code),
        ("parts", "chosen"),
        ("length", "conversation"),
        ("may_propose", "on"),
    ];
    form.extend(parts.iter().map(|p| ("category", *p)));
    resident
        .post("/portal/coach/new", "/portal/coach/start", &form)
        .await
}

/// The look-along ids on the coach's "Mijn inwoners", in its order.
pub async fn residents_of(coach: &Session) -> Vec<String> {
    let (status, page) = coach.get("/coach").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page.match_indices("/coach/residents/")
        .map(|(i, _)| page[i + 17..i + 53].to_owned())
        .collect()
}

async fn henk(vault: &TestVault) -> (Session, uuid::Uuid) {
    let session = Session::resident(vault, "henk").await;
    let id = vault
        .app
        .residents()
        .ensure_resident(DEV_ISSUER, "henk")
        .await
        .unwrap()
        .id;
    vault
        .app
        .residents()
        .write(&crate::support::ctx(), id, DEBTS, &debts(812.5))
        .await
        .unwrap();
    (session, id)
}

#[tokio::test]
async fn a_code_works_once_for_ten_minutes_and_only_for_the_coach_who_made_it() {
    let (vault, _provider, _) = vault_with_coaches().await;
    let sanne = Session::coach(&vault, "coach-sanne").await;
    let bram = Session::coach(&vault, "coach-bram").await;
    let (henk, _) = henk(&vault).await;

    let code = code_of(&sanne).await;
    let (_, page) = henk
        .post(
            "/portal/coach/new",
            "/portal/coach/new",
            &[("code", &code.to_lowercase())],
        )
        .await;
    assert!(
        page.contains("Sanne Bakker"),
        "the code names its coach: {page}"
    );
    let (status, to) = let_in(&henk, &code, &[DEBTS]).await;
    assert_eq!(
        (status, to.as_str()),
        (
            StatusCode::SEE_OTHER,
            "/portal/coach?done=look_along_started"
        )
    );
    let sannes = residents_of(&sanne).await;
    assert_eq!(sannes.len(), 1);
    assert!(
        residents_of(&bram).await.is_empty(),
        "Sanne's code let Sanne in, not Bram"
    );
    let (status, page) = bram.get(&format!("/coach/residents/{}", sannes[0])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("De inwoner heeft dit niet voor u opengezet"),
        "{page}"
    );

    // Used once: the same code again is refused, and nobody new is let in.
    let (status, page) = let_in(&henk, &code, &[DEBTS]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Deze code werkt niet."), "{page}");
    assert_eq!(residents_of(&sanne).await.len(), 1);

    // Ten minutes: Bram's code is refused after them.
    let late = code_of(&bram).await;
    vault.app.clock().advance(TimeDelta::minutes(10));
    let (status, page) = let_in(&henk, &late, &[DEBTS]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Deze code werkt niet."), "{page}");
    assert!(residents_of(&bram).await.is_empty());

    // A code that cannot be one is named as such, with an example.
    let (_, page) = henk
        .post(
            "/portal/coach/new",
            "/portal/coach/new",
            &[("code", "BSN 999993653")],
        )
        .await;
    assert!(
        page.contains("Een code heeft acht letters en cijfers, bijvoorbeeld K7QM-3XPA."),
        "{page}"
    );

    // Past "this conversation" (two hours) the coach sees nothing.
    let look = &sannes[0];
    assert_eq!(
        sanne.get(&format!("/coach/residents/{look}")).await.0,
        StatusCode::OK
    );
    vault.app.clock().advance(TimeDelta::minutes(111));
    let (status, page) = sanne
        .get(&format!("/coach/residents/{look}/records/{DEBTS}"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(!page.contains("812"), "{page}");
    assert!(residents_of(&sanne).await.is_empty());
}

#[tokio::test]
async fn wrong_callers_and_bad_input_are_refused_with_nothing_changed() {
    let (vault, _provider, _) = vault_with_coaches().await;
    let sanne = Session::coach(&vault, "coach-sanne").await;
    let bram = Session::coach(&vault, "coach-bram").await;
    let (henk, henk_id) = henk(&vault).await;
    let code = code_of(&sanne).await;
    assert_eq!(
        let_in(&henk, &code, &[DEBTS, INCOME]).await.0,
        StatusCode::SEE_OTHER
    );
    let look = residents_of(&sanne).await.remove(0);

    // A resident on the coach's pages, a coach on the resident's pages and API.
    let (status, page) = henk.get("/coach").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("Deze pagina&#39;s zijn voor coaches.")
            || page.contains("Deze pagina's zijn voor coaches."),
        "{page}"
    );
    let (status, page) = henk
        .get(&format!("/coach/residents/{look}/records/{DEBTS}"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!page.contains("812"));
    let (status, _) = sanne.get("/portal").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = sanne.get(&format!("/portal/records/{DEBTS}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = sanne
        .post("/coach", "/portal/coach/help", &[("reason", "call")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A coach of another department, on Sanne's look-along.
    for path in [
        format!("/coach/residents/{look}"),
        format!("/coach/residents/{look}/records/{DEBTS}"),
        format!("/coach/residents/{look}/records/{DEBTS}/propose?item=0"),
    ] {
        let (status, page) = bram.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(!page.contains("812"), "{path}");
    }
    let (status, _) = bram
        .post(
            "/coach",
            &format!("/coach/residents/{look}/records/{DEBTS}/propose"),
            &[
                ("version", "1"),
                ("item", "0"),
                ("schuldeiser", "X"),
                ("soort", "anders"),
                ("bedrag", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A part Henk did not allow: neither seen nor proposed.
    let (status, page) = sanne
        .get(&format!("/coach/residents/{look}/records/wonen.situatie"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("De inwoner heeft dit niet voor u opengezet"),
        "{page}"
    );
    let (status, _) = sanne
        .post(
            "/coach",
            &format!("/coach/residents/{look}/records/wonen.situatie/propose"),
            &[("version", "0"), ("woonvorm", "koopwoning")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A value that fails the schema: named per field, nothing proposed.
    let propose = format!("/coach/residents/{look}/records/{DEBTS}/propose");
    let (status, page) = propose_debt(&sanne, &propose, ("1", "belastingdienst", "veel")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Bedrag"), "{page}");
    let (status, _) = propose_debt(&sanne, &propose, ("1", "geen-soort", "10")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Made from an old version: refused.
    let (status, _) = propose_debt(&sanne, &propose, ("0", "belastingdienst", "10")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // No CSRF token: refused.
    let response = sanne
        .browser
        .http
        .post(format!("{}{propose}", vault.url))
        .header(header::ORIGIN, &vault.url)
        .form(&[
            ("version", "1"),
            ("item", "0"),
            ("schuldeiser", "X"),
            ("soort", "anders"),
            ("bedrag", "10"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        vault
            .app
            .coaching()
            .open_proposals(henk_id)
            .await
            .unwrap()
            .is_empty(),
        "nothing was proposed"
    );

    // A forged proposal id: not found, nothing written.
    let forged = uuid::Uuid::new_v4();
    assert_eq!(
        henk.get(&format!("/portal/proposals/{forged}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = henk
        .post(
            "/portal",
            &format!("/portal/proposals/{forged}/confirm"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let record = vault
        .app
        .residents()
        .read(henk_id, DEBTS, None)
        .await
        .unwrap();
    assert_eq!((record.version, record.data), (1, debts(812.5)));

    // Another resident cannot confirm Henk's proposal.
    let (status, to) = propose_debt(&sanne, &propose, ("1", "belastingdienst", "900,00")).await;
    assert_eq!(
        (status, to),
        (
            StatusCode::SEE_OTHER,
            format!("/coach/residents/{look}?done=proposed")
        )
    );
    let proposal = vault
        .app
        .coaching()
        .open_proposals(henk_id)
        .await
        .unwrap()
        .remove(0);
    let ina = Session::resident(&vault, "ina").await;
    let (status, _) = ina
        .post(
            "/portal",
            &format!("/portal/proposals/{}/confirm", proposal.id),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        vault
            .app
            .residents()
            .read(henk_id, DEBTS, None)
            .await
            .unwrap()
            .version,
        1
    );

    // The coach's session is no bearer token for the resident's API.
    let cookie = bearer_of(&sanne).await;
    let got = status_and_json(
        vault
            .http
            .get(format!("{}/v1/me/records", vault.url))
            .bearer_auth(&cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
}

/// A bearer token of the session's own login (`/login/token`).
async fn bearer_of(session: &Session) -> String {
    let (status, body) = session.post("/coach", "/login/token", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_officer_lists_every_look_by_a_coach_and_the_resident_sees_the_same() {
    let (vault, _provider, _) = vault_with_coaches().await;
    let sanne = Session::coach(&vault, "coach-sanne").await;
    let (henk, henk_id) = henk(&vault).await;
    let ina = Session::resident(&vault, "ina").await;
    let from = vault.app.clock().now();
    for resident in [&henk, &ina] {
        let code = code_of(&sanne).await;
        assert_eq!(
            let_in(resident, &code, &[DEBTS, INCOME]).await.0,
            StatusCode::SEE_OTHER
        );
    }
    let looks = residents_of(&sanne).await;
    let henks_look = vault.app.coaching().of_resident(henk_id).await.unwrap()[0].id;
    for look in &looks {
        assert_eq!(
            sanne
                .get(&format!("/coach/residents/{look}/records/{DEBTS}"))
                .await
                .0,
            StatusCode::OK
        );
    }
    assert_eq!(
        sanne
            .get(&format!("/coach/residents/{henks_look}/records/{INCOME}"))
            .await
            .0,
        StatusCode::OK
    );
    vault.app.clock().advance(TimeDelta::minutes(1));
    let to = vault.app.clock().now();

    let token = vault.officer().await;
    let query = |q: String| {
        let vault = &vault;
        let token = token.clone();
        async move {
            status_and_json(
                vault
                    .http
                    .get(format!("{}/v1/officer/audit?{q}", vault.url))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let enc = |t: chrono::DateTime<chrono::Utc>| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .replace('+', "%2B")
    };
    let (status, page) = query(format!(
        "coach=sanne&action=coach_view&from={}&to={}",
        enc(from - TimeDelta::seconds(1)),
        enc(to)
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    let henk_ref = vault.app.residents().audit_reference(henk_id);
    let ina_id = vault
        .app
        .residents()
        .ensure_resident(DEV_ISSUER, "ina")
        .await
        .unwrap()
        .id;
    let ina_ref = vault.app.residents().audit_reference(ina_id);
    let mut residents: Vec<&str> = entries
        .iter()
        .map(|e| e["resident"].as_str().unwrap())
        .collect();
    residents.sort();
    residents.dedup();
    let mut expected = vec![henk_ref.as_str(), ina_ref.as_str()];
    expected.sort();
    assert_eq!(residents, expected, "every resident Sanne looked at");
    for entry in entries {
        assert_eq!(entry["actor"]["kind"], "coach");
        assert_eq!(entry["actor"]["id"], "sanne");
        assert_eq!(entry["actor"]["staff"], "staff:coach-sanne");
        assert_eq!(entry["department"], "schuldhulpverlening");
    }
    let henk_looks: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            e["resident"] == henk_ref.as_str()
                && e["outcome"] == "allowed"
                && e["categories"].as_array().is_some_and(|c| !c.is_empty())
        })
        .collect();

    // A period before the looks: none.
    let (_, before) = query(format!(
        "coach=sanne&action=coach_view&to={}",
        enc(from - TimeDelta::seconds(1))
    ))
    .await;
    assert!(before["entries"].as_array().unwrap().is_empty());

    // Henk's own history tells the same looks, by the coach's name.
    let token = vault.login("henk").await;
    let (status, history) = vault.get(&token, "/v1/me/audit").await;
    assert_eq!(status, StatusCode::OK);
    let told: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["summary_nl"].as_str())
        .filter(|s| s.starts_with("Uw coach Sanne Bakker keek naar:"))
        .collect();
    assert_eq!(told.len(), henk_looks.len(), "{told:?}");
    assert!(
        told.contains(&"Uw coach Sanne Bakker keek naar: Mijn schulden."),
        "{told:?}"
    );
    assert!(
        told.contains(&"Uw coach Sanne Bakker keek naar: Mijn inkomen."),
        "{told:?}"
    );
    let _ = henk;
}

#[tokio::test]
async fn a_yes_on_henks_behalf_is_undone_by_dit_klopt_niet_and_flagged() {
    let (vault, _provider, debts_department) = vault_with_coaches().await;
    let youth = TestDepartment::register_demo(&vault, "jeugdhulp").await;
    let sanne = Session::coach(&vault, "coach-sanne").await;
    let (henk, henk_id) = henk(&vault).await;
    vault
        .app
        .residents()
        .set_national_id(henk_id, "bsn", crate::consent::BSNS[0])
        .await
        .unwrap();
    // Henk lets Sanne see his debts, and (ticked one by one) his children and care needs.
    let code = code_of(&sanne).await;
    let parts = [DEBTS, "kinderen.situatie", "zorg.ondersteuningsbehoefte"];
    assert_eq!(let_in(&henk, &code, &parts).await.0, StatusCode::SEE_OTHER);
    let look = residents_of(&sanne).await.remove(0);
    let ask = |activity: &str, categories: &[&str]| kluis_proto::consent::NewAccessRequest {
        resident: kluis_proto::consent::ResidentIdentifier::NationalId {
            scheme: "bsn".into(),
            value: crate::consent::BSNS[0].into(),
        },
        processing_activity: activity.into(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        duration_days: 90,
    };
    let debts_client = debts_department.client(&vault);
    let asked = debts_client
        .request_access(&ask("schuldhulp-traject", &[DEBTS]))
        .await
        .unwrap();
    let special = youth
        .client(&vault)
        .request_access(&ask(
            "ondersteuning-gezin",
            &["kinderen.situatie", "zorg.ondersteuningsbehoefte"],
        ))
        .await
        .unwrap();

    let income = TestDepartment::register_demo(&vault, "werk-en-inkomen").await;
    let outside = income
        .client(&vault)
        .request_access(&ask("bijstand-aanvraag", &[INCOME]))
        .await;
    let outside = match outside {
        Ok(asked) => asked,
        Err(e) => panic!("{e}"),
    };

    // Sanne sees the requests within the parts Henk chose, and only those.
    let (_, page) = sanne.get(&format!("/coach/residents/{look}")).await;
    assert!(page.contains("Vraag van Schuldhulpverlening"), "{page}");
    assert!(page.contains("Vraag van Jeugd en Gezin"), "{page}");
    assert!(!page.contains("Vraag van Werk en Inkomen"), "{page}");
    let outside_page = format!("/coach/residents/{look}/requests/{}", outside.id);
    let (status, page) = sanne.get(&outside_page).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("De inwoner heeft dit niet voor u opengezet"),
        "{page}"
    );
    let (status, _) = sanne
        .post(
            &format!("/coach/residents/{look}"),
            &outside_page,
            &[("channel", "phone"), ("said_yes", "on")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        income
            .client(&vault)
            .request_status(outside.id)
            .await
            .unwrap()
            .state,
        kluis_proto::consent::RequestState::Pending
    );

    // The special one cannot be answered by her.
    let special_page = format!("/coach/residents/{look}/requests/{}", special.id);
    let (_, page) = sanne.get(&special_page).await;
    assert!(
        page.contains("Alleen de inwoner zelf kan hierop ja zeggen."),
        "{page}"
    );
    let (status, page) = sanne
        .post(
            &format!("/coach/residents/{look}"),
            &special_page,
            &[("channel", "phone"), ("said_yes", "on")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("Over gezondheid en zorg zegt alleen de inwoner zelf ja."),
        "{page}"
    );
    assert_eq!(
        youth
            .client(&vault)
            .request_status(special.id)
            .await
            .unwrap()
            .state,
        kluis_proto::consent::RequestState::Pending
    );

    // The statement needs a channel and the tick; then it approves.
    let request_page = format!("/coach/residents/{look}/requests/{}", asked.id);
    let (status, page) = sanne.post(&request_page, &request_page, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Kies hoe de inwoner ja zei. Bijvoorbeeld: Aan de telefoon."),
        "{page}"
    );
    assert!(page.contains("Vink aan dat u de vraag voorlas"), "{page}");
    let (status, to) = sanne
        .post(
            &request_page,
            &request_page,
            &[("channel", "phone"), ("said_yes", "on")],
        )
        .await;
    assert_eq!(
        (status, to),
        (
            StatusCode::SEE_OTHER,
            format!("/coach/residents/{look}?done=witnessed")
        )
    );
    let grant = debts_client
        .request_status(asked.id)
        .await
        .unwrap()
        .grant
        .expect("approved on Henk's behalf");
    assert!(debts_client.read(&grant, &[DEBTS]).await.is_ok());

    // Henk sees it at once on his home page, and says it is wrong.
    let (_, page) = henk.get("/portal").await;
    assert!(page.contains("Uw coach zei namens u ja"), "{page}");
    assert!(
        page.contains("Sanne Bakker schreef op dat u ja zei tegen Schuldhulpverlening."),
        "{page}"
    );
    assert!(page.contains("aan de telefoon"), "{page}");
    let start = page.find("/portal/witness/").unwrap();
    let statement = page[start + 16..start + 52].to_owned();
    let (status, to) = henk
        .post(
            "/portal",
            &format!("/portal/witness/{statement}/wrong"),
            &[],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/portal?done=witness_disputed")
    );
    assert!(
        matches!(
            debts_client.read(&grant, &[DEBTS]).await,
            Err(kluis_sdk::Error::Revoked)
        ),
        "the department's next read is refused"
    );
    let (_, page) = henk.get("/portal").await;
    assert!(!page.contains("Uw coach zei namens u ja"), "answered once");

    // The officer's report lists the flagged statement and the refused try.
    let token = vault.officer().await;
    let (status, report) = status_and_json(
        vault
            .http
            .get(format!(
                "{}/v1/officer/reports/witness-statements",
                vault.url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let result = &report["result"];
    assert_eq!(result["statements_per_coach"]["sanne"], 1);
    assert_eq!(result["disputed"][0]["statement"], statement.as_str());
    assert_eq!(result["disputed"][0]["coach"], "sanne");
    assert_eq!(result["refused"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_removed_coach_is_refused_at_the_next_page_and_her_look_alongs_end() {
    let (vault, _provider, _) = vault_with_coaches().await;
    let sanne = Session::coach(&vault, "coach-sanne").await;
    let token = bearer_of(&sanne).await;
    let (henk, _) = henk(&vault).await;
    let code = code_of(&sanne).await;
    assert_eq!(
        let_in(&henk, &code, &[DEBTS]).await.0,
        StatusCode::SEE_OTHER
    );
    let look = residents_of(&sanne).await.remove(0);

    vault
        .app
        .coaching()
        .remove_coach(&crate::support::ctx(), "sanne")
        .await
        .unwrap();
    let (status, _) = sanne
        .get(&format!("/coach/residents/{look}/records/{DEBTS}"))
        .await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "sent back to the start to log in"
    );
    let got = status_and_json(
        vault
            .http
            .get(format!("{}/v1/coach/residents", vault.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    let (_, page) = henk.get("/portal/coach").await;
    assert!(page.contains("Er kijkt nu niemand mee."), "{page}");
    let (_, history) = henk.get("/portal/history").await;
    assert!(
        history.contains("Sanne Bakker werkt niet meer als coach."),
        "{history}"
    );

    // Her id is not given to anyone else, and her login gets no session.
    let again = vault
        .app
        .coaching()
        .coaches()
        .add(&NewCoach {
            id: "sanne",
            name: "Sanne Bakker",
            department: "schuldhulpverlening",
            provider: "staff",
            subject: "coach-bram",
        })
        .await;
    assert!(matches!(again, Err(kluis::Error::Conflict(_))), "{again:?}");
    let browser = Browser::default();
    let landed = browser
        .walk(
            &format!("{}/login/staff", vault.url),
            "coach-sanne",
            &vault.url,
            &|u| u,
            None,
        )
        .await;
    assert_eq!(landed.status, StatusCode::FORBIDDEN, "{}", landed.body);
}

#[tokio::test]
async fn the_api_keeps_the_same_rules_with_problem_json_answers() {
    let (vault, _provider, _) = vault_with_coaches().await;
    let sanne = Session::coach(&vault, "coach-sanne").await;
    let (_, henk_id) = henk(&vault).await;
    let henk = vault.login("henk").await;
    let coach = bearer_of(&sanne).await;
    let call = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut request = vault
            .http
            .request(method, format!("{}{path}", vault.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { status_and_json(request.send().await.unwrap()).await }
    };
    use reqwest::Method;

    // Who may call what.
    let got = call(Method::GET, "/v1/coach/residents", &henk, None).await;
    crate::support::assert_problem(&got, 403, "forbidden");
    let got = call(Method::GET, "/v1/coach/residents", "", None).await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED);
    let got = call(Method::GET, "/v1/me/look-alongs", &coach, None).await;
    crate::support::assert_problem(&got, 403, "forbidden");

    // A code, redeemed once through the resident's API.
    let (status, code) = call(Method::POST, "/v1/coach/codes", &coach, None).await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
    let code = code["code"].as_str().unwrap().to_owned();
    let both = json!({"code": code, "coach": "sanne", "categories": [DEBTS]});
    let got = call(Method::POST, "/v1/me/look-alongs", &henk, Some(both)).await;
    crate::support::assert_problem(&got, 400, "invalid_parameter");
    let new = json!({"code": code, "categories": [DEBTS], "may_propose": true});
    let (status, look) = call(Method::POST, "/v1/me/look-alongs", &henk, Some(new.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{look}");
    assert_eq!(look["coach"]["name"], "Sanne Bakker");
    let got = call(Method::POST, "/v1/me/look-alongs", &henk, Some(new)).await;
    crate::support::assert_problem(&got, 403, "forbidden");
    let id = look["id"].as_str().unwrap().to_owned();

    // The coach reads what is allowed, and only that.
    let (status, residents) = call(Method::GET, "/v1/coach/residents", &coach, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(residents[0]["id"], id.as_str());
    let (status, record) = call(
        Method::GET,
        &format!("/v1/coach/residents/{id}/records/{DEBTS}"),
        &coach,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["data"], debts(812.5));
    let got = call(
        Method::GET,
        &format!("/v1/coach/residents/{id}/records/{INCOME}"),
        &coach,
        None,
    )
    .await;
    crate::support::assert_problem(&got, 403, "forbidden");

    // A proposal that fails the schema, then one that passes; Henk takes it over.
    let bad =
        json!({"category": DEBTS, "base_version": 1, "data": {"schulden": [{"bedrag": "veel"}]}});
    let got = call(
        Method::POST,
        &format!("/v1/coach/residents/{id}/proposals"),
        &coach,
        Some(bad),
    )
    .await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    let good = json!({"category": DEBTS, "base_version": 1, "data": debts(900.0)});
    let (status, made) = call(
        Method::POST,
        &format!("/v1/coach/residents/{id}/proposals"),
        &coach,
        Some(good),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (_, open) = call(Method::GET, "/v1/me/proposals", &henk, None).await;
    assert_eq!(open[0]["current"], debts(812.5));
    assert_eq!(open[0]["proposed"], debts(900.0));
    assert_eq!(open[0]["coach"]["name"], "Sanne Bakker");
    let (status, _) = call(
        Method::POST,
        &format!("/v1/me/proposals/{}/confirm", made["id"].as_str().unwrap()),
        &henk,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        vault
            .app
            .residents()
            .read(henk_id, DEBTS, None)
            .await
            .unwrap()
            .data,
        debts(900.0)
    );
    let got = call(
        Method::POST,
        &format!("/v1/me/proposals/{}/confirm", made["id"].as_str().unwrap()),
        &henk,
        None,
    )
    .await;
    crate::support::assert_problem(&got, 404, "not_found");

    // A witness statement without the resident's yes is refused.
    let got = call(
        Method::POST,
        &format!(
            "/v1/coach/residents/{id}/requests/{}/approve",
            uuid::Uuid::new_v4()
        ),
        &coach,
        Some(json!({"channel": "phone", "resident_said_yes": false})),
    )
    .await;
    crate::support::assert_problem(&got, 400, "invalid_parameter");

    // Henk ends it; the coach's next read is refused.
    let (status, _) = call(
        Method::DELETE,
        &format!("/v1/me/look-alongs/{id}"),
        &henk,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = call(
        Method::GET,
        &format!("/v1/coach/residents/{id}/records/{DEBTS}"),
        &coach,
        None,
    )
    .await;
    crate::support::assert_problem(&got, 403, "forbidden");
    let (_, list) = call(Method::GET, "/v1/me/look-alongs", &henk, None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn the_coach_sees_scheme_suggestions_only_when_the_resident_ticked_it() {
    let (vault, _provider, _) = vault_with_coaches().await;
    let sanne = Session::coach(&vault, "coach-sanne").await;
    let (henk, _) = henk(&vault).await;
    let ina = Session::resident(&vault, "ina").await;
    let code = code_of(&sanne).await;
    assert_eq!(let_in(&ina, &code, &[DEBTS]).await.0, StatusCode::SEE_OTHER);
    let code = code_of(&sanne).await;
    let (_, page) = henk
        .post("/portal/coach/new", "/portal/coach/new", &[("code", &code)])
        .await;
    assert!(page.contains("Mijn coach mag zien welke regelingen misschien bij mij passen."));
    let (status, _) = henk
        .post(
            "/portal/coach/new",
            "/portal/coach/start",
            &[
                ("code", &code),
                ("parts", "chosen"),
                ("category", DEBTS),
                ("length", "conversation"),
                ("may_see_schemes", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let henk_id = vault
        .app
        .residents()
        .ensure_resident(DEV_ISSUER, "henk")
        .await
        .unwrap()
        .id;
    let henks = vault.app.coaching().of_resident(henk_id).await.unwrap()[0].id;
    let inas = residents_of(&sanne)
        .await
        .into_iter()
        .find(|l| *l != henks.to_string())
        .unwrap();
    let (_, page) = sanne.get(&format!("/coach/residents/{henks}")).await;
    assert!(page.contains("Regelingen die misschien passen"), "{page}");
    let (status, page) = sanne
        .get(&format!("/coach/residents/{henks}/schemes"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("De kluis van de inwoner rekende dit uit."),
        "{page}"
    );
    let (_, page) = sanne.get(&format!("/coach/residents/{inas}")).await;
    assert!(!page.contains("Regelingen die misschien passen"), "{page}");
    let (status, _) = sanne.get(&format!("/coach/residents/{inas}/schemes")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "Ina did not tick it");
}

#[tokio::test]
async fn kluis_dev_has_a_demo_coach_behind_the_development_login_only() {
    let vault = TestVault::start_now().await;
    TestDepartment::register_demo(&vault, "schuldhulpverlening").await;
    kluis::dev::seed_coach(vault.app.coaching().coaches())
        .await
        .unwrap();
    kluis::dev::seed_coach(vault.app.coaching().coaches())
        .await
        .unwrap();
    assert_eq!(
        vault.app.coaching().coaches().list().await.unwrap().len(),
        1
    );
    let browser = Browser::default();
    let login = |origin: Option<&str>| {
        let mut request = browser
            .http
            .post(format!("{}/coach/dev-login", vault.url))
            .form(&[("x", "")]);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        request.send()
    };
    assert_eq!(login(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        login(Some("https://evil.example")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let response = login(Some(&vault.url)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/coach");
    let page = browser
        .http
        .get(format!("{}/coach", vault.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Maak een nieuwe code"), "{page}");

    // A vault without the development login has no such door.
    let vault_no_dev = TestVault::start_configured(
        tempfile::tempdir().unwrap(),
        Clock::system(),
        |config, _| {
            config.dev_login = false;
        },
    )
    .await;
    let response = vault_no_dev
        .http
        .post(format!("{}/coach/dev-login", vault_no_dev.url))
        .header(header::ORIGIN, &vault_no_dev.url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
