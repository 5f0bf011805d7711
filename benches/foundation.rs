//! Foundation benchmark: add, only-hash and cat of one file versus the tools a user would
//! compare against, measured side by side in one run, with peak memory of the daemon and CLI.
//!
//! `cargo bench --bench foundation` (1 GiB by default; `CAIRN_BENCH_MIB=256` for a quick run).
//! Runs a real `cairn daemon` in a temporary data dir next to the test file (same disk).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cairn");

fn main() {
    let mib: u64 = std::env::var("CAIRN_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-foundation");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    let file = work.join("random.bin");
    write_random(&file, mib << 20);
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

    let repo = work.join("repo");
    let mut daemon = start_daemon(&repo);
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
    let daemon_after_add = vm_hwm(daemon.id());
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
    let daemon_after_cat = vm_hwm(daemon.id());
    rows.push(row(
        "cat > /dev/null (verified)",
        size,
        cat,
        "openssl dgst -sha256",
        openssl,
        0.5,
    ));

    let _ = daemon.kill();
    let _ = daemon.wait();
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
    format!(
        "| {what} | {:.0} | {reference} | {:.0} | {ratio:.2}x | >= {target}x {verdict} |",
        rate(took),
        rate(ref_took)
    )
}

fn write_random(path: &Path, len: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..(len >> 20) {
        for word in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        out.write_all(&buf).expect("write");
    }
    out.flush().expect("flush");
    // Measure from the page cache for every contender alike.
    run(Command::new("cat").arg(path).stdout(Stdio::null()));
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

fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn start_daemon(repo: &Path) -> Child {
    let child = Command::new(BIN)
        .env("CAIRN_PATH", repo)
        .args(["daemon", "--random-ports"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !repo.join("daemon.json").exists() {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}
