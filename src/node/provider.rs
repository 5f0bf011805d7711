//! The provider side of the market: its terms, and the signed asks made from them.
//!
//! Terms are stored; an ask is signed fresh for every request, so its expiry and its free
//! capacity (terms' capacity minus what deals hold) are always current.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use libp2p::PeerId;

use super::{Node, NodeError, Result};
use crate::db::now_ms;
use crate::market::wire::{MarketRequest, MarketResponse};
use crate::market::{Amount, Ask, Signed};
use crate::net::market::Market;

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
    let bad = || NodeError::BadRequest(format!("{peer:?} is not an ed25519 peer id"));
    let id: PeerId = peer.parse().map_err(|_| bad())?;
    let multihash = multihash::Multihash::<64>::from_bytes(&id.to_bytes()).map_err(|_| bad())?;
    let key =
        libp2p_identity::PublicKey::try_decode_protobuf(multihash.digest()).map_err(|_| bad())?;
    Ok(key.try_into_ed25519().map_err(|_| bad())?.to_bytes())
}

impl Node {
    /// Validates and stores the terms; returns the ask they make now.
    pub async fn set_ask_terms(&self, terms: &AskTerms) -> Result<Signed<Ask>> {
        let probe = self.ask_from(terms, 0, now_ms().max(0) as u64);
        probe
            .validate()
            .map_err(|e| NodeError::BadRequest(e.to_string()))?;
        if terms.ttl_secs == 0 {
            return Err(NodeError::BadRequest("ttl must be positive".into()));
        }
        terms.client_lists()?;
        let json = serde_json::to_string(terms).map_err(|e| NodeError::Other(e.to_string()))?;
        self.db.put_ask_terms(&json).await?;
        self.refresh_retrieval_terms().await?;
        let ask = self
            .signed_ask()
            .await?
            .ok_or_else(|| NodeError::Other("terms vanished".into()))?;
        self.announce_ask().await;
        Ok(ask)
    }

    /// Publishes the current ask on the ask topic and announces this node in the DHT as a
    /// provider. Best effort: an empty network is not an error.
    pub async fn announce_ask(&self) {
        let Some(net) = self.net.get() else { return };
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

    pub async fn ask_terms(&self) -> Result<Option<AskTerms>> {
        let Some(json) = self.db.ask_terms().await? else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| NodeError::Other(format!("stored ask terms: {e}")))
    }

    /// A freshly signed ask, or `None` if this node offers no storage.
    pub async fn signed_ask(&self) -> Result<Option<Signed<Ask>>> {
        let Some(terms) = self.ask_terms().await? else {
            return Ok(None);
        };
        let reserved = self.db.reserved_capacity().await?;
        let now = now_ms().max(0) as u64;
        let ask = self.ask_from(&terms, terms.capacity.saturating_sub(reserved), now);
        Signed::sign(ask, &self.key)
            .map(Some)
            .map_err(|e| NodeError::Other(e.to_string()))
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
        }
    }
}

/// Answers `/cairn/market/1` for the node.
pub struct NodeMarket(pub Arc<Node>);

impl Market for NodeMarket {
    fn respond(&self, peer: PeerId, request: MarketRequest) -> BoxFuture<'_, MarketResponse> {
        Box::pin(async move {
            match request {
                MarketRequest::GetAsk => match self.0.signed_ask().await {
                    Ok(Some(ask)) => MarketResponse::Ask(ask),
                    Ok(None) => MarketResponse::rejected("no_ask", "this node offers no storage"),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot make an ask");
                        MarketResponse::rejected("internal", "the provider cannot sign an ask now")
                    }
                },
                MarketRequest::Propose(proposal) => self.0.receive_proposal(peer, *proposal).await,
                MarketRequest::Status(deal) => self.0.deal_status(&deal).await,
                MarketRequest::Cancel(cancel) => self.0.receive_cancel(*cancel).await,
            }
        })
    }
}
