//! Several nodes on one PostgreSQL server next to one node on sled, in one run (issue 15):
//! consented reads/s and p99 for each, the audit appends/s the database took, and where
//! the machine's CPU went (the vault's processes, the database's, the rest: this load
//! generator and the kernel), so that the report says where the time goes.
//!
//! Every vault gets the same residents; the connections are spread over the nodes as a
//! load balancer would. PostgreSQL runs on this machine too, with `fsync` and
//! `synchronous_commit` on, sharing its cores with the nodes.

use super::database::{Database, machine_cpu};
use super::drive::{self, Phase, Prepared};
use super::floor::Floor;
use super::setup;
use super::vault::{Vault, clock_ticks, this_checkouts_binary};
use std::time::Duration;

/// One vault under comparison, and its database's URL when on PostgreSQL.
struct Candidate {
    vault: Vault,
    database: Option<String>,
}

/// What one phase cost beside the reads.
struct Costs {
    database_cpu: Duration,
    /// Bytes the database wrote to disk, and the growth of its directory.
    database_disk: (u64, i64),
    appends: Option<i64>,
    /// Busy and all CPU ticks of the machine in the phase.
    machine: (u64, u64),
}

pub async fn compare(
    counts: &[u8],
    residents: usize,
    connections: &[usize],
    seconds: u64,
    floor: &Floor,
) {
    let binary = this_checkouts_binary();
    let server = Database::start();
    let mut candidates = vec![Candidate {
        vault: Vault::start("sled, 1 node", &binary, false).await,
        database: None,
    }];
    for &count in counts {
        let url = server.new_database().await;
        let label = format!(
            "postgres, {count} node{}",
            if count == 1 { "" } else { "s" }
        );
        candidates.push(Candidate {
            vault: Vault::start_nodes(&label, &binary, count, &url).await,
            database: Some(url),
        });
    }
    let version = match &candidates[1..] {
        [first, ..] => Database::version(first.database.as_deref().unwrap_or_default()).await,
        [] => "no PostgreSQL".into(),
    };
    println!("\nnodes: one sled node, and 1…n nodes on one {version} server on this machine");
    for candidate in &mut candidates {
        candidate.vault.print_start();
        setup::grow(&mut candidate.vault, residents).await;
    }

    for &n in connections {
        println!("\nwith {residents} residents, {n} connections spread over the nodes:");
        let mut rates = Vec::new();
        for candidate in &candidates {
            let vault = &candidate.vault;
            let prepared = Prepared::sign(vault, n, seconds);
            // The log's length is read outside the measured window.
            let appended_before = match &candidate.database {
                Some(url) => Some(Database::audit_size(url).await),
                None => None,
            };
            let (database_before, machine_before) = (server.cpu(), machine_cpu());
            let disk_before = server.disk();
            let phase = drive::run(vault, &prepared, n, seconds).await;
            let machine_after = machine_cpu();
            let database_after = server.cpu();
            let disk_after = server.disk();
            let appends = match (&candidate.database, appended_before) {
                (Some(url), Some(before)) => Some(Database::audit_size(url).await - before),
                _ => None,
            };
            let costs = Costs {
                database_cpu: database_after.saturating_sub(database_before),
                database_disk: (
                    disk_after.0.saturating_sub(disk_before.0),
                    disk_after.1 as i64 - disk_before.1 as i64,
                ),
                appends,
                machine: (
                    machine_after.0 - machine_before.0,
                    machine_after.1 - machine_before.1,
                ),
            };
            phase.print(&vault.label, n, floor);
            print_costs(&phase, &costs);
            rates.push((vault.label.clone(), phase.reads_per_second()));
        }
        if let [(_, sled), ..] = &rates[..] {
            for (label, rate) in &rates[1..] {
                println!(
                    "  {label}: {:.0}% of one sled node's reads/s",
                    100.0 * rate / sled.max(f64::MIN_POSITIVE)
                );
            }
        }
    }
}

/// The second line of a phase: the database's CPU, the audit appends, the machine's CPU.
fn print_costs(phase: &Phase, costs: &Costs) {
    let reads = phase.reads().max(1) as f64;
    let (busy, all) = costs.machine;
    // Shares of the machine's CPU time (all cores) over the phase.
    let machine = all as f64 / clock_ticks() as f64;
    let share = |cpu: Duration| 100.0 * cpu.as_secs_f64() / machine.max(1e-9);
    let vault = share(phase.vault_cpu());
    let database = share(costs.database_cpu);
    let busy = 100.0 * busy as f64 / all.max(1) as f64;
    let appends = match costs.appends {
        Some(appends) => format!(
            "audit appends {:.0}/s",
            appends as f64 / phase.elapsed().as_secs_f64().max(1e-9)
        ),
        None => "audit appends = reads (one entry each, in sled)".into(),
    };
    println!(
        "  {:<14}    database CPU {:.0} µs/read   database disk written {:.0} B/read, its directory +{:.0} B/read   {appends}\n  {:<14}    machine CPU: vault {vault:.0}%, database {database:.0}%, rest {:.0}% (load generator, kernel), idle {:.0}%",
        "",
        costs.database_cpu.as_secs_f64() * 1e6 / reads,
        costs.database_disk.0 as f64 / reads,
        costs.database_disk.1 as f64 / reads,
        "",
        (busy - vault - database).max(0.0),
        100.0 - busy,
    );
}
