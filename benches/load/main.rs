//! The load benchmark: consented reads as a fleet of departments sends them.
//!
//! `cargo bench --bench load [-- OPTIONS]`, or `scripts/load [REV]` to compare with the
//! `kluis` of an earlier revision in the same run. The vault runs as its own process
//! (`kluis dev --data DIR`, the release build of this checkout); this process is the
//! departments. Before each timed phase it signs every DPoP proof (and, for a vault that
//! wants them, every client assertion) the phase can use, so signing does not compete
//! with the vault for the CPU while it is measured.
//!
//! It prints, per phase: reads/s, p50/p90/p99, the vault's CPU per read, bytes written to
//! disk and bytes kept in the data directory per read, and the vault's memory; and, in the
//! same run, the crypto floor of one read on this machine, with reads/s as a share of it.
//!
//! Options: `--quick` (the CI smoke: a few seconds, a few residents), `--seconds S` per
//! phase (15), `--residents A,B` (1000,100000: the second phase set runs after the vault
//! grew to B residents), `--sustain S` (300: the memory run; 0 skips it), `--before PATH` (an earlier
//! `kluis` binary, measured alternately with this one), `--nodes 1,2,4` (instead: 1, 2
//! and 4 nodes on one PostgreSQL server next to one node on sled, see `nodes.rs`),
//! `--metrics` (instead: the cost of the operator's metrics, see `metrics.rs`).
//! The vaults inherit this process's environment: `KLUIS_CACHE_MB=1024` gives them a
//! page cache for a larger population (the header line says which cache they got).

mod database;
mod drive;
mod floor;
mod metrics;
mod nodes;
mod setup;
mod vault;

#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

use drive::{Phase, Prepared};
use std::path::PathBuf;
use vault::Vault;

/// What to run.
struct Options {
    seconds: u64,
    residents: Vec<usize>,
    sustain: u64,
    connections: Vec<usize>,
    before: Option<PathBuf>,
    /// Node counts on PostgreSQL to compare with one sled node (`--nodes 1,2,4`).
    nodes: Vec<u8>,
    /// Instead: the same vault with metrics on and off (`--metrics`).
    metrics: bool,
    quick: bool,
}

impl Options {
    fn parse() -> Options {
        let quick = std::env::var("KLUIS_BENCH_QUICK").is_ok_and(|v| v == "1");
        let mut options = Options {
            seconds: 15,
            residents: vec![1_000, 100_000],
            sustain: 300,
            connections: vec![1, 16, 64],
            before: None,
            nodes: Vec::new(),
            metrics: false,
            quick: false,
        };
        let mut args = std::env::args().skip(1);
        let mut quick = quick;
        while let Some(arg) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| usage(&arg));
            match arg.as_str() {
                "--quick" => quick = true,
                "--seconds" => options.seconds = number(&value()),
                "--sustain" => options.sustain = number(&value()),
                "--residents" => {
                    options.residents = value().split(',').map(|n| number(n) as usize).collect()
                }
                "--before" => options.before = Some(PathBuf::from(value())),
                "--nodes" => {
                    options.nodes = value()
                        .split(',')
                        .map(|n| u8::try_from(number(n)).unwrap_or_else(|_| usage(n)))
                        .collect()
                }
                "--metrics" => options.metrics = true,
                "--bench" => {} // cargo bench passes it
                other => usage(other),
            }
        }
        if quick {
            options.seconds = 2;
            options.residents = vec![20, 60];
            options.sustain = 2;
        }
        options.quick = quick;
        options
    }
}

fn number(text: &str) -> u64 {
    text.replace('_', "")
        .parse()
        .unwrap_or_else(|_| usage(&format!("{text} is not a number")))
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "load: {problem}\nusage: cargo bench --bench load -- [--quick] [--seconds S] [--residents A,B] [--sustain S] [--before KLUIS_BINARY] [--nodes 1,2,4] [--metrics]"
    );
    std::process::exit(2)
}

fn main() {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(options));
}

async fn run(options: Options) {
    println!("load: consented reads from a separate process on loopback");
    println!("machine: {}", support::machine());
    println!("sled page cache of the vaults: {}", vault::page_cache());
    let floor = floor::measure();
    floor.print();
    if !options.nodes.is_empty() {
        let connections: &[usize] = if options.quick { &[16] } else { &[16, 64] };
        return nodes::compare(
            &options.nodes,
            options.residents[0],
            connections,
            options.seconds,
            &floor,
        )
        .await;
    }

    if options.metrics {
        return metrics::compare(options.residents[0], options.seconds, &floor).await;
    }

    let now_binary = vault::this_checkouts_binary();
    let mut vaults = vec![Vault::start("this checkout", &now_binary, false).await];
    if let Some(before) = &options.before {
        vaults.push(Vault::start("before", before, true).await);
    }
    for vault in &mut vaults {
        vault.print_start();
    }

    let mut first = true;
    for &residents in &options.residents {
        for vault in &mut vaults {
            setup::grow(vault, residents).await;
        }
        println!("\nwith {residents} residents (one 1 KB record and one grant each):");
        let connections: &[usize] = if first { &options.connections } else { &[16] };
        for &n in connections {
            let mut results: Vec<(String, Phase)> = Vec::new();
            for vault in &vaults {
                let prepared = Prepared::sign(vault, n, options.seconds);
                let phase = drive::run(vault, &prepared, n, options.seconds).await;
                results.push((vault.label.clone(), phase));
            }
            for (label, phase) in &results {
                phase.print(label, n, &floor);
            }
            if let [(_, now), (_, before)] = &results[..] {
                println!(
                    "  {:<14} {n:>2} connections: {:.1}× the reads/s of before",
                    "",
                    now.reads_per_second() / before.reads_per_second().max(f64::MIN_POSITIVE)
                );
            }
        }
        first = false;
    }

    // `--sustain 0` skips the sustained phase (nothing to print for it).
    if options.sustain > 0 {
        println!(
            "\nsustained: {} s at 16 connections, memory after",
            options.sustain
        );
        let vault = &vaults[0];
        let rounds = options.sustain.div_ceil(options.seconds.max(1));
        let mut total = Phase::default();
        for _ in 0..rounds {
            let seconds = options.seconds.min(options.sustain);
            let prepared = Prepared::sign(vault, 16, seconds);
            total.add(drive::run(vault, &prepared, 16, seconds).await);
        }
        total.print(&vault.label, 16, &floor);
    }

    // Start-up with the log the run left: everything above, one entry per read.
    let vault = &mut vaults[0];
    let started_in = vault.restart();
    let rss = vault.stats().rss_mib;
    let began = std::time::Instant::now();
    let mut readiness = vault.audit_readiness().await;
    println!(
        "\nrestart (SIGKILL, then start on the same data): listening after {:.0} ms, RSS {rss:.1} MiB; audit: {readiness}",
        started_in.as_secs_f64() * 1e3
    );
    while readiness.contains("checking") && began.elapsed().as_secs() < 600 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        readiness = vault.audit_readiness().await;
    }
    println!(
        "  the full audit check, while serving: {readiness} after {:.1} s; RSS {:.1} MiB",
        began.elapsed().as_secs_f64(),
        vault.stats().rss_mib
    );
    for vault in &mut vaults {
        vault.stop();
    }
}
