//! Per-peer Bitswap accounting: bytes and blocks each way, and blocks a peer sent unasked.
//! This is the hook paid retrieval charges against. Beside the per-peer ledgers, totals since
//! the host started (all peers, each direction) feed the node's metrics.
//!
//! Invariant: at most [`MAX_LEDGERS`] peers are kept. A new peer past the cap evicts the
//! ledger touched longest ago, so peers that come and go (or a peer cycling identities)
//! cannot grow the map; the peers in active exchange are the ones touched recently. The
//! totals are not affected by eviction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use libp2p::PeerId;

/// Peers whose ledgers are kept at once.
pub const MAX_LEDGERS: usize = 4096;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ledger {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub blocks_received: u64,
    pub unwanted_blocks: u64,
}

/// Bitswap traffic since the host started, all peers together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub blocks_in: u64,
    pub bytes_in: u64,
    pub blocks_out: u64,
    pub bytes_out: u64,
}

#[derive(Debug)]
pub struct Ledgers {
    peers: Mutex<Peers>,
    cap: usize,
    blocks_in: AtomicU64,
    bytes_in: AtomicU64,
    blocks_out: AtomicU64,
    bytes_out: AtomicU64,
}

#[derive(Debug, Default)]
struct Peers {
    /// Each peer's ledger and the tick it was last touched at.
    ledgers: HashMap<PeerId, (Ledger, u64)>,
    tick: u64,
}

impl Default for Ledgers {
    fn default() -> Self {
        Ledgers::with_cap(MAX_LEDGERS)
    }
}

impl Ledgers {
    pub fn with_cap(cap: usize) -> Self {
        Ledgers {
            peers: Mutex::default(),
            cap: cap.max(1),
            blocks_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            blocks_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }

    fn with<T>(&self, peer: PeerId, f: impl FnOnce(&mut Ledger) -> T) -> T {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.tick += 1;
        let tick = peers.tick;
        if !peers.ledgers.contains_key(&peer) && peers.ledgers.len() >= self.cap {
            let oldest = peers
                .ledgers
                .iter()
                .min_by_key(|(_, (_, touched))| *touched)
                .map(|(p, _)| *p);
            if let Some(oldest) = oldest {
                peers.ledgers.remove(&oldest);
            }
        }
        let entry = peers.ledgers.entry(peer).or_default();
        entry.1 = tick;
        f(&mut entry.0)
    }

    /// One block of `bytes` sent to `peer`.
    pub fn sent(&self, peer: PeerId, bytes: u64) {
        self.blocks_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        self.with(peer, |l| l.bytes_sent += bytes);
    }

    /// Block bytes `peer` sent in one message.
    pub fn received(&self, peer: PeerId, bytes: u64) {
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        self.with(peer, |l| l.bytes_received += bytes);
    }

    /// A block from `peer` that this node wanted.
    pub fn block_received(&self, peer: PeerId) {
        self.blocks_in.fetch_add(1, Ordering::Relaxed);
        self.with(peer, |l| l.blocks_received += 1);
    }

    pub fn traffic(&self) -> Traffic {
        Traffic {
            blocks_in: self.blocks_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            blocks_out: self.blocks_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }

    /// Counts a block the peer sent unasked; returns the peer's total.
    pub fn unwanted_block(&self, peer: PeerId) -> u64 {
        self.with(peer, |l| {
            l.unwanted_blocks += 1;
            l.unwanted_blocks
        })
    }

    pub fn snapshot(&self) -> HashMap<PeerId, Ledger> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.ledgers.iter().map(|(p, (l, _))| (*p, *l)).collect()
    }

    pub fn len(&self) -> usize {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ledgers
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_the_ledger_touched_longest_ago_goes() {
        let ledgers = Ledgers::with_cap(3);
        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        for p in &peers {
            ledgers.sent(*p, 10);
        }
        // peers[0] is touched again, so peers[1] is now the oldest.
        ledgers.received(peers[0], 5);
        let newcomer = PeerId::random();
        ledgers.sent(newcomer, 1);
        let snapshot = ledgers.snapshot();
        assert_eq!(snapshot.len(), 3);
        assert!(!snapshot.contains_key(&peers[1]));
        assert_eq!(snapshot[&peers[0]].bytes_received, 5);
        assert_eq!(snapshot[&newcomer].bytes_sent, 1);
        // A flood of identities never grows the map past the cap.
        for _ in 0..1000 {
            ledgers.unwanted_block(PeerId::random());
        }
        assert_eq!(ledgers.len(), 3);
    }
}
