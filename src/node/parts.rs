//! The handles every service is built from: database, block store, network, signer, clock,
//! task set, settings and data dir. Each is a cheap clone of one owner's handle; a service
//! takes the ones it needs, and a test builds them from in-memory parts ([`Parts::in_memory`]).
//!
//! Invariants: the network slot is filled once, by the daemon, after the host starts, and a
//! service that needs the network and finds it empty answers [`NodeError::Offline`]; every
//! task a service spawns goes through [`Tasks`], so [`Tasks::stop`] ends all of them before
//! the database closes.

use std::sync::{Arc, OnceLock};

use ed25519_dalek::SigningKey;
use libp2p::PeerId;

use super::{NodeError, Result};
use crate::clock::Clock;
use crate::config::{Config, DataDir};
use crate::db::Db;
use crate::net::NetHandle;
use crate::signed::{Signable, Signed};
pub use crate::tasks::Tasks;

/// The block store the node runs on: the backend chosen in config, behind the quota wrapper.
pub type Store = crate::blockstore::Store;

/// What every service is built from.
#[derive(Debug, Clone)]
pub struct Parts {
    pub db: Db,
    pub store: Store,
    pub net: NetSlot,
    pub signer: Signer,
    pub clock: Clock,
    pub tasks: Tasks,
    pub config: Arc<Config>,
    pub data: Arc<DataDir>,
    /// The chain channels settle on, when `[chain]` is configured; the ledger otherwise.
    pub chain: Option<crate::chain::ChainHandle>,
}

/// The libp2p host, once the daemon has started it.
#[derive(Debug, Clone, Default)]
pub struct NetSlot(Arc<OnceLock<NetHandle>>);

impl NetSlot {
    /// The running host, or [`NodeError::Offline`].
    pub fn get(&self) -> Result<&NetHandle> {
        self.0.get().ok_or(NodeError::Offline)
    }

    /// The running host, if there is one.
    pub fn running(&self) -> Option<&NetHandle> {
        self.0.get()
    }

    /// Fills the slot; a second call is refused.
    pub(crate) fn set(&self, net: NetHandle) -> Result<()> {
        self.0
            .set(net)
            .map_err(|_| NodeError::internal("the network was started twice"))
    }
}

/// The node's ed25519 identity: its libp2p peer id and the key it signs deals and receipts
/// with.
#[derive(Clone)]
pub struct Signer {
    key: Arc<SigningKey>,
    peer_id: PeerId,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(key: SigningKey) -> Result<Self> {
        let keypair = crate::config::libp2p_keypair(&key)
            .map_err(|e| NodeError::internal(format!("identity key: {e}")))?;
        Ok(Signer {
            peer_id: keypair.public().to_peer_id(),
            key: Arc::new(key),
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    pub fn sign<T: Signable>(&self, payload: T) -> Result<Signed<T>> {
        Ok(Signed::sign(payload, &self.key)?)
    }
}

impl Parts {
    /// Parts for tests: an SQLite database in `dir`, a store under it, no network, the given
    /// clock, default settings.
    pub async fn in_memory(dir: &std::path::Path, clock: Clock) -> Result<Self> {
        let data = DataDir::new(dir.to_path_buf());
        let db = Db::connect_with_clock(
            &format!("sqlite://{}", dir.join("cairn.db").display()),
            clock.clone(),
        )
        .await?;
        let store = Store::open(&Config::new(true).block_store(&data), None, 0)?;
        Ok(Parts {
            db,
            store,
            net: NetSlot::default(),
            signer: Signer::new(SigningKey::from_bytes(&rand::random()))?,
            clock,
            tasks: Tasks::default(),
            config: Arc::new(Config::new(true)),
            data: Arc::new(data),
            chain: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_empty_net_slot_is_offline() {
        let slot = NetSlot::default();
        assert!(matches!(slot.get(), Err(NodeError::Offline)));
        assert!(slot.running().is_none());
    }
}
