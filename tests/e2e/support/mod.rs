//! Shared test support: vaults in-process and as real processes, and an HTTP client.

pub mod chromium;
pub mod department;
pub mod ledger;
pub mod load;
pub mod oidc;
pub mod process;
pub mod sockets;
pub mod store;
pub mod verifiers;

pub use department::TestDepartment;
pub use process::VaultProcess;

use chrono::{DateTime, Utc};
use kluis::store::faults::{Faults, FaultyStore};
use kluis::{App, Clock, Config};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The project root (where `Cargo.toml` of the workspace is).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared test vectors (`../shared/testdata`), or a clear failure if they are missing.
#[allow(dead_code)]
pub fn testdata(relative: &str) -> PathBuf {
    let base = std::env::var_os("KLUIS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("../shared/testdata"));
    let path = base.join(relative);
    assert!(
        path.exists(),
        "test vectors missing: {} (set KLUIS_TESTDATA to the shared testdata folder)",
        path.display()
    );
    path
}

/// A fresh audit context (trace) for calling domain services directly.
pub fn ctx() -> kluis::audit::Context {
    kluis::audit::Context::new(&kluis::Clock::system())
}

/// A fixed start time for manual clocks.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).expect("valid time")
}

/// An HTTP client that never follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// A resident's bearer token from the development login of the vault at `url`.
pub async fn dev_login(http: &reqwest::Client, url: &str, subject: &str) -> String {
    let login = http
        .post(format!("{url}/dev/login"))
        .json(&serde_json::json!({ "subject": subject }))
        .send()
        .await
        .unwrap();
    login.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A vault served in this process, on its own port and data directory.
pub struct TestVault {
    /// Its base URL.
    pub url: String,
    /// The app (for its clock and services).
    pub app: App,
    /// The switches that make its store fail (the store is real sled, wrapped).
    pub faults: Arc<Faults>,
    /// Its store itself (sled or PostgreSQL, [`store`]), for tests that tamper with the
    /// database.
    pub backend: store::Backend,
    /// Its data and key directories live here (removed when the last vault using them,
    /// of several nodes, is dropped).
    _dir: Arc<TempDir>,
    /// An HTTP client.
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestVault {
    /// A privacy officer's bearer token (credential `fg`, valid 30 days).
    pub async fn officer(&self) -> String {
        self.app
            .officers()
            .issue("fg", "FG Drechtsteden", 30)
            .await
            .expect("officer credential")
            .1
    }

    /// Starts a development vault (development login on) with a manual clock at [`t0`].
    pub async fn start() -> TestVault {
        let dir = tempfile::tempdir().expect("temp dir");
        TestVault::start_in(dir, Clock::manual(t0())).await
    }

    /// Starts a development vault whose manual clock starts at the real time, so that
    /// the SDK (which signs with the system clock) and the vault agree until a test moves
    /// the vault's clock.
    pub async fn start_now() -> TestVault {
        let dir = tempfile::tempdir().expect("temp dir");
        TestVault::start_in(dir, Clock::manual(Clock::system().now())).await
    }

    /// Logs `subject` in and returns (token, resident id).
    pub async fn resident(&self, subject: &str) -> (String, uuid::Uuid) {
        let token = self.login(subject).await;
        let id = self
            .app
            .residents()
            .ensure_resident(kluis::auth::dev_login::DEV_ISSUER, subject)
            .await
            .unwrap()
            .id;
        (token, id)
    }

    /// `POST path` with a JSON body and a bearer token.
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST");
        status_and_json(response).await
    }

    /// Starts a vault in `dir` with `clock`.
    pub async fn start_in(dir: TempDir, clock: Clock) -> TestVault {
        TestVault::start_configured(dir, clock, |_, _| {}).await
    }

    /// Starts a vault whose configuration `configure` adjusts, knowing the vault's URL
    /// (for providers' redirect URIs).
    pub async fn start_configured(
        dir: TempDir,
        clock: Clock,
        configure: impl FnOnce(&mut Config, &str),
    ) -> TestVault {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = dev_config(dir.path(), &listener);
        configure(&mut config, &url);
        let backend = store::Backend::open(&config.data_dir, config.cache_bytes).await;
        let (store, faults) = FaultyStore::wrap(backend.store());
        let app = App::open(&config, store, clock, url.clone())
            .await
            .expect("vault opens");
        let tx = serve(listener, &app);
        TestVault {
            url,
            app,
            faults,
            backend,
            _dir: Arc::new(dir),
            http: client(),
            shutdown: Some(tx),
        }
    }

    /// Starts `count` vault nodes on one PostgreSQL database (whatever
    /// `KLUIS_TEST_STORE` says) sharing one key directory, as nodes behind a load balancer
    /// share a volume. They share one public URL, `http://kluis-nodes.test:PORT`: node `i`
    /// listens on `127.0.0.(i+1):PORT`, and each node's [`TestVault::http`] resolves the
    /// name to its own node, so a request (and the DPoP proof's `htu`) looks the same
    /// whichever node serves it.
    pub async fn start_nodes(count: u8, clock: Clock) -> Vec<TestVault> {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = store::shared_database_for(&dir.path().join("data"));
        TestVault::start_nodes_in(dir, &database, count, clock).await
    }

    /// [`TestVault::start_nodes`] on the PostgreSQL database at `url`.
    pub async fn start_nodes_on(url: &str, count: u8, clock: Clock) -> Vec<TestVault> {
        let dir = tempfile::tempdir().expect("temp dir");
        TestVault::start_nodes_in(dir, url, count, clock).await
    }

    async fn start_nodes_in(
        dir: TempDir,
        database: &str,
        count: u8,
        clock: Clock,
    ) -> Vec<TestVault> {
        let dir = Arc::new(dir);
        let (listeners, port) = 'bind: loop {
            let first = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = first.local_addr().expect("addr").port();
            let mut listeners = vec![first];
            for i in 1..count {
                match tokio::net::TcpListener::bind((format!("127.0.0.{}", i + 1), port)).await {
                    Ok(listener) => listeners.push(listener),
                    Err(_) => continue 'bind,
                }
            }
            break (listeners, port);
        };
        let host = "kluis-nodes.test";
        let url = format!("http://{host}:{port}");
        let root = kluis::crypto::RootKey::generate().expect("root key");
        let mut nodes = Vec::new();
        // One at a time: the first creates the keyring and the schema, the others open them.
        for listener in listeners {
            let address = listener.local_addr().expect("addr");
            let mut config = dev_config(dir.path(), &listener);
            config.root_key = root.clone();
            let backend = store::Backend::open_postgres(database).await;
            let (store, faults) = FaultyStore::wrap(backend.store());
            let app = App::open(&config, store, clock.clone(), url.clone())
                .await
                .expect("node opens");
            let tx = serve(listener, &app);
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .resolve(host, address)
                .build()
                .expect("client builds");
            nodes.push(TestVault {
                url: url.clone(),
                app,
                faults,
                backend,
                _dir: dir.clone(),
                http,
                shutdown: Some(tx),
            });
        }
        nodes
    }

    /// Logs in through the development login and returns the bearer token.
    pub async fn login(&self, subject: &str) -> String {
        let response = self
            .http
            .post(format!("{}/dev/login", self.url))
            .json(&serde_json::json!({"subject": subject}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), StatusCode::OK, "dev login failed");
        let body: Value = response.json().await.expect("login body");
        body["token"].as_str().expect("token").to_owned()
    }

    /// `GET path` with a bearer token; returns status and JSON body (Null if none).
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        status_and_json(response).await
    }

    /// `PUT path` with a JSON body and a bearer token.
    pub async fn put(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .put(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("PUT");
        status_and_json(response).await
    }

    /// Stops serving (open requests finish).
    #[allow(dead_code)]
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestVault {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `app` on `listener` in the background until the returned sender is used or
/// dropped.
fn serve(listener: tokio::net::TcpListener, app: &App) -> oneshot::Sender<()> {
    let (tx, rx) = oneshot::channel::<()>();
    let served = app.clone();
    tokio::spawn(async move {
        kluis::run(listener, served, async {
            let _ = rx.await;
        })
        .await
        .expect("the vault serves");
    });
    tx
}

fn dev_config(dir: &Path, listener: &tokio::net::TcpListener) -> Config {
    let root = kluis::crypto::RootKey::generate().expect("root key");
    let mut config = Config::development(dir, listener.local_addr().expect("addr"), root);
    // Tests read as fast as they can; the department rate is tested where it is the point
    // (`limits.rs`), with a limit of its own.
    config.limits.department_per_second = 1_000_000;
    config
}

/// Status and body; the body parsed as JSON (Null when empty), and problem+json checked.
/// `GET url` with a bearer token: the status and the JSON body.
pub async fn get_as(url: &str, token: &str) -> (StatusCode, Value) {
    let response = client()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    status_and_json(response).await
}

pub async fn status_and_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = response.bytes().await.expect("body");
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(
            content_type, "application/problem+json",
            "errors are problem+json"
        );
    }
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (status, body)
}

/// Asserts a problem+json answer with `status` and `code`.
pub fn assert_problem(got: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(got.0.as_u16(), status, "status of {}", got.1);
    assert_eq!(got.1["code"], code, "code of {}", got.1);
    assert_eq!(got.1["type"], format!("urn:kluis:problem:{code}"));
    assert_eq!(got.1["status"], status);
}

/// Ends the current minute on the vault's clock and returns the entry that counts the
/// refusals nothing could be attributed to (issue 16), written either here or by the
/// vault's own task, whichever takes the counts first.
pub async fn counted_refusals(vault: &TestVault, since: u64) -> kluis::audit::entry::Entry {
    vault.app.clock().advance(chrono::TimeDelta::minutes(1));
    let audit = vault.app.audit();
    audit
        .log_tallies(false)
        .await
        .expect("the counts are logged");
    for _ in 0..100 {
        let mut counted: Vec<_> = audit
            .entries(since, audit.size().await)
            .await
            .expect("entries")
            .into_iter()
            .filter(|e| e.details.contains_key("count"))
            .collect();
        assert!(
            counted.len() <= 1,
            "one entry per source and minute: {counted:?}"
        );
        if let Some(entry) = counted.pop() {
            return entry;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no entry counts the refusals");
}
