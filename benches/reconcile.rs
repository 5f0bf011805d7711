//! Reconcile benchmark: how long `cairn daemon` takes to start on a store of 100 000 blocks
//! that a crash left out of step with the database, against the same start on an empty store,
//! measured in one run.
//!
//! The store is planted directly (files under `blocks/`, rows in `cairn.db`, as a node that
//! crashed would have left them): 90 % of the blocks recorded, 10 % files without a row, 100
//! of those torn, and 100 rows whose file is gone. The daemon verifies every block (reads and
//! hashes it) before it serves, so the figure grows with the bytes stored: blocks here are
//! 4 KiB (`CAIRN_BENCH_BLOCK_KIB`), 100 000 of them (`CAIRN_BENCH_BLOCKS`). The files were just
//! written, so they are read from the page cache: a cold disk adds its read time.
//!
//! After the start the bench checks the outcome through `/metrics`: the used-byte count equals
//! the bytes of the intact blocks, adopted orphans included.
//!
//! `cargo bench --bench reconcile` (`CAIRN_BENCH_BLOCKS=10000` for a quick run).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn::blockstore::FsBlockstore;
use cairn::content::{Block, HashAlg, RAW};
use cairn::db::Db;
use support::{cairn, work_dir, BIN};

const TORN: u64 = 100;
const LOST: u64 = 100;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Block `i`: `len` bytes of xorshift output seeded by `i`, distinct for every `i`.
fn block(i: u64, len: usize) -> Block {
    let mut state =
        0x2545_F491_4F6C_DD1Du64 ^ (i.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(len);
    while out.len() + 8 <= len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.resize(len, 0);
    out[..8].copy_from_slice(&i.to_le_bytes());
    Block::encode(RAW, HashAlg::Sha2_256, out)
}

/// Plants `count` blocks as a crashed node leaves them; returns the bytes of the intact ones.
async fn plant(repo: &Path, count: u64, len: usize) -> u64 {
    let fs = FsBlockstore::open(repo.join("blocks")).expect("store");
    let db = Db::connect(&format!("sqlite://{}", repo.join("cairn.db").display()))
        .await
        .expect("db");
    let orphans = count / 10;
    let mut rows = Vec::with_capacity(1000);
    let mut intact = 0u64;
    for i in 0..count {
        let b = block(i, len);
        let path = fs.path_of(b.cid());
        let recorded = i >= orphans;
        let lost = recorded && i < orphans + LOST;
        let torn = !recorded && i < TORN;
        if !lost {
            std::fs::create_dir_all(path.parent().expect("shard")).expect("shard dir");
            let data = if torn {
                &b.data()[..len / 2]
            } else {
                &b.data()[..]
            };
            std::fs::write(&path, data).expect("block file");
        }
        if !lost && !torn {
            intact += len as u64;
        }
        if recorded {
            rows.push((*b.cid(), len as u64));
            if rows.len() == 1000 {
                db.record_blocks(&rows).await.expect("rows");
                rows.clear();
            }
        }
    }
    db.record_blocks(&rows).await.expect("rows");
    db.close().await;
    intact
}

/// Starts `cairn daemon` on `repo`; returns it and the time until it was serving.
fn start(repo: &Path) -> (std::process::Child, Duration) {
    let _ = std::fs::remove_file(repo.join("daemon.json"));
    let started = Instant::now();
    let child = Command::new(BIN)
        .env("CAIRN_PATH", repo)
        .arg("daemon")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    let deadline = started + Duration::from_secs(300);
    while !repo.join("daemon.json").exists() {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, started.elapsed())
}

fn used_bytes(repo: &Path) -> u64 {
    let text = std::fs::read_to_string(repo.join("daemon.json")).expect("daemon.json");
    let info: serde_json::Value = serde_json::from_str(&text).expect("json");
    let api = info["api"].as_str().expect("api").to_string();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let metrics = runtime.block_on(async {
        reqwest::get(format!("{api}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    });
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("cairn_store_used_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("cairn_store_used_bytes")
}

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn init(repo: &Path) {
    cairn(repo, &["init", "--random-ports"]);
    let config = repo.join("config.toml");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("0.0.0.0", "127.0.0.1");
    std::fs::write(&config, text).expect("config");
}

fn main() {
    let count = env("CAIRN_BENCH_BLOCKS", 100_000);
    let len = env("CAIRN_BENCH_BLOCK_KIB", 4) as usize * 1024;
    let work = work_dir("bench-reconcile");

    // Reference: the same start on an empty store.
    let empty = work.join("empty");
    init(&empty);
    let (child, empty_start) = start(&empty);
    stop(child);

    let repo = work.join("repo");
    init(&repo);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let planting = Instant::now();
    let intact = runtime.block_on(plant(&repo, count, len));
    let planted_in = planting.elapsed();
    drop(runtime);

    let (child, full_start) = start(&repo);
    let counted = used_bytes(&repo);
    stop(child);
    // A second start: the store is consistent now, so this is the cost of checking alone.
    let (child, clean_start) = start(&repo);
    let counted_again = used_bytes(&repo);
    stop(child);

    let mib = (count * len as u64) as f64 / (1024.0 * 1024.0);
    println!(
        "\nreconcile: {count} blocks of {} KiB ({mib:.0} MiB; {} orphans, {TORN} of them torn, {LOST} rows without a file), planted in {:.1} s",
        len / 1024,
        count / 10,
        planted_in.as_secs_f64()
    );
    println!("| start | time to serving | ratio |\n|---|---|---|");
    println!(
        "| empty store (reference) | {:.2} s | 1.00x |",
        empty_start.as_secs_f64()
    );
    println!(
        "| {count} blocks after a crash | {:.2} s | {:.1}x |",
        full_start.as_secs_f64(),
        full_start.as_secs_f64() / empty_start.as_secs_f64()
    );
    println!(
        "| {count} blocks, consistent | {:.2} s | {:.1}x |",
        clean_start.as_secs_f64(),
        clean_start.as_secs_f64() / empty_start.as_secs_f64()
    );
    println!(
        "| verify rate (after a crash) | {:.0} blocks/s, {:.0} MiB/s | |",
        count as f64 / full_start.as_secs_f64(),
        mib / full_start.as_secs_f64()
    );
    println!("| used bytes after start | {counted} (expected {intact}; again {counted_again}) | |");
    assert_eq!(counted, intact, "the count is the sum of intact blocks");
    assert_eq!(counted_again, intact);
    assert!(
        full_start < Duration::from_secs(10),
        "a start on {count} blocks took {full_start:?}"
    );
    support::record(
        "reconcile",
        &format!("daemon start on {count} blocks after a crash, s"),
        &format!("{:.2}", full_start.as_secs_f64()),
        "daemon start on an empty store",
        &format!("{:.2}", empty_start.as_secs_f64()),
        &format!(
            "{:.1}x",
            full_start.as_secs_f64() / empty_start.as_secs_f64()
        ),
    );
    let _ = std::fs::remove_dir_all(&work);
    support::print_suite();
}
