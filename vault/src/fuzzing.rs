//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; never in a release build).
//!
//! Each function takes the fuzzer's bytes, runs them through one of the vault's parsers or
//! checks exactly as a request would, and panics when an invariant breaks: a parser must
//! never panic, and a check must never accept a token that no one could have signed. The
//! keys the checks trust are made once per process and their private halves are never used,
//! so any acceptance is a bug, not a lucky input.
//!
//! The unit tests at the bottom run every entry point over a few inputs, so the targets keep
//! compiling and their invariants keep holding in the ordinary test suite too.

use crate::audit::merkle;
use crate::jose::keys::{KeySet, VaultKey};
use crate::jose::{ClientAssertion, DpopProof, GrantClaims, compact, strict_json};
use crate::language::{Language, Texts};
use crate::residents::catalogue::Catalogue;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::sync::OnceLock;

const ISSUER: &str = "https://kluis.fuzz.invalid";
const READ_URL: &str = "https://kluis.fuzz.invalid/v1/dept/read";

struct Trusted {
    vault: VaultKey,
    department: KeySet,
    catalogue: Catalogue,
}

fn trusted() -> &'static Trusted {
    static TRUSTED: OnceLock<Trusted> = OnceLock::new();
    TRUSTED.get_or_init(|| {
        let (_, vault) = VaultKey::generate("fuzz-vault").expect("a vault key");
        let (_, department) = VaultKey::generate("fuzz-department").expect("a department key");
        let jwks = json!({ "keys": [department.public().to_jwk()] });
        Trusted {
            vault,
            department: KeySet::from_jwks(&jwks).expect("a department key set"),
            catalogue: Catalogue::builtin().expect("the built-in catalogue"),
        }
    })
}

/// A fixed moment, so that the time checks pass for inputs that carry matching claims.
fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0)
        .single()
        .unwrap_or_default()
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The compact JWS parser and the strict JSON parser: never panic.
pub fn compact_jws(data: &[u8]) {
    let _ = strict_json::parse(data);
    if let Some(token) = text(data)
        && let Ok(parsed) = compact::parse(token)
    {
        let _ = parsed.claims();
    }
}

/// A client assertion: parsed and checked, then verified against a key set whose private
/// key nobody holds. Must never verify.
pub fn client_assertion(data: &[u8]) {
    let Some(token) = text(data) else { return };
    if let Ok(unverified) = ClientAssertion::parse(token, ISSUER, now()) {
        let verified = unverified.verify(&trusted().department);
        assert!(verified.is_err(), "a client assertion verified unsigned");
    }
}

/// A DPoP proof (the access token is the input's first line, the proof its second): parsed,
/// then verified with the registered key. Must never verify.
pub fn dpop_proof(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let (access_token, proof) = input.split_once('\n').unwrap_or(("token", input));
    if let Ok(unverified) = DpopProof::parse(proof) {
        let key = trusted()
            .department
            .select(None)
            .expect("the one department key");
        let verified = unverified.verify(key, "POST", READ_URL, access_token, now());
        assert!(verified.is_err(), "a DPoP proof verified unsigned");
    }
}

/// A grant, verified as a department would with the vault's published key. Must never
/// verify: this process never signs a grant.
pub fn grant(data: &[u8]) {
    let Some(token) = text(data) else { return };
    let _ = GrantClaims::claimed_id(token);
    let keys = std::slice::from_ref(&trusted().vault);
    let verified = GrantClaims::verify(token, ISSUER, "werk-en-inkomen", keys);
    assert!(verified.is_err(), "a grant verified unsigned");
}

/// A record body through the catalogue's schema check (the first byte picks the category).
pub fn record_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let categories: Vec<_> = trusted().catalogue.iter().collect();
    let category = categories[usize::from(pick) % categories.len()];
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let _ = category.validate(&value);
    }
}

/// A portal form post (the first byte picks the category, the rest is the urlencoded body):
/// decoded as the portal decodes it, read into a record, and every record the form reading
/// accepts must pass the catalogue's schema too.
pub fn portal_form(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return;
    };
    let categories: Vec<_> = trusted().catalogue.iter().collect();
    let category = categories[usize::from(pick) % categories.len()];
    let values = crate::web::form::read::posted(pairs);
    for language in [Language::Nl, Language::En] {
        let texts = Texts { language };
        if let Ok(record) = crate::web::form::read::record_of(&category.fields, &values, texts) {
            assert!(
                category.validate(&record).is_ok(),
                "the portal accepted a form for {} that the schema refuses: {record}",
                category.info.id
            );
        }
    }
}

/// An audit export, verified with the key set inside it (no panic) and with a key set that
/// never signed anything (never verifies).
pub fn audit_export(data: &[u8]) {
    let Some(export) = text(data) else { return };
    let _ = crate::audit::export::verify(export, None, None);
    let jwks = json!({ "keys": [trusted().vault.public().to_jwk()] });
    let verified = crate::audit::export::verify(export, Some(&jwks), None);
    assert!(
        verified.is_err(),
        "an export verified against a key that signed nothing"
    );
}

/// A stored audit entry: opening never panics, and an entry that opens stores and opens
/// again to the same canonical bytes (the leaf hash is over them).
pub fn audit_entry(data: &[u8]) {
    use crate::audit::stored;
    let Ok(opened) = stored::open(data) else {
        return;
    };
    if let Some(entry) = opened.entry {
        let again =
            stored::open(&stored::encode(&entry, &opened.canonical)).expect("a stored entry opens");
        assert_eq!(
            again.canonical, opened.canonical,
            "an entry changed when stored"
        );
    }
}

/// RFC 9162 inclusion and consistency proofs, in the JSON form of the transparency-dev test
/// vectors (`leafIdx`, `treeSize`, `leafHash`, `root`, `proof` or `size1`, `size2`,
/// `root1`, `root2`, `proof`; hashes in base64): never panic, whatever the numbers.
pub fn merkle_proof(data: &[u8]) {
    let Ok(Value::Object(vector)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let number = |name: &str| vector.get(name).and_then(Value::as_u64).unwrap_or(0);
    let bytes = |value: Option<&Value>| -> Vec<u8> {
        use base64::Engine as _;
        value
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default()
    };
    let proof: Vec<Vec<u8>> = vector
        .get("proof")
        .and_then(Value::as_array)
        .map(|hashes| hashes.iter().map(|h| bytes(Some(h))).collect())
        .unwrap_or_default();
    let _ = merkle::verify_inclusion(
        number("leafIdx"),
        number("treeSize"),
        &bytes(vector.get("leafHash")),
        &proof,
        &bytes(vector.get("root")),
    );
    let _ = merkle::verify_consistency(
        number("size1"),
        number("size2"),
        &proof,
        &bytes(vector.get("root1")),
        &bytes(vector.get("root2")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUTS: &[&[u8]] = &[
        b"",
        b"\xff\xfe",
        b"eyJhbGciOiJub25lIn0.e30.",
        b"eyJhbGciOiJFUzI1NiIsInR5cCI6ImRwb3Arand0In0.e30.AAAA",
        b"a.b.c.d.e",
        b"token\neyJ0eXAiOiJkcG9wK2p3dCJ9.e30.x",
        b"\x00{\"situatie\":\"werkzoekend\"}",
        b"\x01naam=Henk&geboortedatum=14-03-1985&bedrag=2.628%2C00",
        b"{\"leafIdx\":18446744073709551615,\"treeSize\":0,\"proof\":[\"AA==\"]}",
        b"{\"size1\":1,\"size2\":18446744073709551615,\"proof\":[]}",
        b"{\"format\":\"kluis-audit-export/1\"}\n{}",
        b"\x01\x87\xad\x4b\xc8\x84\x8a\xb1\x0d\xe4\xc1\xe5\x1d\xc8\x84\x8a\xb1\x0d\xb4\xa2\xe4\x1d\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    ];

    #[test]
    fn every_entry_point_takes_hostile_input_without_panicking_or_accepting() {
        for input in INPUTS {
            compact_jws(input);
            client_assertion(input);
            dpop_proof(input);
            grant(input);
            record_body(input);
            portal_form(input);
            audit_export(input);
            audit_entry(input);
            merkle_proof(input);
        }
    }

    #[test]
    fn the_grant_target_would_notice_a_grant_that_verifies() {
        // The invariant is live: a grant the trusted key did sign verifies, so the target's
        // assertion is what stands between a forged one and a crash report.
        let t = now().timestamp();
        let claims = GrantClaims {
            iss: ISSUER.into(),
            sub: "pairwise-ref".into(),
            aud: "werk-en-inkomen".into(),
            jti: "0b8f3c1e-0000-4000-8000-000000000001".into(),
            iat: t,
            nbf: t,
            exp: t + 86_400,
            categories: vec!["werk.profiel".into()],
            activity: crate::jose::GrantActivity {
                id: "re-integratie".into(),
                version: 1,
            },
            jkt: trusted().vault.public().thumbprint().to_owned(),
        };
        let token = claims.sign(&trusted().vault).expect("signed");
        let keys = std::slice::from_ref(&trusted().vault);
        assert!(GrantClaims::verify(&token, ISSUER, "werk-en-inkomen", keys).is_ok());
        assert!(std::panic::catch_unwind(|| grant(token.as_bytes())).is_err());
    }
}
