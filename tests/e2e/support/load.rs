//! Residents reading and writing a vault continuously from several clients, while a test
//! does something to the running vault (a key rotation, a backup); every failed request
//! is counted and printed.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::task::JoinHandle;

/// One client per token, each writing `werk.profiel` and reading it back in a loop.
pub struct ResidentLoad {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    clients: Vec<JoinHandle<()>>,
}

impl ResidentLoad {
    /// Starts one client per session token against `url`.
    pub fn start(url: &str, tokens: Vec<String>) -> ResidentLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut clients = Vec::new();
        for (i, token) in tokens.into_iter().enumerate() {
            let (url, stop, done, failed) =
                (url.to_owned(), stop.clone(), done.clone(), failed.clone());
            clients.push(tokio::spawn(async move {
                let http = super::client();
                let mut round = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    round += 1;
                    let situatie = if round.is_multiple_of(2) {
                        "werkzoekend"
                    } else {
                        "werkend"
                    };
                    let wrote = http
                        .put(format!("{url}/v1/me/records/werk.profiel"))
                        .bearer_auth(&token)
                        .json(&json!({ "situatie": situatie }))
                        .send()
                        .await;
                    let read = http
                        .get(format!("{url}/v1/me/records/werk.profiel"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    for answer in [wrote, read] {
                        match answer {
                            Ok(r) if r.status().is_success() => done.fetch_add(1, Ordering::SeqCst),
                            Ok(r) => {
                                eprintln!("client {i}: {}", r.status());
                                failed.fetch_add(1, Ordering::SeqCst)
                            }
                            Err(e) => {
                                eprintln!("client {i}: {e}");
                                failed.fetch_add(1, Ordering::SeqCst)
                            }
                        };
                    }
                }
            }));
        }
        ResidentLoad {
            stop,
            done,
            failed,
            clients,
        }
    }

    /// Henk, Anna, Bram and Carla log in to the `kluis dev` vault at `url` and start
    /// reading and writing; returns once half a second of load has succeeded.
    pub async fn four_residents(url: &str) -> ResidentLoad {
        let mut tokens = Vec::new();
        for who in ["henk", "anna", "bram", "carla"] {
            tokens.push(super::dev_login(&super::client(), url, who).await);
        }
        let load = ResidentLoad::start(url, tokens);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(load.done() > 0, "the load runs");
        load
    }

    /// Requests answered with success so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Stops the clients; returns `(succeeded, failed)` requests.
    pub async fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.await.expect("a load client panicked");
        }
        (
            self.done.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}
