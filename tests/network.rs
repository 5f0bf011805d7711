//! Cairn hosts talking to each other on 127.0.0.1: Bitswap over TCP and QUIC, provider
//! lookup through the DHT, and peers that misbehave.

use std::time::Duration;

use cairn::blockstore::{Blockstore, Store};
use cairn::content::{Block, HashAlg, RAW};
use cairn::net::{self, NetConfig, NetHandle};
use libp2p::Multiaddr;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Host {
    net: NetHandle,
    store: Store,
}

async fn host(listen: &str, bootstrap: Vec<Multiaddr>) -> Host {
    let store = Store::memory();
    let config = NetConfig {
        listen: vec![listen.parse().unwrap()],
        bootstrap,
        max_connections: 64,
        provider_keys: 0,
        announce: Vec::new(),
    };
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let (net, _task) = net::spawn(config, keypair, store.clone(), net::Services::default())
        .await
        .unwrap();
    Host { net, store }
}

async fn tcp_host() -> Host {
    host("/ip4/127.0.0.1/tcp/0", Vec::new()).await
}

async fn addr(host: &Host) -> Multiaddr {
    host.net.listen_addrs().await.unwrap().remove(0)
}

async fn blocks(store: &Store, count: usize, size: usize) -> Vec<Block> {
    let mut out = Vec::new();
    for i in 0..count {
        let mut data = vec![0u8; size];
        blake3::Hasher::new()
            .update(&(i as u64).to_le_bytes())
            .finalize_xof()
            .fill(&mut data);
        let block = Block::encode(
            RAW,
            if i % 2 == 0 {
                HashAlg::Sha2_256
            } else {
                HashAlg::Blake3
            },
            data,
        );
        store.put(&block).await.unwrap();
        out.push(block);
    }
    out
}

#[tokio::test]
async fn blocks_move_over_tcp_and_the_ledger_counts_them() {
    let (a, b) = (tcp_host().await, tcp_host().await);
    let wanted = blocks(&a.store, 6, 300_000).await;
    b.net.dial(addr(&a).await).await.unwrap();
    for block in &wanted {
        let data = b.net.get_block(*block.cid(), TIMEOUT).await.unwrap();
        assert_eq!(&data, block.data());
    }
    let sent = a.net.ledgers()[&b.net.peer_id()].bytes_sent;
    assert_eq!(sent, 6 * 300_000);
    assert_eq!(b.net.ledgers()[&a.net.peer_id()].blocks_received, 6);
}

#[tokio::test]
async fn blocks_move_over_quic() {
    let a = host("/ip4/127.0.0.1/udp/0/quic-v1", Vec::new()).await;
    let b = host("/ip4/127.0.0.1/udp/0/quic-v1", Vec::new()).await;
    let wanted = blocks(&a.store, 2, 1 << 20).await;
    b.net.dial(addr(&a).await).await.unwrap();
    for block in &wanted {
        assert_eq!(
            &b.net.get_block(*block.cid(), TIMEOUT).await.unwrap(),
            block.data()
        );
    }
}

#[tokio::test]
async fn a_peer_is_found_through_the_dht_by_cid_alone() {
    let boot = tcp_host().await;
    let boot_addr = addr(&boot).await;
    let a = host("/ip4/127.0.0.1/tcp/0", vec![boot_addr.clone()]).await;
    let b = host("/ip4/127.0.0.1/tcp/0", vec![boot_addr]).await;
    let wanted = blocks(&a.store, 1, 5000).await.remove(0);
    // Both know the bootstrap node once they are connected to it.
    for h in [&a, &b] {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while h.net.peers().await.unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "bootstrap connection"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    a.net.provide(*wanted.cid()).await.unwrap();
    let providers = b.net.find_providers(*wanted.cid()).await.unwrap();
    assert!(
        providers.iter().any(|(p, _)| *p == a.net.peer_id()),
        "{providers:?}"
    );
    let data = b.net.get_block(*wanted.cid(), TIMEOUT).await.unwrap();
    assert_eq!(&data, wanted.data());
}

#[tokio::test]
async fn a_block_nobody_has_fails_cleanly_instead_of_hanging() {
    let (a, b) = (tcp_host().await, tcp_host().await);
    b.net.dial(addr(&a).await).await.unwrap();
    let missing = Block::encode(RAW, HashAlg::Sha2_256, &b"nowhere"[..]);
    let started = tokio::time::Instant::now();
    let err = b.net.get_block(*missing.cid(), TIMEOUT).await.unwrap_err();
    assert!(
        err.to_string().contains("does not have") || err.to_string().contains("within"),
        "{err}"
    );
    assert!(started.elapsed() < TIMEOUT * 2);
    let alone = tcp_host().await;
    assert!(alone
        .net
        .get_block(*missing.cid(), Duration::from_millis(200))
        .await
        .is_err());
}

/// A raw libp2p peer that speaks Bitswap badly.
mod evil {
    use futures::AsyncWriteExt;
    use libp2p::{PeerId, Swarm};

    pub struct Evil {
        pub swarm_task: tokio::task::JoinHandle<()>,
        pub control: libp2p_stream::Control,
        pub peer_id: PeerId,
    }

    pub async fn start(target: libp2p::Multiaddr) -> Evil {
        let mut swarm: Swarm<libp2p_stream::Behaviour> = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                Default::default(),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| libp2p_stream::Behaviour::new())
            .unwrap()
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(std::time::Duration::from_secs(60))
            })
            .build();
        let control = swarm.behaviour().new_control();
        let peer_id = *swarm.local_peer_id();
        swarm.dial(target).unwrap();
        let swarm_task = tokio::spawn(async move {
            loop {
                futures::StreamExt::select_next_some(&mut swarm).await;
            }
        });
        Evil {
            swarm_task,
            control,
            peer_id,
        }
    }

    pub async fn send(
        control: &mut libp2p_stream::Control,
        peer: PeerId,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        let protocol = libp2p::StreamProtocol::new("/ipfs/bitswap/1.2.0");
        let mut stream = control
            .open_stream(peer, protocol)
            .await
            .map_err(std::io::Error::other)?;
        stream.write_all(bytes).await?;
        stream.close().await
    }
}

fn frame(message: &cairn::net::bitswap::message::Message) -> Vec<u8> {
    use prost::Message as _;
    let body = message.encode_to_vec();
    let mut buf = unsigned_varint::encode::usize_buffer();
    let mut out = unsigned_varint::encode::usize(body.len(), &mut buf).to_vec();
    out.extend(body);
    out
}

#[tokio::test]
async fn a_peer_pushing_blocks_nobody_asked_for_is_cut_off() {
    use cairn::net::bitswap::message::{prefix, Message, Payload};
    let victim = tcp_host().await;
    let mut evil = evil::start(addr(&victim).await).await;
    let junk: Vec<Payload> = (0..40u32)
        .map(|i| {
            let block = Block::encode(RAW, HashAlg::Sha2_256, i.to_le_bytes().to_vec());
            Payload {
                prefix: prefix(block.cid()),
                data: block.data().to_vec(),
            }
        })
        .collect();
    let victim_id = victim.net.peer_id();
    let message = frame(&Message {
        payload: junk,
        ..Default::default()
    });
    let _ = evil::send(&mut evil.control, victim_id, &message).await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let ledger = victim
            .net
            .ledgers()
            .get(&evil.peer_id)
            .copied()
            .unwrap_or_default();
        let connected = victim
            .net
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|(p, _)| *p == evil.peer_id);
        if ledger.unwanted_blocks == 40 && !connected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "victim should count and drop the peer: {ledger:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    evil.swarm_task.abort();
}

#[tokio::test]
async fn oversized_messages_and_huge_wantlists_do_not_stop_service() {
    use cairn::net::bitswap::message::{Entry, Message, Wantlist};
    let victim = tcp_host().await;
    let honest = tcp_host().await;
    let wanted = blocks(&victim.store, 1, 1000).await.remove(0);
    let mut evil = evil::start(addr(&victim).await).await;
    let victim_id = victim.net.peer_id();

    // A length prefix claiming 64 MiB: refused before anything is allocated.
    let mut huge = Vec::new();
    let mut buf = unsigned_varint::encode::usize_buffer();
    huge.extend_from_slice(unsigned_varint::encode::usize(64 << 20, &mut buf));
    huge.extend_from_slice(&[0u8; 1024]);
    let _ = evil::send(&mut evil.control, victim_id, &huge).await;

    // 100 000 wants, in messages under the size cap: only the first entries of each are read.
    for batch in 0..10u32 {
        let entries = (0..10_000u32)
            .map(|i| {
                let cid = Block::encode(
                    RAW,
                    HashAlg::Sha2_256,
                    (batch * 10_000 + i).to_le_bytes().to_vec(),
                );
                Entry {
                    block: cid.cid().to_bytes(),
                    priority: 1,
                    cancel: false,
                    want_type: 1,
                    send_dont_have: false,
                }
            })
            .collect();
        let message = Message {
            wantlist: Some(Wantlist {
                entries,
                full: false,
            }),
            ..Default::default()
        };
        let _ = evil::send(&mut evil.control, victim_id, &frame(&message)).await;
    }

    honest.net.dial(addr(&victim).await).await.unwrap();
    assert_eq!(
        &honest.net.get_block(*wanted.cid(), TIMEOUT).await.unwrap(),
        wanted.data()
    );
    evil.swarm_task.abort();
}

#[tokio::test]
async fn a_fetch_completes_from_another_peer_when_one_disconnects_midway() {
    let (a, c, b) = (tcp_host().await, tcp_host().await, tcp_host().await);
    let wanted = blocks(&a.store, 30, 100_000).await;
    for block in &wanted {
        c.store.put(block).await.unwrap();
    }
    b.net.dial(addr(&a).await).await.unwrap();
    b.net.dial(addr(&c).await).await.unwrap();
    for (i, block) in wanted.iter().enumerate() {
        if i == 10 {
            a.net.shutdown().await;
        }
        let data = b.net.get_block(*block.cid(), TIMEOUT).await.unwrap();
        assert_eq!(&data, block.data(), "block {i}");
    }
    let from_c = b.net.ledgers()[&c.net.peer_id()].blocks_received;
    assert!(
        from_c >= 20,
        "the blocks after A left came from C: {from_c}"
    );
}

#[tokio::test]
async fn a_bitswap_1_0_0_peer_is_answered_in_its_own_dialect() {
    use cairn::net::bitswap::message::{Entry, Message, Wantlist};
    use futures::StreamExt;
    let server = tcp_host().await;
    let wanted = Block::encode(
        cairn::content::DAG_PB,
        HashAlg::Sha2_256,
        &b"\x0a\x02\x08\x01"[..],
    );
    let v0 = cid::Cid::new_v0(*wanted.cid().hash()).unwrap();
    server
        .store
        .put(&cairn::content::Block::verified(v0, wanted.data().clone()).unwrap())
        .await
        .unwrap();
    let mut old = evil::start(addr(&server).await).await;
    let protocol = libp2p::StreamProtocol::new("/ipfs/bitswap/1.0.0");
    let mut incoming = old.control.accept(protocol).unwrap();
    let want = Message {
        wantlist: Some(Wantlist {
            entries: vec![Entry {
                block: v0.to_bytes(),
                priority: 1,
                cancel: false,
                want_type: 0,
                send_dont_have: false,
            }],
            full: true,
        }),
        ..Default::default()
    };
    let peer = server.net.peer_id();
    let mut stream = tokio::time::timeout(TIMEOUT, async {
        let mut stream = old
            .control
            .open_stream(peer, libp2p::StreamProtocol::new("/ipfs/bitswap/1.0.0"))
            .await
            .unwrap();
        futures::AsyncWriteExt::write_all(&mut stream, &frame(&want))
            .await
            .unwrap();
        futures::AsyncWriteExt::close(&mut stream).await.unwrap();
        incoming.next().await.unwrap().1
    })
    .await
    .unwrap();
    let reply = cairn::net::bitswap::message::read(&mut stream)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reply.blocks,
        vec![wanted.data().to_vec()],
        "1.0.0 carries raw block bytes"
    );
    assert!(reply.payload.is_empty());
    old.swarm_task.abort();
}
