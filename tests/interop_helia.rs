//! Interop with Helia, the JavaScript IPFS implementation: a real Helia 7 peer
//! (`tests/interop/helia`, Node 22 from the npm registry) fetches from a Cairn daemon and
//! serves to one, over TCP + Noise + Yamux + Bitswap 1.2.0 on 127.0.0.1.
//!
//! The peer's packages are installed by `.ci/run`; if they are missing this test installs
//! them with `npm ci`, and if that is impossible it fails: it never passes silently.

mod common;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{bytes, sha256_hex, TestNode};

fn helia_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/helia")
}

/// The Node 22 binary the interop packages ship, installing them first if needed.
fn node_binary() -> PathBuf {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    let dir = helia_dir();
    INSTALL.call_once(|| {
        if !dir.join("node_modules/.bin/node").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm must be installed to run the Helia interop tests");
            assert!(
                status.success(),
                "`npm ci` in {} failed: the Helia peer cannot be installed",
                dir.display()
            );
        }
    });
    let node = dir.join("node_modules/.bin/node");
    assert!(
        node.exists(),
        "Helia interop peer not installed: run `npm ci` in {}",
        dir.display()
    );
    node
}

fn node_command(script: &str) -> Command {
    let node = node_binary();
    let mut command = Command::new(&node);
    let bin = node.parent().unwrap().display().to_string();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    command
        .arg(script)
        .current_dir(helia_dir())
        .env("PATH", path)
        .env("FETCH_TIMEOUT_MS", "60000");
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn helia_fetches_a_file_and_a_blake3_block_from_cairn() {
    let cairn = TestNode::start().await;
    let data = bytes(5 * 1024 * 1024 + 123, 41);
    let cid = cairn.add_cid(data.clone(), "").await;
    let b3 = cairn
        .add_cid(b"hello blake3 from cairn\n".to_vec(), "?hash=blake3")
        .await;
    assert!(b3.starts_with("bafkr4"), "a BLAKE3 raw block: {b3}");

    let addr = cairn.tcp_addr();
    let expect = sha256_hex(&data);
    let output = tokio::task::spawn_blocking(move || {
        node_command("fetcher.mjs")
            .args([
                addr.as_str(),
                cid.as_str(),
                "--expect-sha256",
                expect.as_str(),
                "--block",
                b3.as_str(),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Helia fetcher failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(result["sha256Match"], true, "{result}");
    assert_eq!(result["size"], data.len() as u64);
    assert_eq!(result["blocks"][0]["ok"], true, "{result}");
    assert_eq!(result["blocks"][0]["text"], "hello blake3 from cairn");
    let served = cairn
        .daemon
        .node()
        .net()
        .running()
        .unwrap()
        .ledgers()
        .values()
        .map(|l| l.bytes_sent)
        .sum::<u64>();
    assert!(
        served >= data.len() as u64,
        "the ledger saw the bytes go out: {served}"
    );
    cairn.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cairn_fetches_a_file_and_a_blake3_block_that_helia_added() {
    let mut provider = node_command("provider.mjs")
        .env("LIFETIME_S", "90")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = provider.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(60), line)
        .await
        .expect("Helia provider started")
        .unwrap()
        .unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&line).expect("provider prints one JSON line");
    let addr = info["multiaddrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .find(|a| a.contains("/tcp/"))
        .unwrap()
        .to_string();
    let addr = if addr.contains("/p2p/") {
        addr
    } else {
        format!("{addr}/p2p/{}", info["peerId"].as_str().unwrap())
    };

    let cairn = TestNode::start().await;
    let connect = cairn.cli(&["swarm", "connect", &addr]);
    assert!(
        connect.status.success(),
        "{}",
        String::from_utf8_lossy(&connect.stderr)
    );
    let cat = cairn.cli(&["cat", info["cid"].as_str().unwrap()]);
    assert!(
        cat.status.success(),
        "{}",
        String::from_utf8_lossy(&cat.stderr)
    );
    assert_eq!(sha256_hex(&cat.stdout), info["sha256"].as_str().unwrap());
    let b3 = cairn.cli(&["cat", info["blake3Cid"].as_str().unwrap()]);
    assert!(
        b3.status.success(),
        "{}",
        String::from_utf8_lossy(&b3.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&b3.stdout),
        "hello blake3 bitswap interop\n"
    );
    let _ = provider.kill();
    let _ = provider.wait();
    cairn.stop().await;
}
