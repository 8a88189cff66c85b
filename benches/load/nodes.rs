//! Several nodes on one PostgreSQL server next to one node on sled, in one run (issue 15):
//! consented reads/s and p99 for each, the audit appends/s the database took, and where
//! the machine's CPU went (the vault's processes, the database's, the rest: this load
//! generator and the kernel), and the database's time and WAL per kind of statement
//! (`pg_stat_statements`), so that the report says where the time goes.
//!
//! Every vault gets the same residents; the connections are spread over the nodes as a
//! load balancer would. PostgreSQL runs on this machine too, with `fsync` and
//! `synchronous_commit` on, sharing its cores with the nodes.

use super::database::{Database, Statement, machine_cpu};
use super::drive::{self, Phase, Prepared};
use super::floor::Floor;
use super::setup;
use super::vault::{Vault, clock_ticks, this_checkouts_binary};
use std::collections::BTreeMap;
use std::time::Duration;

/// One vault under comparison, and its database's URL when on PostgreSQL.
struct Candidate {
    vault: Vault,
    database: Option<String>,
}

/// What one phase cost beside the reads.
struct Costs {
    database_cpu: Duration,
    /// The database's CPU by kind of process: (kind, user, kernel).
    database_processes: Vec<(String, Duration, Duration)>,
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
                Some(url) => {
                    Database::reset_statements(url).await;
                    Some(Database::audit_size(url).await)
                }
                None => None,
            };
            let (database_before, machine_before) = (server.cpu_by_process(), machine_cpu());
            let disk_before = server.disk();
            let phase = drive::run(vault, &prepared, n, seconds).await;
            let machine_after = machine_cpu();
            let database_after = server.cpu_by_process();
            let disk_after = server.disk();
            let statements = match &candidate.database {
                Some(url) => Database::statements(url).await,
                None => Vec::new(),
            };
            let appends = match (&candidate.database, appended_before) {
                (Some(url), Some(before)) => Some(Database::audit_size(url).await - before),
                _ => None,
            };
            // A process that ended in the phase moves all its CPU to "ended": the total
            // is the difference of the sums, the kinds are close to it.
            let spent = |cpu: &BTreeMap<String, (Duration, Duration)>| -> Duration {
                cpu.values().map(|(user, kernel)| *user + *kernel).sum()
            };
            let database_cpu = spent(&database_after).saturating_sub(spent(&database_before));
            let mut database_processes: Vec<(String, Duration, Duration)> = database_after
                .into_iter()
                .map(|(kind, (user, kernel))| {
                    let (user_before, kernel_before) =
                        database_before.get(&kind).copied().unwrap_or_default();
                    let spent = (
                        user.saturating_sub(user_before),
                        kernel.saturating_sub(kernel_before),
                    );
                    (kind, spent.0, spent.1)
                })
                .collect();
            database_processes.sort_by_key(|(_, user, kernel)| std::cmp::Reverse(*user + *kernel));
            let costs = Costs {
                database_cpu,
                database_processes,
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
            print_statements(&phase, &statements, costs.database_cpu);
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
    let per_read = |cpu: Duration| cpu.as_secs_f64() * 1e6 / reads;
    let processes: Vec<String> = costs
        .database_processes
        .iter()
        .filter(|(_, user, kernel)| per_read(*user + *kernel) >= 0.5)
        .map(|(kind, user, kernel)| {
            format!(
                "{kind} {:.0} (kernel {:.0})",
                per_read(*user + *kernel),
                per_read(*kernel)
            )
        })
        .collect();
    if !processes.is_empty() {
        println!(
            "  {:<14}    database CPU by process, µs/read: {}",
            "",
            processes.join(", ")
        );
    }
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

/// The statements that took the database's time in a phase, per read: how often, how long
/// each (CPU and waits for locks and the WAL), and the WAL they wrote.
fn print_statements(phase: &Phase, statements: &[Statement], database_cpu: Duration) {
    if statements.is_empty() {
        return;
    }
    let reads = phase.reads().max(1) as f64;
    let per_read = |d: Duration| d.as_secs_f64() * 1e6 / reads;
    let total: Duration = statements.iter().map(|s| s.time).sum();
    let planning: Duration = statements.iter().map(|s| s.planning).sum();
    let wal: u64 = statements.iter().map(|s| s.wal_bytes).sum();
    println!(
        "  {:<14}    inside statements {:.0} µs/read, planning them {:.0} µs/read (of {:.0} µs database CPU), WAL {:.0} B/read; the most time first:",
        "",
        per_read(total),
        per_read(planning),
        per_read(database_cpu),
        wal as f64 / reads,
    );
    for statement in statements.iter().take(8) {
        let query: String = statement.query.chars().take(72).collect();
        println!(
            "  {:<14}      {:>5.2} × {:>6.1} µs = {:>5.0} µs/read, planning {:>3.0}   WAL {:>6.0} B/read ({:.3} full pages)   {query}",
            "",
            statement.calls as f64 / reads,
            statement.time.as_secs_f64() * 1e6 / statement.calls.max(1) as f64,
            per_read(statement.time),
            per_read(statement.planning),
            statement.wal_bytes as f64 / reads,
            statement.wal_full_pages as f64 / reads,
        );
    }
}
