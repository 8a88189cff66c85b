//! Kluis benchmarks: `cargo bench --bench vault [-- SECTION...]`.
//!
//! Sections: `records` (record write and read through store and crypto, and through the
//! HTTP API). With no section, all run. `KLUIS_BENCH_QUICK=1` runs a short smoke version.
//! Every run prints the machine it ran on and the process's memory at the end.

mod support;

use kluis::{App, Clock, Config};
use serde_json::{Value, json};
use std::sync::Arc;
use support::{drive, machine, memory, scaled};

/// A realistic record of about 1 KB.
fn one_kb_record(i: usize) -> Value {
    let debts: Vec<Value> = (0..6)
        .map(|d| {
            json!({"schuldeiser": format!("Schuldeiser {d} van schrijfactie {i}"), "soort": "incassobureau",
                   "bedrag": 100.0 + d as f64, "bij_incassobureau_of_deurwaarder": true,
                   "toelichting": "Een oude rekening die via een incassobureau loopt."})
        })
        .collect();
    json!({ "schulden": debts })
}

struct Bench {
    app: App,
    url: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Bench {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let root = kluis::crypto::RootKey::generate().expect("root key");
    let config = Config::development(dir.path(), listener.local_addr().expect("addr"), root);
    let app = App::open(&config, Clock::system(), url.clone())
        .await
        .expect("vault opens");
    let served = app.clone();
    tokio::spawn(async move { kluis::run(listener, served, std::future::pending()).await });
    Bench {
        app,
        url,
        _dir: dir,
    }
}

async fn records() {
    let bench = start().await;
    let size = serde_json::to_vec(&one_kb_record(0)).expect("json").len();
    println!("records ({size}-byte records):");

    // Through the domain service: schema check, seal, store (durable on return).
    let residents = bench.app.residents().clone();
    let resident = residents
        .ensure_resident("urn:bench", "writer")
        .await
        .expect("resident")
        .id;
    for concurrency in [1, 16, 64] {
        let residents = residents.clone();
        let flushes_before = store_flushes(&bench.app);
        let m = drive(
            &format!("store+crypto write, {concurrency} concurrent"),
            scaled(4000),
            concurrency,
            move |i| {
                let residents = residents.clone();
                async move {
                    residents
                        .write(resident, "schulden.overzicht", &one_kb_record(i))
                        .await
                        .expect("write");
                }
            },
        )
        .await;
        if let Some(before) = flushes_before {
            let flushes = store_flushes(&bench.app).unwrap_or(before) - before;
            println!(
                "  {:<52} {:>10.1} writes per flush",
                "  group commit",
                m.ops as f64 / flushes.max(1) as f64
            );
        }
    }
    for concurrency in [1, 16, 64] {
        let residents = residents.clone();
        drive(
            &format!("store+crypto read current, {concurrency} concurrent"),
            scaled(20000),
            concurrency,
            move |_| {
                let residents = residents.clone();
                async move {
                    residents
                        .read(resident, "schulden.overzicht", None)
                        .await
                        .expect("read");
                }
            },
        )
        .await;
    }

    // Through the HTTP API: the same, plus HTTP, JSON and session lookup.
    let http = reqwest::Client::new();
    let token: String = http
        .post(format!("{}/dev/login", bench.url))
        .json(&json!({"subject": "bench"}))
        .send()
        .await
        .expect("login")
        .json::<Value>()
        .await
        .expect("login body")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let target = Arc::new((
        http,
        token,
        format!("{}/v1/me/records/schulden.overzicht", bench.url),
    ));
    for concurrency in [1, 16, 64] {
        let target = target.clone();
        drive(
            &format!("HTTP PUT record, {concurrency} concurrent"),
            scaled(3000),
            concurrency,
            move |i| {
                let target = target.clone();
                async move {
                    let (http, token, url) = &*target;
                    let response = http
                        .put(url)
                        .bearer_auth(token)
                        .json(&one_kb_record(i))
                        .send()
                        .await
                        .expect("PUT");
                    assert_eq!(response.status(), 201);
                }
            },
        )
        .await;
    }
    for concurrency in [1, 16, 64] {
        let target = target.clone();
        drive(
            &format!("HTTP GET record, {concurrency} concurrent"),
            scaled(10000),
            concurrency,
            move |_| {
                let target = target.clone();
                async move {
                    let (http, token, url) = &*target;
                    let response = http.get(url).bearer_auth(token).send().await.expect("GET");
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("body");
                }
            },
        )
        .await;
    }
}

fn store_flushes(app: &App) -> Option<u64> {
    app.flush_count()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs = |section: &str| args.is_empty() || args.iter().any(|a| a == section);
    println!("Kluis benchmark on {}", machine());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if runs("records") {
            records().await;
        }
    });
    println!("memory: {}", memory());
}
