//! `cairn devnet --chain`: the demo network on a local anvil. Deposits are escrowed in the
//! contract, providers claim, and the summary shows their on-chain token balances. Fails,
//! never skips, when anvil cannot start.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn anvil_binary() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts/evm");
    if !dir.join("node_modules/.bin/anvil").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm must be installed to run the chain tests");
        assert!(status.success(), "`npm ci` in {} failed", dir.display());
    }
    dir.join("node_modules/.bin/anvil")
}

#[test]
fn the_chain_devnet_escrows_deposits_and_providers_claim_tokens() {
    let anvil = anvil_binary();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["devnet", "--chain", "--anvil"])
        .arg(&anvil)
        .args(["--nodes", "3", "--replicas", "2", "--period", "1s"])
        .args(["--kill-after", "1h", "--dataset-mib", "8", "--json"])
        .env_remove("CAIRN_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let (mut first_proof, mut claimed) = (None, None);
    while claimed.is_none() && Instant::now() < deadline {
        let Ok(line) = received.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["event"] != "summary" {
            continue;
        }
        if first_proof.is_none() && event["proofs"]["passed"].as_u64() > Some(0) {
            first_proof = Some(Instant::now());
        }
        let balances = event["onchain"]["token_balances"].as_object().cloned();
        let tokens: u64 = balances
            .iter()
            .flat_map(|b| b.values())
            .filter_map(|v| v.as_str()?.parse::<u64>().ok())
            .sum();
        if tokens > 0 {
            claimed = Some((event.clone(), tokens, Instant::now()));
        }
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let exit = wait_bounded(&mut child, Duration::from_secs(30));
    let (summary, tokens, at) = claimed.expect("no provider claimed tokens on chain");
    let since = first_proof.map(|p| at.saturating_duration_since(p));
    eprintln!(
        "BENCH devnet --chain: first summary with a passed proof to first summary with claimed tokens: {:?} (summaries every 2 s; --claim-threshold 100)",
        since
    );
    assert!(summary["onchain"]["contract"]
        .as_str()
        .unwrap()
        .starts_with("0x"));
    assert_eq!(
        summary["onchain"]["token_balances"]
            .as_object()
            .unwrap()
            .len(),
        3
    );
    // What providers hold on chain they were paid with receipts first.
    let earned: u64 = summary["earned"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(tokens <= earned, "{summary}");
    assert_eq!(exit, Some(0), "devnet did not stop cleanly on Ctrl-C");
}

fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
