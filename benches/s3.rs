//! Object-storage benchmark: `cairn add` and `cairn cat` of one file (1 GiB by default,
//! `CAIRN_BENCH_MIB`) on the `s3` block store, against the same S3 server's own throughput
//! for 1 MiB objects (PUT, then GET, in a loop with the same client crate, `object_store`),
//! measured in one run.
//!
//! The server is `s3s-fs` on 127.0.0.1 (tests/support/s3_server.rs), in this process on a
//! runtime of its own; the daemon is a separate `cairn daemon` process on the `s3` backend
//! pointed at it. Both the reference loop and the daemon make one request at a time, as an add
//! stores its blocks one after another: the ratio is the node's overhead per block (the store
//! checks whether a block is already there before writing it, and hashes every block it reads
//! back) over the bare request cost. Objects land on the same disk as the build.
//!
//! `cargo bench --bench s3` (`CAIRN_BENCH_MIB=256` for a quick run).

mod support;

#[path = "../tests/support/s3_server.rs"]
mod s3_server;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use s3_server::{S3Server, BUCKET};
use support::{mib, work_dir, write_random, BIN};

fn main() {
    let mib = mib();
    let size = mib << 20;
    let work = work_dir("bench-s3");
    let file = work.join("data.bin");
    write_random(&file, size);
    s3_server::set_credentials_env();
    let server = S3Server::start();

    // The server's own throughput: 1 MiB objects, one request at a time, the client the
    // backend uses, configured as the backend configures it.
    let store = cairn::blockstore::S3Blockstore::open(&server.config("reference"))
        .expect("reference client");
    let client = store.client().clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (put, get) = runtime.block_on(reference(&*client, mib));

    // The node on the same server.
    let endpoint = server.endpoint();
    let daemon = support::Daemon::start_with(work.join("repo"), |text| {
        text.replacen(
            "[storage]\n",
            &format!(
                "[storage]\nbackend = \"s3\"\n\n[storage.s3]\nbucket = \"{BUCKET}\"\nendpoint = \"{endpoint}\"\nprefix = \"node\"\n"
            ),
            1,
        )
    });
    let repo = daemon.repo.clone();
    let (add, cid) = timed_output(
        Command::new(BIN)
            .env("CAIRN_PATH", &repo)
            .args(["add", "-q"])
            .arg(&file),
    );
    let cat = timed(
        Command::new(BIN)
            .env("CAIRN_PATH", &repo)
            .args(["cat", cid.trim()])
            .stdout(Stdio::null()),
    );
    let daemon_rss = daemon.peak_rss_kib();
    drop(daemon);

    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    println!(
        "\n{mib} MiB of random bytes, s3s-fs on 127.0.0.1, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("| operation | MiB/s | reference | ref MiB/s | ratio |\n|---|---|---|---|---|");
    for (what, took, reference, ref_took) in [
        ("add (s3 backend)", add, "PUT 1 MiB objects", put),
        (
            "cat > /dev/null (s3 backend, verified)",
            cat,
            "GET 1 MiB objects",
            get,
        ),
    ] {
        let ratio = rate(took) / rate(ref_took);
        println!(
            "| {what} | {:.0} | {reference} | {:.0} | {ratio:.2}x |",
            rate(took),
            rate(ref_took)
        );
        support::record(
            "s3",
            &format!("{what}, MiB/s"),
            &format!("{:.0}", rate(took)),
            reference,
            &format!("{:.0}", rate(ref_took)),
            &format!("{ratio:.2}x"),
        );
    }
    println!("\n| process | peak RSS |\n|---|---|");
    println!("| daemon after add and cat | {} MiB |", daemon_rss >> 10);
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
    support::print_suite();
}

/// PUTs `count` distinct 1 MiB objects one after another, then GETs them back: the two wall
/// times.
async fn reference(client: &dyn ObjectStore, count: u64) -> (Duration, Duration) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut object = vec![0u8; 1 << 20];
    let start = Instant::now();
    for i in 0..count {
        for word in object.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let key = object_store::path::Path::from(format!("reference/{i:08}"));
        let payload = PutPayload::from(bytes::Bytes::copy_from_slice(&object));
        client.put(&key, payload).await.expect("reference put");
    }
    let put = start.elapsed();
    let start = Instant::now();
    let mut total = 0;
    for i in 0..count {
        let key = object_store::path::Path::from(format!("reference/{i:08}"));
        let got = client.get(&key).await.expect("reference get");
        total += got.bytes().await.expect("reference body").len();
    }
    assert_eq!(total as u64, count << 20);
    (put, start.elapsed())
}

/// Runs a command to completion; returns its wall time and stdout.
fn timed_output(command: &mut Command) -> (Duration, String) {
    let start = Instant::now();
    let out = command.stderr(Stdio::inherit()).output().expect("spawn");
    let took = start.elapsed();
    assert!(out.status.success(), "{command:?} failed");
    (took, String::from_utf8_lossy(&out.stdout).to_string())
}

/// Runs a command to completion; returns its wall time.
fn timed(command: &mut Command) -> Duration {
    let start = Instant::now();
    let status = command.status().expect("spawn");
    assert!(status.success(), "{command:?} failed");
    start.elapsed()
}
