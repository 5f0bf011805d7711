//! Bitswap 1.2.0, also answering 1.1.0 and 1.0.0 peers.
//!
//! Written for Cairn rather than taken from `beetswap`: beetswap 0.5 depends on
//! `multihash-codetable 0.1`, which needs a yanked `core2`, so it cannot be resolved from
//! crates.io; and Cairn needs its own hooks (a per-peer byte ledger for paid retrieval).
//!
//! Shape: raw streams (outbound through `libp2p-stream`, inbound through the queue of
//! `net::inbound`), so this engine runs in its own tasks beside the swarm. Every message goes out on a new outbound stream, never back on the stream it
//! answers (Helia closes its side after sending). Wants are answered at once from the block
//! store (no standing wantlist on the server side): want-block with the block, want-have
//! with have, and dont-have when asked for. Incoming blocks are matched to local wants by
//! the CID rebuilt from their prefix and bytes; a block nobody asked for is dropped and counts
//! against the peer. Caps: [`message::MAX_MESSAGE_SIZE`] per message, [`MAX_WANTLIST`]
//! entries read per message, [`MAX_INBOUND_STREAMS`] streams served at once.

pub mod message;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;
use futures::AsyncWriteExt;
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{oneshot, Semaphore};

use self::message::{BlockPresence, Entry, Message, Payload, PresenceType, WantType, Wantlist};
use super::ledger::Ledgers;
use crate::blockstore::Blockstore;

pub const PROTOCOL_1_2_0: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.2.0");
pub const PROTOCOL_1_1_0: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.1.0");
pub const PROTOCOL_1_0_0: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.0.0");
/// Every version served, newest first.
pub const PROTOCOLS: [StreamProtocol; 3] = [PROTOCOL_1_2_0, PROTOCOL_1_1_0, PROTOCOL_1_0_0];

/// Wantlist entries read from one message; the rest are ignored.
pub const MAX_WANTLIST: usize = 1024;
/// Inbound streams handled at once; more wait.
pub const MAX_INBOUND_STREAMS: usize = 256;
/// Blocks a peer may send unasked before it is disconnected.
pub const MAX_UNWANTED_BLOCKS: u64 = 16;
/// Bytes of blocks packed into one response message.
const RESPONSE_BUDGET: usize = 3 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BitswapError {
    #[error("no peer sent block {cid} within {timeout:?} (asked {asked} peers)")]
    Timeout {
        cid: Cid,
        timeout: Duration,
        asked: usize,
    },
    #[error("no connected peer to ask for {0}")]
    NoPeers(Cid),
    #[error("every asked peer said it does not have {0}")]
    NotFound(Cid),
}

/// Callers waiting for a block, and which peers said they lack it.
#[derive(Default)]
struct Want {
    waiters: Vec<oneshot::Sender<Bytes>>,
    dont_have: HashSet<PeerId>,
    dont_have_changed: Vec<oneshot::Sender<()>>,
}

pub struct Bitswap<S> {
    control: libp2p_stream::Control,
    store: S,
    wants: Mutex<HashMap<Cid, Want>>,
    pub ledgers: Arc<Ledgers>,
    inbound: Arc<Semaphore>,
    /// Peers to disconnect, picked up by the swarm task.
    misbehaving: tokio::sync::mpsc::Sender<PeerId>,
    /// Withholds blocks from peers past their unpaid-debt limit (paid retrieval).
    gate: Option<Arc<dyn super::pay::ServeGate>>,
}

impl<S: Blockstore + Clone> Bitswap<S> {
    /// Registers the protocols and starts serving; returns the engine.
    pub fn start(
        control: libp2p_stream::Control,
        mut incoming: tokio::sync::mpsc::Receiver<super::inbound::Incoming>,
        store: S,
        ledgers: Arc<Ledgers>,
        misbehaving: tokio::sync::mpsc::Sender<PeerId>,
        gate: Option<Arc<dyn super::pay::ServeGate>>,
    ) -> Arc<Self> {
        let engine = Arc::new(Bitswap {
            control,
            store,
            wants: Mutex::new(HashMap::new()),
            ledgers,
            inbound: Arc::new(Semaphore::new(MAX_INBOUND_STREAMS)),
            misbehaving,
            gate,
        });
        let server = engine.clone();
        tokio::spawn(async move {
            while let Some((peer, protocol, stream)) = incoming.recv().await {
                let Ok(permit) = server.inbound.clone().acquire_owned().await else {
                    break;
                };
                let engine = server.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.serve_stream(peer, protocol, stream).await {
                        tracing::debug!(%peer, error = %e, "bitswap stream ended with an error");
                    }
                    drop(permit);
                });
            }
        });
        engine
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Cid, Want>> {
        self.wants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads every message of one inbound stream.
    async fn serve_stream(
        self: &Arc<Self>,
        peer: PeerId,
        protocol: StreamProtocol,
        mut stream: libp2p::Stream,
    ) -> Result<(), message::FrameError> {
        while let Some(msg) = message::read(&mut stream).await? {
            self.ledgers.received(peer, msg_data_bytes(&msg));
            self.take_blocks(peer, &msg).await;
            self.take_presences(peer, &msg);
            if let Some(wantlist) = msg.wantlist {
                self.answer(peer, &protocol, wantlist).await;
            }
        }
        Ok(())
    }

    async fn take_blocks(&self, peer: PeerId, msg: &Message) {
        let v0 = msg.blocks.iter().map(|data| {
            (
                Cid::new_v0(crate::content::HashAlg::Sha2_256.digest(data)).ok(),
                data,
            )
        });
        let v1 = msg
            .payload
            .iter()
            .map(|p| (message::cid_of(&p.prefix, &p.data), &p.data));
        for (cid, data) in v0.chain(v1) {
            let waiters = cid
                .and_then(|cid| self.lock().remove(&cid))
                .map(|w| w.waiters);
            match waiters {
                Some(waiters) => {
                    let data = Bytes::copy_from_slice(data);
                    self.ledgers.block_received(peer);
                    for waiter in waiters {
                        let _ = waiter.send(data.clone());
                    }
                }
                None => self.penalise(peer).await,
            }
        }
    }

    /// A block nobody asked for (or that hashes to no CID we want): dropped, counted.
    async fn penalise(&self, peer: PeerId) {
        if self.ledgers.unwanted_block(peer) > MAX_UNWANTED_BLOCKS {
            let _ = self.misbehaving.try_send(peer);
        }
    }

    fn take_presences(&self, peer: PeerId, msg: &Message) {
        for presence in &msg.block_presences {
            if presence.r#type != PresenceType::DontHave as i32 {
                continue;
            }
            let Ok(cid) = Cid::try_from(presence.cid.as_slice()) else {
                continue;
            };
            if let Some(want) = self.lock().get_mut(&cid) {
                want.dont_have.insert(peer);
                for notify in want.dont_have_changed.drain(..) {
                    let _ = notify.send(());
                }
            }
        }
    }

    /// Answers a wantlist from the store, in messages under the size cap.
    async fn answer(&self, peer: PeerId, protocol: &StreamProtocol, wantlist: Wantlist) {
        let mut out = Message::default();
        let mut budget = 0;
        for entry in wantlist.entries.into_iter().take(MAX_WANTLIST) {
            if entry.cancel {
                continue;
            }
            let Ok(cid) = Cid::try_from(entry.block.as_slice()) else {
                continue;
            };
            let found = match entry.want_type {
                t if t == WantType::Have as i32 => {
                    self.store.has(&cid).await.ok().filter(|h| *h).map(|_| None)
                }
                _ => self
                    .store
                    .get(&cid)
                    .await
                    .ok()
                    .flatten()
                    .filter(|data| self.admit(peer, data.len()))
                    .map(Some),
            };
            match found {
                Some(Some(data)) => {
                    if budget + data.len() > RESPONSE_BUDGET && budget > 0 {
                        self.send(peer, protocol, std::mem::take(&mut out)).await;
                        budget = 0;
                    }
                    budget += data.len();
                    self.ledgers.sent(peer, data.len() as u64);
                    if *protocol == PROTOCOL_1_0_0 {
                        out.blocks.push(data.to_vec());
                    } else {
                        out.payload.push(Payload {
                            prefix: message::prefix(&cid),
                            data: data.to_vec(),
                        });
                    }
                }
                Some(None) => out.block_presences.push(presence(&cid, PresenceType::Have)),
                None if entry.send_dont_have => out
                    .block_presences
                    .push(presence(&cid, PresenceType::DontHave)),
                None => {}
            }
        }
        if !out.payload.is_empty() || !out.blocks.is_empty() || !out.block_presences.is_empty() {
            self.send(peer, protocol, out).await;
        }
    }

    /// Whether the gate lets `bytes` more go to `peer`; a withheld block is answered like a
    /// missing one (dont-have when asked for), so the peer looks elsewhere.
    fn admit(&self, peer: PeerId, bytes: usize) -> bool {
        self.gate
            .as_ref()
            .is_none_or(|gate| gate.admit(peer, bytes as u64))
    }

    /// Sends one message on a fresh outbound stream.
    async fn send(&self, peer: PeerId, protocol: &StreamProtocol, msg: Message) {
        let result = async {
            let mut stream = self
                .control
                .clone()
                .open_stream(peer, protocol.clone())
                .await
                .map_err(std::io::Error::other)?;
            message::write(&mut stream, &msg)
                .await
                .map_err(std::io::Error::other)?;
            stream.close().await
        }
        .await;
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "could not send bitswap message");
        }
    }

    /// Fetches one block from `peers`: want-block to each, the first matching block wins.
    /// The bytes returned hash to `cid` (they were matched by their rebuilt CID).
    pub async fn get(
        &self,
        cid: Cid,
        peers: &[PeerId],
        timeout: Duration,
    ) -> Result<Bytes, BitswapError> {
        if peers.is_empty() {
            return Err(BitswapError::NoPeers(cid));
        }
        let (tx, mut rx) = oneshot::channel();
        self.lock().entry(cid).or_default().waiters.push(tx);
        let want = Message {
            wantlist: Some(Wantlist {
                entries: vec![Entry {
                    block: cid.to_bytes(),
                    priority: 1,
                    cancel: false,
                    want_type: WantType::Block as i32,
                    send_dont_have: true,
                }],
                full: false,
            }),
            ..Default::default()
        };
        let protocol = PROTOCOL_1_2_0;
        let sends = peers
            .iter()
            .map(|peer| self.send(*peer, &protocol, want.clone()));
        futures::future::join_all(sends).await;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (notify_tx, notify_rx) = oneshot::channel();
            let all_said_no = {
                let mut wants = self.lock();
                let want = wants.entry(cid).or_default();
                let no = peers.iter().all(|p| want.dont_have.contains(p));
                want.dont_have_changed.push(notify_tx);
                no
            };
            if all_said_no {
                self.lock().remove(&cid);
                return Err(BitswapError::NotFound(cid));
            }
            tokio::select! {
                block = &mut rx => {
                    return block.map_err(|_| BitswapError::Timeout { cid, timeout, asked: peers.len() });
                }
                _ = notify_rx => continue,
                _ = tokio::time::sleep_until(deadline) => {
                    self.lock().remove(&cid);
                    return Err(BitswapError::Timeout { cid, timeout, asked: peers.len() });
                }
            }
        }
    }
}

fn presence(cid: &Cid, kind: PresenceType) -> BlockPresence {
    BlockPresence {
        cid: cid.to_bytes(),
        r#type: kind as i32,
    }
}

fn msg_data_bytes(msg: &Message) -> u64 {
    let v0: usize = msg.blocks.iter().map(Vec::len).sum();
    let v1: usize = msg.payload.iter().map(|p| p.data.len()).sum();
    (v0 + v1) as u64
}
