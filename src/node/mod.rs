//! Wiring: a node assembled from its data dir and config as a set of services, each built from
//! explicit handles ([`Parts`]) and reached through a cheap clone.
//!
//! | service | owns |
//! |---|---|
//! | [`Content`] | adds, pins, GC, CAR import/export, block reads (local, then the network), piece files |
//! | [`Payments`] | channels, receipts (one writer), storage payments, the retrieval meter and invoices |
//! | [`Provider`] | this node's storage terms and the asks signed from them |
//! | [`Deals`] | deals on both sides, their lifecycle, funding, cancellation and audits; answers `/cairn/market/1` and `/cairn/proof/1` |
//! | [`Keeps`] | keeps (what this node wants kept), provider scores and discovery; [`Keeper`] is its runtime |
//!
//! Dependencies run one way: `Keeps -> Deals -> {Provider, Payments, Content} -> Parts`.
//! [`Node`] only assembles them; [`Daemon`] starts the network, the servers and the periodic
//! tasks, and stops them all (every task the services spawn is in one [`Tasks`] set) before the
//! database closes.

mod addresses;
mod content;
mod daemon;
mod deals;
mod error;
pub mod history;
mod keeps;
mod parts;
mod pay;
mod provider;
mod room;

pub use content::{
    AddSession, AddedEntry, BadBlock, BlockProblem, CarImport, Content, GcReport, NodeBlocks,
    ReconcileReport, RepairOutcome, VerifyReport,
};
pub use content::{BadNode, BadNodeKind, PinCheck};
pub use daemon::Daemon;
pub use deals::{decode_proposal, AuditReport, DealRequest, Deals};
pub use error::{NodeError, Refusal, Rejection, Result};
pub use keeps::{
    erasure_spec_of, DiscoveredProvider, ErasureReport, ErasureSpec, KeepReport, KeepRequest,
    Keeper, Keeps, Rebuilt, ReplicaReport, RestoreReport, RestoredFrom, SlotReport, META_ERASURE,
    META_REPAIR_THRESHOLD,
};
pub use parts::{NetSlot, Parts, Signer, Store, Tasks};
pub(crate) use pay::binding_of;
pub use pay::{
    Balance, ChainSettlement, ClaimOutcome, CloseStart, LedgerSettlement, Payment, Payments,
    RetrievalMeter, WalletView, Withdrawal,
};
pub use provider::{AskTerms, Provider};
pub use room::Room;

use std::sync::Arc;

use crate::blockstore::Store as BlockStore;
use crate::clock::Clock;
use crate::config::DataDir;
use crate::db::Db;

/// A node: its services, assembled once. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Node {
    parts: Parts,
    content: Content,
    pay: Payments,
    provider: Provider,
    deals: Deals,
    keeps: Keeps,
    api_token: Arc<str>,
}

impl Node {
    /// Opens an initialized data dir: config, identity, database (migrated), block store.
    pub async fn open(data: DataDir) -> Result<Self> {
        Self::open_with_clock(data, Clock::system()).await
    }

    /// Like [`Node::open`], with the clock the node's domain reads the time from.
    pub async fn open_with_clock(data: DataDir, clock: Clock) -> Result<Self> {
        let config = data.load_config()?;
        let signer = Signer::new(data.load_identity()?)?;
        let url = config
            .database_url
            .clone()
            .unwrap_or_else(|| data.default_database_url());
        let db = Db::connect_with_clock(&url, clock.clone()).await?;
        // After the connect, which may have just created the database files.
        data.secure()?;
        let quota = config.storage.quota;
        let store = BlockStore::open(&config.block_store(&data), quota, db.used_bytes().await?)?;
        // A store the node cannot reach refuses the start, before anything is served.
        store.probe().await?;
        let api_token = data.load_token()?;
        let chain = match &config.chain {
            Some(chain) => Some(crate::chain::ChainHandle::open(chain.clone(), data.root())?),
            None => None,
        };
        let parts = Parts {
            db,
            store,
            net: NetSlot::default(),
            signer,
            clock,
            tasks: Tasks::default(),
            config: Arc::new(config),
            data: Arc::new(data),
            chain,
        };
        Ok(Self::assemble(parts, api_token))
    }

    /// Builds every service from `parts`.
    pub fn assemble(parts: Parts, api_token: impl Into<Arc<str>>) -> Self {
        let content = Content::new(parts.clone());
        let pay = Payments::new(parts.clone());
        let provider = Provider::new(parts.clone(), pay.clone());
        let deals = Deals::new(
            parts.clone(),
            content.clone(),
            pay.clone(),
            provider.clone(),
        );
        let keeps = Keeps::new(parts.clone(), content.clone(), deals.clone());
        Node {
            parts,
            content,
            pay,
            provider,
            deals,
            keeps,
            api_token: api_token.into(),
        }
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    pub fn pay(&self) -> &Payments {
        &self.pay
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    pub fn deals(&self) -> &Deals {
        &self.deals
    }

    pub fn keeps(&self) -> &Keeps {
        &self.keeps
    }

    /// The handles the services are built from.
    pub fn parts(&self) -> &Parts {
        &self.parts
    }

    pub fn db(&self) -> &Db {
        &self.parts.db
    }

    pub fn net(&self) -> &NetSlot {
        &self.parts.net
    }

    pub fn clock(&self) -> &Clock {
        &self.parts.clock
    }

    pub fn config(&self) -> &crate::config::Config {
        &self.parts.config
    }

    pub fn data(&self) -> &DataDir {
        &self.parts.data
    }

    pub fn peer_id(&self) -> libp2p::PeerId {
        self.parts.signer.peer_id()
    }

    /// The node's signing key (its libp2p identity).
    pub fn key(&self) -> &ed25519_dalek::SigningKey {
        self.parts.signer.key()
    }

    pub fn api_token(&self) -> &str {
        &self.api_token
    }
}
