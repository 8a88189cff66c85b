//! Shared benchmark support: the machine description, latency statistics, and a
//! concurrent driver. Figures are printed, never asserted: these machines are noisy, so
//! compare figures within one run.

use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A description of the machine the benchmark ran on.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "{cpu}, {cores} cores, {mem_gib:.1} GiB RAM, Linux {}, {} build, {}",
        kernel.trim(),
        profile,
        std::env::consts::ARCH
    )
}

/// Peak and current resident memory of this process, in MiB.
pub fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    format!(
        "peak RSS {:.1} MiB, current RSS {:.1} MiB",
        field("VmHWM:"),
        field("VmRSS:")
    )
}

/// The result of one measured scenario.
pub struct Measurement {
    pub name: String,
    pub ops: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Measurement {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index]
    }

    /// The mean duration of one operation.
    pub fn mean(&self) -> Duration {
        self.elapsed / self.ops.max(1) as u32
    }

    /// One line: throughput, p50, p99.
    pub fn print(&self) {
        println!(
            "  {:<52} {:>10.0} ops/s   p50 {:>9.3} ms   p99 {:>9.3} ms   ({} ops)",
            self.name,
            self.ops as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.ops
        );
    }
}

/// Runs `ops` calls of `op(i)` from `concurrency` tasks and measures each call.
pub async fn drive<F, Fut>(name: &str, ops: usize, concurrency: usize, op: F) -> Measurement
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= ops {
                    break;
                }
                let began = Instant::now();
                op(i).await;
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(ops);
    for task in tasks {
        latencies.extend(task.await.expect("bench task"));
    }
    let measurement = Measurement {
        name: name.to_owned(),
        ops,
        elapsed: start.elapsed(),
        latencies,
    };
    measurement.print();
    measurement
}

/// Measures a synchronous operation `iterations` times on this thread.
pub fn time_sync(name: &str, iterations: usize, mut op: impl FnMut(usize)) -> Measurement {
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let began = Instant::now();
        op(i);
        latencies.push(began.elapsed());
    }
    let measurement = Measurement {
        name: name.to_owned(),
        ops: iterations,
        elapsed: start.elapsed(),
        latencies,
    };
    measurement.print();
    measurement
}

/// How many operations to run: fewer with `KLUIS_BENCH_QUICK=1` (a smoke run in CI).
pub fn scaled(full: usize) -> usize {
    if std::env::var("KLUIS_BENCH_QUICK").is_ok_and(|v| v == "1") {
        (full / 20).max(20)
    } else {
        full
    }
}

/// A resident session token from the development login of the vault at `url`.
pub async fn dev_token(http: &reqwest::Client, url: &str, subject: &str) -> String {
    http.post(format!("{url}/dev/login"))
        .json(&serde_json::json!({ "subject": subject }))
        .send()
        .await
        .expect("login")
        .json::<serde_json::Value>()
        .await
        .expect("login body")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// A realistic record of about 1 KB.
pub fn one_kb_record(i: usize) -> Value {
    let debts: Vec<Value> = (0..6)
        .map(|d| {
            json!({"schuldeiser": format!("Schuldeiser {d} van schrijfactie {i}"), "soort": "incassobureau",
                   "bedrag": 100.0 + d as f64, "bij_incassobureau_of_deurwaarder": true,
                   "toelichting": "Een oude rekening die via een incassobureau loopt."})
        })
        .collect();
    json!({ "schulden": debts })
}
