//! Wiring: a node built from its data dir and config, and the operations the API exposes
//! on content (add, pin, GC, CAR) that span the block store and the database.
//!
//! Invariant kept here: the database records a block only after the store has synced it,
//! and a pin's references are written in the same transaction as the pin. Garbage collection
//! takes the write side of `gc_lock`; every add or import holds the read side from its first
//! block to its pin, so GC never removes blocks of an add in flight.

mod add;
mod blocks;
mod cancel;
mod car;
mod daemon;
mod deals;
mod funding;
mod keeper;
mod keeps;
mod lifecycle;
mod pay;
mod piece;
mod pins;
mod prover;
mod provider;

pub use add::{AddSession, AddedEntry};
pub use blocks::NodeBlocks;
pub use car::CarImport;
pub use daemon::Daemon;
pub use deals::{decode_proposal, DealRequest};
pub use keeper::Keeper;
pub use keeps::{DiscoveredProvider, KeepReport, KeepRequest, ReplicaReport};
pub use pay::{Balance, LedgerSettlement, NodePay, PayState, RetrievalMeter};
pub use pins::GcReport;
pub use prover::{AuditReport, NodeProver};
pub use provider::{AskTerms, NodeMarket};

use std::sync::Arc;

use cid::Cid;
use tokio::sync::RwLock;

use crate::blockstore::{BlockstoreError, FsBlockstore, LocalBlocks};
use crate::config::{Config, ConfigError, DataDir};
use crate::content::ContentError;
use crate::db::{Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Blockstore(#[from] BlockstoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Car(#[from] crate::content::car::CarError),
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;

/// Everything a running node shares between its tasks.
#[derive(Debug)]
pub struct Node {
    pub data: DataDir,
    pub config: Config,
    pub db: Db,
    pub store: Arc<FsBlockstore>,
    pub key: ed25519_dalek::SigningKey,
    pub peer_id: libp2p_identity::PeerId,
    pub api_token: String,
    /// The libp2p host, once the daemon has started it.
    pub net: std::sync::OnceLock<crate::net::NetHandle>,
    /// Blocks fetched from the network, stored but not yet recorded (see `blocks.rs`).
    fetched: std::sync::Mutex<Vec<(Cid, u64)>>,
    /// Blocks recently fetched for reading only.
    recent: blocks::Recent,
    gc_lock: RwLock<()>,
    /// Serializes deal acceptance, so two proposals cannot both take the last free bytes.
    deal_lock: tokio::sync::Mutex<()>,
    /// Channels, receipts and the retrieval meter.
    pub pay: PayState,
    /// Invoices the retrieval meter orders, taken by the daemon's invoice task.
    invoice_orders: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<pay::InvoiceOrder>>>,
}

impl Node {
    /// Opens an initialized data dir: config, identity, database (migrated), block store.
    pub async fn open(data: DataDir) -> Result<Arc<Self>> {
        let config = data.load_config()?;
        let key = data.load_identity()?;
        let keypair = crate::config::libp2p_keypair(&key)
            .map_err(|e| NodeError::Other(format!("identity key: {e}")))?;
        let url = config
            .database_url
            .clone()
            .unwrap_or_else(|| data.default_database_url());
        let db = Db::connect(&url).await?;
        let quota = config.storage.quota;
        let store = FsBlockstore::open(data.blocks_dir(), quota, db.used_bytes().await?)?;
        let (meter, invoice_orders) = RetrievalMeter::new();
        Ok(Arc::new(Node {
            pay: PayState::new(db.clone(), meter),
            invoice_orders: std::sync::Mutex::new(Some(invoice_orders)),
            api_token: data.load_token()?,
            peer_id: keypair.public().to_peer_id(),
            data,
            config,
            db,
            store: Arc::new(store),
            key,
            net: std::sync::OnceLock::new(),
            fetched: std::sync::Mutex::new(Vec::new()),
            recent: Default::default(),
            gc_lock: RwLock::new(()),
            deal_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Reads blocks from the local store.
    pub fn local_blocks(&self) -> LocalBlocks<Arc<FsBlockstore>> {
        LocalBlocks(self.store.clone())
    }

    /// Reads blocks from the local store, fetching missing ones from the network without
    /// storing them.
    pub fn blocks(self: &Arc<Self>) -> NodeBlocks {
        NodeBlocks {
            node: self.clone(),
            keep: false,
        }
    }

    /// Like [`Node::blocks`], but fetched blocks are stored (unpinned, until a pin references
    /// them or the next GC clears them).
    pub fn blocks_kept(self: &Arc<Self>) -> NodeBlocks {
        NodeBlocks {
            node: self.clone(),
            keep: true,
        }
    }

    pub async fn has_block(&self, cid: &Cid) -> Result<bool> {
        use crate::blockstore::Blockstore;
        Ok(self.store.has(cid).await?)
    }
}
