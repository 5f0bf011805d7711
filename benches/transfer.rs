//! Transfer benchmark: one file from node A to node B over loopback, each node its own
//! process, Cairn→Cairn (TCP and QUIC) beside Helia→Helia on the same file in the same run,
//! plus a directory of 10 000 small files.
//!
//! `cargo bench --bench transfer` (1 GiB; `CAIRN_BENCH_MIB=256` for a quick run). Needs the
//! Helia peer installed (`npm ci` in tests/interop/helia); without it the Helia row is skipped
//! and says so.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{mib, work_dir, write_random, Daemon, BIN};

fn timed_cat(daemon: &Daemon, cid: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new(BIN)
        .env("CAIRN_PATH", &daemon.repo)
        .args(["cat", cid])
        .stdout(Stdio::null())
        .status()
        .expect("cat");
    assert!(status.success());
    start.elapsed()
}

fn main() {
    let mib = mib();
    let work = work_dir("bench-transfer");
    let file = work.join("random.bin");
    write_random(&file, mib << 20);
    let rate = |d: Duration| mib as f64 / d.as_secs_f64();

    let a = Daemon::start(work.join("a"));
    let cid = a
        .cli(&["add", "-q", file.to_str().expect("path")])
        .trim()
        .to_string();
    let b = Daemon::start(work.join("b"));
    b.cli(&["swarm", "connect", &a.addr("/tcp/")]);
    let tcp = timed_cat(&b, &cid);
    let c = Daemon::start(work.join("c"));
    c.cli(&["swarm", "connect", &a.addr("/quic-v1")]);
    let quic = timed_cat(&c, &cid);

    let site = work.join("small");
    std::fs::create_dir_all(&site).expect("dir");
    for i in 0..10_000 {
        std::fs::write(
            site.join(format!("f{i:05}.txt")),
            format!("small file number {i}\n").repeat(40),
        )
        .expect("write");
    }
    let dir_cid = a
        .cli(&["add", "-r", "-q", site.to_str().expect("path")])
        .trim()
        .to_string();
    let d = Daemon::start(work.join("d"));
    d.cli(&["swarm", "connect", &a.addr("/tcp/")]);
    let start = Instant::now();
    d.cli(&[
        "get",
        &dir_cid,
        "-o",
        work.join("small-copy").to_str().expect("path"),
    ]);
    let small = start.elapsed();

    let helia = helia_transfer(&file);
    println!("\n{mib} MiB of random bytes, loopback, each node its own process");
    println!("| transfer | time | MiB/s |\n|---|---|---|");
    println!(
        "| Cairn → Cairn, TCP | {:.2} s | {:.0} |",
        tcp.as_secs_f64(),
        rate(tcp)
    );
    println!(
        "| Cairn → Cairn, QUIC | {:.2} s | {:.0} |",
        quic.as_secs_f64(),
        rate(quic)
    );
    match helia {
        Some(mbps) => {
            let helia_mib = mbps * 1e6 / 1048576.0;
            support::record(
                "transfer",
                "Cairn → Cairn TCP, MiB/s",
                &format!("{:.0}", rate(tcp)),
                "Helia → Helia TCP",
                &format!("{helia_mib:.0}"),
                &format!("{:.1}x (target >= 3x)", rate(tcp) / helia_mib),
            );
            println!(
                "| Helia → Helia, TCP | {:.2} s | {:.0} |",
                mib as f64 / helia_mib,
                helia_mib
            );
            println!(
                "\nCairn/Helia over TCP: {:.1}x (target >= 3x)",
                rate(tcp) / helia_mib
            );
        }
        None => {
            support::record(
                "transfer",
                "Cairn → Cairn TCP, MiB/s",
                &format!("{:.0}", rate(tcp)),
                "Helia → Helia TCP",
                "not run (no npm ci)",
                "-",
            );
            println!("| Helia → Helia | not run: `npm ci` in tests/interop/helia first | |")
        }
    }
    println!(
        "| 10 000 files of ~1 KiB, `get` TCP | {:.2} s | {:.0} files/s |",
        small.as_secs_f64(),
        10_000.0 / small.as_secs_f64()
    );
    drop((a, b, c, d));
    let _ = std::fs::remove_dir_all(&work);
    support::print_suite();
}

/// Runs the Helia provider and fetcher on the same file; returns the fetcher's MB/s.
fn helia_transfer(file: &Path) -> Option<f64> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/helia");
    let node = dir.join("node_modules/.bin/node");
    if !node.exists() {
        return None;
    }
    let mut provider = Command::new(&node)
        .args(["provider.mjs", file.to_str()?])
        .current_dir(&dir)
        .env("LIFETIME_S", "600")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut line = String::new();
    std::io::BufReader::new(provider.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let info: serde_json::Value = serde_json::from_str(&line).ok()?;
    let addr = info["multiaddrs"]
        .as_array()?
        .iter()
        .filter_map(|a| a.as_str())
        .find(|a| a.contains("/tcp/"))?
        .to_string();
    let out = Command::new(&node)
        .args(["fetcher.mjs", &addr, info["cid"].as_str()?])
        .current_dir(&dir)
        .env("FETCH_TIMEOUT_MS", "600000")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let _ = provider.kill();
    let _ = provider.wait();
    let result: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last()?).ok()?;
    result["MBps"].as_f64()
}
