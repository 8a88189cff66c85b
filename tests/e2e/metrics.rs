//! The operator's metrics (issue 19, must-show 1): a real `kluis dev` with a metrics
//! listener runs Henk's journey; `/metrics` counts what the journey did, passes
//! `promtool check metrics`, and holds none of the journey's personal data.

use crate::henks_journey;
use crate::support::process::{audit_export, kluis_binary, said};
use crate::support::{VaultProcess, client, dev_login};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// Every sample of the exposition, by its name and labels as written.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The values of `resident`, `grant`, `trace_id` and `span_id` anywhere in `value`.
fn collect_ids(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value.as_str()) {
                    ("resident" | "grant" | "trace_id" | "span_id", Some(id)) => {
                        into.push(id.to_owned());
                    }
                    _ => collect_ids(value, into),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_ids(v, into)),
        _ => {}
    }
}

/// The status of an unauthenticated `method url`.
async fn status_of(method: &[u8], url: String) -> reqwest::StatusCode {
    let method = reqwest::Method::from_bytes(method).unwrap();
    client().request(method, url).send().await.unwrap().status()
}

async fn scrape(url: &str) -> String {
    let response = client().get(url).send().await.expect("metrics answer");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

/// `promtool check metrics` on `text`: its verdict and what it said.
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package `prometheus`; scripts/test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), said(&out))
}

#[tokio::test]
async fn metrics_count_henks_journey_pass_promtool_and_hold_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev_with(
        dir.path(),
        &[("KLUIS_METRICS_LISTEN", "127.0.0.1:0".into())],
    );
    let metrics = vault
        .output()
        .lines()
        .find_map(|l| l.strip_prefix("metrics on "))
        .expect("kluis says where the metrics are")
        .trim()
        .to_owned();
    assert!(!metrics.contains(vault.url.trim_start_matches("http://")));

    // Not on the public listener.
    assert_eq!(
        status_of(b"GET", format!("{}/metrics", vault.url)).await,
        404
    );

    let keys = dir.path().join("departments");
    henks_journey::run(&vault.url, &keys, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("the journey failed: {e:#}\n{}", vault.output()));
    let token = dev_login(&client(), &vault.url, "henk").await;
    // A path nobody routes, with a method nobody uses, and a path with a category in it.
    let nonsense = "a1b2c3d4e5f6a7b8";
    let odd = format!("{}/x/{nonsense}", vault.url);
    assert_eq!(status_of(b"PROPFIND", odd).await, 404);
    let category = format!("{}/v1/me/records/inkomen.bronnen", vault.url);
    assert_eq!(status_of(b"GET", category).await, 401);

    // Counted refusals and the last flushes settle within a few seconds.
    let mut text = scrape(&metrics).await;
    for _ in 0..50 {
        let s = samples(&text);
        if s.get("kluis_audit_appends_total") == s.get("kluis_audit_entries") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        text = scrape(&metrics).await;
    }
    let s = samples(&text);
    let count = |series: &str| s.get(series).copied().unwrap_or(0.0);

    // The reads the journey made, by department and outcome.
    let reads = |department: &str, outcome: &str| {
        count(&format!(
            r#"kluis_department_reads_total{{department="{department}",outcome="{outcome}"}}"#
        ))
    };
    assert_eq!(reads("schuldhulpverlening", "allowed"), 1.0, "{text}");
    assert_eq!(reads("werk-en-inkomen", "allowed"), 2.0, "{text}");
    assert_eq!(reads("werk-en-inkomen", "grant_revoked"), 1.0, "{text}");
    let refused_outside_grant: f64 = s
        .iter()
        .filter(|(k, _)| {
            k.starts_with(r#"kluis_department_reads_total{department="werk-en-inkomen""#)
                && !k.contains(r#"outcome="allowed""#)
                && !k.contains(r#"outcome="grant_revoked""#)
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(refused_outside_grant, 1.0, "the read outside the grant");
    assert!(
        !s.keys()
            .any(|k| k.contains(r#"department="jeugdhulp",outcome="allowed""#))
    );

    // Requests by route template and status class; the read endpoint's latency.
    assert_eq!(
        count(r#"kluis_http_requests_total{method="POST",route="/v1/dept/read",status="2xx"}"#),
        3.0
    );
    assert_eq!(
        count(r#"kluis_http_requests_total{method="POST",route="/v1/dept/read",status="4xx"}"#),
        2.0
    );
    assert_eq!(
        count(r#"kluis_http_request_duration_seconds_count{method="POST",route="/v1/dept/read"}"#),
        5.0
    );
    assert!(
        count(
            r#"kluis_http_requests_total{method="POST",route="/v1/me/grants/{id}/revoke",status="2xx"}"#
        ) >= 1.0
    );
    assert_eq!(
        count(r#"kluis_http_problems_total{route="/v1/dept/read",code="grant_revoked"}"#),
        1.0
    );

    // The audit writer: every entry of the log was appended here and counted once.
    let entries = count("kluis_audit_entries");
    assert!(entries > 20.0, "{text}");
    assert_eq!(count("kluis_audit_appends_total"), entries, "{text}");
    assert!(count("kluis_audit_batch_entries_count") >= 1.0);
    assert!(count("kluis_audit_flush_seconds_count") >= 1.0);
    assert!(
        count("kluis_sessions_open") >= 2.0,
        "Henk is logged in twice"
    );
    assert_eq!(count("kluis_keyring_kek_versions"), 1.0);
    assert_eq!(count("kluis_keyring_kek_current_version"), 1.0);
    assert!(count("kluis_keyring_kek_age_seconds") < 3600.0);
    assert!(count("kluis_signing_keys_published") >= 1.0);
    assert!(count("process_resident_memory_bytes") > 1e6);

    // promtool reads it, with no lint problem.
    let (passed, said) = promtool(&text);
    assert!(passed, "promtool check metrics: {said}\n{text}");

    assert!(
        count(r#"kluis_http_requests_total{method="other",route="unmatched",status="4xx"}"#) >= 1.0,
        "{text}"
    );
    assert!(
        count(
            r#"kluis_http_requests_total{method="GET",route="/v1/me/records/{category}",status="4xx"}"#
        ) >= 1.0
    );
    assert!(!text.contains(nonsense) && !text.contains("inkomen.bronnen"));

    // None of the journey's personal data, ids or tokens: not Henk's BSN, a token, a record
    // value, nor any resident reference, grant or trace of the log.
    let mut secrets = vec![
        henks_journey::HENK_BSN.to_owned(),
        token.clone(),
        "Woonkracht".to_owned(),
    ];
    let export = audit_export(dir.path());
    for line in export.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        collect_ids(&value, &mut secrets);
    }
    assert!(
        secrets.len() > 20,
        "the export holds the journey's references and traces"
    );
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "{secret:?} in the metrics");
    }
    // No UUID (grant, resident, request) and no path with an id in any label.
    let uuid_like = text
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .any(|w| w.len() == 36 && w.matches('-').count() == 4);
    assert!(!uuid_like, "an id in the metrics:\n{text}");
    for line in text.lines().filter(|l| l.contains("route=\"")) {
        let route = line
            .split("route=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            route == "unmatched" || route.starts_with('/'),
            "route label {route:?}"
        );
        let template = route.split('/').all(|segment| {
            segment == "v1"
                || (segment.starts_with('{') && segment.ends_with('}'))
                || segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || "-_.".contains(c))
        });
        assert!(template, "a path, not a route template: {route:?}");
    }
    vault.stop();
}

#[tokio::test]
async fn metrics_stay_off_without_a_listener() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    assert!(!vault.output().contains("metrics on "));
    assert_eq!(
        status_of(b"GET", format!("{}/metrics", vault.url)).await,
        404
    );
}

#[test]
fn a_bad_metrics_address_is_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(kluis_binary())
        .args(["dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("KLUIS_METRICS_LISTEN", "localhost")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("(KLUIS_METRICS_LISTEN)")
            && said.contains("\"localhost\" is not an address:port such as \"127.0.0.1:9464\""),
        "{said}"
    );
}

/// JSON logs (`KLUIS_LOG_FORMAT=json`, or `[log] format = "json"` for `kluis serve`): one
/// JSON object per line, each request's lines carrying its route, its own request id and
/// the trace the caller sent, never the path.
#[tokio::test]
async fn json_logs_carry_the_request_id_and_the_callers_trace() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev_with(dir.path(), &[("KLUIS_LOG_FORMAT", "json".into())]);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client()
        .get(format!("{}/v1/me/records/inkomen.bronnen", vault.url))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let output = vault.stop();
    let logged: Vec<serde_json::Value> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(logged.len() > 5, "{output}");
    let finished = logged
        .iter()
        .find(|l| {
            l["span"]["trace_id"] == trace
                && l["fields"]["message"] == "finished processing request"
        })
        .unwrap_or_else(|| panic!("no line of the request with its trace:\n{output}"));
    assert_eq!(finished["span"]["route"], "/v1/me/records/{category}");
    let request_id = finished["span"]["request_id"].as_str().unwrap();
    assert!(
        request_id.len() == 16
            && request_id.chars().all(|c| c.is_ascii_hexdigit())
            && request_id != "00f067aa0ba902b7",
        "the vault's own span for this request: {request_id}"
    );
    assert!(!output.contains("inkomen.bronnen"), "the path was logged");
}

/// The example alert rules in `docs/operations.md` are rules Prometheus accepts, over
/// metrics the vault has.
#[test]
fn the_alert_rules_in_the_operations_guide_pass_promtool() {
    let guide =
        std::fs::read_to_string(crate::support::project_root().join("docs/operations.md")).unwrap();
    let rules = guide
        .split("```yaml\n")
        .filter_map(|block| block.split_once("```").map(|(yaml, _)| yaml))
        .find(|yaml| yaml.starts_with("groups:"))
        .expect("the guide has example alert rules");
    for metric in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if metric.starts_with("kluis_") {
            let known = metric.trim_end_matches("_bucket");
            assert!(
                guide.contains(&format!("`{known}`")) || guide.contains(&format!("`{known}`,")),
                "the rules use {metric}, which the metrics table does not list"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kluis-rules.yml");
    std::fs::write(&file, rules).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool runs (Debian package `prometheus`; scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
