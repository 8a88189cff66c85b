//! Wycheproof AES-GCM vectors through the exact AES-256-GCM path that seals records.
//!
//! Only what applies to Kluis' records is run: 256-bit keys, 96-bit nonces, 128-bit tags.
//! Every `valid` case must open to its message; every `invalid` case must be refused.

use serde::Deserialize;
use std::path::PathBuf;

fn testdata(relative: &str) -> PathBuf {
    let base = std::env::var_os("KLUIS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    let path = base.join(relative);
    assert!(
        path.exists(),
        "test vectors missing: {} (set KLUIS_TESTDATA)",
        path.display()
    );
    path
}

#[derive(Deserialize)]
struct File {
    #[serde(rename = "testGroups")]
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    #[serde(rename = "keySize")]
    key_size: u32,
    #[serde(rename = "ivSize")]
    iv_size: u32,
    #[serde(rename = "tagSize")]
    tag_size: u32,
    tests: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    #[serde(rename = "tcId")]
    id: u32,
    key: String,
    iv: String,
    aad: String,
    msg: String,
    ct: String,
    tag: String,
    result: String,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn wycheproof_aes_256_gcm() {
    let file: File =
        serde_json::from_slice(&std::fs::read(testdata("wycheproof/aes_gcm_test.json")).unwrap())
            .unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in file
        .groups
        .iter()
        .filter(|g| g.key_size == 256 && g.iv_size == 96 && g.tag_size == 128)
    {
        for case in &group.tests {
            let key: [u8; 32] = hex(&case.key).try_into().unwrap();
            let nonce: [u8; 12] = hex(&case.iv).try_into().unwrap();
            let mut sealed = hex(&case.ct);
            sealed.extend(hex(&case.tag));
            let opened = kluis::crypto::open_with_nonce_for_test_vectors(
                &key,
                &nonce,
                &hex(&case.aad),
                &sealed,
            );
            match case.result.as_str() {
                "valid" => {
                    assert_eq!(opened, Some(hex(&case.msg)), "tcId {} must open", case.id);
                    valid += 1;
                }
                "invalid" => {
                    assert_eq!(opened, None, "tcId {} must be refused", case.id);
                    invalid += 1;
                }
                other => panic!("tcId {}: unexpected result {other}", case.id),
            }
        }
    }
    assert!(
        valid > 20 && invalid > 5,
        "ran {valid} valid and {invalid} invalid cases"
    );
}
