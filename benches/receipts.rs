//! Receipts benchmark: signed receipts accepted and durably stored per second on SQLite (WAL).
//!
//! 100 channels; 20 000 receipts sent through the group-commit `ReceiptWriter` from 64
//! concurrent tasks, each owning some channels and sending increasing seqs, one receipt in
//! flight per task (a payee answers each receipt before the next arrives). The reference is
//! the same load, 2 000 receipts, through `record_receipt` (one transaction, so one WAL fsync,
//! per receipt).
//!
//! `cargo bench --bench receipts` (`CAIRN_BENCH_RECEIPTS=20000` for the writer run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn::db::{ChannelRow, Db, ReceiptRow, ReceiptWriter};

mod support;

const CHANNELS: usize = 100;
const TASKS: usize = 64;

/// How one run sends its receipts.
#[derive(Clone)]
enum Via {
    Writer(ReceiptWriter),
    OneTransactionEach(Db),
}

async fn fresh_db(dir: &std::path::Path) -> Db {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("bench dir");
    let db = Db::connect(&format!("sqlite://{}", dir.join("bench.db").display()))
        .await
        .expect("connect");
    for c in 0..CHANNELS {
        let row = ChannelRow {
            id: format!("channel-{c:03}"),
            role: "payee".into(),
            peer: "12D3KooWbench".into(),
            payer: "aa".repeat(32),
            payee: "bb".repeat(32),
            deposit: 1 << 40,
            paid: 0,
            seq: 0,
            state: "open".into(),
            open_signed: "cc".repeat(150),
            last_receipt: None,
            close_signed: None,
            settled: None,
            created_at: c as i64,
            updated_at: c as i64,
            closes_at: None,
            refund: None,
        };
        assert!(db.insert_channel(&row).await.expect("channel"));
    }
    db
}

/// Sends `total` receipts from TASKS tasks; returns the elapsed time.
async fn run(via: Via, total: usize) -> Duration {
    let start = Instant::now();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let via = via.clone();
        let accepted = accepted.clone();
        // Task t owns channels t, t + 64, ...; receipts are split as evenly as they go.
        let owned: Vec<String> = (t..CHANNELS)
            .step_by(TASKS)
            .map(|c| format!("channel-{c:03}"))
            .collect();
        let count = total / TASKS + usize::from(t < total % TASKS);
        tasks.push(tokio::spawn(async move {
            let mut seqs = vec![0u64; owned.len()];
            for i in 0..count {
                let k = i % owned.len();
                let seq = seqs[k] + 1;
                let receipt = ReceiptRow {
                    channel: owned[k].clone(),
                    seq,
                    amount: seq * 1_000,
                    deal: None,
                    at: seq as i64,
                    // About the size of a signed receipt's hex.
                    signed: format!("{:0>300}", seq),
                    stored_at: 0,
                };
                let stored = match &via {
                    Via::Writer(writer) => writer.record(receipt, seq - 1).await,
                    Via::OneTransactionEach(db) => db.record_receipt(&receipt, seq - 1).await,
                };
                assert!(stored.expect("record"), "receipt refused");
                seqs[k] = seq;
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let elapsed = start.elapsed();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::Relaxed), total);
    elapsed
}

async fn stored(db: &Db) -> usize {
    let mut n = 0;
    for c in 0..CHANNELS {
        n += db
            .receipts(&format!("channel-{c:03}"))
            .await
            .expect("receipts")
            .len();
    }
    n
}

fn main() {
    let total: usize = std::env::var("CAIRN_BENCH_RECEIPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-receipts");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let db = fresh_db(&base.join("writer")).await;
        let (writer, writing) = ReceiptWriter::new(db.clone());
        tokio::spawn(writing);
        let elapsed = run(Via::Writer(writer), total).await;
        let writer_rate = total as f64 / elapsed.as_secs_f64();
        assert_eq!(stored(&db).await, total);
        println!(
            "receipts via ReceiptWriter (group commit): {total} in {:.2} s = {:.0} receipts/s",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64()
        );
        db.close().await;

        let reference = 2_000;
        let db = fresh_db(&base.join("plain")).await;
        let elapsed = run(Via::OneTransactionEach(db.clone()), reference).await;
        let plain_rate = reference as f64 / elapsed.as_secs_f64();
        support::record(
            "receipts",
            &format!("ReceiptWriter (group commit), receipts/s ({total})"),
            &format!("{writer_rate:.0}"),
            &format!("record_receipt, one transaction each ({reference})"),
            &format!("{plain_rate:.0}"),
            &format!("{:.1}x", writer_rate / plain_rate),
        );
        assert_eq!(stored(&db).await, reference);
        println!(
            "receipts via record_receipt (one transaction each): {reference} in {:.2} s = {:.0} receipts/s",
            elapsed.as_secs_f64(),
            reference as f64 / elapsed.as_secs_f64()
        );
        db.close().await;
    });
    let _ = std::fs::remove_dir_all(&base);
    support::print_suite();
}
