//! Crash benchmark: the crash-test suite at length. Real `cairn daemon` processes are killed
//! with SIGKILL at random points (seeded; `CAIRN_CRASH_SEED` replays) during `cairn add` and
//! `cairn car import` of 4 MiB files, deal transfers (64 MiB) on the provider and receipt writes, a
//! few hundred kills in all (`CAIRN_BENCH_KILLS`, default 300), and after every restart every
//! invariant of the suite is checked (`tests/kill/mod.rs`). Here an interrupted deal must
//! reach `active` within 30 s of the restart.
//!
//! Reports kills and invariant checks per minute, per phase and in all, against the length of
//! one uninterrupted run of the same work measured in the same run, and every invariant that
//! broke. Exits non-zero if one did.
//!
//! `cargo bench --bench crash` (`CAIRN_BENCH_KILLS=40` for a quick run).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/kill/mod.rs"]
mod kill;
mod support;

use std::time::Duration;

use kill::{DealRule, Plan, Run};

fn main() {
    let total: usize = std::env::var("CAIRN_BENCH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    // A third adds, a fifth imports, a tenth deals (each waits for its resume), the rest
    // receipt writes.
    let add_kills = total / 3;
    let car_kills = total / 5;
    let deal_kills = (total / 10).max(1);
    let receipt_kills = total.saturating_sub(add_kills + car_kills + deal_kills);
    let plan = Plan {
        add_kills,
        car_kills,
        deal_kills,
        receipt_kills,
        file_bytes: 4 << 20,
        // Large enough that the transfer, not the CLI's start and the proposal, fills most of
        // the span the kill points are drawn from (with 4 MiB, 29 of 30 kills came before the
        // provider had recorded the deal).
        deal_bytes: 64 << 20,
        deal_rule: DealRule::Active,
        deal_limit: Duration::from_secs(30),
    };
    let seed = kill::seed();
    let work = support::work_dir("bench-crash");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut run = Run::new(seed, work.clone(), plan);
    runtime.block_on(run.all());
    let outcome = &run.outcome;
    println!("{}", kill::report(outcome));

    let per_minute = |n: usize, d: Duration| n as f64 * 60.0 / d.as_secs_f64().max(1e-9);
    for (phase, s) in &outcome.phases {
        println!(
            "crash/{phase}: {:.1} kills/min, {:.1} check rounds/min, {:.0} assertions/min \
             (one uninterrupted run: {:.0} ms)",
            per_minute(s.kills, s.elapsed),
            per_minute(s.checks, s.elapsed),
            per_minute(s.assertions, s.elapsed),
            s.span.as_secs_f64() * 1000.0
        );
        support::record(
            "crash",
            &format!("{phase}: kills/min ({} kills)", s.kills),
            &format!("{:.1}", per_minute(s.kills, s.elapsed)),
            "one uninterrupted run of the work, ms",
            &format!("{:.0}", s.span.as_secs_f64() * 1000.0),
            "-",
        );
    }
    let elapsed = outcome.elapsed();
    println!(
        "crash: {} kills in {:.1} min: {:.1} kills/min, {:.1} check rounds/min, {:.0} \
         invariant assertions/min; {} invariant(s) broken",
        outcome.kills(),
        elapsed.as_secs_f64() / 60.0,
        per_minute(outcome.kills(), elapsed),
        per_minute(outcome.checks(), elapsed),
        per_minute(outcome.assertions(), elapsed),
        outcome.violations.len()
    );
    support::record(
        "crash",
        &format!(
            "kills/min, all phases ({} kills, {} broken)",
            outcome.kills(),
            outcome.violations.len()
        ),
        &format!("{:.1}", per_minute(outcome.kills(), elapsed)),
        "invariant assertions/min",
        &format!("{:.0}", per_minute(outcome.assertions(), elapsed)),
        "-",
    );
    support::print_suite();
    let broken = !outcome.violations.is_empty();
    drop(run);
    drop(runtime);
    let _ = std::fs::remove_dir_all(&work);
    if broken {
        eprintln!("crash: invariants broke (CAIRN_CRASH_SEED={seed} replays)");
        std::process::exit(1);
    }
}
