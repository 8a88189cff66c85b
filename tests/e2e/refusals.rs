// Long: every check on a read says no in its own test, all against the same small world.
//! Every check on a read says no, one by one, with the right error and no data
//! (issue 3, must-show 4), and hostile times in DPoP proofs and client assertions are
//! refused without a panic (must-show 3).

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::department::b64;
use crate::support::{TestDepartment, TestVault, assert_problem, status_and_json};
use kluis_sdk::Grant;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A string that is in Henk's debts record: it must never appear in a refusal.
const SECRET: &str = "Woonkracht-GEHEIM";

/// Two departments, Henk's and Anna's grants to the debt counsellors, and Henk's debts.
pub struct World {
    pub vault: TestVault,
    pub debts: TestDepartment,
    pub work: TestDepartment,
    pub henk: Grant,
    pub anna: Grant,
    /// Henk's session token and vault id.
    pub henk_token: String,
    pub henk_id: uuid::Uuid,
}

pub async fn world() -> World {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let work = TestDepartment::register(&vault, "werk-en-inkomen").await;
    let (henk_token, henk_id) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let (anna_token, _) = resident_with_bsn(&vault, "anna", BSNS[1]).await;
    let debts_record =
        json!({"schulden": [{"schuldeiser": SECRET, "soort": "huurachterstand", "bedrag": 2628}]});
    vault
        .app
        .residents()
        .write(
            &crate::support::ctx(),
            henk_id,
            "schulden.overzicht",
            &debts_record,
        )
        .await
        .unwrap();
    let categories = ["schulden.overzicht"];
    let henk = grant(
        &vault,
        &debts,
        &henk_token,
        BSNS[0],
        "schuldhulp-traject",
        &categories,
        json!({}),
    )
    .await;
    let anna = grant(
        &vault,
        &debts,
        &anna_token,
        BSNS[1],
        "schuldhulp-traject",
        &categories,
        json!({}),
    )
    .await;
    World {
        vault,
        debts,
        work,
        henk,
        anna,
        henk_token,
        henk_id,
    }
}

fn refused(got: &(StatusCode, Value), status: u16, code: &str) {
    assert_problem(got, status, code);
    assert!(got.1.get("records").is_none());
    assert!(
        !got.1.to_string().contains(SECRET),
        "data in a refusal: {}",
        got.1
    );
}

fn body(grant: &Grant, categories: &[&str]) -> Value {
    json!({"resident": grant.resident, "categories": categories})
}

/// Reads with a (possibly forged) grant `token`, everything else correct.
async fn read_with_token(w: &World, token: &str) -> (StatusCode, Value) {
    let dpop = w.debts.dpop_with(&w.vault, token, json!({}));
    w.debts
        .read_raw(
            &w.vault,
            Some(w.debts.assertion(&w.vault)),
            Some(token),
            Some(dpop),
            body(&w.henk, &["schulden.overzicht"]),
        )
        .await
}

/// The grant's segments: header JSON, payload JSON, signature.
fn split(token: &str) -> (Value, String, String) {
    let parts: Vec<&str> = token.split('.').collect();
    let decode = |s: &str| {
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s).unwrap()
    };
    let header: Value = serde_json::from_slice(&decode(parts[0])).unwrap();
    (
        header,
        String::from_utf8(decode(parts[1])).unwrap(),
        parts[2].to_owned(),
    )
}

#[tokio::test]
async fn the_happy_read_works_so_each_refusal_below_is_meaningful() {
    let w = world().await;
    let (status, read) = w
        .debts
        .read(&w.vault, &w.henk, &["schulden.overzicht"])
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        read["records"][0]["data"]["schulden"][0]["schuldeiser"],
        SECRET
    );
    assert_eq!(read["grant_id"], w.henk.id.to_string());
}

#[tokio::test]
async fn scope_time_department_and_resident_each_say_no() {
    let w = world().await;
    // A category outside the grant.
    refused(
        &w.debts
            .read(
                &w.vault,
                &w.henk,
                &["schulden.overzicht", "inkomen.bronnen"],
            )
            .await,
        403,
        "out_of_scope",
    );
    // A grant of another resident: Anna's grant used to read Henk.
    let dpop = w.debts.dpop_with(&w.vault, &w.anna.token, json!({}));
    let got = w
        .debts
        .read_raw(
            &w.vault,
            Some(w.debts.assertion(&w.vault)),
            Some(&w.anna.token),
            Some(dpop),
            body(&w.henk, &["schulden.overzicht"]),
        )
        .await;
    refused(&got, 401, "invalid_grant");
    assert!(
        got.1["detail"]
            .as_str()
            .unwrap()
            .contains("another resident")
    );
    // A grant of another department: work and income presents the debt counsellors' grant.
    let dpop = w.work.dpop_with(&w.vault, &w.henk.token, json!({}));
    let got = w
        .work
        .read_raw(
            &w.vault,
            Some(w.work.assertion(&w.vault)),
            Some(&w.henk.token),
            Some(dpop),
            body(&w.henk, &["schulden.overzicht"]),
        )
        .await;
    refused(&got, 401, "invalid_grant");
    // Not yet valid: the vault's clock an hour before the grant's start.
    w.vault.app.clock().advance(chrono::TimeDelta::hours(-1));
    refused(
        &w.debts
            .read(&w.vault, &w.henk, &["schulden.overzicht"])
            .await,
        403,
        "grant_not_yet_valid",
    );
    // Expired: 90 days and a minute after the start.
    w.vault.app.clock().advance(
        chrono::TimeDelta::hours(1) + chrono::TimeDelta::days(90) + chrono::TimeDelta::minutes(1),
    );
    refused(
        &w.debts
            .read(&w.vault, &w.henk, &["schulden.overzicht"])
            .await,
        403,
        "grant_expired",
    );
}

#[tokio::test]
async fn forged_and_confused_grant_tokens_each_say_no() {
    let w = world().await;
    let (header, payload, signature) = split(&w.henk.token);
    let raw = |header: &str, payload: &str, signature: &str| {
        format!("{}.{}.{signature}", b64(header), b64(payload))
    };

    // A tampered payload: one more category.
    let wider = payload.replace(
        r#""categories":["schulden.overzicht"]"#,
        r#""categories":["schulden.overzicht","inkomen.bronnen"]"#,
    );
    assert_ne!(wider, payload);
    refused(
        &read_with_token(&w, &raw(&header.to_string(), &wider, &signature)).await,
        401,
        "invalid_grant",
    );

    // alg: none, in any casing, with and without a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut h = header.clone();
        h["alg"] = json!(alg);
        refused(
            &read_with_token(&w, &raw(&h.to_string(), &payload, "")).await,
            401,
            "invalid_grant",
        );
        refused(
            &read_with_token(&w, &raw(&h.to_string(), &payload, &signature)).await,
            401,
            "invalid_grant",
        );
    }

    // HS256 keyed with the vault's public key (as published at /.well-known/jwks.json).
    let jwks: Value = w
        .vault
        .http
        .get(format!("{}/.well-known/jwks.json", w.vault.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for secret in [jwks["keys"][0].to_string(), jwks.to_string()] {
        let mut h = header.clone();
        h["alg"] = json!("HS256");
        let input = format!("{}.{}", b64(h.to_string()), b64(&payload));
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
            input.as_bytes(),
        );
        refused(
            &read_with_token(&w, &format!("{input}.{}", b64(mac.as_ref()))).await,
            401,
            "invalid_grant",
        );
    }

    // Duplicate alg headers, both orders.
    for dup in [
        r#"{"alg":"none","alg":"ES256","typ":"kluis-grant+jwt","kid":"kluis-1"}"#,
        r#"{"alg":"ES256","alg":"none","typ":"kluis-grant+jwt","kid":"kluis-1"}"#,
    ] {
        refused(
            &read_with_token(&w, &raw(dup, &payload, &signature)).await,
            401,
            "invalid_grant",
        );
    }

    // jku, x5u and jwk pointing elsewhere: refused, and nothing is fetched.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys", elsewhere.local_addr().unwrap());
    let attacker = kluis_sdk::DepartmentKey::from_jwk(
        &kluis::jose::keys::generate_department_jwk("x").unwrap().0,
    )
    .unwrap();
    for (name, value) in [
        ("jku", json!(url)),
        ("x5u", json!(url)),
        ("jwk", attacker.public_jwk()),
    ] {
        let mut h = header.clone();
        h[name] = value;
        let forged = attacker.sign_raw(&h.to_string(), &payload).unwrap();
        refused(&read_with_token(&w, &forged).await, 401, "invalid_grant");
        refused(
            &read_with_token(&w, &raw(&h.to_string(), &payload, &signature)).await,
            401,
            "invalid_grant",
        );
    }
    let fetched =
        tokio::time::timeout(std::time::Duration::from_millis(300), elsewhere.accept()).await;
    assert!(fetched.is_err(), "the vault made an outbound request");

    // Unknown and path-like kids.
    for kid in [
        "kluis-2",
        "../../../keys/kluis-1",
        "/etc/passwd",
        "https://evil.example/k",
        "",
        "kluis-1\u{0}",
    ] {
        let mut h = header.clone();
        h["kid"] = json!(kid);
        refused(
            &read_with_token(&w, &raw(&h.to_string(), &payload, &signature)).await,
            401,
            "invalid_grant",
        );
    }
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    refused(
        &read_with_token(&w, &raw(&no_kid.to_string(), &payload, &signature)).await,
        401,
        "invalid_grant",
    );

    // A token of another kind presented as the grant: a DPoP proof, a client assertion.
    let proof = w.debts.dpop_with(&w.vault, "x", json!({}));
    refused(&read_with_token(&w, &proof).await, 401, "invalid_grant");
    refused(
        &read_with_token(&w, &w.debts.assertion(&w.vault)).await,
        401,
        "invalid_grant",
    );

    // A grant from another vault (another issuer, another key with the same kid).
    let other = TestVault::start_now().await;
    let debts_elsewhere = TestDepartment::register(&other, "schuldhulpverlening").await;
    let (token, _) = resident_with_bsn(&other, "henk", BSNS[0]).await;
    let foreign = grant(
        &other,
        &debts_elsewhere,
        &token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    refused(
        &read_with_token(&w, &foreign.token).await,
        401,
        "invalid_grant",
    );
    // A JWE (five segments) is never accepted.
    refused(
        &read_with_token(
            &w,
            "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA",
        )
        .await,
        401,
        "invalid_grant",
    );

    // Finally: the untouched grant still works, so the refusals were about the forgeries.
    assert_eq!(
        w.debts
            .read(&w.vault, &w.henk, &["schulden.overzicht"])
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn client_assertions_each_say_no() {
    let w = world().await;
    let read = |assertion: Option<String>| {
        let dpop = w.debts.dpop_with(&w.vault, &w.henk.token, json!({}));
        w.debts.read_raw(
            &w.vault,
            assertion,
            Some(&w.henk.token),
            Some(dpop),
            body(&w.henk, &["schulden.overzicht"]),
        )
    };
    // A read needs none: its proof authenticates the department (one signature per
    // read). Every other department call does.
    assert_eq!(read(None).await.0, 200);
    let (status, grants) = status_and_json(
        w.vault
            .http
            .get(format!("{}/v1/dept/grants", w.vault.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    refused(&(status, grants), 401, "invalid_client");
    // One that is sent is checked like on every other call.
    let url = w.vault.url.clone();
    for overrides in [
        json!({"aud": [url]}),
        json!({"aud": format!("{url}/v1/dept/token")}),
        json!({"aud": format!("{url}/v1/dept/read")}),
        json!({"aud": "https://kluis.elders.nl"}),
        json!({"iss": "werk-en-inkomen"}),
        json!({"iss": "werk-en-inkomen", "sub": "werk-en-inkomen"}),
        json!({"exp": null}),
        json!({"jti": null}),
        json!({"exp": w.vault.app.clock().now().timestamp() - 120}),
    ] {
        refused(
            &read(Some(w.debts.assertion_with(&w.vault, overrides.clone()))).await,
            401,
            "invalid_client",
        );
    }
    // Replayed.
    let once = w.debts.assertion(&w.vault);
    assert_eq!(read(Some(once.clone())).await.0, 200);
    refused(&read(Some(once)).await, 401, "invalid_client");
}

#[tokio::test]
async fn dpop_proofs_each_say_no() {
    let w = world().await;
    let read = |dpop: Option<String>| {
        w.debts.read_raw(
            &w.vault,
            Some(w.debts.assertion(&w.vault)),
            Some(&w.henk.token),
            dpop,
            body(&w.henk, &["schulden.overzicht"]),
        )
    };
    let now = w.vault.app.clock().now().timestamp();
    // Missing.
    refused(&read(None).await, 401, "invalid_dpop_proof");
    // Replayed.
    let proof = w.debts.dpop_with(&w.vault, &w.henk.token, json!({}));
    assert_eq!(read(Some(proof.clone())).await.0, 200);
    refused(&read(Some(proof)).await, 401, "invalid_dpop_proof");
    // For another method, another URL, too old, from the future, for another token.
    for overrides in [
        json!({"htm": "GET"}),
        json!({"htu": format!("{}/v1/dept/grants", w.vault.url)}),
        json!({"htu": format!("{}/v1/dept/read?x=1", w.vault.url)}),
        json!({"iat": now - 120}),
        json!({"iat": now + 120}),
        json!({"ath": b64([0u8; 32])}),
        json!({"ath": null}),
        json!({"jti": null}),
    ] {
        refused(
            &read(Some(w.debts.dpop_with(
                &w.vault,
                &w.henk.token,
                overrides.clone(),
            )))
            .await,
            401,
            "invalid_dpop_proof",
        );
    }
    // Signed by a key other than the one the grant is bound to: the work department's
    // key, and a key nobody registered.
    let other = w.work.dpop_with(&w.vault, &w.henk.token, json!({}));
    refused(&read(Some(other)).await, 401, "invalid_dpop_proof");
    let stranger = TestDepartment {
        id: "x".into(),
        jwk: String::new(),
        key: kluis_sdk::DepartmentKey::from_jwk(
            &kluis::jose::keys::generate_department_jwk("s").unwrap().0,
        )
        .unwrap(),
    };
    refused(
        &read(Some(stranger.dpop_with(&w.vault, &w.henk.token, json!({})))).await,
        401,
        "invalid_dpop_proof",
    );
}

#[tokio::test]
async fn hostile_times_are_refused_without_a_panic() {
    let w = world().await;
    let hostile = [
        json!(1e20),
        json!(u64::MAX),
        json!(-1),
        json!(-9_223_372_036_854_775_807i64),
        json!(1.5),
        json!(1_800_000_000.0),
        json!("1800000000"),
    ];
    let read = |assertion: String, dpop: String| {
        w.debts.read_raw(
            &w.vault,
            Some(assertion),
            Some(&w.henk.token),
            Some(dpop),
            body(&w.henk, &["schulden.overzicht"]),
        )
    };
    for value in &hostile {
        for claim in ["exp", "nbf", "iat"] {
            let overrides = json!({ claim: value });
            let dpop = w.debts.dpop_with(&w.vault, &w.henk.token, json!({}));
            let got = read(w.debts.assertion_with(&w.vault, overrides.clone()), dpop).await;
            refused(&got, 401, "invalid_client");
            let got = read(
                w.debts.assertion(&w.vault),
                w.debts.dpop_with(&w.vault, &w.henk.token, overrides),
            )
            .await;
            refused(&got, 401, "invalid_dpop_proof");
        }
    }
    // Missing where required: exp in an assertion, iat in a proof.
    let dpop = w.debts.dpop_with(&w.vault, &w.henk.token, json!({}));
    refused(
        &read(w.debts.assertion_with(&w.vault, json!({"exp": null})), dpop).await,
        401,
        "invalid_client",
    );
    let no_iat = w
        .debts
        .dpop_with(&w.vault, &w.henk.token, json!({"iat": null}));
    refused(
        &read(w.debts.assertion(&w.vault), no_iat).await,
        401,
        "invalid_dpop_proof",
    );
    // A literal 1e20 in the JSON text, as an attacker would write it.
    let now = w.vault.app.clock().now().timestamp();
    let claims = format!(
        r#"{{"iss":"schuldhulpverlening","sub":"schuldhulpverlening","aud":"{}","jti":"j","iat":{now},"exp":1e20}}"#,
        w.vault.url
    );
    let assertion = w
        .debts
        .key
        .sign_raw(
            r#"{"alg":"ES256","typ":"client-authentication+jwt","kid":"schuldhulpverlening-1"}"#,
            &claims,
        )
        .unwrap();
    let dpop = w.debts.dpop_with(&w.vault, &w.henk.token, json!({}));
    refused(&read(assertion, dpop).await, 401, "invalid_client");
    // The vault is still serving.
    assert_eq!(
        w.debts
            .read(&w.vault, &w.henk, &["schulden.overzicht"])
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn requests_that_are_not_grants_say_no() {
    let w = world().await;
    let (token, _) = resident_with_bsn(&w.vault, "bram", BSNS[2]).await;
    let ask = json!({"resident": {"national_id": {"scheme": "bsn", "value": BSNS[2]}}, "processing_activity": "schuldhulp-traject", "categories": ["schulden.overzicht"], "duration_days": 30});
    let (_, pending) = w
        .debts
        .call(
            &w.vault,
            Method::POST,
            "/v1/dept/access-requests",
            Some(&ask),
        )
        .await;
    let (_, declined) = w
        .debts
        .call(
            &w.vault,
            Method::POST,
            "/v1/dept/access-requests",
            Some(&ask),
        )
        .await;
    let declined_id = declined["id"].as_str().unwrap();
    vault_decline(&w, &token, declined_id).await;
    for request in [pending["id"].as_str().unwrap(), declined_id] {
        // Its id presented as a grant token, and looked up as a grant.
        refused(&read_with_token(&w, request).await, 401, "invalid_grant");
        refused(
            &w.debts
                .call(
                    &w.vault,
                    Method::GET,
                    &format!("/v1/dept/grants/{request}"),
                    None,
                )
                .await,
            404,
            "not_found",
        );
        let (_, status) = w
            .debts
            .call(
                &w.vault,
                Method::GET,
                &format!("/v1/dept/access-requests/{request}"),
                None,
            )
            .await;
        assert!(status["grant"].is_null());
    }
}

async fn vault_decline(w: &World, token: &str, id: &str) {
    let (status, _) = w
        .vault
        .post(token, &format!("/v1/me/requests/{id}/decline"), &json!({}))
        .await;
    assert_eq!(status, 200);
}
