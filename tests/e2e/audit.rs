// Long: the log's tests share one story (Henk's journey) and its helpers for exports and proofs.
//! The audit log end to end (issue 4): Henk's journey leaves exactly the expected entries;
//! tampering with an export is caught and named; reads fail closed when the log cannot be
//! written; a vault killed under reads keeps an entry for every read that returned data;
//! officers see metadata only and every query they make is logged; a vault whose log was
//! truncated or rewritten refuses to start.

use crate::henks_journey;

use crate::consent::{BSNS, grant, resident_with_bsn};
use crate::support::department::dpop;
use crate::support::process::kluis_cli;
use crate::support::{TestDepartment, TestVault, VaultProcess, assert_problem, ctx, store};
use kluis::audit::entry::Action;
use kluis::audit::export::{VerifyError, verify};
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::path::Path;

/// Exports the whole log of the vault whose data lives in `dir` through `kluis audit
/// export` on its admin socket, and checks it with `kluis audit verify` against the
/// vault's published JWKS. Returns the entries.
pub(crate) async fn export_and_verify(dir: &Path, url: &str) -> Vec<Value> {
    let socket = dir.join("data/admin.sock");
    let export = dir.join("export.jsonl");
    let (ok, _, err) = kluis_cli(&[
        OsStr::new("audit"),
        "export".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
        "--out".as_ref(),
        export.as_os_str(),
    ]);
    assert!(ok, "export failed: {err}");
    let jwks = reqwest::get(format!("{url}/.well-known/jwks.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, jwks).unwrap();
    let (ok, out, err) = kluis_cli(&[
        "audit".as_ref(),
        "verify".as_ref(),
        export.as_os_str(),
        "--jwks".as_ref(),
        jwks_file.as_os_str(),
    ]);
    assert!(ok && out.starts_with("OK"), "verify failed: {out}{err}");
    std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["entry"].clone())
        .collect()
}

#[tokio::test]
async fn henks_journey_leaves_exactly_the_expected_log() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    henks_journey::run(&vault.url, &dir.path().join("departments"), &mut |_| {})
        .await
        .unwrap();
    let entries = export_and_verify(dir.path(), &vault.url).await;

    let shape: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            (
                s(&e["action"]),
                s(&e["outcome"]),
                s(&e["actor"]["kind"]),
                s(&e["department"]),
            )
        })
        .collect();
    let row = |a: &str, o: &str, k: &str, d: &str| {
        (a.to_owned(), o.to_owned(), k.to_owned(), d.to_owned())
    };
    // Henk's own situation, then what two departments keep for him (the demo's seed).
    let mut expected = vec![row("record_write", "done", "resident", "-"); 9];
    expected.push(row(
        "record_write",
        "done",
        "department",
        "schuldhulpverlening",
    ));
    expected.push(row("record_write", "done", "department", "werk-en-inkomen"));
    for d in ["werk-en-inkomen", "schuldhulpverlening", "jeugdhulp"] {
        expected.push(row("department_change", "done", "system", d));
    }
    // The two requests `kluis dev` leaves for Henk, then the journey's own three.
    // `kluis dev` asks Henk twice and puts its demo coach on the list; the journey asks
    // three times.
    for d in ["schuldhulpverlening", "jeugdhulp"] {
        expected.push(row("access_request", "done", "department", d));
    }
    expected.push(row(
        "coach_change",
        "done",
        "operator",
        "schuldhulpverlening",
    ));
    for d in ["werk-en-inkomen", "schuldhulpverlening", "jeugdhulp"] {
        expected.push(row("access_request", "done", "department", d));
    }
    expected.extend([
        row(
            "request_decision",
            "approved",
            "resident",
            "schuldhulpverlening",
        ),
        row("grant", "done", "resident", "schuldhulpverlening"),
        row(
            "request_decision",
            "approved",
            "resident",
            "werk-en-inkomen",
        ),
        row("grant", "done", "resident", "werk-en-inkomen"),
        row("request_decision", "declined", "resident", "jeugdhulp"),
        row("read", "allowed", "department", "schuldhulpverlening"),
        row("read", "allowed", "department", "werk-en-inkomen"),
        row("read", "refused", "department", "werk-en-inkomen"),
        row("revocation", "done", "resident", "werk-en-inkomen"),
        // The department is told (a signed event queued with this entry).
        row("notice", "done", "resident", "werk-en-inkomen"),
        row("read", "refused", "department", "werk-en-inkomen"),
        // "Ik ben mijn baan kwijt": the one new answer, the share, the read, the status.
        row("record_write", "done", "resident", "-"),
        row("grant", "done", "resident", "werk-en-inkomen"),
        row("notice", "done", "resident", "werk-en-inkomen"),
        row("read", "allowed", "department", "werk-en-inkomen"),
        row("case_status", "done", "department", "werk-en-inkomen"),
    ]);
    assert_eq!(shape, expected);

    // Sequence numbers run without gaps; every entry carries a W3C trace.
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"], i);
        assert_eq!(e["trace_id"].as_str().unwrap().len(), 32);
        assert_eq!(e["span_id"].as_str().unwrap().len(), 16);
    }
    // One resident reference throughout, the same in every entry about Henk.
    let henk = entries[0]["resident"].as_str().unwrap();
    assert!(
        entries
            .iter()
            .filter(|e| e["resident"].is_string())
            .all(|e| e["resident"] == henk)
    );
    // The reads say which grant, which categories, which purpose and law, and why refused.
    let reads: Vec<&Value> = entries.iter().filter(|e| e["action"] == "read").collect();
    assert_eq!(
        reads[0]["categories"],
        json!(["inkomen.bronnen", "schulden.overzicht"]),
        "categories are a set, in order"
    );
    assert_eq!(
        reads[0]["processing_activity"],
        json!({"id": "schuldhulp-traject", "version": 1})
    );
    assert!(
        reads[0]["legal_basis"]
            .as_str()
            .unwrap()
            .starts_with("Wet gemeentelijke schuldhulpverlening")
    );
    assert_eq!(reads[0]["policy"], "kluis.consent.access/1");
    assert!(reads[0]["grant"].is_string());
    assert_eq!(reads[2]["reason"], "out_of_scope");
    assert_eq!(reads[3]["reason"], "grant_revoked");
    assert_eq!(reads[3]["grant"], reads[1]["grant"]);
    let grants: Vec<&Value> = entries.iter().filter(|e| e["action"] == "grant").collect();
    assert!(
        grants
            .iter()
            .all(|g| g["valid_from"].is_string() && g["valid_until"].is_string())
    );

    // No content, no identifier: not a word of Henk's records, not his BSN. Random ids,
    // hashes, signatures and timestamps are left out first: "2628" turns up in one of them
    // now and then.
    let text = serde_json::to_string(&without_random_ids(entries.clone())).unwrap();
    for marker in [
        "Woonkracht",
        "Jansen",
        "Sanne",
        "999993653",
        "Orderpicker",
        "06-12345678",
        "Voorbeeldstraat",
        "2628",
        "henk",
    ] {
        if let Some(at) = text.find(marker) {
            let around = text
                .get(at.saturating_sub(80)..(at + 40).min(text.len()))
                .unwrap_or(marker);
            panic!("{marker:?} appears in the audit log: …{around}…");
        }
    }
    vault.stop();
}

/// An export of a small but varied log, the JWKS, and the vault (for its signing key).
async fn sample_export() -> (TestVault, String, Value) {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    vault
        .app
        .residents()
        .write(&ctx(), henk, "schulden.overzicht", &json!({"schulden": []}))
        .await
        .unwrap();
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
    for _ in 0..5 {
        assert_eq!(debts.read(&vault, &g, &["schulden.overzicht"]).await.0, 200);
    }
    assert_eq!(debts.read(&vault, &g, &["inkomen.bronnen"]).await.0, 403);
    let audit = vault.app.audit();
    let export = audit.export(0, audit.size().await).await.unwrap();
    let jwks = vault.app.consent().jwks();
    (vault, export, jwks)
}

fn lines(export: &str) -> Vec<String> {
    export.lines().map(str::to_owned).collect()
}

fn check(lines: &[String], jwks: &Value) -> Result<(), VerifyError> {
    verify(&(lines.join("\n") + "\n"), Some(jwks), None).map(|_| ())
}

/// Every value in `v`, each changed in its own copy.
fn mutations(v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                for changed in mutations(child) {
                    let mut copy = map.clone();
                    copy.insert(k.clone(), changed);
                    out.push(Value::Object(copy));
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                for changed in mutations(child) {
                    let mut copy = items.clone();
                    copy[i] = changed;
                    out.push(Value::Array(copy));
                }
            }
            let mut shorter = items.clone();
            if shorter.pop().is_some() {
                out.push(Value::Array(shorter));
            }
        }
        Value::String(s) => out.push(Value::String(format!("{s}x"))),
        Value::Number(n) => out.push(json!(n.as_u64().unwrap_or(0) + 1)),
        Value::Bool(b) => out.push(Value::Bool(!b)),
        Value::Null => out.push(json!("x")),
    }
    out
}

#[tokio::test]
async fn tampering_with_an_export_is_caught_and_named() {
    let (vault, export, jwks) = sample_export().await;
    let original = lines(&export);
    check(&original, &jwks).unwrap();
    let n = original.len() - 1;
    assert!(n >= 10, "{n} entries");

    // Any one field of any entry (keeping its recorded hash), and the recorded hash itself.
    let mut tried = 0;
    for i in 1..=n {
        let line: Value = serde_json::from_str(&original[i]).unwrap();
        let mut variants: Vec<Value> = mutations(&line["entry"])
            .into_iter()
            .map(|e| json!({"leaf_hash": line["leaf_hash"], "entry": e}))
            .collect();
        variants.push(json!({"leaf_hash": format!("A{}", &line["leaf_hash"].as_str().unwrap()[1..]), "entry": line["entry"]}));
        for variant in variants {
            let mut tampered = original.clone();
            tampered[i] = variant.to_string();
            if tampered[i] == original[i] {
                continue;
            }
            let err = check(&tampered, &jwks).expect_err("a changed entry passed");
            assert!(
                err.place.starts_with(&format!("line {} ", i + 1)),
                "changed line {} but: {err}",
                i + 1
            );
            tried += 1;
        }
    }
    assert!(tried > 15 * n, "only {tried} tamperings tried");

    // Deleting an entry, swapping two, truncating the end.
    let mut deleted = original.clone();
    deleted.remove(4);
    assert!(
        check(&deleted, &jwks)
            .unwrap_err()
            .place
            .starts_with("line 5 ")
    );
    let mut swapped = original.clone();
    swapped.swap(3, 6);
    assert!(
        check(&swapped, &jwks)
            .unwrap_err()
            .place
            .starts_with("line 4 ")
    );
    let truncated = &original[..original.len() - 2];
    let err = check(truncated, &jwks).unwrap_err();
    assert!(
        err.place.starts_with("the end") && err.problem.contains("truncated"),
        "{err}"
    );

    // A forged checkpoint: a changed claim under the old signature, and one signed by
    // someone else's key.
    let mut header: Value = serde_json::from_str(&original[0]).unwrap();
    let checkpoint = header["checkpoint"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = checkpoint.split('.').collect();
    let claims = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[1])
            .unwrap(),
    )
    .unwrap();
    let forged_claims = claims.replace("\"tree_size\":", "\"tree_size\":1");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        crate::support::department::b64(forged_claims),
        parts[2]
    );
    header["checkpoint"] = json!(forged);
    let mut forged_export = original.clone();
    forged_export[0] = header.to_string();
    assert_eq!(
        check(&forged_export, &jwks).unwrap_err().place,
        "the checkpoint"
    );
    let (_, other) = kluis::jose::keys::VaultKey::generate("kluis-1").unwrap();
    let verified = kluis::jose::Checkpoint::verify(&checkpoint, &jwks).unwrap();
    header["checkpoint"] = json!(verified.sign(&other).unwrap());
    forged_export[0] = header.to_string();
    assert_eq!(
        check(&forged_export, &jwks).unwrap_err().place,
        "the checkpoint"
    );

    // An insider rewrites history and signs a new, self-consistent checkpoint with the
    // vault's own key. Only an older checkpoint, kept by the officer, shows it.
    let older = vault.app.audit().checkpoint_at(5).await.unwrap();
    let mut rewritten = original.clone();
    let mut line: Value = serde_json::from_str(&rewritten[2]).unwrap();
    line["entry"]["categories"] = json!(["zorg.mantelzorg"]);
    let entry_text = serde_json::to_string(&line["entry"]).unwrap();
    let leaf = kluis::audit::merkle::leaf_hash(entry_text.as_bytes());
    rewritten[2] = format!(
        r#"{{"leaf_hash":"{}","entry":{entry_text}}}"#,
        crate::support::department::b64(leaf)
    );
    let mut frontier = kluis::audit::merkle::Frontier::default();
    for text in &rewritten[1..] {
        let l: Value = serde_json::from_str(text).unwrap();
        let raw = text
            .split_once(r#","entry":"#)
            .unwrap()
            .1
            .strip_suffix('}')
            .unwrap();
        assert_eq!(l["leaf_hash"].as_str().unwrap().len(), 43);
        frontier.push(kluis::audit::merkle::leaf_hash(raw.as_bytes()));
    }
    let resigned = kluis::jose::Checkpoint {
        tree_size: frontier.size(),
        root_hash: frontier.root(),
        ..verified.clone()
    }
    .sign(&vault.app.consent().vault_keys().current())
    .unwrap();
    let mut h: Value = serde_json::from_str(&rewritten[0]).unwrap();
    h["checkpoint"] = json!(resigned);
    rewritten[0] = h.to_string();
    let text = rewritten.join("\n") + "\n";
    verify(&text, Some(&jwks), None).expect("the rewrite is self-consistent");
    let err = verify(&text, Some(&jwks), Some(&older)).unwrap_err();
    assert!(
        err.place == "entries up to 5" && err.problem.contains("rewritten"),
        "{err}"
    );
    verify(&export, Some(&jwks), Some(&older))
        .expect("the true history is consistent with the older checkpoint");
}

#[tokio::test]
async fn reads_fail_closed_when_the_log_cannot_be_written() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let secret =
        json!({"schulden": [{"schuldeiser": "Woonkracht-GEHEIM", "soort": "anders", "bedrag": 1}]});
    vault
        .app
        .residents()
        .write(&ctx(), henk, "schulden.overzicht", &secret)
        .await
        .unwrap();
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
    assert_eq!(debts.read(&vault, &g, &["schulden.overzicht"]).await.0, 200);
    let audit = vault.app.audit();
    let before = audit.size().await;

    vault.faults.fail_audit_appends(true);
    for _ in 0..3 {
        let got = debts.read(&vault, &g, &["schulden.overzicht"]).await;
        assert_problem(&got, 503, "unavailable");
        assert!(!got.1.to_string().contains("GEHEIM") && got.1.get("records").is_none());
    }
    assert_eq!(
        audit.size().await,
        before,
        "nothing was appended while the log was unwritable"
    );
    // Not ready while the log cannot be written (issue 16), ready again once it can.
    let readyz = || async {
        let answer = vault
            .http
            .get(format!("{}/readyz", vault.url))
            .send()
            .await
            .unwrap();
        (answer.status(), answer.json::<Value>().await.unwrap())
    };
    let (status, ready) = readyz().await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["checks"]["audit"]
            .as_str()
            .unwrap()
            .contains("cannot be written"),
        "{ready}"
    );

    vault.faults.fail_audit_appends(false);
    let (status, ready) = readyz().await;
    assert_eq!(status, 200, "{ready}");
    let (status, read) = debts.read(&vault, &g, &["schulden.overzicht"]).await;
    assert_eq!(status, 200);
    assert!(read.to_string().contains("GEHEIM"));
    let size = audit.size().await;
    assert_eq!(
        size,
        before + 1,
        "one entry for the one read that returned data"
    );
    let export = audit.export(0, size).await.unwrap();
    let verified = verify(&export, Some(&vault.app.consent().jwks()), None).unwrap();
    assert_eq!(
        verified.to, size,
        "no gap: every position is filled and the tree verifies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_vault_keeps_an_entry_for_every_read_that_returned_data() {
    let dir = tempfile::tempdir().unwrap();
    let http = crate::support::client();
    let mut vault = VaultProcess::dev(dir.path());
    // Henk approves the debt counsellors' request; they hold a grant.
    let login: Value = http
        .post(format!("{}/dev/login", vault.url))
        .json(&json!({"subject": "henk"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let henk = login["token"].as_str().unwrap().to_owned();
    let key_file = dir.path().join("departments/schuldhulpverlening.jwk");
    let client = kluis_sdk::Client::new(
        &vault.url,
        "schuldhulpverlening",
        kluis_sdk::DepartmentKey::from_file(&key_file).unwrap(),
    )
    .unwrap();
    let asked = client
        .request_access(&kluis_sdk::proto::consent::NewAccessRequest {
            resident: kluis_sdk::proto::consent::ResidentIdentifier::NationalId {
                scheme: "bsn".into(),
                value: "999993653".into(),
            },
            processing_activity: "schuldhulp-traject".into(),
            categories: vec!["schulden.overzicht".into()],
            duration_days: 30,
        })
        .await
        .unwrap();
    let approved = http
        .post(format!("{}/v1/me/requests/{}/approve", vault.url, asked.id))
        .bearer_auth(&henk)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 201);
    let g = client
        .request_status(asked.id)
        .await
        .unwrap()
        .grant
        .unwrap();

    let mut served: Vec<String> = Vec::new();
    let mut proofs: Vec<String> = Vec::new();
    for round in 0..5 {
        let url = vault.url.clone();
        let stop_after = 10 + round * 7;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String)>(1024);
        let mut readers = Vec::new();
        for _ in 0..4 {
            let (http, url, g, tx, key_file) = (
                http.clone(),
                url.clone(),
                g.clone(),
                tx.clone(),
                key_file.clone(),
            );
            readers.push(tokio::spawn(async move {
                let key = kluis_sdk::DepartmentKey::from_file(&key_file).unwrap();
                loop {
                    let trace = uuid::Uuid::new_v4().simple().to_string();
                    let now = kluis::Clock::system().now().timestamp();
                    // As departments read: the DPoP proof alone, no client assertion.
                    let proof = dpop(&key, &url, &g.token, now, json!({}));
                    let sent = http
                        .post(format!("{url}/v1/dept/read"))
                        .header("authorization", format!("DPoP {}", g.token))
                        .header("DPoP", &proof)
                        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
                        .json(
                            &json!({"resident": g.resident, "categories": ["schulden.overzicht"]}),
                        )
                        .send()
                        .await;
                    let Ok(response) = sent else { return };
                    let Ok(body) = response.json::<Value>().await else {
                        return;
                    };
                    assert!(
                        body.get("records").is_some() || body["code"] == "unavailable",
                        "unexpected answer: {body}"
                    );
                    if body["records"].as_array().is_some_and(|r| !r.is_empty())
                        && tx.send((trace, proof)).await.is_err()
                    {
                        return;
                    }
                }
            }));
        }
        drop(tx);
        loop {
            let (trace, proof) = rx
                .recv()
                .await
                .expect("the readers stopped before enough reads were served");
            served.push(trace);
            proofs.push(proof);
            if served.len() >= stop_after * (round + 1) {
                break;
            }
        }
        vault.kill();
        // Reads whose data reached the client after the kill decision are counted too.
        while let Ok((trace, proof)) = rx.try_recv() {
            served.push(trace);
            proofs.push(proof);
        }
        for reader in readers {
            let _ = reader.await;
        }
        vault = VaultProcess::dev_at(dir.path(), url.trim_start_matches("http://"));
        let entries = export_and_verify(dir.path(), &vault.url).await;
        let logged: std::collections::HashSet<&str> = entries
            .iter()
            .filter(|e| e["action"] == "read" && e["outcome"] == "allowed")
            .filter_map(|e| e["trace_id"].as_str())
            .collect();
        let missing: Vec<&String> = served
            .iter()
            .filter(|t| !logged.contains(t.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} reads returned data without an entry: {missing:?}",
            missing.len()
        );
        // The proofs of the last reads before the kill (most not yet in sled's flushed
        // state) are still used: a replay is refused.
        for proof in proofs.iter().rev().take(4) {
            let replayed = http
                .post(format!("{}/v1/dept/read", vault.url))
                .header("authorization", format!("DPoP {}", g.token))
                .header("DPoP", proof)
                .json(&json!({"resident": g.resident, "categories": ["schulden.overzicht"]}))
                .send()
                .await
                .unwrap();
            let status = replayed.status();
            let body: Value = replayed.json().await.unwrap();
            assert_eq!(
                (status.as_u16(), body["code"].as_str()),
                (401, Some("invalid_dpop_proof")),
                "round {round}: a proof used before the kill was taken again: {body}"
            );
        }
        proofs.clear();
    }
    assert!(
        served.len() >= 50,
        "only {} reads were served",
        served.len()
    );
    vault.stop();
}

#[tokio::test]
async fn officers_see_metadata_only_and_every_query_is_logged() {
    let vault = TestVault::start_now().await;
    let debts = TestDepartment::register(&vault, "schuldhulpverlening").await;
    let (resident_token, henk) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let secret =
        json!({"schulden": [{"schuldeiser": "Woonkracht-GEHEIM", "soort": "anders", "bedrag": 1}]});
    vault
        .app
        .residents()
        .write(&ctx(), henk, "schulden.overzicht", &secret)
        .await
        .unwrap();
    let g = grant(
        &vault,
        &debts,
        &resident_token,
        BSNS[0],
        "schuldhulp-traject",
        &["schulden.overzicht"],
        json!({}),
    )
    .await;
    assert_eq!(debts.read(&vault, &g, &["schulden.overzicht"]).await.0, 200);
    let officer = vault.officer().await;
    let henk_ref = vault.app.residents().audit_reference(henk);
    let audit = vault.app.audit();
    let size_before = audit.size().await;

    // Every operation of the API, as the officer: none returns vault contents.
    let doc: Value = serde_json::from_str(kluis::http::OPENAPI_JSON).unwrap();
    let mut officer_calls = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{category}", "schulden.overzicht")
            .replace("{version}", "1")
            .replace("{name}", "unauthorized-reads")
            .replace("{id}", &g.id.to_string());
        let query = match path.as_str() {
            "/v1/officer/proofs/inclusion" => "?seq=0&size=1".to_owned(),
            "/v1/officer/proofs/consistency" => "?old=1&new=2".to_owned(),
            "/v1/officer/residents/lookup" => {
                format!("?department=schuldhulpverlening&reference={}", g.resident)
            }
            "/v1/officer/audit" => format!("?resident={henk_ref}"),
            _ => String::new(),
        };
        for method in ["get", "put", "post", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let response = vault
                .http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{concrete}{query}", vault.url),
                )
                .bearer_auth(&officer)
                .json(&json!({"subject": "officer", "schulden": []}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(
                !text.contains("GEHEIM"),
                "{method} {concrete} showed vault contents to an officer"
            );
            if path.starts_with("/v1/officer") {
                assert_eq!(status, 200, "{method} {concrete}{query}: {text}");
                officer_calls += 1;
            } else if path.starts_with("/v1/me")
                || path.starts_with("/v1/dept")
                || path == "/v1/session/logout"
            {
                assert_eq!(
                    status, 401,
                    "{method} {concrete}: an officer credential opened it"
                );
            }
        }
    }
    assert!(officer_calls >= 7, "{officer_calls} officer operations");

    // Every one of those calls is in the log, as the officer's.
    let queries = audit
        .entries(size_before, audit.size().await)
        .await
        .unwrap();
    let by_officer: Vec<_> = queries
        .iter()
        .filter(|e| {
            e.action == kluis::audit::entry::Action::OfficerQuery
                && e.actor == kluis::audit::entry::Actor::Officer { id: "fg".into() }
        })
        .collect();
    assert_eq!(
        by_officer.len(),
        officer_calls,
        "every officer query is logged"
    );
    // The query about Henk is visible to Henk.
    let (_, history) = vault.get(&resident_token, "/v1/me/audit").await;
    let sentences: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary_nl"].as_str().unwrap())
        .collect();
    assert!(
        sentences
            .contains(&"De privacymedewerker van de gemeente heeft het logboek over u bekeken."),
        "{sentences:?}"
    );
    assert!(
        sentences.iter().any(|s| s.starts_with(
            "Afdeling schuldhulpverlening heeft deze gegevens bekeken: Mijn schulden."
        )),
        "{sentences:?}"
    );
    assert_eq!(history["reference"], henk_ref);

    // A resident's session opens no officer endpoint.
    assert_problem(
        &vault.get(&resident_token, "/v1/officer/audit").await,
        403,
        "forbidden",
    );
    // A withdrawn credential stops working at once.
    vault.app.officers().revoke("fg").await.unwrap();
    assert_problem(
        &vault.get(&officer, "/v1/officer/audit").await,
        401,
        "unauthenticated",
    );
}

#[tokio::test]
async fn a_vault_whose_log_was_truncated_or_rewritten_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    vault.stop();
    let backup = store::snapshot(dir.path());
    // More happens, the vault stops cleanly and saves its checkpoint; then someone
    // restores the older database (a truncated log).
    let vault = VaultProcess::dev(dir.path());
    assert_eq!(anna_stores_her_work(&vault.url).await, 201);
    vault.stop();
    let current = store::snapshot(dir.path());
    store::restore(dir.path(), &backup);
    let (ok, _, err) = dev_once(dir.path());
    assert!(
        !ok && err.contains("refusing to serve") && err.contains("truncated"),
        "{err}"
    );

    // The current database, with one entry rewritten behind the vault's back.
    store::restore(dir.path(), &current);
    store::rewrite_first_audit_entry(dir.path(), |first| {
        kluis::audit::change_stored_entry(&first, |entry| {
            assert_eq!(entry.action, Action::RecordWrite);
            entry.action = Action::RecordDelete;
        })
    });
    let (ok, _, err) = dev_once(dir.path());
    assert!(
        !ok && err.contains("refusing to serve") && err.contains("rewritten"),
        "{err}"
    );
}

/// Anna logs in to the `kluis dev` at `url` and stores that she works: a change that
/// needs its audit entry. Returns the answer's status.
async fn anna_stores_her_work(url: &str) -> reqwest::StatusCode {
    let http = crate::support::client();
    let token = crate::support::dev_login(&http, url, "anna").await;
    http.put(format!("{url}/v1/me/records/werk.profiel"))
        .bearer_auth(&token)
        .json(&json!({"situatie": "werkend"}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Rewrites the log's first entry in the database at `data` behind the vault's back.
/// Runs `kluis dev` on the vault in `dir` (with the database the tests run on) until it
/// exits: for a vault that must refuse to start.
fn dev_once(dir: &Path) -> (bool, String, String) {
    let mut args: Vec<std::ffi::OsString> = vec![
        "dev".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data".into(),
        dir.into(),
    ];
    if let Some(url) = store::store_url_for(dir) {
        args.extend(["--store-url".into(), url.into()]);
    }
    kluis_cli(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>())
}

/// Start-up does not rehash the whole log (issue 14): a rewritten entry older than the
/// newest 4,096 is found by the check that runs while the vault serves; `/readyz` then
/// answers 503 and the vault fails closed: no audited action is done any more.
#[tokio::test]
async fn an_old_rewritten_entry_is_found_while_serving_and_the_vault_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let http = crate::support::client();
    // Five thousand record writes by 25 residents: each writes one entry. (Refused reads
    // that nothing can be attributed to no longer do: they are counted per minute.)
    use futures_util::StreamExt;
    let mut tokens = Vec::new();
    for i in 0..25 {
        tokens.push(crate::support::dev_login(&http, &vault.url, &format!("writer-{i}")).await);
    }
    let statuses: Vec<_> = futures_util::stream::iter(0..5_000)
        .map(|i| {
            let (http, url, token) = (http.clone(), vault.url.clone(), tokens[i % 25].clone());
            async move {
                http.put(format!("{url}/v1/me/records/werk.profiel"))
                    .bearer_auth(token)
                    .json(&json!({"situatie": "werkzoekend"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        })
        .buffer_unordered(25)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| s.is_success()));
    vault.stop();
    store::rewrite_first_audit_entry(dir.path(), |mut first| {
        first.push(b' ');
        first
    });

    let vault = VaultProcess::dev(dir.path());
    let mut ready = Value::Null;
    for _ in 0..200 {
        let answer = http
            .get(format!("{}/readyz", vault.url))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        ready = answer.json().await.unwrap();
        if status == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let audit = ready["checks"]["audit"].as_str().unwrap_or_default();
    assert!(
        audit.contains("between 0 and 4096") && audit.contains("rewritten"),
        "{ready}"
    );
    // Fail closed: a resident's change, which needs its entry, is refused.
    assert_eq!(anna_stores_her_work(&vault.url).await, 503);
}

/// An officer's search words are logged as their length only, never as typed (issue 16:
/// "ids and counts only"); a filter part that is too long or holds a control character is
/// refused, naming the part.
#[tokio::test]
async fn an_officers_search_words_are_logged_as_a_length_only() {
    let vault = TestVault::start_now().await;
    let officer = vault.officer().await;
    let audit = vault.app.audit();
    let last_details = || async {
        let size = audit.size().await;
        let entry = audit.entries(size - 1, size).await.unwrap().remove(0);
        serde_json::to_value(&entry).unwrap()
    };

    let (status, _) = vault
        .get(
            &officer,
            "/v1/officer/audit?purpose=BSN%20111222333%20van%20Henk",
        )
        .await;
    assert_eq!(status, 200);
    let logged = last_details().await;
    assert_eq!(
        logged["details"]["purpose"], "(words, 22 characters)",
        "{logged}"
    );
    assert!(!logged.to_string().contains("111222333"), "{logged}");

    let (status, _) = vault
        .get(&officer, "/v1/officer/audit?purpose=schuldhulp-traject")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        last_details().await["details"]["purpose"],
        "schuldhulp-traject"
    );

    let size = audit.size().await;
    let long = "a".repeat(10_000);
    for query in [
        format!("purpose={long}"),
        "purpose=a%00b".to_owned(),
        format!("department={long}"),
    ] {
        let answer = vault
            .get(&officer, &format!("/v1/officer/audit?{query}"))
            .await;
        assert_problem(&answer, 400, "invalid_parameter");
        assert!(!answer.1.to_string().contains("aaaa"), "not echoed");
    }
    assert_eq!(
        audit.size().await,
        size,
        "a refused filter shows and logs nothing"
    );
}

/// `value` with every string that is a random id, hash or signature (16 or more characters
/// of hexadecimal digits, dashes or base64url, with a digit in them) or a timestamp (its
/// fraction of a second is random too) emptied.
fn without_random_ids(value: Vec<Value>) -> Vec<Value> {
    fn scrub(value: &mut Value) {
        match value {
            Value::String(s)
                if (s.len() >= 16
                    && s.chars().any(|c| c.is_ascii_digit())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    || chrono::DateTime::parse_from_rfc3339(s).is_ok() =>
            {
                s.clear()
            }
            Value::Array(items) => items.iter_mut().for_each(scrub),
            Value::Object(fields) => fields.values_mut().for_each(scrub),
            _ => {}
        }
    }
    let mut value = value;
    value.iter_mut().for_each(scrub);
    value
}
