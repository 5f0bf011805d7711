//! Pinning Service API under concurrency: `POST /pins` per second at 8 and 64 clients at once,
//! every answer counted by status (the target is zero 5xx: SQLite writers wait their turn
//! under the busy timeout instead of failing with "database is locked"), against `GET /health`
//! at the same concurrency on the same daemon as the server's own rate.
//!
//! One `cairn daemon` in its own process (random ports on 127.0.0.1, no providers: each pin
//! request is recorded, its DAG pinned locally and the keeper looks for providers while the
//! requests go on). The CIDs are distinct files added unpinned beforehand, plus one burst of
//! requests all naming one CID.
//!
//! `cargo bench --bench pins` (`CAIRN_BENCH_PIN_REQUESTS=2000` per concurrency level).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use support::{work_dir, Daemon};

fn file_bytes(i: u64) -> Vec<u8> {
    let mut out = format!("pin bench file {i}\n").into_bytes();
    out.resize(2048, (i % 251) as u8);
    out
}

/// Sends `requests` at `concurrency` at once; per status code, how many, and the rate.
async fn load(
    requests: Vec<reqwest::RequestBuilder>,
    concurrency: usize,
) -> (BTreeMap<u16, usize>, f64) {
    let total = requests.len();
    let start = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(requests)
        .map(|r| async move { r.send().await.map(|a| a.status().as_u16()).unwrap_or(0) })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let rate = total as f64 / start.elapsed().as_secs_f64();
    let mut counts = BTreeMap::new();
    for s in statuses {
        *counts.entry(s).or_default() += 1;
    }
    (counts, rate)
}

fn describe(counts: &BTreeMap<u16, usize>) -> String {
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n}x {s}")).collect();
    parts.join(", ")
}

fn main() {
    let per_level: u64 = std::env::var("CAIRN_BENCH_PIN_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let work = work_dir("bench-pins");
    let daemon = Daemon::start(work.join("repo"));
    let (api, token) = daemon.api();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()
        .expect("http");

    // The CIDs: distinct files, added without a pin (the pin request makes it).
    let cids: Vec<String> = runtime.block_on(async {
        futures::stream::iter(0..per_level * 2 + 1)
            .map(|i| {
                let request = http
                    .post(format!("{api}/api/v1/add?pin=false"))
                    .bearer_auth(&token)
                    .body(file_bytes(i))
                    .send();
                async move {
                    let added: serde_json::Value =
                        request.await.expect("add").json().await.expect("add json");
                    added["cid"].as_str().expect("cid").to_string()
                }
            })
            .buffer_unordered(16)
            .collect()
            .await
    });

    let pin = |cid: &str| {
        http.post(format!("{api}/pins"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "cid": cid, "meta": { "replicas": "1" } }))
    };
    let mut rows = Vec::new();
    let mut five_hundreds = 0;
    for (level, concurrency) in [8usize, 64].into_iter().enumerate() {
        let start = level * per_level as usize;
        let batch: Vec<_> = cids[start..start + per_level as usize]
            .iter()
            .map(|c| pin(c))
            .collect();
        let (pins, pin_rate) = runtime.block_on(load(batch, concurrency));
        let health: Vec<_> = (0..per_level)
            .map(|_| http.get(format!("{api}/health")))
            .collect();
        let (_, health_rate) = runtime.block_on(load(health, concurrency));
        five_hundreds += pins
            .iter()
            .filter(|(s, _)| **s >= 500 || **s == 0)
            .map(|(_, n)| n)
            .sum::<usize>();
        rows.push((concurrency, pins, pin_rate, health_rate));
    }
    // One CID named by many requests at once: all accepted, one set of deals to share.
    let same = &cids[cids.len() - 1];
    let burst: Vec<_> = (0..200).map(|_| pin(same)).collect();
    let (burst_counts, burst_rate) = runtime.block_on(load(burst, 64));
    five_hundreds += burst_counts
        .iter()
        .filter(|(s, _)| **s >= 500 || **s == 0)
        .map(|(_, n)| n)
        .sum::<usize>();
    drop(daemon);

    println!(
        "\n`POST /pins` on one daemon (SQLite), {per_level} requests per level, distinct CIDs"
    );
    println!(
        "| clients at once | answers | POST /pins per s | GET /health per s (reference) | ratio |"
    );
    println!("|---|---|---|---|---|");
    for (concurrency, counts, rate, health) in &rows {
        println!(
            "| {concurrency} | {} | {rate:.0} | {health:.0} | {:.2}x |",
            describe(counts),
            rate / health
        );
        support::record(
            "pins",
            &format!("POST /pins per second, {concurrency} clients at once"),
            &format!("{rate:.0}"),
            &format!("GET /health, {concurrency} clients at once"),
            &format!("{health:.0}"),
            &format!("{:.2}x", rate / health),
        );
    }
    println!(
        "| 64, all one CID (200) | {} | {burst_rate:.0} | | |",
        describe(&burst_counts)
    );
    support::print_suite();
    assert_eq!(
        five_hundreds, 0,
        "every pin request is answered without a 5xx"
    );
}
