//! Payments benchmark: what checking receipts costs next to bare ed25519, one by one and in
//! batches of 64 (a full `pay` request). Cairn's overhead is the DAG-CBOR encoding of the
//! signed bytes and the key decompression; the target is >= 0.8 of the raw rate both ways.
//!
//! `cargo bench --bench pay` (a few seconds; `CAIRN_BENCH_SINGLES`, `CAIRN_BENCH_BATCHES`).

use std::hint::black_box;
use std::time::Instant;

use cairn::amount::Amount;
use cairn::pay::{self, Channel, ChannelOpen, Receipt, MAX_BATCH};
use cairn::signed::Signed;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};

mod support;

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `f` `n` times and returns how many `per_call` items per second it got through.
fn rate(n: usize, per_call: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up caches and the allocator
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    (n * per_call) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let singles = count("CAIRN_BENCH_SINGLES", 20_000);
    let batches = count("CAIRN_BENCH_BATCHES", 500);
    let payer = SigningKey::from_bytes(&[3u8; 32]);
    let payee = SigningKey::from_bytes(&[4u8; 32]);
    let open = ChannelOpen {
        payer: payer.verifying_key().to_bytes(),
        payee: payee.verifying_key().to_bytes(),
        deposit: Amount(u64::MAX),
        nonce: 1,
        at: 1_800_000_000_000,
        chain: None,
    };
    let open = Signed::sign(open, &payer).expect("sign open");
    let channel = Channel::from_open(&open).expect("channel");
    let receipts: Vec<Signed<Receipt>> = (1..=MAX_BATCH as u64)
        .map(|seq| {
            let mut r = channel
                .next_receipt(Amount(1), None, 1_800_000_000_000)
                .expect("receipt");
            r.amount = Amount(seq * 1000);
            r.seq = seq;
            Signed::sign(r, &payer).expect("sign receipt")
        })
        .collect();
    let receipt_size = receipts[0].to_bytes().expect("encode").len();

    // Raw ed25519 on 200-byte messages, the key already decompressed as a library user
    // holding it would have it.
    let key = payer.verifying_key();
    let messages: Vec<Vec<u8>> = (0..MAX_BATCH)
        .map(|i| (0..200).map(|j| (i * 7 + j) as u8).collect())
        .collect();
    let signatures: Vec<Signature> = messages.iter().map(|m| payer.sign(m)).collect();
    let keys = vec![key; MAX_BATCH];
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();

    let raw_single = rate(singles, 1, || {
        key.verify(black_box(&messages[0]), black_box(&signatures[0]))
            .expect("raw verify");
    });
    let receipt_single = rate(singles, 1, || {
        black_box(&receipts[0]).verify().expect("receipt verify");
    });
    let raw_batch = rate(batches, MAX_BATCH, || {
        ed25519_dalek::verify_batch(black_box(&refs), &signatures, &keys).expect("raw batch");
    });
    let receipt_batch = rate(batches, MAX_BATCH, || {
        let results = pay::verify_batch(black_box(&receipts));
        assert!(results.iter().all(Result::is_ok));
    });

    println!(
        "ed25519 verification: {singles} singles, {batches} batches of {MAX_BATCH}; \
         receipts are {receipt_size} bytes signed"
    );
    println!("| what | per second | ratio to raw |");
    println!("|---|---:|---:|");
    println!("| (a) raw ed25519 verify, 200-byte message | {raw_single:>9.0} | |");
    println!(
        "| (b) Signed<Receipt>::verify | {receipt_single:>9.0} | b/a {:.2} |",
        receipt_single / raw_single
    );
    println!("| (c) raw ed25519 verify_batch of 64, per signature | {raw_batch:>9.0} | |");
    println!(
        "| (d) pay::verify_batch of 64, per receipt | {receipt_batch:>9.0} | d/c {:.2} |",
        receipt_batch / raw_batch
    );
    println!(
        "batch speed-up: raw {:.2}x, receipts {:.2}x (target for both ratios: >= 0.80)",
        raw_batch / raw_single,
        receipt_batch / receipt_single
    );
    support::record(
        "pay",
        "Signed<Receipt>::verify, per second",
        &format!("{receipt_single:.0}"),
        "raw ed25519 verify",
        &format!("{raw_single:.0}"),
        &format!("{:.2}x (target >= 0.80x)", receipt_single / raw_single),
    );
    support::record(
        "pay",
        "pay::verify_batch of 64, receipts per second",
        &format!("{receipt_batch:.0}"),
        "raw ed25519 verify_batch of 64",
        &format!("{raw_batch:.0}"),
        &format!("{:.2}x (target >= 0.80x)", receipt_batch / raw_batch),
    );
    support::print_suite();
}
