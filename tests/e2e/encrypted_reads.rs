//! Encrypted reads (issue 19): a department that registers an encryption key (`use: enc`,
//! ECDH-ES+A256KW) receives its read answers as a JWE sealed in the vault with josekit,
//! past any TLS-terminating proxy; the SDK opens it and gets the same records as in plain
//! mode. The SDK refuses a JWE with a truncated tag, an empty IV or a `zip` header, and
//! the vault refuses an encryption key it cannot use.

use crate::consent::{BSNS, resident_with_bsn};
use crate::signals::debt_grant;
use crate::support::{TestDepartment, TestVault, ctx};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use kluis_proto::consent::DepartmentSpec;
use serde_json::{Value, json};

/// `department`'s registration again, with `extra` keys next to its signing key.
async fn register_again(
    vault: &TestVault,
    department: &TestDepartment,
    extra: &[Value],
) -> Result<(), String> {
    let mut public: Value = serde_json::from_str(&department.jwk).unwrap();
    public.as_object_mut().unwrap().remove("d");
    let mut keys = vec![public];
    keys.extend_from_slice(extra);
    let activities = kluis::dev::demo_departments()
        .into_iter()
        .find(|(id, _, _)| *id == department.id)
        .unwrap()
        .2;
    let spec = DepartmentSpec {
        id: department.id.clone(),
        name: format!("Afdeling {}", department.id),
        jwks: json!({ "keys": keys }),
        processing_activities: activities,
        privacy_officer: kluis::dev::DEMO_PRIVACY_OFFICER.into(),
        events_endpoint: None,
    };
    vault
        .app
        .consent()
        .register_department(&ctx(), kluis::audit::entry::Actor::Operator, &spec)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_department_with_an_encryption_key_reads_the_same_records_as_a_jwe() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    vault
        .app
        .residents()
        .write(&ctx(), henk, "schulden.overzicht", &json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]}))
        .await
        .unwrap();
    let g = debt_grant(&vault, &debts, &token).await;
    let plain = debts
        .client(&vault)
        .read(&g, &["schulden.overzicht"])
        .await
        .unwrap();
    assert_eq!(plain.records.len(), 1);

    // The department adds an encryption key to its registration.
    let (private, public) = kluis_sdk::jwe::generate_encryption_jwk("schuld-enc-1").unwrap();
    register_again(&vault, &debts, &[public]).await.unwrap();

    // On the wire: a compact JWE, nothing of the record readable.
    let body = vault
        .http
        .post(format!("{}/v1/dept/read", vault.url))
        .header("authorization", format!("DPoP {}", g.token))
        .header("DPoP", debts.dpop_with(&vault, &g.token, json!({})))
        .json(&json!({"resident": g.resident, "categories": ["schulden.overzicht"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(body.status(), 200);
    assert_eq!(body.headers()["content-type"], "application/jose");
    let jwe = body.text().await.unwrap();
    assert!(!jwe.contains("Woonkracht") && !jwe.contains("2628"));
    let parts: Vec<&str> = jwe.split('.').collect();
    assert_eq!(parts.len(), 5);
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ECDH-ES+A256KW");
    assert_eq!(header["enc"], "A256GCM");
    assert_eq!(header["kid"], "schuld-enc-1");
    assert!(header.get("zip").is_none());

    // Through the SDK with the key: the same records as in plain mode; without it, a
    // clear error.
    let key = kluis_sdk::jwe::DecryptionKey::from_jwk(&private).unwrap();
    let sealed = debts
        .client(&vault)
        .with_decryption_key(key)
        .read(&g, &["schulden.overzicht"])
        .await
        .unwrap();
    assert_eq!(sealed.records, plain.records);
    assert_eq!(sealed.grant_id, plain.grant_id);
    let without = debts
        .client(&vault)
        .read(&g, &["schulden.overzicht"])
        .await
        .unwrap_err();
    assert!(
        without.to_string().contains("with_decryption_key"),
        "{without}"
    );

    // The SDK refuses a JWE cut or bent: a short tag, an empty IV or a zip header before
    // it decrypts anything; altered content, or a JWE sealed to another key, when it
    // does not open.
    let key = kluis_sdk::jwe::DecryptionKey::from_jwk(&private).unwrap();
    let opened = kluis_sdk::jwe::decrypt(&jwe, &key).unwrap();
    let as_json: Value = serde_json::from_slice(&opened).unwrap();
    assert_eq!(as_json["records"][0]["data"]["schulden"][0]["bedrag"], 2628);
    let tag = B64.decode(parts[4]).unwrap();
    let truncated = [
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        &B64.encode(&tag[..12]),
    ]
    .join(".");
    let empty_iv = [parts[0], parts[1], "", parts[3], parts[4]].join(".");
    let mut zipped = header.clone();
    zipped["zip"] = json!("DEF");
    let zipped = [
        &B64.encode(zipped.to_string()),
        parts[1],
        parts[2],
        parts[3],
        parts[4],
    ]
    .join(".");
    let mut flipped = B64.decode(parts[3]).unwrap();
    flipped[0] ^= 1;
    let flipped = [parts[0], parts[1], parts[2], &B64.encode(flipped), parts[4]].join(".");
    let (other_private, _) = kluis_sdk::jwe::generate_encryption_jwk("schuld-enc-1").unwrap();
    let other = kluis_sdk::jwe::DecryptionKey::from_jwk(&other_private).unwrap();
    for (token, key, why) in [
        (&truncated, &key, "tag is not 16 bytes"),
        (&empty_iv, &key, "IV is not 12 bytes"),
        (&zipped, &key, "compressed (zip)"),
        (&flipped, &key, "does not open"),
        (&jwe, &other, "does not unwrap"),
    ] {
        let err = kluis_sdk::jwe::decrypt(token, key).unwrap_err().to_string();
        assert!(err.contains(why), "{why}: {err}");
    }
}

#[tokio::test]
async fn an_encryption_key_the_vault_cannot_use_is_refused_at_registration() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (private, public) = kluis_sdk::jwe::generate_encryption_jwk("enc-1").unwrap();
    let (_, second) = kluis_sdk::jwe::generate_encryption_jwk("enc-2").unwrap();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut key = public.clone();
        change(&mut key);
        key
    };
    let cases = [
        (
            vec![with(&|k| k["alg"] = json!("RSA-OAEP"))],
            "ECDH-ES+A256KW",
        ),
        (
            vec![with(&|k| {
                k.as_object_mut().unwrap().remove("alg");
            })],
            "ECDH-ES+A256KW",
        ),
        (
            vec![serde_json::from_str(&private).unwrap()],
            "private part",
        ),
        (vec![with(&|k| k["y"] = k["x"].clone())], "P-256"),
        (vec![public.clone(), second], "at most one encryption key"),
    ];
    for (extra, why) in cases {
        let err = register_again(&vault, &debts, &extra).await.unwrap_err();
        assert!(err.contains(why), "{why}: {err}");
    }
    register_again(&vault, &debts, &[public]).await.unwrap();
}
