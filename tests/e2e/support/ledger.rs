//! What a vault acknowledged under load, and the check that none of it was lost after a
//! crash (`crash_rounds.rs`) or with one of two nodes killed (`node_kill.rs`).

use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What the vault acknowledged.
#[derive(Default)]
pub struct Ledger {
    /// (writer token, version, note) per acknowledged record write.
    pub writes: Vec<(String, u64, String)>,
    /// Grants whose approval was acknowledged.
    pub approved: HashSet<uuid::Uuid>,
    /// Grants whose revocation was acknowledged.
    pub revoked: HashSet<uuid::Uuid>,
    /// Subjects whose erasure was acknowledged.
    pub erased: Vec<String>,
    /// Trace ids of reads that returned data.
    pub reads: Vec<String>,
}

impl Ledger {
    pub fn operations(&self) -> usize {
        self.writes.len()
            + self.approved.len()
            + self.revoked.len()
            + self.erased.len()
            + self.reads.len()
    }
}

/// Every check after a crash: nothing `ledger` holds is lost in the vault at `url`
/// (reached with `http`; `dir` holds its admin socket, `direct_url` is where it listens);
/// with `older`, the log is consistent with that checkpoint. Panics naming the first loss.
pub async fn check(
    (http, url): (&reqwest::Client, &str),
    (dir, direct_url): (&Path, &str),
    henk: &str,
    ledger: &Ledger,
    older: Option<&Path>,
) {
    let get = |token: &str, path: &str| http.get(format!("{url}{path}")).bearer_auth(token).send();
    // Record writes: each acknowledged version reads back; every stored version opens.
    let mut newest: HashMap<&str, u64> = HashMap::new();
    for (token, version, note) in &ledger.writes {
        let response = get(
            token,
            &format!("/v1/me/records/werk.profiel/versions/{version}"),
        )
        .await
        .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged write v{version} ({note}) was lost"
        );
        let record: Value = response.json().await.unwrap();
        assert!(
            record["data"].to_string().contains(note.as_str()),
            "v{version} is not {note}"
        );
        let n = newest.entry(token).or_default();
        *n = (*n).max(*version);
    }
    for (token, acked) in newest {
        let versions: Value = get(token, "/v1/me/records/werk.profiel/versions")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored: Vec<u64> = versions
            .as_array()
            .or_else(|| versions["versions"].as_array())
            .expect("a list of versions")
            .iter()
            .filter_map(|v| v["version"].as_u64())
            .collect();
        let highest = stored.iter().copied().max().unwrap_or(0);
        assert!(
            highest == acked || highest == acked + 1,
            "versions up to {highest} stored, {acked} acknowledged: more than the one in flight"
        );
        if highest > acked {
            // The write in flight at the kill: whole (it opens), not half.
            let response = get(
                token,
                &format!("/v1/me/records/werk.profiel/versions/{highest}"),
            )
            .await
            .unwrap();
            assert_eq!(
                response.status(),
                200,
                "the unacknowledged version does not open"
            );
        }
    }
    // Decisions.
    let grants: Value = get(henk, "/v1/me/grants")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grants: HashMap<String, String> = grants
        .as_array()
        .expect("Henk's grants")
        .iter()
        .map(|g| {
            (
                g["id"].as_str().unwrap().to_owned(),
                g["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for id in &ledger.approved {
        assert!(
            grants.contains_key(&id.to_string()),
            "the acknowledged approval of {id} was lost"
        );
    }
    for id in &ledger.revoked {
        assert_eq!(
            grants.get(&id.to_string()).map(String::as_str),
            Some("revoked"),
            "the acknowledged revocation of {id} was lost"
        );
    }
    // Erasures: logging in again finds an empty vault.
    for subject in &ledger.erased {
        let token = super::dev_login(http, url, subject).await;
        let records: Value = get(&token, "/v1/me/records")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            records,
            json!([]),
            "the erased vault of {subject} still holds {records}"
        );
    }
    // The log: gapless, verified, consistent with the round before, an entry per read served.
    let entries = crate::audit::export_and_verify(dir, direct_url).await;
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(
            entry["seq"].as_u64(),
            Some(i as u64),
            "a gap in the log at {i}"
        );
    }
    let logged: HashSet<&str> = entries
        .iter()
        .filter(|e| e["action"] == "read" && e["outcome"] == "allowed")
        .filter_map(|e| e["trace_id"].as_str())
        .collect();
    let missing: Vec<&String> = ledger
        .reads
        .iter()
        .filter(|t| !logged.contains(t.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} reads returned data without an entry",
        missing.len()
    );
    if let Some(older) = older {
        let export = dir.join("export.jsonl");
        let (ok, out, err) = super::process::kluis_cli(&[
            "audit".as_ref(),
            "verify".as_ref(),
            export.as_os_str(),
            "--since".as_ref(),
            older.as_os_str(),
        ]);
        assert!(
            ok && out.starts_with("OK"),
            "not consistent with the round before: {out}{err}"
        );
    }
}
