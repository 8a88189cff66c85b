//! Checkpoints as C2SP signed notes (issue 18, must-show 4): the vault's note of its audit
//! checkpoint verifies with an independent verifier written in the test tree
//! (`tests/notes/verify-note.mjs`, Node's crypto only); a witness the operator trusts
//! cosigns it (cosignature/v1), the vault keeps the cosignature, and the cosigned note
//! verifies with the witness's key, also in `kluis audit verify`. Whatever is not a valid
//! cosignature of the vault's own checkpoint by a trusted witness is refused, nothing kept.

use crate::support::process::kluis_cli;
use crate::support::{TestVault, assert_problem, client, status_and_json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};

/// A witness: an Ed25519 key that cosigns checkpoints (c2sp.org/tlog-cosignature).
struct Witness {
    name: &'static str,
    pair: Ed25519KeyPair,
}

impl Witness {
    fn new(name: &'static str) -> Witness {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Witness {
            name,
            pair: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap(),
        }
    }

    fn key_bytes(&self) -> Vec<u8> {
        [&[0x04u8][..], self.pair.public_key().as_ref()].concat()
    }

    fn id(&self) -> Vec<u8> {
        let named = [self.name.as_bytes(), b"\n", &self.key_bytes()].concat();
        ring::digest::digest(&ring::digest::SHA256, &named).as_ref()[..4].to_vec()
    }

    /// Its verifier key, `name+keyid+base64(0x04 ‖ key)`.
    fn vkey(&self) -> String {
        format!(
            "{}+{}+{}",
            self.name,
            self.id()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            B64.encode(self.key_bytes())
        )
    }

    /// `note` with this witness's cosignature at `time` added.
    fn cosign(&self, note: &str, time: u64) -> String {
        let text = &note[..=note.rfind("\n\n").unwrap()];
        let message = format!("cosignature/v1\ntime {time}\n{text}");
        let signature = self.pair.sign(message.as_bytes());
        let bytes = [&self.id()[..], &time.to_be_bytes(), signature.as_ref()].concat();
        format!("{note}\u{2014} {} {}\n", self.name, B64.encode(bytes))
    }
}

/// What the independent verifier says of `note` for each of `keys`.
fn node_verify(note: &str, keys: &[&str]) -> Vec<Value> {
    crate::support::verifiers::verify_note(note, keys)
}

fn now() -> u64 {
    u64::try_from(kluis::Clock::system().now().timestamp()).unwrap()
}

/// A vault that trusts `witness`, with some entries in its log.
async fn vault_trusting(witness: &Witness) -> TestVault {
    let trusted = kluis::crypto::signed_note::VerifierKey::parse(&witness.vkey()).unwrap();
    let vault = TestVault::start_configured(
        tempfile::tempdir().unwrap(),
        kluis::Clock::system(),
        move |config, _| config.audit_witnesses = vec![trusted],
    )
    .await;
    let (token, _) = vault.resident("henk").await;
    let path = "/v1/me/records/schulden.overzicht";
    let debts = json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]});
    let (status, body) = vault.put(&token, path, &debts).await;
    assert_eq!(status, 201, "{body}");
    vault
}

async fn cosign(vault: &TestVault, note: &str) -> (reqwest::StatusCode, Value) {
    let response = client()
        .post(format!("{}/v1/witness/cosignatures", vault.url))
        .header("content-type", "text/plain")
        .body(note.to_owned())
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

async fn note_at(vault: &TestVault, officer: &str, size: u64) -> String {
    client()
        .get(format!(
            "{}/v1/officer/checkpoint-note?size={size}",
            vault.url
        ))
        .bearer_auth(officer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_note_verifies_independently_and_keeps_a_trusted_witness_cosignature() {
    let witness = Witness::new("witness.example.org/w1");
    let stranger = Witness::new("witness.example.org/w2");
    let vault = vault_trusting(&witness).await;
    let officer = vault.officer().await;
    let (status, view) = vault.get(&officer, "/v1/officer/checkpoint").await;
    assert_eq!(status, 200, "{view}");
    let (note, note_key) = (
        view["note"].as_str().unwrap(),
        view["note_key"].as_str().unwrap(),
    );
    let size = view["tree_size"].as_u64().unwrap();

    let verified = node_verify(note, &[note_key, &witness.vkey()]);
    assert_eq!(verified[0]["ok"], true, "{}", verified[0]);
    assert_eq!(verified[0]["checkpoint"]["size"], size);
    assert!(note_key.starts_with(verified[0]["checkpoint"]["origin"].as_str().unwrap()));
    assert_eq!(
        verified[1]["error"], "no signature by this key",
        "not cosigned yet"
    );
    let changed = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
    assert_eq!(
        node_verify(&changed, &[note_key])[0]["error"],
        "the signature does not verify"
    );

    // Refused, nothing kept: a stranger's cosignature, a forged one, a note the vault did
    // not sign, something that is no note.
    let time = now();
    let forged = {
        let real = witness.cosign(note, time);
        let (head, line) = real.trim_end().rsplit_once(' ').unwrap();
        let mut bytes = B64.decode(line).unwrap();
        bytes[20] ^= 1;
        format!("{head} {}\n", B64.encode(bytes))
    };
    let foreign = witness.cosign(&changed, time);
    for (body, status, code) in [
        (stranger.cosign(note, time), 403, "forbidden"),
        (forged, 403, "forbidden"),
        (witness.cosign(note, time + 3600), 403, "forbidden"),
        (foreign, 409, "conflict"),
        ("no note at all".to_owned(), 400, "invalid_parameter"),
    ] {
        assert_problem(&cosign(&vault, &body).await, status, code);
    }
    assert_eq!(
        note_at(&vault, &officer, size)
            .await
            .matches('\u{2014}')
            .count(),
        1
    );

    // The trusted witness cosigns: the vault keeps it and adds it to that note.
    let (status, kept) = cosign(&vault, &witness.cosign(note, time)).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept, json!({"size": size, "kept": 1}));
    let cosigned = note_at(&vault, &officer, size).await;
    let verified = node_verify(&cosigned, &[note_key, &witness.vkey(), &stranger.vkey()]);
    assert_eq!(verified[0]["ok"], true, "{}", verified[0]);
    assert_eq!(verified[1]["ok"], true, "{}", verified[1]);
    assert_eq!(verified[1]["time"], time);
    assert_eq!(verified[2]["ok"], false);
    let (status, problem) = vault
        .get(
            &officer,
            &format!("/v1/officer/checkpoint-note?size={}", size + 1000),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kluis_audit_verify_checks_the_witness_cosignature_of_an_export() {
    let witness = Witness::new("witness.example.org/w1");
    let stranger = Witness::new("witness.example.org/w2");
    let vault = vault_trusting(&witness).await;
    let officer = vault.officer().await;
    let export = client()
        .get(format!("{}/v1/officer/audit/export", vault.url))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let size = kluis::audit::export::verify(&export, None, None)
        .unwrap()
        .checkpoint
        .tree_size;
    let (_, view) = vault.get(&officer, "/v1/officer/checkpoint").await;
    let note_key = view["note_key"].as_str().unwrap().to_owned();
    let note = note_at(&vault, &officer, size).await;
    let (status, _) = cosign(&vault, &witness.cosign(&note, now())).await;
    assert_eq!(status, 200);
    let cosigned = note_at(&vault, &officer, size).await;
    let jwks = client()
        .get(format!("{}/.well-known/jwks.json", vault.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let (export, jwks, cosigned, newer) = (
        file("export.jsonl", &export),
        file("jwks.json", &jwks),
        file("cosigned.note", &cosigned),
        file("newer.note", &note_at(&vault, &officer, size + 1).await),
    );
    let verify = |note: &std::path::Path, witness: &str| {
        let args: Vec<&std::ffi::OsStr> = vec![
            "audit".as_ref(),
            "verify".as_ref(),
            export.as_os_str(),
            "--jwks".as_ref(),
            jwks.as_os_str(),
            "--note".as_ref(),
            note.as_os_str(),
            "--note-key".as_ref(),
            note_key.as_ref(),
            "--witness-key".as_ref(),
            witness.as_ref(),
        ];
        kluis_cli(&args)
    };
    let (ok, printed, refused) = verify(&cosigned, &witness.vkey());
    assert!(ok, "{refused}");
    assert!(
        printed.contains("OK: cosigned by witness witness.example.org/w1"),
        "{printed}"
    );
    let (ok, _, refused) = verify(&cosigned, &stranger.vkey());
    assert!(!ok);
    assert!(
        refused.contains("witness witness.example.org/w2"),
        "{refused}"
    );
    let (ok, _, refused) = verify(&newer, &witness.vkey());
    assert!(!ok);
    assert!(refused.contains(&format!("?size={size}")), "{refused}");
}
