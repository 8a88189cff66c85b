//! A real Chromium for the portal's browser tests.
//!
//! The portal must be proven in a real browser: forms that work by keyboard alone and
//! without JavaScript, pages that pass axe's accessibility checks, downloads that arrive.
//! [`Chromium`] runs `tests/browser/driver.mjs` under Node.js, which drives Debian's
//! Chromium (`/usr/bin/chromium`, or `$CHROMIUM`) headless through `playwright-core` and
//! checks pages with `@axe-core/playwright`. The two talk over a line protocol: one JSON
//! command per line on the driver's stdin, one JSON reply per line on its stdout.
//!
//! The methods are async (tokio::process): the vault under test usually runs in the same
//! tokio runtime, and a blocking read on a current-thread runtime would starve it.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The longest a command may take; the driver's own time-outs (10 s for an action, 20 s
/// for a navigation) answer well before it.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

fn browser_dir() -> PathBuf {
    super::project_root().join("tests/browser")
}

/// Installs the driver's npm packages once per test run (`npm ci`), if missing.
fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let modules = browser_dir().join("node_modules");
        if !modules.join("playwright-core").exists()
            || !modules.join("@axe-core/playwright").exists()
        {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(browser_dir())
                .status()
                .expect("npm runs (install Node.js 20+)");
            assert!(status.success(), "npm ci in tests/browser failed");
        }
    });
}

/// A headless Chromium with one browser context and one page at a time.
pub struct Chromium {
    /// The driver; killed when dropped.
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The driver's TMPDIR: Chromium's profile and saved downloads, removed when dropped.
    _temp: TempDir,
}

impl Chromium {
    /// Launches the driver and Chromium, and waits until they are ready.
    pub async fn start() -> Chromium {
        ensure_installed();
        let temp = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new("node")
            .arg(browser_dir().join("driver.mjs"))
            .env("TMPDIR", temp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (install Node.js 20+)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut chromium = Chromium {
            child,
            stdin,
            stdout,
            _temp: temp,
        };
        let ready = chromium.read_reply("(start)").await;
        assert_eq!(ready, json!({"ready": true}), "the browser driver starts");
        chromium
    }

    /// Sends one command and returns the driver's reply as it is, `{"ok": false, ...}`
    /// included.
    pub async fn call(&mut self, command: Value) -> Value {
        let line = command.to_string();
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("browser driver gone before {line}: {e}"));
        self.stdin.flush().await.expect("flush to the driver");
        self.read_reply(&line).await
    }

    async fn read_reply(&mut self, command: &str) -> Value {
        let line = tokio::time::timeout(REPLY_TIMEOUT, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("browser driver did not answer {command}"))
            .expect("read from the driver")
            .unwrap_or_else(|| panic!("browser driver exited on {command}"));
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("browser driver answered {command} with {line:?}: {e}"))
    }

    /// Sends one command; panics with the driver's error if it failed.
    async fn run(&mut self, command: Value) -> Value {
        let reply = self.call(command.clone()).await;
        if reply["ok"] != true {
            panic!("browser: {command} failed: {}", reply["error"]);
        }
        reply
    }

    /// Replaces the browser context (cookies, history, recorded requests) with a new one,
    /// with JavaScript on or off.
    pub async fn new_context(&mut self, javascript: bool) {
        self.run(json!({"cmd": "new_context", "javascript": javascript}))
            .await;
    }

    /// As [`Chromium::new_context`], in a locale such as `nl-NL` (`Accept-Language`).
    pub async fn new_context_in(&mut self, javascript: bool, locale: &str) {
        self.run(json!({"cmd": "new_context", "javascript": javascript, "locale": locale}))
            .await;
    }

    /// Navigates and waits for the page to load; returns the final URL and status.
    pub async fn goto(&mut self, url: &str) -> (String, u16) {
        let reply = self.run(json!({"cmd": "goto", "url": url})).await;
        let status = reply["status"].as_u64().expect("status");
        (
            string(&reply["url"]),
            u16::try_from(status).expect("HTTP status"),
        )
    }

    /// Clicks (a Playwright selector: `role=button[name="Opslaan"]`, `text=…`, CSS) and
    /// waits for a navigation it starts; returns the URL then.
    pub async fn click(&mut self, selector: &str) -> String {
        string(
            &self
                .run(json!({"cmd": "click", "selector": selector}))
                .await["url"],
        )
    }

    /// Types `value` into a field, replacing what it held.
    pub async fn fill(&mut self, selector: &str, value: &str) {
        self.run(json!({"cmd": "fill", "selector": selector, "value": value}))
            .await;
    }

    /// Ticks a checkbox or radio button.
    pub async fn check(&mut self, selector: &str) {
        self.run(json!({"cmd": "check", "selector": selector}))
            .await;
    }

    /// Unticks a checkbox.
    pub async fn uncheck(&mut self, selector: &str) {
        self.run(json!({"cmd": "uncheck", "selector": selector}))
            .await;
    }

    /// Chooses the option with this value (or label) in a `<select>`.
    pub async fn select(&mut self, selector: &str, value: &str) {
        self.run(json!({"cmd": "select", "selector": selector, "value": value}))
            .await;
    }

    /// Presses a key (`Tab`, `Shift+Tab`, `Enter`, `Space`) where the focus is, and waits
    /// for a navigation it starts; returns the URL then.
    pub async fn press(&mut self, key: &str) -> String {
        string(&self.run(json!({"cmd": "press", "key": key})).await["url"])
    }

    /// Puts `text` in where the focus is, as pasting it would (any character, new lines
    /// included).
    pub async fn paste(&mut self, text: &str) {
        self.run(json!({"cmd": "paste", "text": text})).await;
    }

    /// The focused element: `tag`, `id`, `type`, `text`, and Chromium's accessible `role`
    /// and `name` for it (what a screen reader announces).
    pub async fn focused(&mut self) -> Value {
        let mut reply = self.run(json!({"cmd": "focused"})).await;
        reply.as_object_mut().expect("object").remove("ok");
        reply
    }

    /// [`Chromium::assert_clean_page`], then the page at 320 px: no wider than the screen,
    /// still axe-clean.
    pub async fn assert_clean_page_at_320(&mut self, prefix: &str, what: &str) {
        self.assert_clean_page(prefix, what).await;
        self.set_viewport(320, 640).await;
        let width = self.width().await;
        assert!(width <= 320, "{what} is {width} px wide at 320 px");
        let violations = self.axe().await;
        assert!(violations.is_empty(), "{what} at 320 px: {violations:#?}");
        self.set_viewport(1280, 800).await;
    }

    /// axe finds nothing on the page shown and its Dutch is plain. With
    /// `KLUIS_SCREENSHOTS=DIR`, a Dutch page is also saved as `DIR/<prefix><what>.png`
    /// (how the screenshots in `docs/` are made).
    pub async fn assert_clean_page(&mut self, prefix: &str, what: &str) {
        let violations = self.axe().await;
        assert!(
            violations.is_empty(),
            "{what} ({}): {violations:#?}",
            self.url().await
        );
        self.assert_plain_dutch(what).await;
        if let Some(dir) = std::env::var_os("KLUIS_SCREENSHOTS").map(std::path::PathBuf::from)
            && self.attribute("html", "lang").await.as_deref() == Some("nl")
        {
            std::fs::create_dir_all(&dir).unwrap();
            let name = format!("{prefix}{}.png", what.replace(' ', "-"));
            self.screenshot(&dir.join(name), true).await;
        }
    }

    /// On a Dutch page: its text as rendered, values included, is plain Dutch (no sentence
    /// over 20 words, an average of at most 12, no listed jargon, "u heeft"). Each line is
    /// a paragraph, list item or label.
    pub async fn assert_plain_dutch(&mut self, what: &str) {
        if self.attribute("html", "lang").await.as_deref() != Some("nl") {
            return;
        }
        let text = self.text(None).await;
        let problems = kluis::language::plain::problems(text.lines());
        assert!(problems.is_empty(), "{what}: {problems:#?}");
    }

    /// The visible text of `selector`, or of `main` (else `body`) by default.
    pub async fn text(&mut self, selector: Option<&str>) -> String {
        let command = match selector {
            Some(selector) => json!({"cmd": "text", "selector": selector}),
            None => json!({"cmd": "text"}),
        };
        string(&self.run(command).await["text"])
    }

    /// The page's current DOM as HTML.
    pub async fn html(&mut self) -> String {
        string(&self.run(json!({"cmd": "html"})).await["html"])
    }

    /// The page's URL.
    pub async fn url(&mut self) -> String {
        string(&self.run(json!({"cmd": "url"})).await["url"])
    }

    /// How many elements match `selector`.
    pub async fn count(&mut self, selector: &str) -> usize {
        let reply = self
            .run(json!({"cmd": "count", "selector": selector}))
            .await;
        usize::try_from(reply["count"].as_u64().expect("count")).expect("count fits")
    }

    /// An attribute of the one element matching `selector` (None if it lacks it).
    pub async fn attribute(&mut self, selector: &str, name: &str) -> Option<String> {
        let reply = self
            .run(json!({"cmd": "attribute", "selector": selector, "name": name}))
            .await;
        reply["value"].as_str().map(str::to_owned)
    }

    /// axe's WCAG 2.1 A and AA violations on the page: `{id, impact, help, nodes}` each.
    pub async fn axe(&mut self) -> Vec<Value> {
        let reply = self.run(json!({"cmd": "axe"})).await;
        reply["violations"].as_array().expect("violations").clone()
    }

    /// Saves a PNG of the viewport, or of the whole page.
    pub async fn screenshot(&mut self, path: &Path, full_page: bool) {
        self.run(json!({"cmd": "screenshot", "path": path, "full_page": full_page}))
            .await;
    }

    /// Clicks and waits for the download it starts; returns where it was saved (inside
    /// this browser's temporary directory) and the file name the server suggested.
    pub async fn download(&mut self, selector: &str) -> (PathBuf, String) {
        self.download_with(json!({"cmd": "download", "selector": selector}))
            .await
    }

    /// Presses `key` on the focused element and waits for the download it starts.
    pub async fn download_by_key(&mut self, key: &str) -> (PathBuf, String) {
        self.download_with(json!({"cmd": "download", "key": key}))
            .await
    }

    async fn download_with(&mut self, command: Value) -> (PathBuf, String) {
        let reply = self.run(command).await;
        (
            PathBuf::from(string(&reply["path"])),
            string(&reply["suggested_filename"]),
        )
    }

    /// Every URL the context requested since [`Chromium::new_context`], in order.
    pub async fn requests(&mut self) -> Vec<String> {
        let reply = self.run(json!({"cmd": "requests"})).await;
        let urls = reply["urls"].as_array().expect("urls");
        urls.iter().map(string).collect()
    }

    /// Resizes the page's viewport (CSS pixels).
    pub async fn set_viewport(&mut self, width: u32, height: u32) {
        self.run(json!({"cmd": "set_viewport", "width": width, "height": height}))
            .await;
    }

    /// How wide the page is, in CSS pixels (`scrollWidth` of the document).
    pub async fn width(&mut self) -> u64 {
        self.run(json!({"cmd": "width"})).await["width"]
            .as_u64()
            .expect("width")
    }

    /// Closes the browser and waits for the driver to exit (dropping kills it instead).
    pub async fn close(mut self) {
        self.run(json!({"cmd": "close"})).await;
        let status = self.child.wait().await.expect("driver exits");
        assert!(status.success(), "browser driver exited with {status}");
    }
}

fn string(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string from the browser driver, not {value}"))
        .to_owned()
}
