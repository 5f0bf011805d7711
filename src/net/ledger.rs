//! Per-peer Bitswap accounting: bytes and blocks each way, and blocks a peer sent unasked.
//! This is the hook paid retrieval charges against.

use std::collections::HashMap;
use std::sync::Mutex;

use libp2p::PeerId;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ledger {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub blocks_received: u64,
    pub unwanted_blocks: u64,
}

#[derive(Debug, Default)]
pub struct Ledgers {
    peers: Mutex<HashMap<PeerId, Ledger>>,
}

impl Ledgers {
    fn with<T>(&self, peer: PeerId, f: impl FnOnce(&mut Ledger) -> T) -> T {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        f(peers.entry(peer).or_default())
    }

    pub fn sent(&self, peer: PeerId, bytes: u64) {
        self.with(peer, |l| l.bytes_sent += bytes);
    }

    pub fn received(&self, peer: PeerId, bytes: u64) {
        self.with(peer, |l| l.bytes_received += bytes);
    }

    pub fn block_received(&self, peer: PeerId) {
        self.with(peer, |l| l.blocks_received += 1);
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
