// Long: each login path runs against the one real OpenID Provider started in this file.
//! Logging in with OpenID Connect against a real provider (issue 5): Henk logs in, stores
//! data and logs out; every broken login is refused with a clear message and no session;
//! state-changing posts need a valid CSRF token from the vault's own origin; residents
//! and officers stay apart; a provider that is down or broken shows in `/readyz`.

use crate::support::oidc::{Browser, TestProvider};
use crate::support::{TestVault, assert_problem, status_and_json};
use kluis::config::{OidcClientAuth, OidcProvider, OidcRole};
use serde_json::{Value, json};
use zeroize::Zeroizing;

const SECRET: &str = "residents-secret-for-tests-only";

pub(crate) fn residents(issuer: &str) -> OidcProvider {
    OidcProvider {
        name: "residents".into(),
        issuer: issuer.into(),
        client_id: "kluis-residents".into(),
        client_auth: OidcClientAuth::Secret(Zeroizing::new(SECRET.into())),
        scopes: vec!["profile".into(), "bsn".into()],
        role: OidcRole::Resident,
        national_id_claim: Some("bsn".into()),
        officer_claim: None,
        officer_subjects: Vec::new(),
        label_nl: "Inloggen met DigiD".into(),
    }
}

/// The staff provider at `issuer` (private_key_jwt with `client_key`): privacy officers by
/// the `roles` claim, coaches by the operator's list.
pub(crate) fn staff(issuer: &str, client_key: &str) -> OidcProvider {
    OidcProvider {
        name: "staff".into(),
        issuer: issuer.into(),
        client_id: "kluis-staff".into(),
        client_auth: OidcClientAuth::PrivateKeyJwt(Zeroizing::new(client_key.to_owned())),
        scopes: vec!["profile".into(), "roles".into()],
        role: OidcRole::Staff,
        national_id_claim: None,
        officer_claim: Some(("roles".into(), "privacy-officer".into())),
        officer_subjects: Vec::new(),
        label_nl: "Inloggen voor medewerkers".into(),
    }
}

/// A vault (no development login) with a residents provider and a staff provider
/// (private_key_jwt), both at a real test provider.
async fn setup() -> (TestVault, TestProvider) {
    let (client_key, client_public) =
        kluis::jose::keys::generate_department_jwk("kluis-staff-1").unwrap();
    let listener_url = std::sync::Arc::new(std::sync::Mutex::new(None::<TestProvider>));
    let slot = listener_url.clone();
    let vault = TestVault::start_configured(
        tempfile::tempdir().unwrap(),
        kluis::Clock::system(),
        move |config, url| {
            let provider = TestProvider::start(
                &[format!("{url}/login/residents/callback")],
                &[format!("{url}/")],
                Some((&format!("{url}/login/staff/callback"), &client_public)),
            );
            config.dev_login = false;
            config.oidc = vec![
                residents(&provider.issuer),
                staff(&provider.issuer, &client_key),
            ];
            *slot.lock().unwrap() = Some(provider);
        },
    )
    .await;
    let provider = listener_url.lock().unwrap().take().unwrap();
    (vault, provider)
}

/// Logs `account` in through `provider`; returns the browser and where it landed.
async fn log_in(
    vault: &TestVault,
    provider: &str,
    account: &str,
) -> (Browser, crate::support::oidc::Landed) {
    let browser = Browser::default();
    let landed = browser
        .walk(
            &format!("{}/login/{provider}", vault.url),
            account,
            &vault.url,
            &|u| u,
            None,
        )
        .await;
    (browser, landed)
}

async fn session(browser: &Browser, vault: &TestVault) -> (reqwest::StatusCode, Value) {
    status_and_json(
        browser
            .http
            .get(format!("{}/session", vault.url))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A form post from the vault's own page, with `csrf` (or none).
async fn post_form(
    browser: &Browser,
    vault: &TestVault,
    path: &str,
    csrf: Option<&str>,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut form = Vec::new();
    if let Some(token) = csrf {
        form.push(("csrf", token.to_owned()));
    }
    let mut request = browser
        .http
        .post(format!("{}{path}", vault.url))
        .form(&form);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn henk_logs_in_stores_data_and_logs_out() {
    let (vault, provider) = setup().await;
    let (browser, landed) = log_in(&vault, "residents", "henk").await;
    assert!(
        landed
            .visited
            .iter()
            .any(|u| u.starts_with(&provider.issuer)),
        "the login went through the provider"
    );
    assert!(
        landed
            .vault_cookies
            .iter()
            .any(|c| c.starts_with("kluis_session=")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Lax"))
    );
    let (status, me) = session(&browser, &vault).await;
    assert_eq!(status, 200);
    assert_eq!(me["principal"]["kind"], "resident");
    assert_eq!(me["login_method"], "oidc:residents");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    // An API token from the same login, and data stored with it.
    let issued = post_form(
        &browser,
        &vault,
        "/login/token",
        Some(&csrf),
        Some(&vault.url),
    )
    .await;
    assert_eq!(issued.status(), 200);
    let token = issued.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = vault
        .put(
            &token,
            "/v1/me/records/werk.profiel",
            &json!({"situatie": "werkzoekend"}),
        )
        .await;
    assert_eq!(status, 201);
    // The BSN from the provider is on file (as a keyed hash): a department asking by BSN
    // reaches this vault.
    let henk = vault
        .app
        .residents()
        .ensure_resident(&provider.issuer, "henk")
        .await
        .unwrap();
    assert_eq!(
        henk.national_id.as_deref(),
        Some(
            vault
                .app
                .residents()
                .national_id_hash("bsn", "999993653")
                .unwrap()
                .as_str()
        )
    );
    let (_, records) = vault.get(&token, "/v1/me/records").await;
    assert_eq!(records[0]["category"], "werk.profiel");

    // The two credentials stay apart (issue 16): the browser's cookie is no bearer token for
    // the API, and the API token opens neither the session endpoint nor the portal.
    let cookie_value = landed
        .vault_cookies
        .iter()
        .find_map(|c| c.strip_prefix("kluis_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    assert_problem(
        &vault.get(&cookie_value, "/v1/me/records").await,
        401,
        "unauthenticated",
    );
    let http = crate::support::client();
    let with_cookie = |path: &str| {
        http.get(format!("{}{path}", vault.url))
            .header("cookie", format!("kluis_session={token}"))
            .send()
    };
    assert_problem(
        &status_and_json(with_cookie("/session").await.unwrap()).await,
        401,
        "unauthenticated",
    );
    let portal = with_cookie("/portal").await.unwrap();
    assert_eq!(
        portal.status(),
        303,
        "the portal sends the API token back to log in"
    );

    // Logout: back to the provider's end-session endpoint; the cookie and the API token
    // from that login are worthless afterwards.
    let out = post_form(&browser, &vault, "/logout", Some(&csrf), Some(&vault.url)).await;
    assert_eq!(out.status(), 303);
    let location = out.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/session/end?", provider.issuer))
            && location.contains("client_id=kluis-residents"),
        "{location}"
    );
    assert!(
        out.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("kluis_session=;"))
    );
    assert_problem(&session(&browser, &vault).await, 401, "unauthenticated");
    assert_problem(&vault.get(&token, "/v1/me").await, 401, "unauthenticated");
}

/// Asserts a refused login: a clear `login_failed` message, and no session.
async fn refused(
    browser: &Browser,
    vault: &TestVault,
    landed: &crate::support::oidc::Landed,
    expect: &str,
) {
    assert_eq!(landed.status, 401, "{}", landed.body);
    let problem: Value = serde_json::from_str(&landed.body).unwrap();
    assert_eq!(problem["code"], "login_failed");
    assert!(
        problem["detail"].as_str().unwrap().contains(expect),
        "{problem}"
    );
    assert!(
        !landed
            .vault_cookies
            .iter()
            .any(|c| c.starts_with("kluis_session=") && !c.starts_with("kluis_session=;"))
    );
    assert_problem(&session(browser, vault).await, 401, "unauthenticated");
}

#[tokio::test]
async fn every_broken_login_is_refused_with_a_clear_message_and_no_session() {
    let (vault, provider) = setup().await;
    let callback = format!("{}/login/residents/callback", vault.url);

    // A wrong state.
    let browser = Browser::default();
    let tamper_state = |u: String| {
        if u.starts_with(&callback) {
            u.replace("state=", "state=x")
        } else {
            u
        }
    };
    let landed = browser
        .walk(
            &format!("{}/login/residents", vault.url),
            "henk",
            &vault.url,
            &tamper_state,
            None,
        )
        .await;
    refused(&browser, &vault, &landed, "unknown").await;

    // A replayed authorization code: the same callback twice, and the old code with a new
    // login's state.
    let browser = Browser::default();
    let landed = browser
        .walk(
            &format!("{}/login/residents", vault.url),
            "henk",
            &vault.url,
            &|u| u,
            None,
        )
        .await;
    let used = landed
        .visited
        .iter()
        .find(|u| u.starts_with(&callback))
        .unwrap()
        .clone();
    let again = browser.walk(&used, "henk", &vault.url, &|u| u, None).await;
    assert_eq!(again.status, 401);
    let attacker = Browser::default();
    let fresh = attacker
        .walk(
            &format!("{}/login/residents", vault.url),
            "anna",
            &vault.url,
            &|u| u,
            Some(&callback),
        )
        .await;
    let fresh_state = fresh
        .visited
        .last()
        .unwrap()
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let old_code = used
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let replay = attacker
        .walk(
            &format!("{callback}?code={old_code}&state={fresh_state}"),
            "anna",
            &vault.url,
            &|u| u,
            None,
        )
        .await;
    refused(&attacker, &vault, &replay, "did not accept this login").await;

    // A callback from another browser than the one that started the login.
    let starter = Browser::default();
    let halfway = starter
        .walk(
            &format!("{}/login/residents", vault.url),
            "henk",
            &vault.url,
            &|u| u,
            Some(&callback),
        )
        .await;
    let other = Browser::default();
    let stolen = other
        .walk(
            halfway.visited.last().unwrap(),
            "henk",
            &vault.url,
            &|u| u,
            None,
        )
        .await;
    refused(&other, &vault, &stolen, "another browser").await;

    // ID tokens that are wrong in each way.
    for (fault, expect) in [
        ("bad-signature", "signature"),
        ("other-issuer", "another identity provider"),
        ("other-audience", "another application"),
        ("expired", "expired"),
        ("wrong-nonce", "does not belong to this login"),
    ] {
        provider.fault(fault).await;
        let browser = Browser::default();
        let landed = browser
            .walk(
                &format!("{}/login/residents", vault.url),
                "henk",
                &vault.url,
                &|u| u,
                None,
            )
            .await;
        refused(&browser, &vault, &landed, expect).await;
    }

    // After all that, a clean login still works.
    let (browser, _) = log_in(&vault, "residents", "henk").await;
    assert_eq!(session(&browser, &vault).await.0, 200);
}

#[tokio::test]
async fn a_provider_that_is_down_or_broken_shows_in_readyz_and_the_vault_still_serves() {
    let provider = TestProvider::start(&[], &[], None);
    let unreachable = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let broken = format!("{}/broken", provider.issuer);
    let vault = TestVault::start_configured(
        tempfile::tempdir().unwrap(),
        kluis::Clock::system(),
        |config, _| {
            config.oidc = vec![
                OidcProvider {
                    name: "down".into(),
                    ..residents(&unreachable)
                },
                OidcProvider {
                    name: "broken".into(),
                    ..residents(&broken)
                },
            ];
        },
    )
    .await;
    let mut checks = Value::Null;
    for _ in 0..100 {
        let (status, body) = status_and_json(
            vault
                .http
                .get(format!("{}/readyz", vault.url))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 503);
        checks = body["checks"].clone();
        if checks["oidc:down"]
            .as_str()
            .is_some_and(|s| s.starts_with("discovery failed"))
            && checks["oidc:broken"]
                .as_str()
                .is_some_and(|s| s.starts_with("discovery failed"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        checks["oidc:down"]
            .as_str()
            .unwrap()
            .starts_with("discovery failed"),
        "{checks}"
    );
    assert!(
        checks["oidc:broken"]
            .as_str()
            .unwrap()
            .starts_with("discovery failed"),
        "{checks}"
    );
    assert_eq!(checks["store"], "ok");
    // Logging in there is refused clearly; everything else serves.
    let got = status_and_json(
        vault
            .http
            .get(format!("{}/login/down", vault.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&got, 503, "unavailable");
    assert_eq!(
        vault
            .http
            .get(format!("{}/healthz", vault.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        vault
            .http
            .get(format!("{}/v1/categories", vault.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn state_changing_posts_need_a_valid_csrf_token_from_the_vaults_origin() {
    let (vault, _provider) = setup().await;
    let (browser, _) = log_in(&vault, "residents", "henk").await;
    let csrf = session(&browser, &vault).await.1["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in ["/logout", "/login/token"] {
        for (token, origin) in [
            (None, Some(vault.url.as_str())),
            (Some("wrong-token"), Some(vault.url.as_str())),
            (Some(csrf.as_str()), Some("http://evil.example")),
            (Some(csrf.as_str()), None),
        ] {
            let got = status_and_json(post_form(&browser, &vault, path, token, origin).await).await;
            assert_problem(&got, 403, "csrf_rejected");
        }
    }
    assert_eq!(
        session(&browser, &vault).await.0,
        200,
        "nothing changed: still logged in"
    );
    // The JSON API takes no cookies at all, so it needs no CSRF token.
    let cookie_only = browser
        .http
        .get(format!("{}/v1/me", vault.url))
        .send()
        .await
        .unwrap();
    assert_eq!(cookie_only.status(), 401);
}

#[tokio::test]
async fn residents_and_officers_stay_apart() {
    let (vault, _provider) = setup().await;
    // A privacy officer logs in through the staff provider (private_key_jwt).
    let (officer, landed) = log_in(&vault, "staff", "fg").await;
    assert!(
        landed
            .vault_cookies
            .iter()
            .any(|c| c.starts_with("kluis_session=")),
        "{}: {:?}",
        landed.body,
        landed.visited
    );
    let me = session(&officer, &vault).await.1;
    assert_eq!(me["principal"]["kind"], "officer");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let officer_token = post_form(
        &officer,
        &vault,
        "/login/token",
        Some(&csrf),
        Some(&vault.url),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(vault.get(&officer_token, "/v1/officer/audit").await.0, 200);
    assert_problem(&vault.get(&officer_token, "/v1/me").await, 403, "forbidden");
    assert_problem(
        &vault
            .get(&officer_token, "/v1/me/records/schulden.overzicht")
            .await,
        403,
        "forbidden",
    );

    // A resident cannot reach officer endpoints.
    let (resident, _) = log_in(&vault, "residents", "henk").await;
    let csrf = session(&resident, &vault).await.1["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resident_token = post_form(
        &resident,
        &vault,
        "/login/token",
        Some(&csrf),
        Some(&vault.url),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/v1/officer/audit",
        "/v1/officer/checkpoint",
        "/v1/officer/reports/unauthorized-reads",
    ] {
        assert_problem(&vault.get(&resident_token, path).await, 403, "forbidden");
    }

    // A staff member without the officer role gets no session.
    let (clerk, landed) = log_in(&vault, "staff", "clerk").await;
    assert_eq!(landed.status, 403, "{}", landed.body);
    assert_problem(&session(&clerk, &vault).await, 401, "unauthenticated");

    // And this vault, like `kluis serve`, has no development login at all.
    let dev = vault
        .http
        .post(format!("{}/dev/login", vault.url))
        .json(&json!({"subject": "henk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dev.status(), 404);
}
