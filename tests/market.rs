//! A provider publishes its ask; a client connected to it sees the signed ask, current and
//! verified. Bad terms are refused with a message.

mod common;

use common::{ok, TestNode};

#[tokio::test(flavor = "multi_thread")]
async fn a_client_sees_the_signed_asks_of_connected_providers() {
    let provider = TestNode::start().await;
    let client = TestNode::start().await;
    let set = [
        "provider",
        "ask",
        "set",
        "--price-per-gib-month",
        "1000",
        "--min-duration",
        "1d",
        "--max-duration",
        "365d",
        "--max-piece",
        "32GiB",
        "--capacity",
        "2GiB",
        "--json",
    ];
    let ask: serde_json::Value = serde_json::from_str(&ok(&provider.cli(&set))).unwrap();
    assert_eq!(ask["free_capacity"], 2u64 << 30);
    assert_eq!(ask["min_duration_secs"], 86_400);

    // A node that offers nothing answers "no ask", and is left out of the list.
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    let idle = TestNode::start().await;
    ok(&client.cli(&["swarm", "connect", &idle.tcp_addr()]));
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&client.cli(&["providers", "--json"]))).unwrap();
    let providers = listed["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 1, "{listed}");
    assert_eq!(providers[0]["peer"], provider.daemon.info.id.as_str());
    assert_eq!(providers[0]["price_per_gib_month"], 1000);
    let human = ok(&client.cli(&["providers"]));
    assert!(human.contains("1000 per GiB-month"), "{human}");
    for node in [provider, client, idle] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn contradictory_or_unreadable_terms_are_refused() {
    let node = TestNode::start().await;
    let base = [
        "provider",
        "ask",
        "set",
        "--price-per-gib-month",
        "1",
        "--max-piece",
        "1GiB",
        "--capacity",
        "2GiB",
    ];
    let cases: [&[&str]; 3] = [
        &["--min-duration", "2d", "--max-duration", "1d"],
        &["--min-duration", "soon", "--max-duration", "1d"],
        &[
            "--min-duration",
            "1d",
            "--max-duration",
            "2d",
            "--ttl",
            "0s",
        ],
    ];
    for extra in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let out = node.cli(&args);
        assert!(!out.status.success(), "{extra:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("error"),
            "{extra:?}"
        );
    }
    let show = node.cli(&["provider", "ask", "show"]);
    assert!(!show.status.success(), "no ask was stored");
    assert!(String::from_utf8_lossy(&show.stderr).contains("no ask set"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_known_only_through_a_shared_bootstrap_peer_is_listed() {
    let boot = TestNode::start().await;
    let boot_addr = boot.tcp_addr();
    let provider =
        TestNode::start_with(|c| c.swarm.bootstrap = vec![boot_addr.parse().unwrap()]).await;
    let client =
        TestNode::start_with(|c| c.swarm.bootstrap = vec![boot_addr.parse().unwrap()]).await;
    ok(&provider.cli(&[
        "provider",
        "ask",
        "set",
        "--price-per-gib-month",
        "7",
        "--min-duration",
        "1h",
        "--max-duration",
        "30d",
        "--max-piece",
        "1GiB",
        "--capacity",
        "2GiB",
    ]));
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&client.cli(&["providers", "--json"]))).unwrap();
    let providers = listed["providers"].as_array().unwrap();
    assert!(providers.iter().any(|p| p["peer"] == provider.daemon.info.id.as_str() && p["price_per_gib_month"] == 7), "{listed}");
    for node in [boot, provider, client] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn asks_arrive_over_the_gossip_topic() {
    let provider = TestNode::start().await;
    let client = TestNode::start().await;
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    let net = client.daemon.node().net().running().unwrap().clone();
    let from = provider.daemon.node().peer_id();
    // Each `ask set` publishes; the first may go out before the gossip mesh has formed, so
    // publish again until it arrives (bounded).
    let mut received = None;
    for _ in 0..30 {
        ok(&provider.cli(&[
            "provider",
            "ask",
            "set",
            "--price-per-gib-month",
            "5",
            "--min-duration",
            "1h",
            "--max-duration",
            "1d",
            "--max-piece",
            "1GiB",
            "--capacity",
            "1GiB",
        ]));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        received = net
            .gossiped_asks()
            .into_iter()
            .find(|(peer, _)| *peer == from);
        if received.is_some() {
            break;
        }
    }
    let (_, bytes) = received.expect("the provider's ask arrived over gossipsub");
    let ask = cairn::signed::Signed::<cairn::market::Ask>::from_bytes(&bytes, 2048).unwrap();
    assert_eq!(
        ask.check(cairn::clock::Clock::system().now_ms() as u64)
            .unwrap()
            .price_per_gib_month
            .0,
        5
    );
    provider.stop().await;
    client.stop().await;
}
