//! Kubo's command-line habits on the real `cairn` binary against real daemons: add's flags
//! with Kubo's meaning, `cat -o -l`, `repo gc|stat`, `dag export|import`, `config`,
//! `stats bw`, `swarm disconnect`, `pin verify`, completions and man pages, JSON errors and
//! a closed stdout; each with the bad input it must refuse.

mod common;

use common::{bytes, json, ok, TestNode};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn fails(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "must fail: {}", stderr(out));
    assert!(
        stderr(out).contains(needle),
        "{needle:?} in {}",
        stderr(out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn add_takes_kubo_s_flags_with_kubo_s_meaning() {
    let node = TestNode::start().await;
    let work = tempfile::tempdir().unwrap();
    let hello = work.path().join("hello.txt");
    std::fs::write(&hello, "hello world\n").unwrap();
    let hello = hello.to_str().unwrap();

    // `ipfs add` of "hello world\n" with Kubo's defaults (CIDv0) gives this CID.
    let v0 = ok(&node.cli(&["add", "-Q", "--cid-version", "0", hello]));
    assert_eq!(v0.trim(), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    // CIDv1 means raw leaves: a one-chunk file is its raw block.
    let v1 = ok(&node.cli(&["add", "-Q", "--cid-version=1", hello]));
    let raw = cairn::content::Block::encode(
        cairn::content::RAW,
        cairn::content::HashAlg::Sha2_256,
        &b"hello world\n"[..],
    );
    assert_eq!(v1.trim(), raw.cid().to_string());

    // A bare --raw-leaves does not swallow the path; --raw-leaves=false is a value.
    let big = work.path().join("big.bin");
    std::fs::write(&big, bytes(300_000, 3)).unwrap();
    let big = big.to_str().unwrap();
    let bare = ok(&node.cli(&["add", "-Q", "--raw-leaves", big]));
    let default = ok(&node.cli(&["add", "-Q", big]));
    assert_eq!(bare, default, "raw leaves are the default profile's");
    let legacy = ok(&node.cli(&["add", "-Q", "--cid-version", "0", "--raw-leaves", big]));
    let legacy_pb = ok(&node.cli(&["add", "-Q", "--cid-version", "0", big]));
    assert_ne!(
        legacy, legacy_pb,
        "--raw-leaves overrides CIDv0's dag-pb leaves"
    );
    let no_raw = ok(&node.cli(&["add", "-Q", "--raw-leaves=false", big]));
    assert_ne!(no_raw, default);
    let chunked = ok(&node.cli(&["add", "-Q", "--chunker", "size-1024", big]));
    let short = ok(&node.cli(&["add", "-Q", "-s", "size-1024", big]));
    assert_eq!(chunked, short);
    assert_ne!(chunked, default);

    // -w wraps the file in a directory that lists it by name.
    let wrapped = ok(&node.cli(&["add", "-Q", "-w", hello]))
        .trim()
        .to_string();
    let listing = json(&node.cli(&["ls", "--json", &wrapped]));
    assert_eq!(listing["entries"][0]["name"], "hello.txt");
    assert_eq!(listing["entries"][0]["cid"], v1.trim());
    let cat = node.cli(&["cat", &format!("{wrapped}/hello.txt")]);
    assert_eq!(cat.stdout, b"hello world\n");

    for (args, needle) in [
        (
            vec!["add", "--cid-version", "2", hello],
            "unknown CID version 2",
        ),
        (vec!["add", "--cid-version", "x", hello], "invalid value"),
        (
            vec!["add", "--chunker", "size-x", hello],
            "unsupported chunker",
        ),
        (
            vec!["add", "--chunker", "rabin-1-2-3", hello],
            "unsupported chunker",
        ),
        (
            vec!["add", "--cid-version", "0", "--hash", "blake3", hello],
            "CIDv0 only supports sha2-256",
        ),
        (vec!["add", "--raw-leaves=maybe", hello], "invalid value"),
    ] {
        fails(&node.cli(&args), needle);
    }
    // The daemon refuses the same, whoever calls it.
    let response = node
        .http
        .post(node.api("/add?cid-version=7"))
        .bearer_auth(node.token())
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // -w names the file after its part: a raw body has no name to give it.
    let response = node
        .http
        .post(node.api("/add?wrap-with-directory=true"))
        .bearer_auth(node.token())
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("multipart"),
        "{body}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cat_reads_ranges_and_the_kubo_aliases_work() {
    let node = TestNode::start().await;
    let data = bytes(3_000_000, 5);
    let cid = node.add_cid(data.clone(), "?chunker=size-65536").await;
    let range = |o: &str, l: Option<&str>| {
        let mut args = vec!["cat", "-o", o, &cid];
        if let Some(l) = l {
            args.extend(["-l", l]);
        }
        node.cli(&args)
    };
    assert_eq!(range("100", Some("50")).stdout, data[100..150]);
    assert_eq!(range("65530", Some("20")).stdout, data[65530..65550]);
    assert_eq!(range("2999990", None).stdout, data[2_999_990..]);
    assert_eq!(range("2999990", Some("1000")).stdout, data[2_999_990..]);
    assert!(range("3000000", None).stdout.is_empty());
    let long = node.cli(&["cat", "--offset", "7", "--length", "3", &cid]);
    assert_eq!(long.stdout, data[7..10]);
    fails(&range("3000001", None), "past the end");
    fails(&node.cli(&["cat", "-o", "-5", &cid]), "unexpected argument");

    let stat = json(&node.cli(&["repo", "stat", "--json"]));
    assert!(stat["num_objects"].as_u64().unwrap() > 40, "{stat}");
    assert!(stat["repo_size"].as_u64().unwrap() >= 3_000_000);
    assert!(stat["repo_path"].as_str().unwrap().ends_with("repo"));
    assert!(ok(&node.cli(&["repo", "stat"])).contains("NumObjects:"));

    // dag export to stdout, then dag import, around a repo gc.
    let work = tempfile::tempdir().unwrap();
    let car = work.path().join("x.car");
    let export = node.cli(&["dag", "export", &cid]);
    assert!(export.status.success(), "{}", stderr(&export));
    std::fs::write(&car, &export.stdout).unwrap();
    ok(&node.cli(&["pin", "rm", &cid]));
    let gc = json(&node.cli(&["repo", "gc", "--json"]));
    assert!(gc["removed_blocks"].as_u64().unwrap() > 40);
    assert!(!node.cli(&["cat", "-l", "1", &cid]).status.success());
    let imported = json(&node.cli(&["dag", "import", "--json", car.to_str().unwrap()]));
    assert_eq!(imported["roots"][0], cid.as_str());
    assert_eq!(range("100", Some("50")).stdout, data[100..150]);
    let bad_car = work.path().join("bad.car");
    std::fs::write(&bad_car, b"not a car").unwrap();
    assert!(!node
        .cli(&["dag", "import", bad_car.to_str().unwrap()])
        .status
        .success());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn config_reads_sets_and_refuses_what_config_toml_cannot_hold() {
    let node = TestNode::start().await;
    let listen = ok(&node.cli(&["config", "api.listen"]));
    assert!(listen.trim().starts_with("127.0.0.1:"), "{listen}");
    let shown = ok(&node.cli(&["config", "show"]));
    assert!(
        shown.contains("[api]") && shown.contains("[swarm]"),
        "{shown}"
    );
    let shown = json(&node.cli(&["config", "show", "--json"]));
    assert!(shown["swarm"]["listen"].is_array());

    let before = std::fs::read_to_string(node.repo().join("config.toml")).unwrap();
    fails(&node.cli(&["config", "storage.quota"]), "not set");
    ok(&node.cli(&["config", "storage.quota", "500GiB"]));
    assert_eq!(ok(&node.cli(&["config", "storage.quota"])).trim(), "500GiB");
    let set = json(&node.cli(&["config", "--json", "pay.free_bytes", "4096"]));
    assert_eq!(set["value"], 4096);
    let config = node.daemon.node().data().load_config().unwrap();
    assert_eq!(config.storage.quota, Some(500 << 30));
    assert_eq!(config.pay.free_bytes, 4096);

    let after = std::fs::read_to_string(node.repo().join("config.toml")).unwrap();
    for (args, needle) in [
        (vec!["config", "no.such.key"], "unknown config key"),
        (vec!["config", "api.nope", "1"], "unknown config key"),
        (
            vec!["config", "api.listen.deeper", "1"],
            "unknown config key",
        ),
        (
            vec!["config", "storage.quota", "lots"],
            "storage.quota cannot be",
        ),
        (
            vec!["config", "api.listen", "not-an-address"],
            "api.listen cannot be",
        ),
        (vec!["config", "a..b"], "invalid config key"),
    ] {
        fails(&node.cli(&args), needle);
    }
    assert_eq!(
        std::fs::read_to_string(node.repo().join("config.toml")).unwrap(),
        after,
        "a refused value changes nothing"
    );
    assert_ne!(before, after);
    let json_error = node.cli(&["--json", "config", "no.such.key"]);
    let line: serde_json::Value = serde_json::from_slice(&json_error.stderr).unwrap();
    assert_eq!(line["error"], "unknown_config_key");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn swarm_disconnect_and_stats_bw_between_two_nodes() {
    let a = TestNode::start().await;
    let b = TestNode::start().await;
    ok(&a.cli(&["swarm", "connect", &b.tcp_addr()]));
    // Traffic both ways: b fetches a block of a's over Bitswap.
    let cid = a.add_cid(bytes(200_000, 9), "").await;
    let fetched = b.cli(&["cat", &cid]);
    assert_eq!(fetched.stdout, bytes(200_000, 9));
    let bw = json(&b.cli(&["stats", "bw", "--json"]));
    assert!(bw["total_in"].as_u64().unwrap() >= 200_000, "{bw}");
    assert!(bw["total_out"].as_u64().unwrap() > 0, "{bw}");
    assert!(ok(&b.cli(&["stats", "bw"])).contains("TotalIn:"));

    let b_id = b.daemon.info.id.clone();
    let out = json(&a.cli(&["swarm", "disconnect", "--json", &b.tcp_addr()]));
    assert_eq!(out["id"], b_id.as_str());
    let peers = json(&a.cli(&["swarm", "peers", "--json"]));
    assert!(
        !peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == b_id.as_str()),
        "{peers}"
    );
    fails(&a.cli(&["swarm", "disconnect", &b_id]), "not connected");
    fails(
        &a.cli(&["swarm", "disconnect", "/ip4/127.0.0.1/tcp/1"]),
        "does not end with /p2p/",
    );
    fails(
        &a.cli(&["swarm", "disconnect", "garbage"]),
        "invalid multiaddr",
    );
    a.stop().await;
    b.stop().await;
}

/// Every block file under `dir`.
fn block_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn pin_verify_names_missing_and_corrupt_blocks() {
    let node = TestNode::start().await;
    let cid = node.add_cid(bytes(500_000, 4), "?chunker=size-65536").await;
    let verdict = json(&node.cli(&["pin", "verify", "--json"]));
    assert_eq!(verdict["pins"][0]["cid"], cid.as_str());
    assert_eq!(verdict["pins"][0]["ok"], true);
    assert_eq!(verdict["pins"][0]["blocks"], 9, "a root and eight leaves");
    assert!(ok(&node.cli(&["pin", "verify"])).contains(" ok "));

    let files = block_files(&node.repo().join("blocks"));
    assert_eq!(files.len(), 9);
    let sizes: Vec<u64> = files.iter().map(|f| f.metadata().unwrap().len()).collect();
    // Two leaves (65 536 bytes each): one removed, one overwritten with other bytes.
    let leaves: Vec<&std::path::PathBuf> = files
        .iter()
        .zip(&sizes)
        .filter(|(_, s)| **s == 65_536)
        .map(|(f, _)| f)
        .collect();
    std::fs::remove_file(leaves[0]).unwrap();
    std::fs::write(leaves[1], vec![0u8; 65_536]).unwrap();
    let out = node.cli(&["pin", "verify", "--json"]);
    assert!(!out.status.success(), "a broken pin fails the command");
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pin = &verdict["pins"][0];
    assert_eq!(pin["ok"], false);
    assert_eq!(pin["bad_count"], 2, "{pin}");
    let mut problems: Vec<&str> = pin["bad_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["problem"].as_str().unwrap())
        .collect();
    problems.sort();
    assert_eq!(problems, ["corrupt", "missing"]);
    assert_eq!(pin["blocks"], 7);
    fails(
        &node.cli(&["pin", "verify", "-q"]),
        "1 of 1 pins are not whole",
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_man_pages_json_errors_and_a_closed_stdout() {
    let node = TestNode::start().await;
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&node.cli(&["completions", shell]));
        assert!(script.contains("cairn"), "{shell}");
        assert!(script.contains("disconnect"), "{shell} knows the new verbs");
    }
    fails(&node.cli(&["completions", "tcsh"]), "invalid value");
    let page = ok(&node.cli(&["man"]));
    assert!(page.contains(".TH cairn 1"));
    let dir = tempfile::tempdir().unwrap();
    ok(&node.cli(&["man", "--dir", dir.path().to_str().unwrap()]));
    let add_page = std::fs::read_to_string(dir.path().join("cairn-add.1")).unwrap();
    assert!(add_page.contains("cid\\-version"), "{add_page}");
    assert!(dir.path().join("cairn-pin-verify.1").exists());

    // --json errors are one JSON line on stderr, with the daemon's reason and status.
    let missing = cairn::content::Block::encode(
        cairn::content::RAW,
        cairn::content::HashAlg::Sha2_256,
        &b"absent"[..],
    );
    let out = node.cli(&["--json", "pin", "add", &missing.cid().to_string()]);
    assert!(!out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(line["status"], 404, "{line}");
    assert!(
        line["error"].as_str().unwrap().contains("not_found"),
        "{line}"
    );
    let out = node.cli(&["--json", "cat", "not-a-cid"]);
    let line: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(line["error"], "malformed_cid");
    let out = node.cli(&["--json", "no-such-verb"]);
    assert_eq!(out.status.code(), Some(2));
    let line: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(line["error"], "usage");
    let out = node.cli(&["no-such-verb"]);
    assert!(stderr(&out).starts_with("error: "), "plain without --json");

    // A reader that went away (`| head`) ends the command quietly with exit 0.
    let cid = node.add_cid(bytes(1_000_000, 6), "").await;
    for args in [
        vec!["--json", "deal", "list"],
        vec!["--json", "pin", "ls"],
        vec!["cat", cid.as_str()],
        vec!["completions", "bash"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(&args)
            .env("CAIRN_PATH", node.repo())
            .env_remove("CAIRN_API")
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    }
    node.stop().await;
}
