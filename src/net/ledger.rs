//! Per-peer Bitswap accounting: bytes and blocks each way, and blocks a peer sent unasked.
//! This is the hook paid retrieval charges against. Beside the per-peer ledgers, totals since
//! the host started (all peers, each direction) feed the node's metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use libp2p::PeerId;

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

#[derive(Debug, Default)]
pub struct Ledgers {
    peers: Mutex<HashMap<PeerId, Ledger>>,
    blocks_in: AtomicU64,
    bytes_in: AtomicU64,
    blocks_out: AtomicU64,
    bytes_out: AtomicU64,
}

impl Ledgers {
    fn with<T>(&self, peer: PeerId, f: impl FnOnce(&mut Ledger) -> T) -> T {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        f(peers.entry(peer).or_default())
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
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
