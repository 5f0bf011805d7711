//! The flood suite (issue 14): hostile peers and clients on loopback, each flood bounded in
//! count and time. Every test checks that an honest peer or client is still served within a
//! bound while (or right after) the flood runs, and that the process's resident memory comes
//! back to within [`RSS_MARGIN_MB`] of what it was idle before the flood.
//!
//! The attacker on the libp2p side is a bare swarm of its own (TCP, Noise, Yamux and raw
//! streams), not a Cairn node: it opens streams and then says nothing, or says too much.

#[path = "support/cars.rs"]
mod cars;
mod common;

use std::time::Duration;

use cairn::blockstore::Blockstore;
use cairn::content::car::CarWriter;
use cairn::content::{Block, HashAlg, RAW};
use cairn::market::wire::{MarketRequest, MarketResponse};
use cairn::net::bitswap::message::{self, Entry, Message, WantType, Wantlist};
use cairn::proof::Challenge;
use cars::car_of_leaves;
use common::{bytes, ok, TestNode};
use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use reqwest::StatusCode;

/// How far above its idle RSS the process may stay once a flood is over.
const RSS_MARGIN_MB: u64 = 96;
/// The longest an honest request may take while a flood runs.
const HONEST_BOUND: Duration = Duration::from_secs(5);

/// The floods run one at a time: RSS is the whole process's.
/// (An async lock: each test holds it across its awaits, on its own runtime.)
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// Resident memory of this process, in MiB.
fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// Waits (bounded) for RSS to come back within the margin of `idle`; the last reading.
async fn rss_settles(idle: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = rss_mb();
        if now <= idle + RSS_MARGIN_MB || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A provider holding one 2000-byte block (from `seed`) and a client connected to it.
async fn connected_pair(seed: u64) -> (TestNode, TestNode, Block) {
    let provider = provider().await;
    let client = TestNode::start().await;
    let block = Block::encode(RAW, HashAlg::Sha2_256, bytes(2000, seed));
    provider
        .daemon
        .node()
        .content()
        .store()
        .put(&block)
        .await
        .unwrap();
    ok(&client.cli(&["swarm", "connect", &provider.tcp_addr()]));
    (provider, client, block)
}

async fn provider() -> TestNode {
    let node = TestNode::start().await;
    ok(&node.cli(&[
        "provider",
        "ask",
        "set",
        "--price-per-gib-month",
        "1000",
        "--min-duration",
        "1s",
        "--max-duration",
        "365d",
        "--max-piece",
        "1GiB",
        "--capacity",
        "1GiB",
        "--min-challenge-period",
        "1s",
    ]));
    node
}

/// A bare libp2p peer: its stream control, and the task driving its swarm.
struct Attacker {
    control: libp2p_stream::Control,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn attacker(target: &str) -> (Attacker, PeerId) {
    let addr: Multiaddr = target.parse().unwrap();
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
        panic!("{target} has no /p2p/")
    };
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            || {
                let mut c = libp2p::yamux::Config::default();
                c.set_max_num_streams(1024);
                c
            },
        )
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    let control = swarm.behaviour().new_control();
    swarm.dial(addr).unwrap();
    let task = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    (Attacker { control, task }, peer)
}

/// Opens `n` streams on `protocol` (retrying while the connection comes up).
async fn open_streams(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    protocol: &'static str,
    n: usize,
) -> Vec<libp2p::Stream> {
    let protocol = StreamProtocol::new(protocol);
    let mut streams = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while streams.len() < n {
        match control.open_stream(peer, protocol.clone()).await {
            Ok(s) => streams.push(s),
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "open_stream: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    streams
}

/// Whether the other side ended `stream` (EOF or reset) within `limit`.
async fn closed_within(stream: &mut libp2p::Stream, limit: Duration) -> bool {
    use futures::AsyncReadExt;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn challenge() -> Challenge {
    Challenge {
        nonce: [1; 32],
        period: 0,
        samples: 4,
        deadline: u64::MAX / 2,
        piece_root: [2; 32],
        piece_size: 1 << 20,
    }
}

/// An honest peer's requests to `provider` on every protocol, each within [`HONEST_BOUND`].
async fn honest_round(client: &TestNode, provider: &TestNode, block: &cid::Cid) {
    let net = client.daemon.node().net().running().unwrap();
    let peer = provider.daemon.node().peer_id();
    let started = std::time::Instant::now();
    let ask = net
        .market(peer, &MarketRequest::GetAsk, HONEST_BOUND)
        .await
        .expect("the ask is answered");
    assert!(matches!(ask, MarketResponse::Ask(_)), "{ask:?}");
    let proof = net
        .challenge(peer, &challenge(), HONEST_BOUND)
        .await
        .expect("the challenge is answered");
    assert!(
        matches!(proof.answer, cairn::proof::Answer::Rejected(_)),
        "no such piece: {:?}",
        proof.answer
    );
    let pay = net
        .pay(
            peer,
            &cairn::pay::wire::PayRequest::Close((*block).into()),
            HONEST_BOUND,
        )
        .await
        .expect("the payment request is answered");
    assert!(
        matches!(pay, cairn::pay::wire::PayResponse::Rejected { .. }),
        "no such channel: {pay:?}"
    );
    let data = net
        .get_block(*block, HONEST_BOUND)
        .await
        .expect("the block is fetched");
    assert_eq!(data.len(), 2000);
    assert!(
        started.elapsed() < HONEST_BOUND * 2,
        "the honest round took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_streams_on_every_protocol_leave_other_peers_served() {
    let _serial = serial().await;
    let (provider, client, block) = connected_pair(1).await;
    let idle = rss_mb();

    let (mut attacker, peer) = attacker(&provider.tcp_addr()).await;
    let mut silent = Vec::new();
    for protocol in [
        "/cairn/market/1",
        "/cairn/proof/1",
        "/cairn/pay/1",
        "/ipfs/bitswap/1.2.0",
    ] {
        // More than the handler pool (16) and the per-peer cap (32) of each protocol.
        silent.push((
            protocol,
            open_streams(&mut attacker.control, peer, protocol, 40).await,
        ));
    }
    honest_round(&client, &provider, block.cid()).await;

    // The request servers close silent streams after their read timeout (10 s).
    for (protocol, streams) in &mut silent {
        if protocol.starts_with("/cairn/") {
            for stream in streams.iter_mut() {
                assert!(
                    closed_within(stream, Duration::from_secs(15)).await,
                    "a silent {protocol} stream stayed open"
                );
            }
        }
    }
    drop(silent);
    honest_round(&client, &provider, block.cid()).await;
    let after = rss_settles(idle).await;
    assert!(
        after <= idle + RSS_MARGIN_MB,
        "RSS {after} MiB, idle {idle} MiB"
    );
    client.stop().await;
    provider.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wantlist_and_message_floods_leave_an_honest_fetch_served() {
    let _serial = serial().await;
    let (provider, client, block) = connected_pair(2).await;
    let idle = rss_mb();

    let (mut attacker, peer) = attacker(&provider.tcp_addr()).await;
    // The provider answers on streams of its own: take them and drop them unread.
    let mut answers = attacker
        .control
        .accept(StreamProtocol::new("/ipfs/bitswap/1.2.0"))
        .unwrap();
    let drain = tokio::spawn(async move { while answers.next().await.is_some() {} });
    let flood = {
        let mut control = attacker.control.clone();
        tokio::spawn(async move {
            let mut streams = open_streams(&mut control, peer, "/ipfs/bitswap/1.2.0", 16).await;
            for round in 0u32..20 {
                for (i, stream) in streams.iter_mut().enumerate() {
                    let entries = (0..1024u32)
                        .map(|j| Entry {
                            block: Block::encode(
                                RAW,
                                HashAlg::Sha2_256,
                                [
                                    round.to_le_bytes(),
                                    (i as u32).to_le_bytes(),
                                    j.to_le_bytes(),
                                ]
                                .concat(),
                            )
                            .cid()
                            .to_bytes(),
                            priority: 1,
                            cancel: false,
                            want_type: if j % 2 == 0 {
                                WantType::Have as i32
                            } else {
                                WantType::Block as i32
                            },
                            send_dont_have: true,
                        })
                        .collect();
                    let msg = Message {
                        wantlist: Some(Wantlist {
                            entries,
                            full: false,
                        }),
                        ..Default::default()
                    };
                    if message::write(stream, &msg).await.is_err() {
                        return;
                    }
                }
            }
        })
    };
    // While the flood runs, an honest peer still gets its block.
    let net = client.daemon.node().net().running().unwrap();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let data = net.get_block(*block.cid(), HONEST_BOUND).await.unwrap();
        assert_eq!(data, block.data().clone());
        assert!(started.elapsed() < HONEST_BOUND);
    }
    let _ = tokio::time::timeout(Duration::from_secs(60), flood).await;
    drain.abort();
    drop(attacker);
    honest_round(&client, &provider, block.cid()).await;
    let after = rss_settles(idle).await;
    assert!(
        after <= idle + RSS_MARGIN_MB,
        "RSS {after} MiB, idle {idle} MiB"
    );
    client.stop().await;
    provider.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_deal_proposals_leave_the_ask_served() {
    let _serial = serial().await;
    use cairn::amount::Amount;
    use cairn::market::DealProposal;
    use cairn::signed::Signed;

    let provider = provider().await;
    let flooder = TestNode::start().await;
    let honest = TestNode::start().await;
    for node in [&flooder, &honest] {
        ok(&node.cli(&["swarm", "connect", &provider.tcp_addr()]));
    }
    let peer = provider.daemon.node().peer_id();
    let net = flooder.daemon.node().net().running().unwrap().clone();
    let MarketResponse::Ask(ask) = net
        .market(peer, &MarketRequest::GetAsk, HONEST_BOUND)
        .await
        .unwrap()
    else {
        panic!("the provider has an ask")
    };
    let idle = rss_mb();
    let key = flooder.daemon.node().key().clone();
    let proposal = |i: u64| DealProposal {
        client: key.verifying_key().to_bytes(),
        provider: ask.signer,
        root: *Block::encode(RAW, HashAlg::Sha2_256, i.to_le_bytes().to_vec()).cid(),
        piece_root: [7; 32],
        piece_size: 1_000_000 + i,
        start: cairn::clock::Clock::system().now_ms() as u64,
        duration_secs: 3600,
        price_per_gib_month: Amount(1000),
        challenge_period_secs: 60,
        samples_per_challenge: 20,
        payment_channel: None,
        origins: vec![],
    };
    let count: u64 = std::env::var("FLOOD_PROPOSALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let proposals: Vec<_> = (0..count)
        .map(|i| Signed::sign(proposal(i), &key).unwrap())
        .collect();
    let flood_started = std::time::Instant::now();
    let flood = tokio::spawn(async move {
        futures::stream::iter(proposals)
            .map(|p| {
                let net = net.clone();
                async move {
                    net.market(
                        peer,
                        &MarketRequest::Propose(Box::new(p)),
                        Duration::from_secs(60),
                    )
                    .await
                }
            })
            .buffer_unordered(64)
            .fold((0u64, 0u64), |(refused, reset), answer| {
                let counts = match answer {
                    Ok(MarketResponse::Rejected { reason, .. }) if reason == "unfunded" => {
                        (refused + 1, reset)
                    }
                    // Past the per-peer stream cap the provider resets the stream.
                    Err(_) => (refused, reset + 1),
                    Ok(other) => panic!("an unfunded proposal was answered {other:?}"),
                };
                futures::future::ready(counts)
            })
            .await
    });
    // While the proposals pour in, another client's ask is answered within the bound.
    let honest_net = honest.daemon.node().net().running().unwrap();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let answer = honest_net
            .market(peer, &MarketRequest::GetAsk, HONEST_BOUND)
            .await
            .expect("the ask is answered during the flood");
        assert!(matches!(answer, MarketResponse::Ask(_)));
        assert!(started.elapsed() < HONEST_BOUND);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (refused, reset) = tokio::time::timeout(Duration::from_secs(240), flood)
        .await
        .expect("the proposals are all answered within 4 minutes")
        .unwrap();
    eprintln!(
        "{count} proposals in {:?}: {refused} refused as unfunded, {reset} streams reset at the cap",
        flood_started.elapsed()
    );
    assert_eq!(
        refused + reset,
        count,
        "every proposal got an answer or a reset"
    );
    assert!(
        refused > 0,
        "the provider answered proposals during the flood"
    );
    let after = rss_settles(idle).await;
    assert!(
        after <= idle + RSS_MARGIN_MB,
        "RSS {after} MiB, idle {idle} MiB"
    );
    for node in [flooder, honest, provider] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_http_connections_past_the_cap_leave_an_honest_request_served() {
    let _serial = serial().await;
    use tokio::io::AsyncWriteExt;
    let limits = cairn::api::HttpLimits {
        max_connections: 64,
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
    };
    let node = TestNode::start_with(|c| {
        c.api.limits = limits;
        c.gateway.limits = limits;
    })
    .await;
    let idle = rss_mb();
    let addr = node
        .daemon
        .info
        .api
        .trim_start_matches("http://")
        .to_string();
    // 2 000 connections: silent ones and ones that send half a request head.
    // Opened all at once: past the listener's backlog a connect waits, so each gets 2 s.
    let connects = (0..2000).map(|i| {
        let addr = addr.clone();
        async move {
            let connect = tokio::net::TcpStream::connect(addr);
            let mut tcp = tokio::time::timeout(Duration::from_secs(2), connect)
                .await
                .ok()?
                .ok()?;
            if i % 2 == 1 {
                let _ = tcp.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").await;
            }
            Some(tcp)
        }
    });
    let held: Vec<_> = futures::future::join_all(connects)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        held.len() > 64,
        "only {} connections were opened",
        held.len()
    );
    let started = std::time::Instant::now();
    let health = tokio::time::timeout(
        Duration::from_secs(30),
        node.http
            .get(format!("{}/health", node.daemon.info.api))
            .send(),
    )
    .await
    .expect("the honest request was answered")
    .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let waited = started.elapsed();
    eprintln!(
        "{} idle HTTP connections: RSS {} MiB (idle {idle} MiB); an honest request waited {waited:?}",
        held.len(),
        rss_mb()
    );
    drop(held);
    let after = rss_settles(idle).await;
    assert!(
        after <= idle + RSS_MARGIN_MB,
        "RSS {after} MiB, idle {idle} MiB (the honest request waited {waited:?})"
    );
    node.stop().await;
}

/// A CAR of `root` and `strays` tiny raw blocks nobody links to.
async fn car_with_strays(root: &Block, strays: u32) -> Vec<u8> {
    let mut car = CarWriter::new(Vec::new(), &[*root.cid()]).await.unwrap();
    car.write_block(root.cid(), root.data()).await.unwrap();
    for i in 0..strays {
        let block = Block::encode(RAW, HashAlg::Sha2_256, i.to_le_bytes().to_vec());
        car.write_block(block.cid(), block.data()).await.unwrap();
    }
    car.finish().await.unwrap().0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_car_of_many_unreachable_blocks_is_refused_in_bounded_memory() {
    let _serial = serial().await;
    let node = TestNode::start().await;
    let idle = rss_mb();
    let files_before = node.stored_files();
    let root = Block::encode(RAW, HashAlg::Sha2_256, b"root".to_vec());
    // Past the 65 536 orphans an import may hold pending.
    let car = car_with_strays(&root, 200_000).await;
    let refused = node
        .http
        .post(node.api("/car"))
        .bearer_auth(node.token())
        .body(car)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_car", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("do not reach"),
        "{body}"
    );
    assert_eq!(
        node.stored_files(),
        files_before,
        "the import was rolled back"
    );
    // A few strays are reported and never stored; the root is pinned.
    let car = car_with_strays(&root, 10).await;
    let imported: serde_json::Value = node
        .http
        .post(node.api("/car"))
        .bearer_auth(node.token())
        .body(car)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(imported["blocks"], 11, "{imported}");
    assert_eq!(imported["unreachable"], 10, "{imported}");
    assert_eq!(
        node.stored_files(),
        files_before + 1,
        "only the root was stored"
    );
    let gc: serde_json::Value = node
        .http
        .post(node.api("/gc"))
        .bearer_auth(node.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gc["removed_blocks"], 0, "{gc}");
    // An honest add is served.
    let cid = node.add_cid(bytes(100_000, 5), "").await;
    assert!(!cid.is_empty());
    let after = rss_settles(idle).await;
    assert!(
        after <= idle + RSS_MARGIN_MB,
        "RSS {after} MiB, idle {idle} MiB"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_add_completes_while_gc_works_through_many_blocks() {
    let _serial = serial().await;
    let node = TestNode::start().await;
    // 3 CARs of 5 000 unpinned leaves each: 15 batches of gc.
    for seed in 0..3 {
        let car = car_of_leaves(5_000, seed).await;
        let response = node
            .http
            .post(node.api("/car?pin=false"))
            .bearer_auth(node.token())
            .body(car)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let gc = {
        let http = node.http.clone();
        let url = node.api("/gc");
        let token = node.token();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let report: serde_json::Value = http
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (report, started.elapsed())
        })
    };
    // Give gc its first batch, then add beside it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let cid = node.add_cid(bytes(50_000, 9), "").await;
    let add_took = started.elapsed();
    let gc_running = !gc.is_finished();
    let (report, gc_took) = gc.await.unwrap();
    let removed = report["removed_blocks"].as_u64().unwrap_or(0);
    eprintln!(
        "gc removed {removed} blocks in {gc_took:?} ({:.0} blocks/s); an add beside it took {add_took:?}",
        removed as f64 / gc_took.as_secs_f64()
    );
    assert!(
        report["removed_blocks"].as_u64().unwrap() >= 15_000,
        "{report}"
    );
    assert!(
        gc_running || add_took < gc_took / 2,
        "the add ({add_took:?}) waited for the whole gc ({gc_took:?})"
    );
    // The file added during gc is whole.
    let cat = node
        .http
        .get(node.api(&format!("/cat/{cid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cat.bytes().await.unwrap().len(), 50_000);
    node.stop().await;
}
