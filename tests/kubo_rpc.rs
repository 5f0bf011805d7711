//! The Kubo RPC API (`/api/v0`) driven by a client no one here wrote: the npm
//! `kubo-rpc-client` (pinned in `tests/interop/kubo-client`, run with the Node 22 that its
//! packages ship), against two real daemons on 127.0.0.1. The CIDs must be the ones Kubo
//! gives for the same bytes (`tests/vectors/unixfs`), the bytes must round-trip, pins must
//! be listed and removed, and errors must reach the client in Kubo's shape.
//!
//! `./test.sh` installs the client's packages; if they are missing this test installs them
//! with `npm ci`, and if that is impossible it fails: it never passes silently.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{sha256_hex, TestNode};
use serde_json::Value;

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kubo-client")
}

/// The Node 22 binary the client's packages ship, installing them first if needed.
fn node_binary() -> PathBuf {
    let dir = client_dir();
    let node = dir.join("node_modules/.bin/node");
    if !node.exists() || !dir.join("node_modules/kubo-rpc-client").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm must be installed to run the kubo-rpc-client tests");
        assert!(status.success(), "`npm ci` in {} failed", dir.display());
    }
    assert!(
        node.exists(),
        "kubo-rpc-client not installed: run `npm ci` in {}",
        dir.display()
    );
    node
}

/// The vectors' file bytes: byte i = (i * 31 + 7) % 251.
fn vector_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The reference CID of the vector case `name` in `profile`.
fn vector_cid(profile: &str, name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/unixfs/vectors.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["profile"] == profile && c["name"] == name)
        .unwrap_or_else(|| panic!("no vector {profile} {name}"))["cid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubo_rpc_client_adds_reads_pins_moves_and_fails_as_on_kubo() {
    let a = TestNode::start().await;
    let b = TestNode::start().await;
    let inputs = tempfile::tempdir().unwrap();
    let file = vector_bytes(262_145);
    let v1 = vector_bytes(1_048_577);
    let c = vector_bytes(70_000);
    write(inputs.path(), "one-chunk-plus-one.bin", &file);
    write(inputs.path(), "v1.bin", &v1);
    write(inputs.path(), "root/a.txt", b"alpha");
    write(inputs.path(), "root/sub/b.bin", &vector_bytes(3000));
    write(inputs.path(), "root/sub/deeper/c.bin", &c);

    let node = node_binary();
    let args = [
        client_dir().join("driver.mjs").display().to_string(),
        a.daemon.info.api.clone(),
        a.token(),
        b.daemon.info.api.clone(),
        b.token(),
        b.tcp_addr(),
        inputs.path().display().to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .args(args)
            .current_dir(client_dir())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the driver failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let a_id = a.daemon.node().peer_id().to_string();
    let b_id = b.daemon.node().peer_id().to_string();

    // id and version.
    assert_eq!(r["id"]["id"], a_id, "{r}");
    assert!(r["id"]["agent"].as_str().unwrap().starts_with("cairn/"));
    assert!(!strings(&r["id"]["addresses"]).is_empty());
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["id_anonymous"], a_id, "reads need no token");

    // add: Kubo's CIDs for the same bytes.
    let default_cid = vector_cid("unixfs-v0-2015", "one chunk + 1");
    assert_eq!(r["add_default"]["cid"], default_cid);
    assert_eq!(
        r["add_default"]["path"], default_cid,
        "an unnamed file is named by its CID"
    );
    assert!(r["add_default"]["size"].as_u64().unwrap() > 262_145);
    let progress = r["add_default"]["progress"].as_array().unwrap();
    assert_eq!(
        progress.last().unwrap(),
        262_145,
        "progress reaches the file's size: {progress:?}"
    );
    assert_eq!(r["add_v1"], vector_cid("unixfs-v1-2025", "one chunk + 1"));
    assert!(
        r["add_cidv1"].as_str().unwrap().starts_with("bafkrei"),
        "{r}"
    );
    let tree = r["add_tree"].as_array().unwrap();
    let root = tree.last().unwrap();
    assert_eq!(root["path"], "root");
    assert_eq!(
        root["cid"],
        vector_cid("unixfs-v0-2015", "nested directory")
    );
    let root_cid = root["cid"].as_str().unwrap().to_string();
    for path in [
        "root/a.txt",
        "root/sub/b.bin",
        "root/sub/deeper/c.bin",
        "root/sub",
        "root/empty",
    ] {
        assert!(
            tree.iter().any(|e| e["path"] == path),
            "{path} not in {tree:?}"
        );
    }
    // only-hash stored and pinned nothing: its CID is not in the pin list below.
    let only_hash = r["add_only_hash"].as_str().unwrap().to_string();

    // Reads.
    assert_eq!(r["cat_sha256"], sha256_hex(&file));
    let range: Vec<u8> = r["cat_range"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(range, c[10..15]);
    let ls: Vec<(String, String, u64)> = r["ls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["type"].as_str().unwrap().to_string(),
                e["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ls,
        vec![
            ("a.txt".into(), "file".into(), 5),
            ("empty".into(), "dir".into(), 0),
            ("sub".into(), "dir".into(), 0)
        ]
    );
    let tar = r["get_bytes"].as_u64().unwrap();
    assert!(
        tar > 70_000 && tar.is_multiple_of(512),
        "a tar of the tree: {tar} bytes"
    );
    assert_eq!(r["block_stat"]["cid"], default_cid);
    assert!(r["block_put"].as_str().unwrap().starts_with("bafkrei"));
    assert_eq!(r["block_get"], "a block from kubo-rpc-client");

    // Pins.
    let before = strings(&r["pins_before"]);
    for cid in [&default_cid, &root_cid] {
        assert!(before.contains(cid), "{cid} not in {before:?}");
    }
    assert!(!before.contains(&only_hash), "only-hash pinned nothing");
    assert_eq!(r["pin_rm"], default_cid);
    let after = strings(&r["pins_after"]);
    assert!(
        !after.contains(&default_cid) && after.contains(&root_cid),
        "{after:?}"
    );
    assert_eq!(r["pin_rm_again"]["status"], 500, "{r}");
    assert!(r["pin_rm_again"]["error"]
        .as_str()
        .unwrap()
        .contains("not pinned"));
    assert_eq!(r["pin_add"], root_cid);

    // GC removed the unpinned file; it is gone from the store.
    let removed = strings(&r["gc"]);
    assert!(removed.len() >= 2, "{removed:?}");
    assert!(
        removed.iter().all(|c| !c.starts_with("error")),
        "{removed:?}"
    );
    assert!(
        r["cat_after_gc"]["error"]
            .as_str()
            .unwrap()
            .contains("block was not found locally (offline)"),
        "{r}"
    );
    assert!(r["repo_stat"]["numObjects"].as_u64().unwrap() > 0);
    assert!(r["repo_stat"]["version"]
        .as_str()
        .unwrap()
        .starts_with("cairn@"));
    assert!(r["stats_bw"]["totalIn"].is_u64() && r["stats_bw"]["totalOut"].is_u64());

    // The CAR moved from A to B.
    assert_eq!(strings(&r["dag_import"]), vec![root_cid.clone()]);
    assert_eq!(r["b_cat_sha256"], sha256_hex(&c));
    let pinned_on_b = b.daemon.node().content().list_pins().await.unwrap();
    assert_eq!(pinned_on_b.len(), 1);
    assert_eq!(pinned_on_b[0].cid.to_string(), root_cid);

    // The network.
    assert_eq!(
        strings(&r["swarm_connect"]),
        vec![format!("connect {b_id} success")]
    );
    assert!(strings(&r["swarm_peers"]).contains(&b_id), "{r}");
    assert_eq!(r["provide"], 0, "{r}");
    assert!(
        strings(&r["findprovs"]).contains(&a_id),
        "B found A as a provider: {r}"
    );
    assert_eq!(r["b_cat_v1_sha256"], sha256_hex(&v1));
    let out = r["stats_bw_after"]["totalOut"].as_u64().unwrap();
    assert!(
        out >= v1.len() as u64,
        "A's Bitswap sent the file: {out} bytes"
    );
    assert_eq!(
        strings(&r["swarm_disconnect"]),
        vec![format!("disconnect {b_id} success")]
    );
    assert!(strings(&r["swarm_peers_after"]).is_empty(), "{r}");

    // Errors, as a Kubo client reads them.
    assert_eq!(r["cat_absent_offline"]["status"], 500, "{r}");
    assert_eq!(
        r["cat_absent_offline"]["error"],
        "block was not found locally (offline): ipld: could not find bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    );
    assert_eq!(r["add_without_token"]["status"], 403, "{r}");
    assert!(r["add_without_token"]["error"]
        .as_str()
        .unwrap()
        .starts_with("403 - Forbidden"));

    a.stop().await;
    b.stop().await;
}

/// Requests a Kubo client library would never send, over real HTTP: Kubo's answers.
#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_over_http_get_kubos_answers() {
    let node = TestNode::start().await;
    let url = |path: &str| format!("{}/api/v0/{path}", node.daemon.info.api);
    let http = &node.http;
    let response = http.post(url("not/a/command")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "404 page not found\n");
    let response = http.get(url("id")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let response = http.post(url("cat")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "argument \"ipfs-path\" is required\n"
    );
    let response = http
        .post(url("add"))
        .bearer_auth(node.token())
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nno closing boundary")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let body = response.text().await.unwrap();
    assert!(!body.is_empty());
    assert!(node
        .daemon
        .node()
        .content()
        .list_pins()
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        node.stored_files(),
        0,
        "nothing of the malformed upload is stored"
    );
    node.stop().await;
}
