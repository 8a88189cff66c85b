//! Unit tests of the token policies: every check says no on its own.

use super::compact::B64URL;
use super::keys::{KeySet, VaultKey};
use super::*;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

const ISSUER: &str = "https://kluis.test";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn key(kid: &str) -> VaultKey {
    VaultKey::generate(kid).unwrap().1
}

fn keyset(key: &VaultKey) -> KeySet {
    KeySet::from_jwks(&json!({"keys": [key.public().to_jwk()]})).unwrap()
}

fn assertion_claims() -> Value {
    let t = now().timestamp();
    json!({"iss": "schuldhulp", "sub": "schuldhulp", "aud": ISSUER, "jti": "a-1", "iat": t, "exp": t + 60})
}

fn signed(key: &VaultKey, header: Value, claims: &Value) -> String {
    key.sign_raw(&header.to_string(), &claims.to_string())
}

fn assertion_header(key: &VaultKey) -> Value {
    json!({"alg": "ES256", "typ": CLIENT_ASSERTION_TYP, "kid": key.kid})
}

fn check_assertion(token: &str, key: &VaultKey) -> Result<ClientAssertion, JoseError> {
    ClientAssertion::parse(token, ISSUER, now())?.verify(&keyset(key))
}

#[test]
fn a_good_client_assertion_passes() {
    let k = key("dept-1");
    let ok = check_assertion(&signed(&k, assertion_header(&k), &assertion_claims()), &k).unwrap();
    assert_eq!(ok.department, "schuldhulp");
    assert_eq!(ok.jti, "a-1");
}

/// docs/departments.md: `exp` at most five minutes ahead, with 60 seconds of clock
/// difference either way. The limits, to the second.
#[test]
fn the_documented_leeway_is_the_implemented_one() {
    let k = key("dept-1");
    let t = now().timestamp();
    let at = |name: &str, value: i64| {
        let mut claims = assertion_claims();
        claims[name] = json!(value);
        check_assertion(&signed(&k, assertion_header(&k), &claims), &k)
    };
    assert!(
        at("exp", t + 360).is_ok(),
        "five minutes and a minute of skew ahead"
    );
    assert!(at("exp", t + 361).is_err());
    assert!(
        at("exp", t - 59).is_ok(),
        "up to a minute of skew after exp"
    );
    assert!(at("exp", t - 60).is_err());
    assert!(at("iat", t + 60).is_ok(), "iat up to a minute ahead");
    assert!(at("iat", t + 61).is_err());
}

#[test]
fn client_assertion_claims_each_say_no() {
    let k = key("dept-1");
    let t = now().timestamp();
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let with = |name: &str, value: Value| {
        let mut c = assertion_claims();
        c[name] = value;
        c
    };
    let without = |name: &str| {
        let mut c = assertion_claims();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    cases.push(("aud array", with("aud", json!([ISSUER]))));
    cases.push((
        "aud token URL",
        with("aud", json!(format!("{ISSUER}/v1/token"))),
    ));
    cases.push(("aud other", with("aud", json!("https://elsewhere"))));
    cases.push(("iss != sub", with("sub", json!("werk-en-inkomen"))));
    cases.push(("no exp", without("exp")));
    cases.push(("no jti", without("jti")));
    cases.push(("no aud", without("aud")));
    cases.push(("expired", with("exp", json!(t - 61))));
    cases.push(("too long-lived", with("exp", json!(t + 3600))));
    cases.push(("iat in the future", with("iat", json!(t + 120))));
    cases.push(("jti too long", with("jti", json!("x".repeat(300)))));
    for (what, value) in [
        ("1e20", json!(1e20)),
        ("u64::MAX", json!(u64::MAX)),
        ("negative", json!(-1)),
        ("float", json!(1_800_000_060.5)),
        ("string", json!("1800000060")),
        ("zero", json!(0)),
    ] {
        for claim in ["exp", "nbf", "iat"] {
            let claims = with(claim, value.clone());
            let result = check_assertion(&signed(&k, assertion_header(&k), &claims), &k);
            assert!(result.is_err(), "{claim} = {what} accepted");
        }
    }
    // The same with a literal 1e20 in the JSON text (not re-serialised by serde_json).
    let literal = format!(
        r#"{{"iss":"schuldhulp","sub":"schuldhulp","aud":"{ISSUER}","jti":"x","exp":1e20}}"#
    );
    assert!(check_assertion(&k.sign_raw(&assertion_header(&k).to_string(), &literal), &k).is_err());
    for (what, claims) in cases {
        assert!(
            check_assertion(&signed(&k, assertion_header(&k), &claims), &k).is_err(),
            "{what} accepted"
        );
    }
}

#[test]
fn headers_each_say_no() {
    let k = key("dept-1");
    let claims = assertion_claims();
    let base = assertion_header(&k);
    let mut headers = Vec::new();
    for (name, value) in [
        ("alg", json!("none")),
        ("alg", json!("NONE")),
        ("alg", json!("nOnE")),
        ("alg", json!("HS256")),
        ("alg", json!("ES384")),
        ("typ", json!(DPOP_TYP)),
        ("typ", json!(GRANT_TYP)),
        ("typ", json!("JWT")),
        ("kid", json!("../../etc/passwd")),
        ("kid", json!("https://evil.example/key")),
        ("kid", json!("unknown-kid")),
        ("jku", json!("https://evil.example/jwks")),
        ("x5u", json!("https://evil.example/cert")),
        ("jwk", k.public().to_jwk()),
        ("crit", json!(["exp"])),
        ("zip", json!("DEF")),
        ("cty", json!("JWT")),
        ("x5c", json!(["MIIB"])),
    ] {
        let mut h = base.clone();
        h[name] = value;
        headers.push(h);
    }
    let mut no_typ = base.clone();
    no_typ.as_object_mut().unwrap().remove("typ");
    headers.push(no_typ);
    for header in headers {
        let token = signed(&k, header.clone(), &claims);
        assert!(
            check_assertion(&token, &k).is_err(),
            "header {header} accepted"
        );
    }
    // Duplicate alg: the strict parser refuses it, whichever comes first.
    for header in [
        format!(r#"{{"alg":"none","alg":"ES256","typ":"{CLIENT_ASSERTION_TYP}"}}"#),
        format!(r#"{{"alg":"ES256","alg":"none","typ":"{CLIENT_ASSERTION_TYP}"}}"#),
    ] {
        let token = k.sign_raw(&header, &claims.to_string());
        assert_eq!(
            ClientAssertion::parse(&token, ISSUER, now()).unwrap_err(),
            JoseError::Malformed("the header is not strict JSON (or has duplicate keys)")
        );
    }
}

#[test]
fn signatures_must_come_from_the_registered_key() {
    let (k, other) = (key("dept-1"), key("dept-1"));
    let token = signed(&other, assertion_header(&other), &assertion_claims());
    assert_eq!(
        check_assertion(&token, &k).unwrap_err(),
        JoseError::Signature
    );
    // Zero signature, truncated signature, alg none with an empty signature.
    let good = signed(&k, assertion_header(&k), &assertion_claims());
    let input = &good[..good.rfind('.').unwrap()];
    for sig in [B64URL.encode([0u8; 64]), B64URL.encode([1u8; 10])] {
        assert!(check_assertion(&format!("{input}.{sig}"), &k).is_err());
    }
    let none = format!(
        "{}.{}.",
        B64URL.encode(json!({"alg": "none", "typ": CLIENT_ASSERTION_TYP}).to_string()),
        B64URL.encode(assertion_claims().to_string())
    );
    assert!(check_assertion(&none, &k).is_err());
}

#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    let k = key("vault-1");
    let secret = k.public().to_jwk().to_string();
    let header = json!({"alg": "HS256", "typ": GRANT_TYP, "kid": "vault-1"}).to_string();
    let input = format!(
        "{}.{}",
        B64URL.encode(header),
        B64URL.encode(assertion_claims().to_string())
    );
    let mac = crate::crypto::hmac_sha256(secret.as_bytes(), input.as_bytes());
    let token = format!("{input}.{}", B64URL.encode(mac));
    assert_eq!(
        GrantClaims::verify(&token, ISSUER, "schuldhulp", &[k]).unwrap_err(),
        JoseError::Algorithm
    );
}

fn grant(key: &VaultKey) -> GrantClaims {
    let t = now().timestamp();
    GrantClaims {
        iss: ISSUER.into(),
        sub: "pairwise-ref".into(),
        aud: "schuldhulp".into(),
        jti: "0b8f3c1e-0000-4000-8000-000000000001".into(),
        iat: t,
        nbf: t,
        exp: t + 86_400,
        categories: vec!["schulden.overzicht".into()],
        activity: GrantActivity {
            id: "schuldhulp-traject".into(),
            version: 1,
        },
        jkt: key.public().thumbprint().to_owned(),
    }
}

#[test]
fn grants_round_trip_and_are_bound_to_issuer_audience_and_key() {
    let vault = key("vault-1");
    let claims = grant(&vault);
    let token = claims.sign(&vault).unwrap();
    let keys = [vault];
    assert_eq!(
        GrantClaims::verify(&token, ISSUER, "schuldhulp", &keys).unwrap(),
        claims
    );
    assert!(
        GrantClaims::verify(&token, ISSUER, "werk-en-inkomen", &keys).is_err(),
        "another department"
    );
    assert!(
        GrantClaims::verify(&token, "https://other.vault", "schuldhulp", &keys).is_err(),
        "another issuer"
    );
    let other_vault = [key("vault-1")];
    assert_eq!(
        GrantClaims::verify(&token, ISSUER, "schuldhulp", &other_vault).unwrap_err(),
        JoseError::Signature
    );
    // Tampered payload: flip a category.
    let parts: Vec<&str> = token.split('.').collect();
    let tampered_claims = String::from_utf8(B64URL.decode(parts[1]).unwrap())
        .unwrap()
        .replace("schulden.overzicht", "zorg.mantelzorg");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(tampered_claims),
        parts[2]
    );
    assert_eq!(
        GrantClaims::verify(&tampered, ISSUER, "schuldhulp", &keys).unwrap_err(),
        JoseError::Signature
    );
}

#[test]
fn a_token_of_another_kind_is_not_a_grant() {
    let vault = key("vault-1");
    let claims = grant(&vault);
    let as_dpop = signed(
        &vault,
        json!({"alg": "ES256", "typ": DPOP_TYP, "kid": "vault-1"}),
        &json!({}),
    );
    let as_assertion = signed(
        &vault,
        json!({"alg": "ES256", "typ": CLIENT_ASSERTION_TYP, "kid": "vault-1"}),
        &json!({}),
    );
    for token in [as_dpop, as_assertion] {
        assert_eq!(
            GrantClaims::verify(&token, ISSUER, "schuldhulp", &[key("vault-1")]).unwrap_err(),
            JoseError::Type
        );
    }
    let token = claims.sign(&vault).unwrap();
    assert_eq!(
        ClientAssertion::parse(&token, ISSUER, now()).unwrap_err(),
        JoseError::Type
    );
    assert_eq!(DpopProof::parse(&token).err(), Some(JoseError::Type));
}

/// Verifies a DPoP proof as the vault does: its header names the key, the registered
/// key with that thumbprint (here `registered`) checks it.
fn verify_dpop(
    registered: &VaultKey,
    proof: &str,
    method: &str,
    url: &str,
    access_token: &str,
    at: DateTime<Utc>,
) -> Result<DpopProof, JoseError> {
    DpopProof::parse(proof)?.verify(registered.public(), method, url, access_token, at)
}

fn dpop(key: &VaultKey, claims: Value) -> String {
    let mut jwk = key.public().to_jwk();
    jwk.as_object_mut().unwrap().remove("kid");
    signed(
        key,
        json!({"alg": "ES256", "typ": DPOP_TYP, "jwk": jwk}),
        &claims,
    )
}

fn dpop_claims(access_token: &str, iat: i64) -> Value {
    let ath = B64URL.encode(crate::crypto::sha256(access_token.as_bytes()));
    json!({"htm": "POST", "htu": "https://kluis.test/v1/dept/read", "iat": iat, "jti": "p-1", "ath": ath})
}

#[test]
fn dpop_proofs_are_bound_to_method_url_time_token_and_key() {
    let k = key("dept");
    let url = "https://kluis.test/v1/dept/read";
    let t = now().timestamp();
    let ok = verify_dpop(
        &k,
        &dpop(&k, dpop_claims("grant", t)),
        "POST",
        url,
        "grant",
        now(),
    )
    .unwrap();
    assert_eq!(ok.jkt, k.public().thumbprint());

    let proof = dpop(&k, dpop_claims("grant", t));
    assert!(
        verify_dpop(&k, &proof, "GET", url, "grant", now()).is_err(),
        "other method"
    );
    assert!(
        verify_dpop(
            &k,
            &proof,
            "POST",
            "https://kluis.test/v1/dept/grants",
            "grant",
            now()
        )
        .is_err(),
        "other URL"
    );
    assert!(
        verify_dpop(&k, &proof, "POST", url, "another-grant", now()).is_err(),
        "other token"
    );
    assert!(
        verify_dpop(
            &k,
            &proof,
            "POST",
            url,
            "grant",
            now() + TimeDelta::seconds(61)
        )
        .is_err(),
        "too old"
    );
    assert!(
        verify_dpop(
            &k,
            &proof,
            "POST",
            url,
            "grant",
            now() - TimeDelta::seconds(61)
        )
        .is_err(),
        "from the future"
    );
    for value in [
        json!(1e20),
        json!(u64::MAX),
        json!(-5),
        json!(1.5),
        json!("now"),
    ] {
        let mut claims = dpop_claims("grant", t);
        claims["iat"] = value.clone();
        assert!(
            verify_dpop(&k, &dpop(&k, claims.clone()), "POST", url, "grant", now()).is_err(),
            "iat {value}"
        );
        claims["iat"] = json!(t);
        claims["exp"] = value.clone();
        assert!(
            verify_dpop(&k, &dpop(&k, claims), "POST", url, "grant", now()).is_err(),
            "exp {value}"
        );
    }
    // Signed by another key than the one in its header.
    let other = key("other");
    let mut jwk = k.public().to_jwk();
    jwk.as_object_mut().unwrap().remove("kid");
    let forged = signed(
        &other,
        json!({"alg": "ES256", "typ": DPOP_TYP, "jwk": jwk}),
        &dpop_claims("grant", t),
    );
    assert_eq!(
        verify_dpop(&k, &forged, "POST", url, "grant", now()).unwrap_err(),
        JoseError::Signature
    );
    // A private key in the header is refused.
    let mut private = k.public().to_jwk();
    private["d"] = json!("AAAA");
    let leaky = signed(
        &k,
        json!({"alg": "ES256", "typ": DPOP_TYP, "jwk": private}),
        &dpop_claims("grant", t),
    );
    assert!(verify_dpop(&k, &leaky, "POST", url, "grant", now()).is_err());
    // A proof whose header names another key than the registered one it is checked with.
    let theirs = dpop(&other, dpop_claims("grant", t));
    assert_eq!(
        verify_dpop(&k, &theirs, "POST", url, "grant", now()).unwrap_err(),
        JoseError::Key("the proof is signed by another key")
    );
}
