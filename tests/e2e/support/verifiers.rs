//! The independent verifiers in the test tree, written with Node's own crypto and nothing
//! of the vault's: Security Event Tokens (`tests/setverify`) and signed notes
//! (`tests/notes`). Each reads one JSON document and answers one JSON line per item.

use super::project_root;
use serde_json::{Value, json};
use std::io::Write;

/// Runs the Node script `script` (relative to the project) on `input`; its answers.
fn run(script: &str, input: &Value) -> Vec<Value> {
    let mut child = std::process::Command::new("node")
        .arg(project_root().join(script))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (install Node.js 20+)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the verifier {script} failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Verifies SETs `tokens` of the vault `issuer` for `audience` against `jwks`.
pub fn verify_sets(issuer: &str, jwks: &Value, audience: &str, tokens: &[String]) -> Vec<Value> {
    let input = json!({"jwks": jwks, "issuer": issuer, "audience": audience, "tokens": tokens});
    run("tests/setverify/verify.mjs", &input)
}

/// Verifies the signed `note` with each of `keys` (verifier keys).
pub fn verify_note(note: &str, keys: &[&str]) -> Vec<Value> {
    run(
        "tests/notes/verify-note.mjs",
        &json!({"note": note, "keys": keys}),
    )
}
