//! The provider service: this node's storage terms and the signed asks made from them.
//!
//! Terms are stored; an ask is signed fresh for every request, so its expiry and its free
//! capacity (terms' capacity minus what deals hold) are always current. Setting terms also
//! sets the retrieval price the payment service meters Bitswap bytes at.

use std::collections::HashSet;

use libp2p::PeerId;

use super::parts::Parts;
use super::pay::Payments;
use super::{NodeError, Refusal, Result};
use crate::amount::Amount;
use crate::db::Db;
use crate::market::Ask;
use crate::signed::Signed;

/// What `cairn provider ask set` configures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskTerms {
    pub price_per_gib_month: u64,
    #[serde(default)]
    pub retrieval_price_per_gib: u64,
    pub min_duration_secs: u64,
    pub max_duration_secs: u64,
    pub max_piece_size: u64,
    /// Bytes offered to deals in all.
    pub capacity: u64,
    pub min_challenge_period_secs: u64,
    /// How long each signed ask stays valid.
    pub ttl_secs: u64,
    /// If set, only these clients (peer ids) may make deals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Clients (peer ids) refused whatever they offer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// Client signing keys.
pub type ClientKeys = HashSet<[u8; 32]>;

impl AskTerms {
    /// The signing keys of the allow and deny lists.
    pub fn client_lists(&self) -> Result<(Option<ClientKeys>, ClientKeys)> {
        let keys = |peers: &[String]| {
            peers
                .iter()
                .map(|p| peer_key(p))
                .collect::<Result<HashSet<_>>>()
        };
        Ok((
            self.allow.as_deref().map(keys).transpose()?,
            keys(&self.deny)?,
        ))
    }
}

/// The ed25519 key inside an ed25519 peer id (`12D3KooW...`): what signs that peer's proposals.
pub(crate) fn peer_key(peer: &str) -> Result<[u8; 32]> {
    let bad = || {
        NodeError::refuse(
            Refusal::NotEd25519,
            format!("{peer:?} is not an ed25519 peer id"),
        )
    };
    let id: PeerId = peer.parse().map_err(|_| bad())?;
    let multihash = multihash::Multihash::<64>::from_bytes(&id.to_bytes()).map_err(|_| bad())?;
    let key =
        libp2p_identity::PublicKey::try_decode_protobuf(multihash.digest()).map_err(|_| bad())?;
    Ok(key.try_into_ed25519().map_err(|_| bad())?.to_bytes())
}

/// The stored terms, if this node offers storage.
pub(crate) async fn stored_terms(db: &Db) -> Result<Option<AskTerms>> {
    let Some(json) = db.ask_terms().await? else {
        return Ok(None);
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| NodeError::internal(format!("stored ask terms: {e}")))
}

/// The provider side of the market. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Provider {
    parts: Parts,
    pay: Payments,
}

impl Provider {
    pub fn new(parts: Parts, pay: Payments) -> Self {
        Provider { parts, pay }
    }

    /// Validates and stores the terms; returns the ask they make now.
    pub async fn set_ask_terms(&self, terms: &AskTerms) -> Result<Signed<Ask>> {
        let probe = self.ask_from(terms, 0, self.parts.clock.now_u64());
        probe.validate().map_err(NodeError::Market)?;
        if terms.ttl_secs == 0 {
            return Err(NodeError::invalid("ttl must be positive"));
        }
        terms.client_lists()?;
        if let Some(room) = super::room::room(&self.parts)? {
            room.check(terms.capacity)?;
        }
        let json = serde_json::to_string(terms).map_err(NodeError::internal)?;
        self.parts.db.put_ask_terms(&json).await?;
        self.pay.refresh_retrieval_terms().await?;
        let ask = self
            .signed_ask()
            .await?
            .ok_or_else(|| NodeError::internal("terms vanished"))?;
        self.announce_ask().await;
        Ok(ask)
    }

    /// Publishes the current ask on the ask topic and announces this node in the DHT as a
    /// provider. Best effort: an empty network is not an error.
    pub async fn announce_ask(&self) {
        let Some(net) = self.parts.net.running() else {
            return;
        };
        let ask = match self.signed_ask().await {
            Ok(Some(ask)) => ask,
            Ok(None) => return,
            Err(e) => return tracing::warn!(error = %e, "cannot sign an ask to publish"),
        };
        if let Ok(bytes) = ask.to_bytes() {
            let _ = net.publish_ask(bytes).await;
        }
        if let Err(e) = net.provide(crate::market::providers_key()).await {
            tracing::debug!(error = %e, "could not announce in the DHT");
        }
    }

    /// What the block store can hold now (`None` off a local disk): the ceiling of the
    /// capacity terms may offer.
    pub fn room(&self) -> Result<Option<super::Room>> {
        super::room::room(&self.parts)
    }

    pub async fn ask_terms(&self) -> Result<Option<AskTerms>> {
        stored_terms(&self.parts.db).await
    }

    /// A freshly signed ask, or `None` if this node offers no storage.
    pub async fn signed_ask(&self) -> Result<Option<Signed<Ask>>> {
        let Some(terms) = self.ask_terms().await? else {
            return Ok(None);
        };
        let reserved = self.parts.db.reserved_capacity().await?;
        let now = self.parts.clock.now_u64();
        let mut ask = self.ask_from(&terms, terms.capacity.saturating_sub(reserved), now);
        ask.chain = self.pay.ask_chain().await?;
        self.parts.signer.sign(ask).map(Some)
    }

    fn ask_from(&self, terms: &AskTerms, free_capacity: u64, now: u64) -> Ask {
        Ask {
            price_per_gib_month: Amount(terms.price_per_gib_month),
            retrieval_price_per_gib: Amount(terms.retrieval_price_per_gib),
            min_duration_secs: terms.min_duration_secs,
            max_duration_secs: terms.max_duration_secs,
            max_piece_size: terms.max_piece_size,
            free_capacity,
            min_challenge_period_secs: terms.min_challenge_period_secs,
            collateral: Amount(0),
            expires_at: now.saturating_add(terms.ttl_secs.saturating_mul(1000)),
            // Signed fresh each time: the signing time orders them.
            seq: now,
            chain: None,
        }
    }
}
