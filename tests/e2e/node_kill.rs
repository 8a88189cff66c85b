// Long: one scenario (two node processes, mixed load on both, a SIGKILL, every check) and its ledger.
//! One of two vault nodes is killed under load (issue 15, must-show 4): two real `kluis dev`
//! processes on one PostgreSQL database, sharing the root key, the key directory (the
//! shared volume of `docs/operations.md`) and one public name, take record writes, access
//! requests, approvals, revocations and department reads on both nodes at once. Node A is
//! killed with SIGKILL; node B serves on. Then, through B:
//!
//! - every acknowledged record write reads back, on either node it was made;
//! - every acknowledged approval is a grant, every acknowledged revocation a revoked grant;
//! - every read that returned data, on either node, has its audit entry, and the one log
//!   is gapless and verifies with `kluis audit verify`;
//! - B gave no error at all: only requests in flight on A may have failed (they are counted
//!   and printed).
//!
//! The nodes run on PostgreSQL whatever `KLUIS_TEST_STORE` says: sled is one process's.

use crate::support::department::dpop;
use crate::support::ledger::{self, Ledger};
use crate::support::{VaultProcess, dev_login, store};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

/// The one name both nodes serve under; each client resolves it to its own node.
const HOST: &str = "kluis-nodes.test";
const HENK_BSN: &str = "999993653";
const DEPARTMENT: &str = "schuldhulpverlening";
const DEBTS: &str = "schulden.overzicht";
/// Acknowledgements before A is killed, and by B after it.
const BEFORE_KILL: usize = 60;
const AFTER_KILL: usize = 60;

/// One node's share of the load: what it acknowledged and what failed.
#[derive(Default)]
struct NodeCount {
    acknowledged: AtomicUsize,
    failed: AtomicUsize,
}

/// One vault node process and a client that reaches it under the shared name.
struct Node {
    process: Option<VaultProcess>,
    http: reqwest::Client,
}

/// A port free on both 127.0.0.1 and 127.0.0.2: the nodes share a port so that they
/// share one public URL (`http://HOST:PORT`), as two machines behind one name do.
fn port_free_on_both() -> u16 {
    loop {
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = first.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.2", port)).is_ok() {
            return port;
        }
    }
}

fn start_node(dir: &Path, ip: Ipv4Addr, port: u16, public_url: &str, database: &str) -> Node {
    let mut command = std::process::Command::new(crate::support::process::kluis_binary());
    command
        .args(["dev", "--listen", &format!("{ip}:{port}"), "--data"])
        .arg(dir)
        .args(["--store-url", database, "--public-url", public_url]);
    let process = VaultProcess::spawn(&mut command);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(HOST, SocketAddr::new(IpAddr::V4(ip), port))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds");
    Node {
        process: Some(process),
        http,
    }
}

/// Node B's directory shares A's root key, key directory and department keys.
fn share_keys(a: &Path, b: &Path) {
    std::fs::copy(a.join("root.key"), b.join("root.key")).expect("root key");
    for shared in ["keys", "departments"] {
        std::os::unix::fs::symlink(a.join(shared), b.join(shared)).expect("symlink");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_one_node_under_load_loses_nothing_and_the_other_serves_on() {
    let database = store::new_database();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = port_free_on_both();
    let url = format!("http://{HOST}:{port}");
    let mut a = start_node(
        a_dir.path(),
        Ipv4Addr::new(127, 0, 0, 1),
        port,
        &url,
        &database,
    );
    share_keys(a_dir.path(), b_dir.path());
    let b = start_node(
        b_dir.path(),
        Ipv4Addr::new(127, 0, 0, 2),
        port,
        &url,
        &database,
    );
    let key_file = a_dir.path().join(format!("departments/{DEPARTMENT}.jwk"));

    // Logged in once on A: sessions are rows, so the tokens serve on B too.
    let henk = dev_login(&a.http, &url, "henk").await;
    let writers = [
        dev_login(&a.http, &url, "kill-w0").await,
        dev_login(&a.http, &url, "kill-w1").await,
    ];
    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let live: Arc<Mutex<Vec<kluis_sdk::Grant>>> = Arc::default();
    let counts = [
        Arc::new(NodeCount::default()),
        Arc::new(NodeCount::default()),
    ];
    let stopped = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (n, node) in [&a, &b].into_iter().enumerate() {
        let load = Load {
            url: url.clone(),
            http: node.http.clone(),
            ledger: ledger.clone(),
            count: counts[n].clone(),
            stopped: stopped.clone(),
            live: live.clone(),
        };
        tasks.push(tokio::spawn(load.clone().writes(writers[n].clone(), n)));
        tasks.push(tokio::spawn(
            load.clone().approvals(henk.clone(), key_file.clone()),
        ));
        for _ in 0..2 {
            tasks.push(tokio::spawn(load.clone().reads(key_file.clone())));
        }
    }

    // Kill A once both nodes have served a while; B serves on for as long again.
    let acknowledged = |n: usize| counts[n].acknowledged.load(Ordering::SeqCst);
    wait_until("both nodes serve", || {
        acknowledged(0) >= BEFORE_KILL && acknowledged(1) >= BEFORE_KILL
    })
    .await;
    let a_failed_before_kill = counts[0].failed.load(Ordering::SeqCst);
    a.process.take().expect("A runs").kill();
    let b_at_kill = acknowledged(1);
    // For a while (the pool's connections to a killed peer's locks are gone within it),
    // and for a good number of operations.
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_until("B serves on after A is killed", || {
        acknowledged(1) >= b_at_kill + AFTER_KILL
    })
    .await;
    stopped.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("load task");
    }
    assert_eq!(
        a_failed_before_kill, 0,
        "A failed nothing before it was killed"
    );
    assert_eq!(
        counts[1].failed.load(Ordering::SeqCst),
        0,
        "B gave no error: only requests in flight on A may fail"
    );

    let seen = ledger.lock().await;
    let b_listens = b.process.as_ref().expect("B runs").url.clone();
    ledger::check(
        (&b.http, &url),
        (b_dir.path(), &b_listens),
        &henk,
        &seen,
        None,
    )
    .await;
    println!(
        "node kill: A acknowledged {} operations and failed {} in flight when killed; B acknowledged {} ({} after the kill) and failed 0; {} writes, {} approvals, {} revocations, {} reads: 0 lost",
        acknowledged(0),
        counts[0].failed.load(Ordering::SeqCst),
        acknowledged(1),
        acknowledged(1) - b_at_kill,
        seen.writes.len(),
        seen.approved.len(),
        seen.revoked.len(),
        seen.reads.len()
    );
}

/// Waits (at most 60 s) until `done`, failing with `what` otherwise.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out: {what}");
}

/// One node's clients: they stop at their first failure (counted) or when told to.
#[derive(Clone)]
struct Load {
    url: String,
    http: reqwest::Client,
    ledger: Arc<Mutex<Ledger>>,
    count: Arc<NodeCount>,
    stopped: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<kluis_sdk::Grant>>>,
}

impl Load {
    fn running(&self) -> bool {
        !self.stopped.load(Ordering::SeqCst)
    }

    fn failed(&self) {
        self.count.failed.fetch_add(1, Ordering::SeqCst);
    }

    fn acknowledged(&self) {
        self.count.acknowledged.fetch_add(1, Ordering::SeqCst);
    }

    /// A resident writes a record, again and again.
    async fn writes(self, token: String, node: usize) {
        for seq in 0.. {
            if !self.running() {
                return;
            }
            let note = format!("node {node} write {seq}");
            let written = self
                .http
                .put(format!("{}/v1/me/records/werk.profiel", self.url))
                .bearer_auth(&token)
                .json(&json!({"situatie": "werkzoekend", "toelichting": note}))
                .send()
                .await;
            let Some(written) = success(written, 201).await else {
                return self.failed();
            };
            let version = written["version"].as_u64().expect("a version");
            self.ledger
                .lock()
                .await
                .writes
                .push((token.clone(), version, note));
            self.acknowledged();
        }
    }

    /// The department asks; Henk approves, and revokes every other grant.
    async fn approvals(self, henk: String, key_file: std::path::PathBuf) {
        let key = kluis_sdk::DepartmentKey::from_file(&key_file).expect("department key");
        let department = kluis_sdk::Client::new(&self.url, DEPARTMENT, key)
            .expect("client")
            .with_http_client(self.http.clone());
        for i in 0.. {
            if !self.running() {
                return;
            }
            let asked = department
                .request_access(&kluis_sdk::proto::consent::NewAccessRequest {
                    resident: kluis_sdk::proto::consent::ResidentIdentifier::NationalId {
                        scheme: "bsn".into(),
                        value: HENK_BSN.into(),
                    },
                    processing_activity: "schuldhulp-traject".into(),
                    categories: vec![DEBTS.into()],
                    duration_days: 30,
                })
                .await;
            let Ok(asked) = asked else {
                return self.failed();
            };
            let approved = self
                .http
                .post(format!("{}/v1/me/requests/{}/approve", self.url, asked.id))
                .bearer_auth(&henk)
                .json(&json!({}))
                .send()
                .await;
            let Some(grant) = success(approved, 201).await else {
                return self.failed();
            };
            let id: uuid::Uuid = grant["id"].as_str().expect("an id").parse().expect("uuid");
            self.ledger.lock().await.approved.insert(id);
            self.acknowledged();
            let Ok(status) = department.request_status(asked.id).await else {
                return self.failed();
            };
            let issued = status.grant.expect("an approved request has its grant");
            if i % 2 == 0 {
                self.live.lock().await.push(issued);
                continue;
            }
            let revoked = self
                .http
                .post(format!("{}/v1/me/grants/{id}/revoke", self.url))
                .bearer_auth(&henk)
                .json(&json!({}))
                .send()
                .await;
            if success(revoked, 200).await.is_none() {
                return self.failed();
            }
            self.ledger.lock().await.revoked.insert(id);
            self.acknowledged();
        }
    }

    /// The department reads under the newest grant that stands, on this node.
    async fn reads(self, key_file: std::path::PathBuf) {
        let key = kluis_sdk::DepartmentKey::from_file(&key_file).expect("department key");
        while self.running() {
            let Some(g) = self.live.lock().await.last().cloned() else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let trace = uuid::Uuid::new_v4().simple().to_string();
            let now = kluis::Clock::system().now().timestamp();
            let read = self
                .http
                .post(format!("{}/v1/dept/read", self.url))
                .header("authorization", format!("DPoP {}", g.token))
                .header("DPoP", dpop(&key, &self.url, &g.token, now, json!({})))
                .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
                .json(&json!({"resident": g.resident, "categories": [DEBTS]}))
                .send()
                .await;
            let Some(body) = success(read, 200).await else {
                return self.failed();
            };
            assert!(body.get("records").is_some(), "a read returns records");
            self.ledger.lock().await.reads.push(trace);
            self.acknowledged();
        }
    }
}

/// The body of a response with `status`, or none (a failure) for anything else.
async fn success(
    response: Result<reqwest::Response, reqwest::Error>,
    status: u16,
) -> Option<Value> {
    let response = response.ok()?;
    if response.status() != status {
        return None;
    }
    response.json().await.ok()
}
