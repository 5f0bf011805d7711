//! What an operator sets in `config.toml`: `[provider]` terms applied at start (the CLI's
//! `ask set` overriding them in the running daemon), a capacity the disk cannot hold refused
//! with a clear error, and `[swarm] announce` addresses advertised to peers over identify.

mod common;

use std::time::Duration;

use cairn::config::{Config, DataDir, ProviderConfig};
use cairn::node::Daemon;
use common::TestNode;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, noise, tcp, yamux, Multiaddr};

fn provider(capacity: u64) -> ProviderConfig {
    ProviderConfig {
        price_per_gib_month: 2_000,
        retrieval_price_per_gib: 100,
        capacity,
        max_piece_size: Some(1 << 20),
        min_duration: Duration::from_secs(60),
        max_duration: Duration::from_secs(30 * 86_400),
        min_challenge_period: Duration::from_secs(5),
        ask_ttl: Duration::from_secs(600),
    }
}

async fn ask(node: &TestNode) -> serde_json::Value {
    let response = node
        .http
        .get(node.api("/provider/ask"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_terms_from_config_apply_at_start_and_the_cli_overrides_them() {
    let node = TestNode::start_with(|c| c.provider = Some(provider(1 << 30))).await;
    let shown = ask(&node).await;
    assert_eq!(shown["price_per_gib_month"], 2_000);
    assert_eq!(shown["retrieval_price_per_gib"], 100);
    assert_eq!(shown["free_capacity"], 1u64 << 30);
    assert_eq!(shown["max_piece_size"], 1u64 << 20);
    assert_eq!(shown["min_duration_secs"], 60);
    assert_eq!(shown["min_challenge_period_secs"], 5);

    // `cairn provider ask set`, through the CLI: the running daemon takes its terms.
    let out = node.cli(&[
        "provider",
        "ask",
        "set",
        "--price-per-gib-month",
        "7",
        "--min-duration",
        "1m",
        "--max-duration",
        "1d",
        "--max-piece",
        "1MiB",
        "--capacity",
        "2MiB",
    ]);
    assert!(out.status.success(), "{out:?}");
    let shown = ask(&node).await;
    assert_eq!(shown["price_per_gib_month"], 7);
    assert_eq!(shown["free_capacity"], 2u64 << 20);

    // The next start applies config.toml again.
    let node = node.restart().await;
    assert_eq!(ask(&node).await["price_per_gib_month"], 2_000);
    node.stop().await;
}

#[tokio::test]
async fn a_capacity_larger_than_the_disk_is_refused_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("repo"));
    let mut config = Config::new(true);
    config.swarm.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    // 1 EiB: more than any test machine's disk.
    config.provider = Some(provider(1 << 60));
    data.init(&config).unwrap();
    let Err(e) = Daemon::start(data.clone()).await else {
        panic!("a daemon started offering 1 EiB");
    };
    let text = e.to_string();
    assert!(
        text.contains("provider: ")
            && text.contains("capacity 1.0 EiB is more than this node can store")
            && text.contains("free on the disk of")
            && text.contains("already stored"),
        "{text}"
    );
    assert!(data.read_daemon_info().is_none());
    // Nothing was stored as this node's terms: with a capacity that fits, it starts.
    let mut fits = data.load_config().unwrap();
    fits.provider = Some(provider(1 << 20));
    std::fs::write(
        data.root().join("config.toml"),
        toml::to_string(&fits).unwrap(),
    )
    .unwrap();
    let daemon = Daemon::start(data).await.unwrap();
    let terms = daemon.node().provider().ask_terms().await.unwrap().unwrap();
    assert_eq!(terms.capacity, 1 << 20);
    daemon.stop().await;
}

#[tokio::test]
async fn ask_set_with_a_capacity_larger_than_the_disk_is_refused_and_changes_nothing() {
    let node = TestNode::start_with(|c| c.provider = Some(provider(1 << 30))).await;
    let room = node.daemon.node().provider().room().unwrap().unwrap();
    let too_much = room.limit() + (1 << 30);
    let response = node
        .http
        .post(node.api("/provider/ask"))
        .bearer_auth(node.token())
        .json(&serde_json::json!({
            "price_per_gib_month": 1, "min_duration_secs": 60, "max_duration_secs": 86_400,
            "max_piece_size": 1u64 << 20, "capacity": too_much,
            "min_challenge_period_secs": 5, "ttl_secs": 600,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("is more than this node can store"),
        "{message}"
    );
    // The config's terms still stand.
    let shown = ask(&node).await;
    assert_eq!(shown["price_per_gib_month"], 2_000);
    assert_eq!(shown["free_capacity"], 1u64 << 30);
    node.stop().await;
}

#[tokio::test]
async fn announce_addresses_are_advertised_to_peers_over_identify() {
    let public: Multiaddr = "/ip4/203.0.113.7/tcp/4701".parse().unwrap();
    let dns: Multiaddr = "/dns4/node.example.org/udp/4701/quic-v1".parse().unwrap();
    let node = TestNode::start_with(|c| c.swarm.announce = vec![public.clone(), dns.clone()]).await;

    // A bare libp2p peer with identify only: what any IPFS peer learns on connecting.
    let mut peer = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            identify::Behaviour::new(identify::Config::new("ipfs/0.1.0".into(), key.public()))
        })
        .unwrap()
        .build();
    peer.dial(node.tcp_addr().parse::<Multiaddr>().unwrap())
        .unwrap();
    let info = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let SwarmEvent::Behaviour(identify::Event::Received { info, .. }) =
                peer.select_next_some().await
            {
                return info;
            }
        }
    })
    .await
    .expect("identify info from the node");
    assert!(
        info.listen_addrs.contains(&public),
        "{:?}",
        info.listen_addrs
    );
    assert!(info.listen_addrs.contains(&dns), "{:?}", info.listen_addrs);
    // Its real listeners are still there beside them.
    assert!(
        info.listen_addrs
            .iter()
            .any(|a| a.to_string().starts_with("/ip4/127.0.0.1/tcp/")),
        "{:?}",
        info.listen_addrs
    );
    node.stop().await;
}

#[tokio::test]
async fn without_announce_only_the_listen_addresses_are_advertised() {
    let node = TestNode::start().await;
    let mut peer = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            identify::Behaviour::new(identify::Config::new("ipfs/0.1.0".into(), key.public()))
        })
        .unwrap()
        .build();
    peer.dial(node.tcp_addr().parse::<Multiaddr>().unwrap())
        .unwrap();
    let info = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let SwarmEvent::Behaviour(identify::Event::Received { info, .. }) =
                peer.select_next_some().await
            {
                return info;
            }
        }
    })
    .await
    .unwrap();
    assert!(
        info.listen_addrs
            .iter()
            .all(|a| a.to_string().starts_with("/ip4/127.0.0.1/")),
        "{:?}",
        info.listen_addrs
    );
    node.stop().await;
}
