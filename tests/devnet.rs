//! `cairn devnet` as a newcomer runs it: a client keeps a dataset on three of four providers,
//! proofs and payments run, one provider is stopped and the keeper repairs; Ctrl-C stops every
//! node and removes the temporary data.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn the_demo_network_keeps_three_replicas_repairs_a_lost_one_and_stops_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "devnet",
            "--nodes",
            "4",
            "--period",
            "1s",
            "--kill-after",
            "6s",
        ])
        .args(["--dataset-mib", "2", "--json"])
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

    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut data, mut stopped, mut repaired) = (None, None, None);
    while repaired.is_none() && Instant::now() < deadline {
        let Ok(line) = received.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        match event["event"].as_str() {
            Some("started") => data = event["data"].as_str().map(std::path::PathBuf::from),
            Some("provider_stopped") => stopped = event["peer"].as_str().map(str::to_string),
            // Healthy again *after* the stopped provider's deal was dropped: a summary printed
            // before the keeper noticed the stop still counts it.
            Some("summary")
                if stopped.is_some()
                    && event["keep"]["healthy"] == 3
                    && event["deals"]["cancelled"].as_u64() >= Some(1) =>
            {
                repaired = Some(event)
            }
            _ => {}
        }
    }
    // Ctrl-C, as a user would.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let exit = wait_bounded(&mut child, Duration::from_secs(30));

    let summary = repaired.expect("the keeper restored three replicas after a provider stopped");
    let stopped = stopped.unwrap();
    assert_eq!(summary["keep"]["status"], "pinned", "{summary}");
    assert!(
        summary["deals"]["cancelled"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert!(summary["proofs"]["passed"].as_u64().unwrap() > 0);
    assert!(summary["receipts"].as_u64().unwrap() > 0);
    let spent = summary["spent"].as_u64().unwrap();
    assert!(spent > 0);
    // What the client paid, the providers (the stopped one no longer listed) earned.
    let earned: u64 = summary["earned"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(earned > 0 && earned <= spent, "{summary}");
    let live: Vec<&str> = summary["providers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "live")
        .map(|p| p["peer"].as_str().unwrap())
        .collect();
    assert_eq!(live.len(), 3, "{summary}");
    assert!(!live.contains(&stopped.as_str()));

    assert_eq!(exit, Some(0), "devnet did not stop cleanly on Ctrl-C");
    assert!(
        !data.unwrap().exists(),
        "the temporary data dir was left behind"
    );
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
    None
}

#[test]
fn more_replicas_than_providers_is_refused_before_anything_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["devnet", "--nodes", "2", "--replicas", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("--nodes (2) must be at least --replicas (3)"),
        "{message}"
    );
}
