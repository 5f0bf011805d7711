//! Foundation benchmark: add, only-hash and cat of one file versus the tools a user would
//! compare against, measured side by side in one run, with peak memory of the daemon and CLI.
//!
//! `cargo bench --bench foundation` (1 GiB by default; `CAIRN_BENCH_MIB=256` for a quick run).
//! Runs a real `cairn daemon` in a temporary data dir next to the test file (same disk).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{mib, vm_hwm, work_dir, write_random, Daemon, BIN};

fn main() {
    let mib = mib();
    let work = work_dir("bench-foundation");
    let file = work.join("random.bin");
    write_random(&file, mib << 20);
    // Measure from the page cache for every contender alike.
    run(Command::new("cat").arg(&file).stdout(Stdio::null()));
    let size = mib << 20;
    let mut rows = Vec::new();

    let openssl = time(|| run(Command::new("openssl").args(["dgst", "-sha256"]).arg(&file)));
    let (only_hash, only_hash_rss) = peak(Command::new(BIN).args(["add", "-n", "-q"]).arg(&file));
    rows.push(row(
        "add --only-hash (sha2-256)",
        size,
        only_hash,
        "openssl dgst -sha256",
        openssl,
        0.8,
    ));

    let b3 = time(|| b3_single_threaded(&file));
    let (only_b3, _) = peak(
        Command::new(BIN)
            .args(["add", "-n", "-q", "--hash", "blake3"])
            .arg(&file),
    );
    rows.push(row(
        "add --only-hash --hash blake3",
        size,
        only_b3,
        "blake3 1 thread (b3sum's core)",
        b3,
        0.8,
    ));

    let daemon = Daemon::start(work.join("repo"));
    let repo = daemon.repo.clone();
    let copy = work.join("copy.bin");
    let dd = time(|| {
        run(Command::new("dd")
            .arg(format!("if={}", file.display()))
            .arg(format!("of={}", copy.display()))
            .args(["bs=1M", "conv=fsync", "status=none"]))
    });
    let _ = std::fs::remove_file(&copy);
    let (add, add_rss) = peak(
        Command::new(BIN)
            .env("CAIRN_PATH", &repo)
            .args(["add", "-q"])
            .arg(&file),
    );
    let daemon_after_add = daemon.peak_rss_kib();
    rows.push(row(
        "add (stored, fsync)",
        size,
        add,
        "dd bs=1M conv=fsync",
        dd,
        0.8,
    ));

    let cid = String::from_utf8(
        Command::new(BIN)
            .env("CAIRN_PATH", &repo)
            .args(["add", "-n", "-q"])
            .arg(&file)
            .output()
            .expect("cid")
            .stdout,
    )
    .expect("utf8");
    let (cat, cat_rss) = peak(
        Command::new(BIN)
            .env("CAIRN_PATH", &repo)
            .args(["cat", cid.trim()])
            .stdout(Stdio::null()),
    );
    let daemon_after_cat = daemon.peak_rss_kib();
    rows.push(row(
        "cat > /dev/null (verified)",
        size,
        cat,
        "openssl dgst -sha256",
        openssl,
        0.5,
    ));

    drop(daemon);
    println!(
        "\n{} MiB of random bytes, {} cores",
        mib,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "| operation | MiB/s | reference | ref MiB/s | ratio | target |\n|---|---|---|---|---|---|"
    );
    for r in &rows {
        println!("{r}");
    }
    println!("\n| process | peak RSS |\n|---|---|");
    println!("| cli add --only-hash | {} MiB |", only_hash_rss >> 10);
    println!("| cli add | {} MiB |", add_rss >> 10);
    println!("| cli cat | {} MiB |", cat_rss >> 10);
    println!("| daemon after add | {} MiB |", daemon_after_add >> 10);
    println!("| daemon after cat | {} MiB |", daemon_after_cat >> 10);
    let _ = std::fs::remove_dir_all(&work);
    support::print_suite();
}

fn row(
    what: &str,
    size: u64,
    took: Duration,
    reference: &str,
    ref_took: Duration,
    target: f64,
) -> String {
    let rate = |d: Duration| (size >> 20) as f64 / d.as_secs_f64();
    let ratio = rate(took) / rate(ref_took);
    let verdict = if ratio >= target { "ok" } else { "BELOW" };
    support::record(
        "foundation",
        &format!("{what}, MiB/s"),
        &format!("{:.0}", rate(took)),
        reference,
        &format!("{:.0}", rate(ref_took)),
        &format!("{ratio:.2}x (target >= {target}x)"),
    );
    format!(
        "| {what} | {:.0} | {reference} | {:.0} | {ratio:.2}x | >= {target}x {verdict} |",
        rate(took),
        rate(ref_took)
    )
}
fn b3_single_threaded(path: &Path) {
    use std::io::Read;
    let mut file = std::fs::File::open(path).expect("open");
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    std::hint::black_box(hasher.finalize());
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn run(command: &mut Command) {
    let status = command.stdout(Stdio::null()).status().expect("spawn");
    assert!(status.success(), "{command:?} failed");
}

/// Runs a command to completion; returns its wall time and peak RSS in KiB.
fn peak(command: &mut Command) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = command.stdout(Stdio::null()).spawn().expect("spawn");
    let mut hwm = 0;
    loop {
        hwm = hwm.max(vm_hwm(child.id()));
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{command:?} failed");
            return (start.elapsed(), hwm);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
