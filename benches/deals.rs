//! Deals benchmark: 1 MiB pieces, deals made per second between two local nodes (each its
//! own process): negotiation, transfer over Bitswap, piece check and activation, several
//! deals in flight at once. Reports the daemons' CPU time and peak memory.
//!
//! Then keeps them active for one challenge period and reports what challenging all of them
//! cost the provider and the client.
//!
//! `cargo bench --bench deals` (`CAIRN_BENCH_DEALS=1000` deals, 8 at a time, 30 s periods).

mod support;

use std::time::Instant;

use support::{work_dir, write_random, Daemon};

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn main() {
    let deals: usize = std::env::var("CAIRN_BENCH_DEALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let period_secs = 30u64;
    let work = work_dir("bench-deals");
    let provider = Daemon::start(work.join("provider"));
    provider.set_ask("1TiB");
    let client = Daemon::start(work.join("client"));
    client.cli(&["swarm", "connect", &provider.addr("/tcp/")]);
    let mut cids = Vec::new();
    for i in 0..deals {
        let file = work.join(format!("piece-{i}.bin"));
        write_random(&file, 1 << 20);
        // Make each file distinct: the random generator restarts for every file.
        std::fs::write(
            &file,
            [
                std::fs::read(&file).expect("read"),
                (i as u64).to_le_bytes().to_vec(),
            ]
            .concat(),
        )
        .expect("write");
        cids.push(
            client
                .cli(&["add", "-q", file.to_str().expect("path")])
                .trim()
                .to_string(),
        );
    }
    let (api, token) = client.api();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let cpu_before = (cpu_secs(provider.child.id()), cpu_secs(client.child.id()));
    let start = Instant::now();
    let active = runtime.block_on(async {
        use futures::StreamExt;
        let http = reqwest::Client::new();
        let provider_addr = provider.addr("/tcp/");
        futures::stream::iter(cids.iter())
            .map(|cid| {
                let body = serde_json::json!({
                    "cid": cid, "provider": provider_addr, "duration_secs": 86_400, "challenge_period_secs": period_secs,
                });
                let request = http.post(format!("{api}/api/v1/deals")).bearer_auth(&token).json(&body).send();
                async move {
                    let Ok(response) = request.await else { return false };
                    let deal: serde_json::Value = response.json().await.unwrap_or_default();
                    deal["state"] == "active"
                }
            })
            .buffer_unordered(8)
            .filter(|ok| futures::future::ready(*ok))
            .count()
            .await
    });
    let took = start.elapsed();
    let cpu = (
        cpu_secs(provider.child.id()) - cpu_before.0,
        cpu_secs(client.child.id()) - cpu_before.1,
    );
    println!("\n{deals} deals of 1 MiB pieces, 8 in flight, two daemons on loopback");
    println!("| measure | value |\n|---|---|");
    println!("| deals active | {active} of {deals} |");
    println!("| time | {:.2} s |", took.as_secs_f64());
    println!(
        "| deals per second | {:.1} |",
        active as f64 / took.as_secs_f64()
    );
    support::record(
        "deals",
        &format!("deals/s, 1 MiB pieces, 8 in flight ({active} of {deals} active)"),
        &format!("{:.1}", active as f64 / took.as_secs_f64()),
        "target: n/a",
        "-",
        "-",
    );
    println!(
        "| CPU, provider / client | {:.1} s / {:.1} s |",
        cpu.0, cpu.1
    );
    println!(
        "| peak RSS, provider / client | {} MiB / {} MiB |",
        provider.peak_rss_kib() >> 10,
        client.peak_rss_kib() >> 10
    );

    // One more full period: every active deal is challenged once more by the client's node.
    let cpu_before = (cpu_secs(provider.child.id()), cpu_secs(client.child.id()));
    std::thread::sleep(std::time::Duration::from_secs(period_secs + 5));
    let cpu = (
        cpu_secs(provider.child.id()) - cpu_before.0,
        cpu_secs(client.child.id()) - cpu_before.1,
    );
    let listed: serde_json::Value = runtime.block_on(async {
        let response = reqwest::get(format!("{api}/api/v1/deals?role=client"))
            .await
            .expect("list");
        response.json().await.expect("json")
    });
    let all = listed["deals"].as_array().cloned().unwrap_or_default();
    let twice = all
        .iter()
        .filter(|d| d["proofs_passed"].as_u64().unwrap_or(0) >= 2)
        .count();
    println!(
        "\none challenge period ({period_secs} s) over {} active deals, 20 samples each",
        all.len()
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| deals challenged again and passed within the period | {twice} of {} |",
        all.len()
    );
    println!(
        "| CPU in the period, provider / client | {:.1} s / {:.1} s |",
        cpu.0, cpu.1
    );
    println!(
        "| peak RSS, provider / client | {} MiB / {} MiB |",
        provider.peak_rss_kib() >> 10,
        client.peak_rss_kib() >> 10
    );
    drop((provider, client));
    let _ = std::fs::remove_dir_all(&work);
    support::print_suite();
}
