//! What the operator's metrics cost a consented read (issue 19): the same `kluis` twice,
//! one with a metrics listener (`KLUIS_METRICS_LISTEN`, every request counted and timed)
//! and one without, loaded alternately at 16 connections so that both see the same
//! machine, then scraped once to show the counts were kept.

use super::drive::{self, Phase, Prepared};
use super::floor::Floor;
use super::setup;
use super::vault::{Vault, this_checkouts_binary};

/// Alternating phases per vault: the machine's drift is spread over both.
const ROUNDS: usize = 4;

pub async fn compare(residents: usize, seconds: u64, floor: &Floor) {
    let binary = this_checkouts_binary();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut vaults = vec![
        Vault::start_with("metrics off", &binary, &[]).await,
        Vault::start_with("metrics on", &binary, &[("KLUIS_METRICS_LISTEN", &listen)]).await,
    ];
    for vault in &mut vaults {
        setup::grow(vault, residents).await;
    }
    println!(
        "\nmetrics on and off, {residents} residents, 16 connections, {ROUNDS} alternating rounds of {seconds} s:"
    );
    let mut totals = vec![Phase::default(), Phase::default()];
    for _ in 0..ROUNDS {
        for (vault, total) in vaults.iter().zip(&mut totals) {
            let prepared = Prepared::sign(vault, 16, seconds);
            total.add(drive::run(vault, &prepared, 16, seconds).await);
        }
    }
    for (vault, total) in vaults.iter().zip(&totals) {
        total.print(&vault.label, 16, floor);
    }
    let (off, on) = (totals[0].reads_per_second(), totals[1].reads_per_second());
    let scraped = vaults[1]
        .http()
        .get(format!("http://{listen}/metrics"))
        .send()
        .await
        .expect("the metrics listener answers")
        .text()
        .await
        .expect("the exposition");
    let counted: f64 = scraped
        .lines()
        .filter(|l| l.starts_with("kluis_department_reads_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    println!(
        "  the metrics cost {:.1}% of reads/s ({on:.0} with, {off:.0} without); they counted {counted:.0} reads, the load sent {}",
        (1.0 - on / off.max(f64::MIN_POSITIVE)) * 100.0,
        totals[1].reads()
    );
    for vault in &mut vaults {
        vault.stop();
    }
}
