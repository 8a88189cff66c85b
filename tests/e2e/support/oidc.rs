//! The real OpenID Provider of `tests/oidc-op/` (the npm package oidc-provider), and a
//! cookie-keeping client that walks a login through it the way a browser would.

use reqwest::StatusCode;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn op_dir() -> PathBuf {
    super::project_root().join("tests/oidc-op")
}

/// Installs the provider's npm packages once per test run (`npm ci`), if missing.
fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if !op_dir().join("node_modules/oidc-provider").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(op_dir())
                .status()
                .expect("npm runs (install Node.js 20+)");
            assert!(status.success(), "npm ci in tests/oidc-op failed");
        }
    });
}

/// A running test provider.
pub struct TestProvider {
    child: Child,
    /// Its issuer URL (`http://127.0.0.1:PORT`).
    pub issuer: String,
}

impl TestProvider {
    /// Starts the provider with these redirect URIs for `kluis-residents`, and, if given,
    /// a `kluis-staff` client (private_key_jwt) with its redirect URI and public JWK.
    pub fn start(
        resident_redirects: &[String],
        post_logout: &[String],
        staff: Option<(&str, &serde_json::Value)>,
    ) -> TestProvider {
        ensure_installed();
        let mut command = Command::new("node");
        command.arg(op_dir().join("server.mjs"));
        for uri in resident_redirects {
            command.args(["--redirect-uri", uri]);
        }
        for uri in post_logout {
            command.args(["--post-logout-uri", uri]);
        }
        if let Some((redirect, jwk)) = staff {
            command.args([
                "--staff-redirect-uri",
                redirect,
                "--staff-client-jwk",
                &jwk.to_string(),
            ]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        stdout.read_line(&mut line).expect("the provider starts");
        let issuer = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected: {line}"))
            .to_owned();
        std::thread::spawn(move || for _ in stdout.lines() {});
        TestProvider { child, issuer }
    }

    /// Makes the next ID token it issues damaged in the given way.
    pub async fn fault(&self, kind: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/test/fault", self.issuer))
            .body(serde_json::json!({"kind": kind}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser stand-in: keeps cookies (vault's and provider's), never follows redirects by
/// itself.
pub struct Browser {
    /// The HTTP client with its cookie jar.
    pub http: reqwest::Client,
}

/// Where a walk through redirects ended.
pub struct Landed {
    /// The last response's status.
    pub status: StatusCode,
    /// Its body.
    pub body: String,
    /// Every URL visited, in order.
    pub visited: Vec<String>,
    /// `Set-Cookie` headers the vault sent on the way.
    pub vault_cookies: Vec<String>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }
}

impl Browser {
    /// Follows redirects from `url`, logging in at the provider's interaction as
    /// `account`; `rewrite` may change a URL before it is visited (to tamper with a
    /// callback), and `stop_at` ends the walk before a URL containing it is visited.
    pub async fn walk(
        &self,
        url: &str,
        account: &str,
        vault: &str,
        rewrite: &dyn Fn(String) -> String,
        stop_at: Option<&str>,
    ) -> Landed {
        let mut next = url.to_owned();
        let mut visited = Vec::new();
        let mut vault_cookies = Vec::new();
        for _ in 0..20 {
            if next.contains("/interaction/") && !next.contains("login=") {
                next = format!("{next}?login={account}");
            }
            next = rewrite(next);
            if stop_at.is_some_and(|s| next.contains(s)) {
                visited.push(next);
                return Landed {
                    status: StatusCode::OK,
                    body: String::new(),
                    visited,
                    vault_cookies,
                };
            }
            visited.push(next.clone());
            let response = self.http.get(&next).send().await.expect("request");
            if next.starts_with(vault) {
                vault_cookies.extend(
                    response
                        .headers()
                        .get_all("set-cookie")
                        .iter()
                        .map(|v| v.to_str().unwrap_or("").to_owned()),
                );
            }
            let status = response.status();
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match location {
                Some(location) if status.is_redirection() => {
                    let base = reqwest::Url::parse(&next).expect("url");
                    next = base.join(&location).expect("location").to_string();
                }
                _ => {
                    let body = response.text().await.unwrap_or_default();
                    return Landed {
                        status,
                        body,
                        visited,
                        vault_cookies,
                    };
                }
            }
        }
        panic!("too many redirects: {visited:?}");
    }
}
