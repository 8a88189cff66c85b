//! The `reports` section: every officer report over a log of a million entries (20,000
//! with `KLUIS_BENCH_QUICK=1`), run in a separate process that opens the vault afresh, so
//! its peak RSS is the reports' own and not the growing's. The log is a region's: 50,000
//! residents (1,000 in the smoke run) who each granted the debt team access, reads under those grants, one read in
//! a hundred refused after a revoke.
//!
//! The children are this binary again, told by `KLUIS_BENCH_REPORTS_GROW` or
//! `KLUIS_BENCH_REPORTS_CHILD` (the data directory) and `KLUIS_BENCH_ROOT_KEY`. The
//! reports' child also says how long the vault took to open on that log, its RSS then, and
//! the inclusion proofs' p99 at that size. `KLUIS_BENCH_REPORTS_ENTRIES=N` grows a log of
//! N entries instead and measures only that (on sled: 10,000,000 for issue 14's start-up
//! figure).

use super::context_now;
use super::support::{drive, memory};
use kluis::audit::entry::{Action, Actor, Entry, Outcome};
use kluis::{App, Clock, Config};

const GROW: &str = "KLUIS_BENCH_REPORTS_GROW";
const CHILD: &str = "KLUIS_BENCH_REPORTS_CHILD";
const ROOT: &str = "KLUIS_BENCH_ROOT_KEY";
const STORE_URL: &str = "KLUIS_BENCH_STORE_URL";

fn config(dir: &std::path::Path, root: kluis::crypto::RootKey) -> Config {
    let addr = "127.0.0.1:0".parse().expect("address");
    Config::development(dir, addr, root)
}

/// Opens the vault in `dir`, on PostgreSQL at `KLUIS_BENCH_STORE_URL` if set.
async fn open(dir: &std::path::Path, root: kluis::crypto::RootKey) -> App {
    let mut config = config(dir, root);
    if let Ok(url) = std::env::var(STORE_URL) {
        config.store = kluis::config::StoreKind::Postgres(kluis::config::PostgresSettings {
            url,
            pool_size: kluis::config::DEFAULT_POOL_SIZE,
            ca_file: None,
        });
    }
    let store = kluis::store::open(&config).await.expect("store opens");
    println!("  (store opened: {})", memory());
    App::open(&config, store, Clock::system(), "http://127.0.0.1:1".into())
        .await
        .expect("vault opens")
}

fn grant_id(resident: usize) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x6b6c_7569_7300_0000_0000_0000_0000_0000 | resident as u128)
}

/// Entry `i` of the region's log: first a grant for each resident, then reads under them.
fn entry(i: usize) -> Entry {
    let department = "schuldhulpverlening";
    let resident = i % residents();
    let (action, outcome) = if i < residents() {
        (Action::Grant, Outcome::Done)
    } else if i.is_multiple_of(100) {
        (Action::Read, Outcome::Refused)
    } else {
        (Action::Read, Outcome::Allowed)
    };
    let mut entry = Entry::new(
        action,
        outcome,
        Actor::Department {
            id: department.into(),
        },
    );
    entry.resident = Some(format!("{resident:043}"));
    entry.department = Some(department.into());
    entry.grant = Some(grant_id(resident));
    entry.categories = vec!["schulden.overzicht".into()];
    entry.processing_activity = Some(kluis_proto::consent::ActivityRef {
        id: "schuldhulp-traject".into(),
        version: 1,
    });
    entry.purpose = Some("We maken samen met u een plan om uw schulden op te lossen.".into());
    if action == Action::Grant {
        let now = Clock::system().now();
        entry.valid_from = Some(now - chrono::TimeDelta::days(1));
        entry.valid_until = Some(now + chrono::TimeDelta::days(90));
    }
    if outcome == Outcome::Refused {
        entry.reason = Some("grant_revoked".into());
    }
    entry.policy = Some(kluis::audit::entry::ACCESS_POLICY.into());
    entry
}

/// Grows the log in one child process, runs the reports in another, prints what they say.
/// Runs the section on sled, then on a real PostgreSQL server (when this machine has one).
/// `KLUIS_BENCH_REPORTS_DIR=DIR` keeps the grown sled vault in DIR (with its root key) and
/// grows it only once, so repeated runs measure the reports alone.
pub async fn reports() {
    println!("reports, on sled:");
    let kept = std::env::var_os("KLUIS_BENCH_REPORTS_DIR").map(std::path::PathBuf::from);
    on_store(kept, None);
    if entries_asked().is_some() {
        return;
    }
    match kluis::store::postgres::server::TestServer::start() {
        Ok(server) => {
            println!("reports, on PostgreSQL:");
            on_store(None, Some(server.new_database().await));
        }
        Err(why) => println!("reports, on PostgreSQL: skipped ({why})"),
    }
}

/// Grows the log in one child process and runs the reports in another, in `kept` or a
/// temporary directory, on sled or the PostgreSQL database at `url`.
fn on_store(kept: Option<std::path::PathBuf>, url: Option<String>) {
    let temporary = tempfile::tempdir().expect("temp dir");
    let dir = kept.clone().unwrap_or_else(|| temporary.path().to_owned());
    let key_file = dir.join("bench-root.key");
    let encoded = match std::fs::read_to_string(&key_file) {
        Ok(key) if kept.is_some() => key,
        _ => {
            let key = kluis::crypto::RootKey::generate_encoded().expect("root key");
            std::fs::create_dir_all(&dir).expect("bench dir");
            std::fs::write(&key_file, key.as_str()).expect("root key file");
            key.to_string()
        }
    };
    let grown = kept.is_some() && dir.join("data").exists();
    let steps: &[&str] = if grown { &[CHILD] } else { &[GROW, CHILD] };
    for step in steps {
        let mut child = std::process::Command::new(std::env::current_exe().expect("this binary"));
        child.env(step, &dir).env(ROOT, encoded.trim());
        if let Some(url) = &url {
            child.env(STORE_URL, url);
        }
        let out = child.output().expect("the child process runs");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "the child process failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The log's size: a million entries, 20,000 for a smoke run, or `KLUIS_BENCH_REPORTS_ENTRIES`.
fn target() -> usize {
    if let Some(entries) = entries_asked() {
        entries
    } else if std::env::var("KLUIS_BENCH_QUICK").is_ok_and(|v| v == "1") {
        20_000
    } else {
        1_000_000
    }
}

/// The log's size asked for by `KLUIS_BENCH_REPORTS_ENTRIES`.
fn entries_asked() -> Option<usize> {
    std::env::var("KLUIS_BENCH_REPORTS_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
}

/// The residents: one grant each, then reads (a twentieth of the log).
fn residents() -> usize {
    target() / 20
}

/// In a child: whether this process is one, and if so, do its step.
pub fn run_child_if_asked() -> bool {
    let (dir, grow) = match (std::env::var_os(GROW), std::env::var_os(CHILD)) {
        (Some(dir), _) => (dir, true),
        (None, Some(dir)) => (dir, false),
        (None, None) => return false,
    };
    let root = std::env::var(ROOT)
        .ok()
        .and_then(|k| kluis::crypto::RootKey::from_encoded(&k).ok())
        .expect("root key");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let started = std::time::Instant::now();
        let app = open(std::path::Path::new(&dir), root).await;
        if !grow {
            println!(
                "  {:<52} {:>10.0} ms ({})",
                "open the vault (store, keys, start-up audit check)",
                started.elapsed().as_secs_f64() * 1000.0,
                memory()
            );
        }
        if grow {
            grow_log(app).await;
        } else {
            run_reports(app).await;
        }
    });
    true
}

async fn grow_log(app: App) {
    let target = target();
    println!(
        "  a log of {target} entries ({} residents' grants, then reads):",
        residents()
    );
    drive("grow the log, 256 concurrent", target, 256, move |i| {
        let app = app.clone();
        async move {
            app.audit()
                .record(&context_now(), entry(i))
                .await
                .expect("append");
        }
    })
    .await;
}

/// 1,000 inclusion proofs at `size`, labelled `when`.
pub async fn proofs(app: &App, size: u64, when: &str) {
    let picks: std::sync::Arc<Vec<u64>> =
        std::sync::Arc::new((0..1000u64).map(|i| (i * 7919 * 104_729) % size).collect());
    let app = app.clone();
    drive(
        &format!("inclusion proof at size {size}, {when}"),
        1000,
        1,
        move |i| {
            let (app, picks) = (app.clone(), picks.clone());
            async move {
                app.audit()
                    .inclusion_proof(picks[i], size)
                    .await
                    .expect("proof");
            }
        },
    )
    .await;
}

async fn run_reports(app: App) {
    let size = app.audit().size().await;
    // The vault serves while it rehashes every entry in the background: proofs then, and
    // once that check is done.
    let started = std::time::Instant::now();
    proofs(&app, size, "during the full check").await;
    let health = app.audit().integrity();
    while matches!(health.state(), kluis::audit::CheckState::Running { .. }) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    println!(
        "  {:<52} {:>10.1} s ({:?})",
        "full check of every entry, done after",
        started.elapsed().as_secs_f64(),
        health.state()
    );
    proofs(&app, size, "after it").await;
    println!("  (after the proofs: {})", memory());
    if entries_asked().is_some() {
        return;
    }
    let officer = Actor::Officer { id: "bench".into() };
    let all = std::time::Instant::now();
    for report in kluis::audit::reports::Report::ALL {
        let started = std::time::Instant::now();
        let answer = app
            .desk()
            .report(
                &context_now(),
                &officer,
                report.name(),
                &kluis::audit::officer::Range::default(),
            )
            .await
            .expect("report");
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  {:<52} {:>10.2} s ({:.0} entries/s, answer {} KiB)",
            format!("report {}", report.name()),
            secs,
            size as f64 / secs,
            answer.result.to_string().len() / 1024
        );
    }
    println!(
        "  {:<52} {:>10.2} s",
        "all seven reports",
        all.elapsed().as_secs_f64()
    );
    println!("  reports process: {} (bound: 200 MiB)", memory());
}
