//! Acknowledged writes survive SIGKILL (issue 2, must-show 4).
//!
//! A real `kluis` process with a real data directory takes concurrent writes; right after
//! the N-th acknowledgement (N varies per round) the test kills it with SIGKILL: no
//! shutdown, no final flush. After each restart every acknowledged write must read back
//! exactly, at the version the vault acknowledged.

use crate::support::{VaultProcess, client};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Mutex;

const ROUNDS: usize = 12;
const WRITERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    // (version, toelichting) of every acknowledged write, per category.
    let acked: Arc<Mutex<Vec<(String, u64, String)>>> = Arc::default();
    let mut token: Option<String> = None;

    for round in 0..ROUNDS {
        let vault = VaultProcess::dev(dir.path());
        // The session made in round 0 survives every crash too: sessions are durable.
        let bearer = match &token {
            Some(t) => t.clone(),
            None => {
                let t = crate::support::dev_login(&http, &vault.url, "crash").await;
                token = Some(t.clone());
                t
            }
        };

        // Everything acknowledged so far is there, byte for byte.
        verify(&http, &vault.url, &bearer, &acked.lock().await).await;

        let kill_after = 3 + (round * 7) % 17;
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let (http, url, bearer, acked, count, done_tx) = (
                http.clone(),
                vault.url.clone(),
                bearer.clone(),
                acked.clone(),
                count.clone(),
                done_tx.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let category = ["levensgebeurtenis", "werk.profiel"][writer % 2];
                for seq in 0.. {
                    let note = format!("round {round} writer {writer} write {seq}");
                    let body = match category {
                        "levensgebeurtenis" => {
                            json!({"gebeurtenissen": [{"soort": "anders", "toelichting": note}]})
                        }
                        _ => json!({"situatie": "werkzoekend", "toelichting": note}),
                    };
                    let sent = http
                        .put(format!("{url}/v1/me/records/{category}"))
                        .bearer_auth(&bearer)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(response) = sent else { return };
                    if response.status() != 201 {
                        return;
                    }
                    let Ok(written) = response.json::<Value>().await else {
                        return;
                    };
                    acked.lock().await.push((
                        category.to_owned(),
                        written["version"].as_u64().unwrap(),
                        note,
                    ));
                    if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == kill_after {
                        let _ = done_tx.send(()).await;
                    }
                }
            }));
        }
        done_rx.recv().await;
        vault.kill();
        for task in tasks {
            let _ = task.await;
        }
    }

    let vault = VaultProcess::dev(dir.path());
    let acked = acked.lock().await;
    assert!(
        acked.len() >= ROUNDS * 3,
        "only {} writes were acknowledged",
        acked.len()
    );
    verify(&http, &vault.url, token.as_deref().unwrap(), &acked).await;
}

async fn verify(http: &reqwest::Client, url: &str, token: &str, acked: &[(String, u64, String)]) {
    for (category, version, note) in acked {
        let response = http
            .get(format!("{url}/v1/me/records/{category}/versions/{version}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged write {category} v{version} ({note}) was lost"
        );
        let record: Value = response.json().await.unwrap();
        let text = record["data"].to_string();
        assert!(
            text.contains(note.as_str()),
            "{category} v{version} holds {text}, expected {note}"
        );
    }
}

/// A client assertion used just before a SIGKILL is still used after the restart (issue 16):
/// its one-time id is durable before the call is answered, even for a call that writes
/// nothing else (a department listing its grants).
#[tokio::test]
async fn an_assertion_used_before_a_crash_is_refused_after_it() {
    use kluis_proto::consent::CLIENT_ASSERTION_HEADER;
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let url = vault.url.clone();
    let key =
        kluis_sdk::DepartmentKey::from_file(dir.path().join("departments/werk-en-inkomen.jwk"))
            .unwrap();
    let now = kluis::Clock::system().now().timestamp();
    let assertion =
        crate::support::department::assertion(&key, "werk-en-inkomen", &url, now, json!({}));
    // A new client per call: no pooled connection to the killed process.
    let list = |assertion: String| {
        client()
            .get(format!("{url}/v1/dept/grants"))
            .header(CLIENT_ASSERTION_HEADER, assertion)
            .send()
    };
    assert_eq!(list(assertion.clone()).await.unwrap().status(), 200);
    vault.kill();

    let _vault = VaultProcess::dev_at(dir.path(), url.trim_start_matches("http://"));
    let replayed = list(assertion).await.unwrap();
    let (status, body) = crate::support::status_and_json(replayed).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "invalid_client", "{body}");
    let fresh = crate::support::department::assertion(
        &key,
        "werk-en-inkomen",
        &url,
        kluis::Clock::system().now().timestamp(),
        json!({}),
    );
    assert_eq!(
        list(fresh).await.unwrap().status(),
        200,
        "a new one is taken"
    );
}
