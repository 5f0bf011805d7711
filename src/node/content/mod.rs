//! The content service: adds, pins, garbage collection, CAR import and export, block reads
//! (local first, then the network), and the piece files proofs are answered from.
//!
//! Invariants: the database records a block only after the store has synced it, and a pin's
//! references are written in the same transaction as the pin. Garbage collection takes the
//! write side of `gc_lock`; every add or import holds the read side from its first block to its
//! pin, so GC never removes blocks of an add in flight.

mod add;
mod blocks;
mod car;
mod piece;
mod pin_verify;
mod pins;
mod reconcile;
mod verify;

pub use add::{AddSession, AddedEntry};
pub use blocks::NodeBlocks;
pub use car::CarImport;
pub use pin_verify::{BadNode, BadNodeKind, PinCheck};
pub use pins::GcReport;
pub use reconcile::ReconcileReport;
pub use verify::{BadBlock, Outcome as RepairOutcome, Problem as BlockProblem, VerifyReport};

use std::sync::Arc;

use cid::Cid;
use tokio::sync::RwLock;

use super::parts::{Parts, Store};
use super::Result;
use crate::blockstore::{Blockstore, LocalBlocks};

/// Content operations over the block store and the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Content {
    parts: Parts,
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Blocks fetched from the network, stored but not yet recorded (see `blocks.rs`).
    fetched: std::sync::Mutex<Vec<(Cid, u64)>>,
    /// Held by the flush that is writing a batch of `fetched`, so a second caller waits for
    /// it instead of returning while that batch is not yet recorded.
    flushing: tokio::sync::Mutex<()>,
    /// Blocks recently fetched for reading only.
    recent: blocks::Recent,
    gc_lock: RwLock<()>,
}

impl Content {
    pub fn new(parts: Parts) -> Self {
        Content {
            parts,
            inner: Arc::default(),
        }
    }

    /// The block store this service writes to.
    pub fn store(&self) -> &Store {
        &self.parts.store
    }

    /// Reads blocks from the local store.
    pub fn local_blocks(&self) -> LocalBlocks<Store> {
        LocalBlocks(self.parts.store.clone())
    }

    /// Reads blocks from the local store, fetching missing ones from the network without
    /// storing them.
    pub fn blocks(&self) -> NodeBlocks {
        NodeBlocks {
            content: self.clone(),
            keep: false,
        }
    }

    /// Like [`Content::blocks`], but fetched blocks are stored (unpinned, until a pin
    /// references them or the next GC clears them).
    pub fn blocks_kept(&self) -> NodeBlocks {
        NodeBlocks {
            content: self.clone(),
            keep: true,
        }
    }

    pub async fn has_block(&self, cid: &Cid) -> Result<bool> {
        Ok(self.parts.store.has(cid).await?)
    }

    /// Every pinned root.
    pub async fn list_pins(&self) -> Result<Vec<crate::db::PinRow>> {
        Ok(self.parts.db.list_pins().await?)
    }
}
