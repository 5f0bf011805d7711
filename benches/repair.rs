//! Repair benchmark: how long from a provider vanishing to the replica count being restored.
//!
//! Five daemons, each its own process on loopback: one client and four providers. The client
//! keeps a 64 MiB file with 3 replicas and a 1-second challenge period; once the keep is
//! `pinned`, one provider holding a replica is killed (SIGKILL: no goodbye). Reported, from
//! the kill: when the keeper dropped it (detection: missed proofs past the grace period),
//! when the new deal was active (selection, transfer of the piece, activation), and when the
//! keep was `pinned` again (the new replica's first proof passed).
//!
//! `cargo bench --bench repair` (`CAIRN_BENCH_MIB=64` by default here).

mod support;

use std::time::{Duration, Instant};

use support::{work_dir, write_random, Daemon};

const PERIOD: &str = "1s";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn mib() -> u64 {
    std::env::var("CAIRN_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn report(api: &str, cid: &str) -> serde_json::Value {
    let url = format!("{api}/api/v1/keeps/{cid}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = reqwest::get(url).await.expect("keep report");
        response.json().await.expect("json")
    })
}

fn active(report: &serde_json::Value) -> Vec<String> {
    report["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["state"] == "live" && p["deal_state"] == "active")
        .filter_map(|p| p["peer"].as_str().map(str::to_string))
        .collect()
}

/// Polls the keep every 50 ms until `done`, for at most `limit`.
fn until(
    api: &str,
    cid: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let r = report(api, cid);
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out; last seen: {r:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    let size = mib() << 20;
    let work = work_dir("bench-repair");
    let mut providers = Vec::new();
    for i in 0..4 {
        let provider = Daemon::start(work.join(format!("provider-{i}")));
        provider.set_ask("10GiB");
        let id: serde_json::Value =
            serde_json::from_str(&provider.cli(&["id", "--json"])).expect("id");
        providers.push((id["id"].as_str().expect("peer id").to_string(), provider));
    }
    let client = Daemon::start(work.join("client"));
    for (_, provider) in &providers {
        client.cli(&["swarm", "connect", &provider.addr("/tcp/")]);
    }
    let file = work.join("data.bin");
    write_random(&file, size);
    let cid = client
        .cli(&["add", "-q", file.to_str().expect("path")])
        .trim()
        .to_string();
    let (api, _) = client.api();

    let start = Instant::now();
    client.cli(&[
        "keep",
        &cid,
        "--replicas",
        "3",
        "--challenge-period",
        PERIOD,
        "--duration",
        "1d",
    ]);
    let pinned = |r: &serde_json::Value| r["status"] == "pinned" && active(r).len() == 3;
    let first = until(&api, &cid, Duration::from_secs(300), pinned);
    let initial = start.elapsed();
    let holders = active(&first);

    // A provider holding a replica vanishes.
    let victim = providers
        .iter()
        .position(|(id, _)| holders.contains(id))
        .expect("a holder");
    let (gone, mut daemon) = providers.remove(victim);
    let killed = Instant::now();
    let _ = daemon.child.kill();
    let _ = daemon.child.wait();
    let dropped_at = |r: &serde_json::Value| {
        r["providers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["peer"] == gone.as_str() && p["state"] == "dropped")
    };
    until(&api, &cid, Duration::from_secs(120), dropped_at);
    let detected = killed.elapsed();
    let replaced = |r: &serde_json::Value| {
        let peers = active(r);
        peers.len() == 3 && !peers.contains(&gone)
    };
    until(&api, &cid, Duration::from_secs(300), replaced);
    let restored = killed.elapsed();
    let last = until(&api, &cid, Duration::from_secs(120), |r| {
        replaced(r) && pinned(r)
    });
    let healthy = killed.elapsed();
    let reason = last["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["peer"] == gone.as_str())
        .and_then(|p| p["reason"].as_str())
        .unwrap_or("")
        .to_string();

    println!(
        "\nrepair: {} MiB kept with 3 replicas over 4 providers, challenge period {PERIOD}, five daemons on loopback",
        size >> 20
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| first pinned (3 deals made, 3 proofs passed) | {:.2} s |",
        initial.as_secs_f64()
    );
    println!(
        "| kill -> provider dropped (detection) | {:.2} s |",
        detected.as_secs_f64()
    );
    println!(
        "| kill -> new deal active (replica count restored) | {:.2} s |",
        restored.as_secs_f64()
    );
    println!(
        "| kill -> pinned again (new replica's first proof passed) | {:.2} s |",
        healthy.as_secs_f64()
    );
    println!(
        "| reason recorded | {} |",
        reason.chars().take(80).collect::<String>()
    );
    support::record(
        "repair",
        &format!(
            "kill -> replica count restored, s ({} MiB, 3 replicas)",
            size >> 20
        ),
        &format!("{:.2}", restored.as_secs_f64()),
        "-",
        "-",
        "-",
    );
    // What the keeper did after the kill, for the timeline.
    let kill_ms = now_ms() - killed.elapsed().as_millis() as i64;
    println!("\nkeeper events after the kill (seconds from the kill):");
    for e in last["events"].as_array().into_iter().flatten() {
        let at = e["at"].as_i64().unwrap_or(0);
        if at >= kill_ms {
            let detail: String = e["detail"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect();
            println!(
                "  {:>6.2} {:<14} {detail}",
                (at - kill_ms) as f64 / 1000.0,
                e["kind"].as_str().unwrap_or("")
            );
        }
    }
    drop((daemon, providers, client));
    let _ = std::fs::remove_dir_all(&work);
    support::print_suite();
}
