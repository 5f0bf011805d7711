//! The crash-test suite, bounded for CI: real `cairn daemon` processes killed with SIGKILL at
//! random points (seeded, the seed printed) during `cairn add`, `cairn car import`, a deal
//! transfer on the provider and receipt writes, 12 kills in all; after every restart the
//! invariants of `kill::check` hold, every acknowledged receipt is still there, and every
//! interrupted deal is active or still transferring with no failure recorded. The
//! benchmark-length run (a few hundred kills, deals required to reach `active`) is
//! `cargo bench --bench crash`.

mod common;
mod kill;

use std::time::Duration;

use kill::{DealRule, Plan, Run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_adds_imports_deal_transfers_and_receipt_writes_break_no_invariant() {
    let seed = kill::seed();
    let work = tempfile::tempdir().unwrap();
    let plan = Plan {
        add_kills: 4,
        car_kills: 3,
        deal_kills: 3,
        receipt_kills: 2,
        file_bytes: 4 << 20,
        deal_bytes: 2 << 20,
        deal_rule: DealRule::ActiveOrTransferring,
        deal_limit: Duration::from_secs(15),
    };
    let mut run = Run::new(seed, work.path().to_path_buf(), plan);
    run.verbose = true;
    run.all().await;
    let report = kill::report(&run.outcome);
    println!("{report}");
    assert_eq!(run.outcome.kills(), 12, "{report}");
    assert_eq!(run.outcome.checks(), 12, "{report}");
    assert!(
        run.outcome.violations.is_empty(),
        "invariants broken (CAIRN_CRASH_SEED={seed} replays):\n{report}"
    );
}
