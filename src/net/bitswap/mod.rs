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
//! with have, and dont-have when asked for. A block the paid-retrieval gate withholds (the
//! peer's unpaid debt passed its limit) waits up to [`PAYMENT_WAIT`] for the payment the gate
//! asked for, then goes out, or dont-have does. Incoming blocks are matched to local wants by
//! the CID rebuilt from their prefix and bytes; a block nobody asked for is dropped and counts
//! against the peer. A duplicate (a block this node wanted from several peers, answered by
//! another first: the normal race of a broadcast want) is dropped without counting, as Kubo
//! counts it as a duplicate; the last [`RECENT_BLOCKS`] received CIDs are remembered for that. Caps: [`message::MAX_MESSAGE_SIZE`] per message, [`MAX_WANTLIST`]
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
/// Received CIDs remembered to tell a late duplicate from a block nobody asked for.
pub const RECENT_BLOCKS: usize = 4096;
/// Bytes of blocks packed into one response message.
const RESPONSE_BUDGET: usize = 3 * 1024 * 1024;
/// How long blocks withheld for an unpaid debt wait for the payment before dont-have.
pub const PAYMENT_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting peer's payment is looked for.
const PAYMENT_POLL: Duration = Duration::from_millis(200);
/// Wantlists waiting for payment at once; past it, withheld blocks get dont-have at once.
const MAX_DEFERRED: usize = 64;

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

/// A bounded set of recently received CIDs: inserting past [`RECENT_BLOCKS`] forgets the
/// oldest.
#[derive(Default)]
struct Recent {
    order: std::collections::VecDeque<Cid>,
    set: HashSet<Cid>,
}

impl Recent {
    fn insert(&mut self, cid: Cid) {
        if !self.set.insert(cid) {
            return;
        }
        self.order.push_back(cid);
        if self.order.len() > RECENT_BLOCKS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn contains(&self, cid: &Cid) -> bool {
        self.set.contains(cid)
    }
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
    /// The last [`RECENT_BLOCKS`] CIDs a want was answered with, oldest first.
    recent: Mutex<Recent>,
    pub ledgers: Arc<Ledgers>,
    inbound: Arc<Semaphore>,
    /// Peers to disconnect, picked up by the swarm task.
    misbehaving: tokio::sync::mpsc::Sender<PeerId>,
    /// Withholds blocks from peers past their unpaid-debt limit (paid retrieval).
    gate: Option<Arc<dyn super::pay::ServeGate>>,
    /// Bounds the wantlists waiting for a payment.
    deferred: Arc<Semaphore>,
    /// The server loop, its per-stream tasks and payment waits; stopped with the host.
    tasks: crate::tasks::Tasks,
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
        tasks: crate::tasks::Tasks,
    ) -> Arc<Self> {
        let engine = Arc::new(Bitswap {
            tasks: tasks.clone(),
            control,
            store,
            wants: Mutex::new(HashMap::new()),
            recent: Mutex::default(),
            ledgers,
            inbound: Arc::new(Semaphore::new(MAX_INBOUND_STREAMS)),
            misbehaving,
            gate,
            deferred: Arc::new(Semaphore::new(MAX_DEFERRED)),
        });
        let server = engine.clone();
        tasks.spawn(async move {
            while let Some((peer, protocol, stream)) = incoming.recv().await {
                let Ok(permit) = server.inbound.clone().acquire_owned().await else {
                    break;
                };
                let engine = server.clone();
                server.tasks.spawn(async move {
                    if let Err(e) = engine.serve_stream(peer, protocol, stream).await {
                        tracing::debug!(%peer, error = %e, "bitswap stream ended with an error");
                    }
                    drop(permit);
                });
            }
        });
        engine
    }

    /// CIDs this node is fetching now (its wantlist).
    pub fn wantlist_len(&self) -> usize {
        self.lock().len()
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
            match (waiters, cid) {
                (Some(waiters), Some(cid)) => {
                    let data = Bytes::copy_from_slice(data);
                    self.ledgers.block_received(peer);
                    for waiter in waiters {
                        let _ = waiter.send(data.clone());
                    }
                    self.recent_lock().insert(cid);
                }
                (None, Some(cid)) if self.recent_lock().contains(&cid) => {
                    tracing::trace!(%peer, %cid, "duplicate block dropped");
                }
                _ => self.penalise(peer).await,
            }
        }
    }

    fn recent_lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Answers a wantlist from the store, in messages under the size cap. Blocks the gate
    /// withholds (an unpaid debt) wait for payment in the background ([`Self::defer`]).
    async fn answer(self: &Arc<Self>, peer: PeerId, protocol: &StreamProtocol, wantlist: Wantlist) {
        let mut out = Outbox::new(peer, protocol.clone());
        let mut withheld = Vec::new();
        for entry in wantlist.entries.into_iter().take(MAX_WANTLIST) {
            if entry.cancel {
                continue;
            }
            let Ok(cid) = Cid::try_from(entry.block.as_slice()) else {
                continue;
            };
            if entry.want_type == WantType::Have as i32 {
                match self.store.has(&cid).await {
                    Ok(true) => out.presence(&cid, PresenceType::Have),
                    _ if entry.send_dont_have => out.presence(&cid, PresenceType::DontHave),
                    _ => {}
                }
                continue;
            }
            match self.store.get(&cid).await.ok().flatten() {
                Some(data) if self.admit(peer, data.len()) => out.block(self, &cid, data).await,
                Some(data) => withheld.push(Withheld {
                    cid,
                    len: data.len(),
                    send_dont_have: entry.send_dont_have,
                }),
                None if entry.send_dont_have => out.presence(&cid, PresenceType::DontHave),
                None => {}
            }
        }
        out.flush(self).await;
        if !withheld.is_empty() {
            self.defer(peer, protocol.clone(), withheld);
        }
    }

    /// Holds withheld blocks until the peer has paid enough for the gate to admit them (the
    /// gate has asked it to pay), for at most [`PAYMENT_WAIT`]; what is still unpaid then is
    /// answered like a missing block. At most [`MAX_DEFERRED`] such waits run at once.
    fn defer(self: &Arc<Self>, peer: PeerId, protocol: StreamProtocol, withheld: Vec<Withheld>) {
        let permit = self.deferred.clone().try_acquire_owned().ok();
        let engine = self.clone();
        self.tasks.spawn(async move {
            let mut waiting = withheld;
            let deadline = tokio::time::Instant::now() + PAYMENT_WAIT;
            while permit.is_some() && !waiting.is_empty() && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(PAYMENT_POLL).await;
                let mut out = Outbox::new(peer, protocol.clone());
                let mut still = Vec::new();
                for w in waiting {
                    let data = if engine.admit(peer, w.len) {
                        engine.store.get(&w.cid).await.ok().flatten()
                    } else {
                        None
                    };
                    match data {
                        Some(data) => out.block(&engine, &w.cid, data).await,
                        None => still.push(w),
                    }
                }
                out.flush(&engine).await;
                waiting = still;
            }
            let mut out = Outbox::new(peer, protocol);
            for w in waiting.iter().filter(|w| w.send_dont_have) {
                out.presence(&w.cid, PresenceType::DontHave);
            }
            out.flush(&engine).await;
        });
    }

    /// Whether the gate lets `bytes` more go to `peer` now.
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

/// A block withheld until paid for.
struct Withheld {
    cid: Cid,
    len: usize,
    send_dont_have: bool,
}

/// One peer's outgoing messages, each kept under [`RESPONSE_BUDGET`] bytes of blocks.
struct Outbox {
    peer: PeerId,
    protocol: StreamProtocol,
    msg: Message,
    budget: usize,
}

impl Outbox {
    fn new(peer: PeerId, protocol: StreamProtocol) -> Self {
        Outbox {
            peer,
            protocol,
            msg: Message::default(),
            budget: 0,
        }
    }

    fn presence(&mut self, cid: &Cid, kind: PresenceType) {
        self.msg.block_presences.push(presence(cid, kind));
    }

    async fn block<S: Blockstore + Clone>(&mut self, engine: &Bitswap<S>, cid: &Cid, data: Bytes) {
        if self.budget + data.len() > RESPONSE_BUDGET && self.budget > 0 {
            engine
                .send(self.peer, &self.protocol, std::mem::take(&mut self.msg))
                .await;
            self.budget = 0;
        }
        self.budget += data.len();
        engine.ledgers.sent(self.peer, data.len() as u64);
        if self.protocol == PROTOCOL_1_0_0 {
            self.msg.blocks.push(data.to_vec());
        } else {
            self.msg.payload.push(Payload {
                prefix: message::prefix(cid),
                data: data.to_vec(),
            });
        }
    }

    async fn flush<S: Blockstore + Clone>(self, engine: &Bitswap<S>) {
        let m = &self.msg;
        if !m.payload.is_empty() || !m.blocks.is_empty() || !m.block_presences.is_empty() {
            engine.send(self.peer, &self.protocol, self.msg).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(i: u32) -> Cid {
        let block = crate::content::Block::encode(
            crate::content::RAW,
            crate::content::HashAlg::Sha2_256,
            i.to_le_bytes().to_vec(),
        );
        *block.cid()
    }

    #[test]
    fn recent_blocks_are_remembered_up_to_the_bound_oldest_forgotten_first() {
        let mut recent = Recent::default();
        for i in 0..RECENT_BLOCKS as u32 {
            recent.insert(cid(i));
        }
        recent.insert(cid(0)); // already there: no second entry
        assert!(recent.contains(&cid(0)));
        recent.insert(cid(RECENT_BLOCKS as u32));
        assert!(!recent.contains(&cid(0)), "the oldest is forgotten");
        assert!(recent.contains(&cid(1)));
        assert_eq!(recent.order.len(), RECENT_BLOCKS);
        assert_eq!(recent.set.len(), RECENT_BLOCKS);
    }
}
