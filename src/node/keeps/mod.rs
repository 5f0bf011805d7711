//! The keeps service: creating, re-policying, replacing and removing keeps, reporting on one
//! (per provider: deal, last proof, score, amount paid; the keeper's decisions), scoring
//! providers, and discovering providers with valid asks.
//!
//! The runtime that acts on keeps is [`Keeper`] (`keeper.rs`); this file only records intent
//! and reads.
//! Removing a keep stops paying for it at once: its live deals are cancelled (the deal
//! lifecycle challenges and pays `active` deals only), and the local pin the keeper made is
//! undone unless another keep wants the same CID.

mod erasure;
mod keeper;

pub use erasure::{
    spec_of as erasure_spec_of, ErasureReport, ErasureSpec, Rebuilt, RestoreReport, RestoredFrom,
    SlotReport, META_ERASURE, META_REPAIR_THRESHOLD,
};
pub use keeper::Keeper;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use super::content::Content;
use super::deals::Deals;
use super::parts::Parts;
use super::{NodeError, Result};
use crate::db::{KeepDealRow, KeepEventRow, KeepRow, ProofRow};
use crate::keeper::{KeepStatus, Outcome, Policy, Score};
use crate::market::state::DealState;
use crate::market::wire::{MarketRequest, MarketResponse};
use crate::market::Ask;
use crate::net::NetError;
use crate::signed::Signed;

/// How long a provider may take to answer an ask request.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pin name (the Pinning Service API's limit).
pub const MAX_NAME_LEN: usize = 255;
/// Most origins a pin may name (the Pinning Service API's limit).
pub const MAX_ORIGINS: usize = 20;
/// Events shown with a keep.
const EVENTS_SHOWN: i64 = 100;

/// A provider with a valid signed ask.
#[derive(Debug, Clone)]
pub struct DiscoveredProvider {
    pub peer: PeerId,
    pub ask: Signed<Ask>,
    /// The address this node is connected to it on, if connected.
    pub address: Option<Multiaddr>,
    /// Round trip of its ask request, when it was asked directly.
    pub latency_ms: Option<u64>,
}

/// What a new keep asks for; the policy is already resolved from defaults and overrides.
#[derive(Debug, Clone)]
pub struct KeepRequest {
    pub cid: String,
    pub name: Option<String>,
    pub origins: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub policy: Policy,
}

/// One provider's part in a keep.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicaReport {
    pub peer: String,
    pub deal: String,
    /// `live`, `dropped`, `released` or `ended` for this keep.
    pub state: String,
    pub reason: Option<String>,
    pub deal_state: Option<DealState>,
    pub price_per_gib_month: Option<u64>,
    /// Unix ms.
    pub ends_at: Option<u64>,
    pub proofs_passed: u64,
    pub proofs_failed: u64,
    pub proofs_unreachable: u64,
    pub last_proof: Option<ProofRow>,
    pub score: Score,
    /// Base units paid for this deal's passed proof periods.
    pub paid: u64,
}

/// A keep with everything `cairn keep show` and the Pinning Service API's `info` show.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeepReport {
    #[serde(flatten)]
    pub keep: KeepRow,
    pub providers: Vec<ReplicaReport>,
    pub paid: u64,
    pub events: Vec<KeepEventRow>,
    /// For an erasure-coded keep: its scheme, manifest and health.
    pub erasure: Option<ErasureReport>,
    /// For an erasure-coded keep: each slot's provider, deal, last proof, score and payment.
    pub slots: Vec<SlotReport>,
}

/// A random UUID (version 4) as the request id, as the Pinning Service API suggests.
fn request_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn describe(p: &Policy) -> String {
    let cap = p
        .max_price_per_gib_month
        .map_or("no price cap".to_string(), |c| {
            format!("at most {c} per GiB-month")
        });
    format!(
        "{} replicas for {}, {cap}, a proof every {}",
        p.replicas,
        humantime::format_duration(Duration::from_secs(p.duration_secs)),
        humantime::format_duration(Duration::from_secs(p.challenge_period_secs))
    )
}

/// Keeps: what this node wants kept, and how it is doing. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Keeps {
    parts: Parts,
    content: Content,
    deals: Deals,
}

impl Keeps {
    pub fn new(parts: Parts, content: Content, deals: Deals) -> Self {
        Keeps {
            parts,
            content,
            deals,
        }
    }

    /// The policy `[keeper]` in the config makes.
    pub fn default_keep_policy(&self) -> Result<Policy> {
        self.parts
            .config
            .keeper
            .policy()
            .map_err(|e| NodeError::internal(format!("[keeper] in the config: {e}")))
    }

    /// Records a new keep; the keeper picks it up on its next tick.
    pub async fn create_keep(&self, request: KeepRequest) -> Result<KeepRow> {
        let row = new_keep(request, self.parts.clock.now_ms())?;
        self.insert_keep(row).await
    }

    async fn insert_keep(&self, row: KeepRow) -> Result<KeepRow> {
        let row = self.parts.db.insert_keep(&row).await?;
        self.parts
            .db
            .add_keep_event(
                &row.id,
                "created",
                &erasure::describe(&row, describe(&row.policy)),
            )
            .await?;
        Ok(row)
    }

    /// Changes a keep's policy; the keeper adds or releases deals to match.
    pub async fn set_keep_policy(&self, id: &str, policy: &Policy) -> Result<bool> {
        policy.validate()?;
        if !self.parts.db.set_keep_policy(id, policy).await? {
            return Ok(false);
        }
        self.parts
            .db
            .add_keep_event(id, "policy", &format!("policy now {}", describe(policy)))
            .await?;
        Ok(true)
    }

    /// Replaces keep `id` by a new one. For the same CID the deals and the local copy carry
    /// over (nothing is re-fetched or re-dealt); otherwise the old keep is removed. `None` if
    /// there is no keep `id`.
    pub async fn replace_keep(&self, id: &str, request: KeepRequest) -> Result<Option<KeepRow>> {
        let Some(old) = self.parts.db.get_keep(id).await? else {
            return Ok(None);
        };
        let mut new = new_keep(request, self.parts.clock.now_ms())?;
        if new.cid == old.cid {
            // The same DAG: the local copy and the deals carry over as they are.
            (new.local_pin, new.owns_pin) = (old.local_pin, old.owns_pin);
            (new.piece_root, new.piece_size) = (old.piece_root.clone(), old.piece_size);
            let new = self.parts.db.replace_keep_row(&old.id, &new).await?;
            let created = format!("{} (carried over)", describe(&new.policy));
            self.parts
                .db
                .add_keep_event(&new.id, "created", &created)
                .await?;
            return self.replaced(&old, &new.id).await;
        }
        let new = self.insert_keep(new).await?;
        self.remove_keep(&old.id).await?;
        self.replaced(&old, &new.id).await
    }

    async fn replaced(&self, old: &KeepRow, new: &str) -> Result<Option<KeepRow>> {
        let detail = format!("replaces pin request {} (for {})", old.id, old.cid);
        self.parts
            .db
            .add_keep_event(new, "replaced", &detail)
            .await?;
        Ok(self.parts.db.get_keep(new).await?)
    }

    /// Removes a keep: cancels its live deals and lets go of the local pin the keeper made.
    pub async fn remove_keep(&self, id: &str) -> Result<bool> {
        let Some(keep) = self.parts.db.get_keep(id).await? else {
            return Ok(false);
        };
        for deal in self.parts.db.keep_deals(id).await? {
            // A deal another request for the same CID shares stays, for that request.
            let shared = self.parts.db.deal_held_elsewhere(&deal.deal, id).await?;
            if deal.state == "live" && !shared {
                self.cancel_deal(&deal.deal, "the keep was removed: no longer paid")
                    .await?;
            }
        }
        self.parts.db.delete_keep(id).await?;
        let others = crate::db::KeepQuery {
            cids: vec![keep.cid.clone()],
            ..Default::default()
        };
        if keep.owns_pin && self.parts.db.query_keeps(&others).await?.is_empty() {
            let cid = crate::content::parse_cid(&keep.cid)?;
            self.content.pin_rm(&cid).await?;
        }
        Ok(true)
    }

    /// Client: moves a deal that is not final to `cancelled`, so it is no longer challenged
    /// or paid. Returns whether it moved.
    pub async fn cancel_deal(&self, deal: &str, reason: &str) -> Result<bool> {
        // Two tries: the lifecycle may move the deal (to `expired`) between read and write.
        for _ in 0..2 {
            let Some(row) = self.parts.db.get_deal(deal).await? else {
                return Ok(false);
            };
            if row.state.is_final() {
                return Ok(false);
            }
            if self
                .parts
                .db
                .transition_deal(deal, row.state, DealState::Cancelled, reason, None)
                .await?
            {
                if row.role == "client" {
                    self.spawn_cancel_notice(row, reason);
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Tells the provider, in the background, that its deal was cancelled.
    fn spawn_cancel_notice(&self, deal: crate::db::DealRow, reason: &str) {
        let deals = self.deals.clone();
        let reason = reason.to_string();
        self.parts.tasks.spawn(async move {
            if let Err(e) = deals.notify_cancel(&deal, &reason).await {
                tracing::debug!(deal = %deal.id, error = %e, "provider not told of a cancellation");
            }
        });
    }

    /// A provider's score from the challenges this node issued to it.
    pub async fn provider_score(&self, peer: &str) -> Result<Score> {
        let history = self
            .parts
            .db
            .provider_history(peer, crate::keeper::score::HISTORY as i64)
            .await?;
        let outcomes: Vec<Outcome> = history
            .iter()
            .filter_map(|o| Outcome::from_record(o))
            .collect();
        let first_seen = self
            .parts
            .db
            .provider_record(peer)
            .await?
            .map(|r| r.first_seen);
        Ok(Score::from_history(
            &outcomes,
            first_seen,
            self.parts.clock.now_ms(),
        ))
    }

    /// A keep with its providers, payments and decisions.
    pub async fn keep_report(&self, keep: KeepRow) -> Result<KeepReport> {
        let mut providers = Vec::new();
        let mut paid = 0u64;
        for deal in self.parts.db.keep_deals(&keep.id).await? {
            let report = self.replica_report(&keep, deal).await?;
            paid = paid.saturating_add(report.paid);
            providers.push(report);
        }
        let (erasure, slots) = match self.erasure_report(&keep).await? {
            Some((summary, slots)) => (Some(summary), slots),
            None => (None, Vec::new()),
        };
        Ok(KeepReport {
            erasure,
            slots,
            events: self.parts.db.keep_events(&keep.id, EVENTS_SHOWN).await?,
            keep,
            providers,
            paid,
        })
    }

    async fn replica_report(&self, keep: &KeepRow, kd: KeepDealRow) -> Result<ReplicaReport> {
        let row = self.parts.db.get_deal(&kd.deal).await?;
        let proposal = row
            .as_ref()
            .and_then(super::deals::decode_row)
            .map(|(_, p)| p.payload);
        let proofs = match (&row, &keep.piece_root) {
            (Some(row), Some(piece)) => {
                self.parts
                    .db
                    .deal_proofs(piece, &kd.peer, row.created_at, i64::MAX)
                    .await?
            }
            _ => Vec::new(),
        };
        let count = |o: Outcome| {
            proofs
                .iter()
                .filter(|p| Outcome::from_record(&p.outcome) == Some(o))
                .count() as u64
        };
        Ok(ReplicaReport {
            score: self.provider_score(&kd.peer).await?,
            paid: self.parts.db.storage_paid(&kd.deal).await?,
            deal_state: row.as_ref().map(|r| r.state),
            price_per_gib_month: proposal.as_ref().map(|p| p.price_per_gib_month.0),
            ends_at: proposal.as_ref().map(|p| p.end()),
            proofs_passed: count(Outcome::Passed),
            proofs_failed: count(Outcome::Failed),
            proofs_unreachable: count(Outcome::Unreachable),
            last_proof: proofs.last().cloned(),
            peer: kd.peer,
            deal: kd.deal,
            state: kd.state,
            reason: kd.reason,
        })
    }

    /// Providers from three sources: connected peers asked directly (timed: the latency),
    /// asks published on the ask topic, and peers announced in the DHT (dialled, then asked).
    /// Each ask is kept only if its signature holds, it has not expired and its signer is the
    /// peer it came from; the newest per peer; cheapest first.
    pub async fn discover_providers(&self) -> Result<Vec<DiscoveredProvider>, NetError> {
        let net = self.parts.net.running().ok_or(NetError::Stopped)?;
        let mut peers: HashMap<PeerId, Option<Multiaddr>> = net
            .peers()
            .await?
            .into_iter()
            .map(|(p, a)| (p, Some(a)))
            .collect();
        if let Ok(found) = net.find_providers(crate::market::providers_key()).await {
            for (peer, addrs) in found {
                if peer == self.parts.signer.peer_id() || peers.contains_key(&peer) {
                    continue;
                }
                for addr in addrs {
                    if net.dial(addr.clone()).await.is_ok() {
                        peers.insert(peer, Some(addr));
                        break;
                    }
                }
            }
        }
        let asked = peers.keys().map(|peer| async move {
            let started = Instant::now();
            match net.market(*peer, &MarketRequest::GetAsk, ASK_TIMEOUT).await {
                Ok(MarketResponse::Ask(signed)) => {
                    Some((*peer, signed, Some(started.elapsed().as_millis() as u64)))
                }
                _ => None,
            }
        });
        let mut asks: Vec<(PeerId, Signed<Ask>, Option<u64>)> = futures::future::join_all(asked)
            .await
            .into_iter()
            .flatten()
            .collect();
        for (peer, bytes) in net.gossiped_asks() {
            if let Ok(signed) = Signed::<Ask>::from_bytes(&bytes, crate::market::ask::MAX_ASK_SIZE)
            {
                asks.push((peer, signed, None));
            }
        }
        let now = self.parts.clock.now_u64();
        let mut newest: HashMap<PeerId, DiscoveredProvider> = HashMap::new();
        for (peer, ask, latency_ms) in asks {
            if peer == self.parts.signer.peer_id()
                || ask.check(now).is_err()
                || signer_peer(&ask) != Some(peer)
            {
                continue;
            }
            let fresher = newest
                .get(&peer)
                .is_none_or(|old| old.ask.payload.seq < ask.payload.seq);
            if fresher {
                let latency_ms =
                    latency_ms.or_else(|| newest.get(&peer).and_then(|old| old.latency_ms));
                newest.insert(
                    peer,
                    DiscoveredProvider {
                        peer,
                        ask,
                        address: peers.get(&peer).cloned().flatten(),
                        latency_ms,
                    },
                );
            }
        }
        let mut found: Vec<DiscoveredProvider> = newest.into_values().collect();
        found.sort_by_key(|d| (d.ask.payload.price_per_gib_month, d.peer.to_string()));
        Ok(found)
    }
}

/// A new keep's row from a request, checked.
fn new_keep(request: KeepRequest, now: i64) -> Result<KeepRow> {
    let cid = crate::content::parse_cid(&request.cid)?;
    request.policy.validate()?;
    erasure::spec_of(&request.meta)?;
    if request
        .name
        .as_ref()
        .is_some_and(|n| n.len() > MAX_NAME_LEN)
    {
        return Err(NodeError::invalid(format!(
            "name: longer than {MAX_NAME_LEN} bytes"
        )));
    }
    if request.origins.len() > MAX_ORIGINS {
        return Err(NodeError::invalid(format!(
            "origins: more than {MAX_ORIGINS}"
        )));
    }
    for origin in &request.origins {
        origin.parse::<Multiaddr>().map_err(|e| {
            NodeError::invalid(format!("origins: {origin:?} is not a multiaddr: {e}"))
        })?;
    }
    Ok(KeepRow {
        id: request_id(),
        cid: cid.to_string(),
        name: request.name,
        origins: request.origins,
        meta: request.meta,
        policy: request.policy,
        status: KeepStatus::Queued,
        status_details: Some("waiting for the keeper".into()),
        healthy: 0,
        shortfall: 0,
        at_risk: 0,
        local_pin: false,
        owns_pin: false,
        piece_root: None,
        piece_size: None,
        created_at: now,
        updated_at: now,
    })
}

/// The peer an ask's signer key is, so an ask relayed or forged in another's name is refused.
fn signer_peer(ask: &Signed<Ask>) -> Option<PeerId> {
    let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(&ask.signer).ok()?;
    Some(libp2p_identity::PublicKey::from(key).to_peer_id())
}

/// Shared with the runtime: `Arc` so the discovery task can hand its result over cheaply.
pub(super) type Discovered = std::sync::Arc<Vec<DiscoveredProvider>>;
