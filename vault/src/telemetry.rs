//! The operator's metrics: what the vault counts (requests, department reads, audit
//! appends, store errors, refusals by rate limit) and what it reads off itself when
//! scraped (sessions, keys, memory), in the Prometheus text format.
//!
//! One recorder per vault (not the process-wide one of the `metrics` crate), so that
//! several vaults in one process, as in the tests, each count their own. Labels carry
//! route templates, methods, status classes, error codes and department ids; never a
//! resident reference, BSN, token or path with an id in it. A vault without a `[metrics]
//! listen` address counts nothing ([`Metrics::off`]).

use kluis_proto::ErrorCode;
use metrics::{Counter, Histogram};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Request and flush durations, in seconds: 0.5 ms to 10 s.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Group-commit sizes, up to the audit writer's largest batch.
const BATCH: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// What the vault reads off itself when scraped.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Sessions in the store that have not been purged.
    pub open_sessions: Option<u64>,
    /// The key-encryption key versions that exist.
    pub kek_versions: usize,
    /// The version of the KEK that wraps new data keys.
    pub kek_current_version: u32,
    /// How long ago the current KEK was made, if the key directory says.
    pub kek_age: Option<Duration>,
    /// The grant-signing keys published.
    pub signing_keys: usize,
    /// Entries in the audit log.
    pub audit_entries: u64,
}

/// This vault's metrics, or nothing when they are off. Cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Recorder>>);

struct Recorder {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The request counters and histograms, by route template: registered once, then
    /// found without building their keys again on every request.
    requests: RwLock<HashMap<String, RouteHandles>>,
    /// The department read counters, by department and then outcome.
    reads: RwLock<HashMap<String, Vec<(String, Counter)>>>,
}

/// A route's handles: counters by method and status class, histograms by method.
#[derive(Default)]
struct RouteHandles {
    counters: Vec<((&'static str, &'static str), Counter)>,
    durations: Vec<(&'static str, Histogram)>,
}

impl RouteHandles {
    fn find(&self, method: &'static str, class: &'static str) -> Option<(&Counter, &Histogram)> {
        let counter = self.counters.iter().find(|(k, _)| *k == (method, class))?;
        let duration = self.durations.iter().find(|(m, _)| *m == method)?;
        Some((&counter.1, &duration.1))
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Metrics").field(&self.0.is_some()).finish()
    }
}

impl Metrics {
    /// Counts nothing (no `[metrics] listen`).
    pub fn off() -> Metrics {
        Metrics(None)
    }

    /// A fresh recorder with every metric described.
    pub fn on() -> Metrics {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_batch_entries".into()), BATCH))
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Suffix("_batch_appends".into()), BATCH)
            });
        let Ok(builder) = builder else {
            // Only empty bucket lists fail, and these are constants.
            return Metrics::off();
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics(Some(Arc::new(Recorder {
            recorder,
            handle,
            requests: RwLock::default(),
            reads: RwLock::default(),
        })));
        metrics.with(describe);
        metrics
    }

    /// Whether this vault counts.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    fn with(&self, record: impl FnOnce()) {
        if let Some(inner) = &self.0 {
            metrics::with_local_recorder(&inner.recorder, record);
        }
    }

    /// One request answered: `route` is the matched route template (or "unmatched"),
    /// `status` its status code, `elapsed` the time to the response's head.
    pub fn request(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let Some(inner) = &self.0 else {
            return;
        };
        let class = status_class(status);
        let record = |(counter, duration): (&Counter, &Histogram)| {
            counter.increment(1);
            duration.record(elapsed.as_secs_f64());
        };
        let known = inner.requests.read().unwrap_or_else(|p| p.into_inner());
        if let Some(handles) = known.get(route).and_then(|h| h.find(method, class)) {
            return record(handles);
        }
        drop(known);
        let mut known = inner.requests.write().unwrap_or_else(|p| p.into_inner());
        let handles = known.entry(route.to_owned()).or_default();
        if handles.find(method, class).is_none() {
            self.with(|| {
                let route = route.to_owned();
                if !handles.counters.iter().any(|(k, _)| *k == (method, class)) {
                    let counter = counter!("kluis_http_requests_total", "method" => method, "route" => route.clone(), "status" => class);
                    handles.counters.push(((method, class), counter));
                }
                if !handles.durations.iter().any(|(m, _)| *m == method) {
                    let duration = histogram!("kluis_http_request_duration_seconds", "method" => method, "route" => route);
                    handles.durations.push((method, duration));
                }
            });
        }
        if let Some(found) = handles.find(method, class) {
            record(found);
        }
    }

    /// A request answered with a problem of `code`; `from_store` when the store failed.
    pub fn problem(&self, route: &str, code: ErrorCode, from_store: bool) {
        self.with(|| {
            counter!("kluis_http_problems_total", "route" => route.to_owned(), "code" => code.as_str())
                .increment(1);
            if code == ErrorCode::RateLimited {
                counter!("kluis_rate_limited_requests_total", "route" => route.to_owned())
                    .increment(1);
            }
            if from_store {
                counter!("kluis_store_errors_total", "place" => "request").increment(1);
            }
        });
    }

    /// A department's read attempt: `department` its id once proven ("unknown" before),
    /// `outcome` "allowed" or the refusal's error code.
    pub fn department_read(&self, department: &str, outcome: &str) {
        let Some(inner) = &self.0 else {
            return;
        };
        let find = |counters: &[(String, Counter)]| {
            counters
                .iter()
                .find(|(o, _)| o == outcome)
                .map(|(_, c)| c.clone())
        };
        let known = inner.reads.read().unwrap_or_else(|p| p.into_inner());
        if let Some(counter) = known.get(department).and_then(|c| find(c)) {
            return counter.increment(1);
        }
        drop(known);
        let mut known = inner.reads.write().unwrap_or_else(|p| p.into_inner());
        let counters = known.entry(department.to_owned()).or_default();
        let counter = find(counters).unwrap_or_else(|| {
            let mut counter = Counter::noop();
            self.with(|| {
                counter = counter!("kluis_department_reads_total", "department" => department.to_owned(), "outcome" => outcome.to_owned());
            });
            counters.push((outcome.to_owned(), counter.clone()));
            counter
        });
        counter.increment(1);
    }

    /// One group commit of the audit writer: `appends` callers' appends holding `entries`
    /// entries, durable after `flush` (or failed, counted as a store error).
    pub fn audit_batch(&self, appends: usize, entries: usize, flush: Duration, durable: bool) {
        self.with(|| {
            if durable {
                counter!("kluis_audit_appends_total").increment(entries as u64);
                histogram!("kluis_audit_batch_entries").record(entries as f64);
                histogram!("kluis_audit_batch_appends").record(appends as f64);
                histogram!("kluis_audit_flush_seconds").record(flush.as_secs_f64());
            } else {
                counter!("kluis_store_errors_total", "place" => "audit").increment(1);
            }
        });
    }

    /// The exposition: the counts so far and `gauges` read off the vault now.
    pub fn render(&self, gauges: &Gauges) -> String {
        let Some(inner) = &self.0 else {
            return String::new();
        };
        self.with(|| {
            if let Some(open) = gauges.open_sessions {
                gauge!("kluis_sessions_open").set(open as f64);
            }
            gauge!("kluis_keyring_kek_versions").set(gauges.kek_versions as f64);
            gauge!("kluis_keyring_kek_current_version").set(f64::from(gauges.kek_current_version));
            if let Some(age) = gauges.kek_age {
                gauge!("kluis_keyring_kek_age_seconds").set(age.as_secs_f64());
            }
            gauge!("kluis_signing_keys_published").set(gauges.signing_keys as f64);
            gauge!("kluis_audit_entries").set(gauges.audit_entries as f64);
            if let Some(bytes) = resident_memory_bytes() {
                gauge!("process_resident_memory_bytes").set(bytes as f64);
            }
        });
        inner.handle.run_upkeep();
        inner.handle.render()
    }

    /// Moves recorded histogram values into their buckets, so that memory stays bounded
    /// between scrapes (the vault's upkeep runs it once a minute).
    pub fn upkeep(&self) {
        if let Some(inner) = &self.0 {
            inner.handle.run_upkeep();
        }
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The process's resident set size, from `VmRSS` in `/proc/self/status` (Linux; `None`
/// elsewhere).
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn describe() {
    describe_counter!(
        "kluis_http_requests_total",
        "Requests answered, by method, route template and status class."
    );
    describe_histogram!(
        "kluis_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a request, by method and route template."
    );
    describe_counter!(
        "kluis_http_problems_total",
        "Requests answered with a problem, by route template and error code."
    );
    describe_counter!(
        "kluis_rate_limited_requests_total",
        "Requests refused by a rate limit, by route template."
    );
    describe_counter!(
        "kluis_store_errors_total",
        "Store failures: in a request, or in the audit writer."
    );
    describe_counter!(
        "kluis_department_reads_total",
        "Department read attempts, by department and outcome (allowed or the error code)."
    );
    describe_counter!("kluis_audit_appends_total", "Audit entries made durable.");
    describe_histogram!(
        "kluis_audit_batch_entries",
        "Audit entries per group commit."
    );
    describe_histogram!(
        "kluis_audit_batch_appends",
        "Appends (callers) per group commit."
    );
    describe_histogram!(
        "kluis_audit_flush_seconds",
        metrics::Unit::Seconds,
        "Time from a group commit's write to its flush."
    );
    describe_gauge!("kluis_sessions_open", "Sessions not yet purged.");
    describe_gauge!(
        "kluis_keyring_kek_versions",
        "Key-encryption key versions in the key directory."
    );
    describe_gauge!(
        "kluis_keyring_kek_current_version",
        "The version of the key-encryption key that wraps new data keys."
    );
    describe_gauge!(
        "kluis_keyring_kek_age_seconds",
        metrics::Unit::Seconds,
        "Age of the current key-encryption key."
    );
    describe_gauge!(
        "kluis_signing_keys_published",
        "Grant- and checkpoint-signing keys in the published key set."
    );
    describe_gauge!("kluis_audit_entries", "Entries in the audit log.");
    describe_gauge!(
        "process_resident_memory_bytes",
        metrics::Unit::Bytes,
        "Resident memory of the vault process."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_counts_nothing_and_renders_nothing() {
        let metrics = Metrics::off();
        metrics.request("GET", "/healthz", 200, Duration::from_millis(1));
        assert_eq!(metrics.render(&Gauges::default()), "");
    }

    #[test]
    fn two_vaults_in_one_process_count_apart() {
        let (a, b) = (Metrics::on(), Metrics::on());
        a.request("POST", "/v1/dept/read", 200, Duration::from_millis(3));
        a.department_read("werk-en-inkomen", "allowed");
        b.problem("/v1/dept/read", ErrorCode::RateLimited, false);
        let (a, b) = (a.render(&Gauges::default()), b.render(&Gauges::default()));
        assert!(
            a.contains(
                r#"kluis_http_requests_total{method="POST",route="/v1/dept/read",status="2xx"} 1"#
            ),
            "{a}"
        );
        assert!(a.contains(
            r#"kluis_department_reads_total{department="werk-en-inkomen",outcome="allowed"} 1"#
        ));
        assert!(!a.contains("kluis_rate_limited_requests_total{"), "{a}");
        assert!(b.contains(r#"kluis_rate_limited_requests_total{route="/v1/dept/read"} 1"#));
        assert!(!b.contains("kluis_department_reads_total{"));
    }

    #[test]
    fn durations_are_histograms_with_help() {
        let metrics = Metrics::on();
        metrics.audit_batch(3, 5, Duration::from_millis(2), true);
        metrics.audit_batch(1, 1, Duration::from_millis(2), false);
        let text = metrics.render(&Gauges::default());
        assert!(text.contains("# HELP kluis_audit_flush_seconds"), "{text}");
        assert!(
            text.contains("# TYPE kluis_audit_flush_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(r#"kluis_audit_batch_entries_bucket{le="8"} 1"#),
            "{text}"
        );
        assert!(text.contains("kluis_audit_appends_total 5"), "{text}");
        assert!(
            text.contains(r#"kluis_store_errors_total{place="audit"} 1"#),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
    }
}
