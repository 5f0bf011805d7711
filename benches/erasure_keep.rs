//! Erasure-coded keep benchmark over loopback, every daemon its own process: `keep restore`
//! of a file from 4 of its 8 slot providers (4+4) against fetching one full replica from one
//! provider, measured in the same run; then the repair traffic per lost slot.
//!
//! Eleven daemons: a client, eight slot providers, one provider holding a full replica (a
//! plain deal), and a fresh reader. Steps:
//! 1. the client keeps the file with `--erasure 4+4 --repair-threshold 8` and waits until every
//!    slot's deal is active and the copies of the slots here are let go;
//! 2. the client's local copy is unpinned and collected, then `cairn keep restore` is timed
//!    (4 slots fetched from 4 providers, decoded, every block checked, pinned);
//! 3. the reader, connected to the replica's provider only, times `cairn pin add` of the CID
//!    (the same DAG over Bitswap from one provider, stored and pinned): the reference;
//! 4. the local copy is lost again and one parity slot's provider is killed: the keeper drops
//!    it, rebuilds the slot from 4 slots fetched from providers and deals it to the spare; the
//!    bytes it fetched per rebuilt slot are reported.
//!
//! `cargo bench --bench erasure_keep` (`CAIRN_BENCH_MIB=256` by default here).

mod support;

use std::time::{Duration, Instant};

use support::{work_dir, write_random, Daemon};

fn mib() -> u64 {
    std::env::var("CAIRN_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
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

/// Polls the keep every 100 ms until `done`, for at most `limit`.
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
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn slots(r: &serde_json::Value) -> Vec<serde_json::Value> {
    r["slots"].as_array().cloned().unwrap_or_default()
}

fn placed(r: &serde_json::Value) -> bool {
    let s = slots(r);
    s.len() == 8
        && s.iter()
            .all(|s| s["deal_state"] == "active" && s["local"] == false)
}

fn peer_id(daemon: &Daemon) -> String {
    let id: serde_json::Value = serde_json::from_str(&daemon.cli(&["id", "--json"])).expect("id");
    id["id"].as_str().expect("peer id").to_string()
}

fn sha256_file(path: &std::path::Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).expect("read");
    hex::encode(sha2::Sha256::digest(bytes))
}

fn main() {
    let size = mib() << 20;
    let work = work_dir("bench-erasure-keep");
    let mut providers = Vec::new();
    for i in 0..8 {
        let provider = Daemon::start(work.join(format!("provider-{i}")));
        provider.set_ask("10GiB");
        providers.push((peer_id(&provider), provider));
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

    // 1. Keep it as 4+4 slots.
    let start = Instant::now();
    client.cli(&[
        "keep",
        &cid,
        "--erasure",
        "4+4",
        "--repair-threshold",
        "8",
        "--challenge-period",
        "2s",
        "--duration",
        "1d",
    ]);
    let first = until(&api, &cid, Duration::from_secs(900), placed);
    let encode_and_deal = start.elapsed();
    let slot_size = first["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "encoded")
        .and_then(|e| e["detail"].as_str())
        .unwrap_or("")
        .to_string();

    // The spare: a full replica by a plain deal (the reference), later the repair's target.
    let spare = Daemon::start(work.join("spare"));
    spare.set_ask("10GiB");
    client.cli(&["swarm", "connect", &spare.addr("/tcp/")]);
    client.cli(&[
        "deal",
        "make",
        &cid,
        "--provider",
        &spare.addr("/tcp/"),
        "--duration",
        "1d",
        "--challenge-period",
        "1h",
    ]);

    // 2. The local copy is lost; restore from slots.
    client.cli(&["pin", "rm", &cid]);
    client.cli(&["gc"]);
    let restore_started = Instant::now();
    let restored: serde_json::Value =
        serde_json::from_str(&client.cli(&["keep", "restore", &cid, "--json"])).expect("json");
    let restore = restore_started.elapsed();
    let out = work.join("restored.bin");
    client.cli(&["get", &cid, "-o", out.to_str().expect("path")]);
    assert_eq!(sha256_file(&out), sha256_file(&file), "byte-identical");
    let _ = std::fs::remove_file(&out);
    let sources: Vec<String> = restored["slots"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{}:{}",
                s["index"],
                &s["source"].as_str().unwrap_or("")[..12]
            )
        })
        .collect();

    // 3. The reference: one full replica fetched from one provider by a fresh node.
    let reader = Daemon::start(work.join("reader"));
    reader.cli(&["swarm", "connect", &spare.addr("/tcp/")]);
    let fetch_started = Instant::now();
    reader.cli(&["pin", "add", &cid]);
    let replica = fetch_started.elapsed();
    drop(reader);

    // 4. Repair traffic: the local copy is lost again and a parity slot's provider dies.
    client.cli(&["pin", "rm", &cid]);
    client.cli(&["gc"]);
    let now = report(&api, &cid);
    let victim_id = slots(&now)
        .iter()
        .find(|s| s["index"] == 7)
        .and_then(|s| s["peer"].as_str())
        .expect("slot 7's provider")
        .to_string();
    let position = providers
        .iter()
        .position(|(id, _)| *id == victim_id)
        .expect("victim");
    let (_, mut victim) = providers.remove(position);
    let killed = Instant::now();
    let _ = victim.child.kill();
    let _ = victim.child.wait();
    let repaired = until(&api, &cid, Duration::from_secs(900), |r| {
        r["events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["kind"] == "repair")
    });
    let rebuilt = killed.elapsed();
    let repair = repaired["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "repair")
        .and_then(|e| e["detail"].as_str())
        .unwrap_or("")
        .to_string();
    let fetched: u64 = repair
        .split(" bytes fetched")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let spare_id = peer_id(&spare);
    until(&api, &cid, Duration::from_secs(900), |r| {
        slots(r).iter().any(|s| {
            s["index"] == 7 && s["peer"] == spare_id.as_str() && s["deal_state"] == "active"
        })
    });
    let redealt = killed.elapsed();

    // "encoded into 4+4 slots of N bytes each ...": the slot size, the repair's yardstick.
    let slot_bytes: u64 = slot_size
        .split(" slots of ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(size / 4);
    let mb = size as f64 / (1 << 20) as f64;
    let ratio = replica.as_secs_f64() / restore.as_secs_f64();
    println!(
        "\nerasure keep: {} MiB, 4+4 on 8 providers, eleven daemons on loopback",
        size >> 20
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| keep --erasure 4+4: encoded, 8 slot deals active | {:.2} s ({slot_size}) |",
        encode_and_deal.as_secs_f64()
    );
    println!(
        "| keep restore from 4 of 8 providers (slots {}) | {:.2} s ({:.0} MiB/s) |",
        sources.join(", "),
        restore.as_secs_f64(),
        mb / restore.as_secs_f64()
    );
    println!(
        "| reference: one full replica from one provider (pin add) | {:.2} s ({:.0} MiB/s) |",
        replica.as_secs_f64(),
        mb / replica.as_secs_f64()
    );
    println!("| restore speed / replica fetch speed | {ratio:.2}x |");
    println!(
        "| repair of 1 lost slot: bytes fetched from providers | {fetched} ({:.2}x the slot of {slot_bytes} bytes, {:.2}x the file) |",
        fetched as f64 / slot_bytes as f64,
        fetched as f64 / size as f64
    );
    println!(
        "| kill -> slot rebuilt / re-dealt to the spare | {:.2} s / {:.2} s |",
        rebuilt.as_secs_f64(),
        redealt.as_secs_f64()
    );
    println!("| repair event | {repair} |");
    support::record(
        "erasure_keep",
        &format!("keep restore from 4 of 8 providers, s ({} MiB)", size >> 20),
        &format!("{:.2}", restore.as_secs_f64()),
        "one full replica from one provider, s",
        &format!("{:.2}", replica.as_secs_f64()),
        &format!("{ratio:.2}x"),
    );
    support::print_suite();
}
