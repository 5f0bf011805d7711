//! Two and three Cairn daemons on one machine: `add` on A, `get` on B by CID only, through a
//! direct connection or through the DHT when they share a bootstrap peer.

mod common;

use common::{bytes, ok, sha256_hex, TestNode};

#[tokio::test(flavor = "multi_thread")]
async fn b_fetches_what_a_added_after_swarm_connect() {
    let a = TestNode::start().await;
    let b = TestNode::start().await;
    let data = bytes(3_500_000, 31);
    let cid = a.add_cid(data.clone(), "").await;

    let id = serde_json::from_str::<serde_json::Value>(&ok(&a.cli(&["id", "--json"]))).unwrap();
    assert!(id["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x.as_str().unwrap().contains("/ip4/127.0.0.1/")));
    ok(&b.cli(&["swarm", "connect", &a.tcp_addr()]));
    assert!(ok(&b.cli(&["swarm", "peers"])).contains(&a.daemon.info.id));

    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("fetched.bin");
    ok(&b.cli(&["get", &cid, "-o", out.to_str().unwrap()]));
    assert_eq!(sha256_hex(&std::fs::read(&out).unwrap()), sha256_hex(&data));
    // Reading remote content does not fill the disk; pinning it fetches and keeps it.
    let node = &b.daemon.node();
    assert_eq!(
        node.content().store().used_bytes(),
        0,
        "a read passes blocks through"
    );
    ok(&b.cli(&["pin", "add", &cid]));
    node.content().flush_fetched().await.unwrap();
    assert!(node.content().store().used_bytes() >= data.len() as u64);
    assert_eq!(
        node.db().used_bytes().await.unwrap(),
        node.content().store().used_bytes()
    );
    a.stop().await;
    let offline = b.cli(&["cat", &cid]);
    assert_eq!(
        sha256_hex(&offline.stdout),
        sha256_hex(&data),
        "pinned: readable with A gone"
    );
    let bad = b.cli(&["swarm", "connect", "/ip4/127.0.0.1/tcp/1"]);
    assert!(!bad.status.success(), "an address without /p2p/ is refused");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b_finds_a_through_the_dht_with_a_shared_bootstrap_peer() {
    let boot = TestNode::start().await;
    let boot_addr = boot.tcp_addr();
    let a = TestNode::start_with(|c| c.swarm.bootstrap = vec![boot_addr.parse().unwrap()]).await;
    let b = TestNode::start_with(|c| c.swarm.bootstrap = vec![boot_addr.parse().unwrap()]).await;
    let data = bytes(1_500_000, 32);
    let cid = a.add_cid(data.clone(), "").await;
    ok(&a.cli(&["routing", "provide", &cid]));

    let providers = ok(&b.cli(&["routing", "findprovs", &cid]));
    assert!(providers.contains(&a.daemon.info.id), "{providers}");
    let cat = b.cli(&["cat", &cid]);
    assert_eq!(sha256_hex(&cat.stdout), sha256_hex(&data));
    for node in [boot, a, b] {
        node.stop().await;
    }
}

/// `Cache-Control: only-if-cached` on B's gateway never fetches from A: 412 with no body for
/// what only A has (GET and HEAD, every format), while the same request without the directive
/// fetches it from A; on A, which has it, the directive changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn only_if_cached_on_the_gateway_never_goes_to_the_network() {
    let a = TestNode::start().await;
    let b = TestNode::start().await;
    let data = bytes(700_000, 33);
    let cid = a.add_cid(data.clone(), "").await;
    ok(&b.cli(&["swarm", "connect", &a.tcp_addr()]));

    let probe = |node: &TestNode, method: reqwest::Method, query: &str| {
        node.http
            .request(method, node.gateway(&format!("/ipfs/{cid}{query}")))
            .header("cache-control", "only-if-cached")
            .send()
    };
    for (method, query) in [
        (reqwest::Method::HEAD, ""),
        (reqwest::Method::GET, ""),
        (reqwest::Method::GET, "?format=raw"),
        (reqwest::Method::GET, "?format=car"),
    ] {
        let response = probe(&b, method.clone(), query).await.unwrap();
        assert_eq!(response.status(), 412, "{method} {query}");
        assert!(
            response.bytes().await.unwrap().is_empty(),
            "{method} {query}"
        );
    }
    assert_eq!(bitswap_in(&b).await, 0, "no block asked of A");

    let here = probe(&a, reqwest::Method::GET, "").await.unwrap();
    assert_eq!(here.status(), 200);
    assert_eq!(
        here.headers()["x-ipfs-roots"].to_str().unwrap(),
        cid.as_str()
    );
    assert_eq!(sha256_hex(&here.bytes().await.unwrap()), sha256_hex(&data));

    // Without the directive B fetches from A: the 412s above were the directive's doing.
    let fetched = b
        .http
        .get(b.gateway(&format!("/ipfs/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        sha256_hex(&fetched.bytes().await.unwrap()),
        sha256_hex(&data)
    );
    assert!(bitswap_in(&b).await >= data.len() as u64);
    for node in [a, b] {
        node.stop().await;
    }
}

/// The Bitswap bytes a node received (`/api/v0/stats/bw`, `TotalIn`).
async fn bitswap_in(node: &TestNode) -> u64 {
    let stats: serde_json::Value = node
        .http
        .post(format!("{}/api/v0/stats/bw", node.daemon.info.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["TotalIn"].as_u64().unwrap()
}
