//! Storage deals, both sides.
//!
//! Provider: a proposal is checked against the policy made from this node's ask terms and the
//! capacity its deals hold; if accepted, the deal is recorded (`accepted`), the DAG is pulled
//! over Bitswap from the client (`transferring`), its piece is recomputed, and only if it
//! matches the proposal's `piece_root` and size does the provider sign activation (`active`);
//! otherwise the deal fails with the reason and its data is unpinned.
//!
//! Client: `make_deal` commits the piece, fetches and verifies the provider's ask, signs a
//! proposal at the ask's price, and follows the deal until the provider activates it.

use std::sync::Arc;
use std::time::Duration;

use cid::Cid;
use libp2p::PeerId;

use super::{Node, NodeError, Result};
use crate::db::{now_ms, DealRow};
use crate::market::state::DealState;
use crate::market::wire::{MarketRequest, MarketResponse};
use crate::market::{Capacity, DealAcceptance, DealProposal, MarketError, Policy, Signed};

/// How long a market request may take.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a client asks how its deal is doing while it waits for activation.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// What a client asks for.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealRequest {
    pub cid: String,
    /// Peer id of a connected provider, or its multiaddr with `/p2p/`.
    pub provider: String,
    pub duration_secs: u64,
    pub challenge_period_secs: u64,
    #[serde(default = "default_samples")]
    pub samples: u32,
    /// Highest price per GiB-month the client accepts.
    pub max_price_per_gib_month: Option<u64>,
    /// How long to wait for activation.
    #[serde(default = "default_wait")]
    pub wait_secs: u64,
}

fn default_samples() -> u32 {
    20
}

fn default_wait() -> u64 {
    300
}

pub(super) fn market_error(e: MarketError) -> NodeError {
    NodeError::BadRequest(format!("{}: {e}", e.reason()))
}

fn pin_name(deal: &Cid) -> String {
    format!("deal:{deal}")
}

impl Node {
    pub(super) fn sign<T: crate::market::Signable>(&self, payload: T) -> Result<Signed<T>> {
        Signed::sign(payload, &self.key).map_err(|e| NodeError::Other(e.to_string()))
    }

    fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Provider: decide a proposal; on acceptance, start the transfer in the background.
    pub async fn receive_proposal(
        self: &Arc<Self>,
        peer: PeerId,
        proposal: Signed<DealProposal>,
    ) -> MarketResponse {
        match self.accept_proposal(peer, &proposal).await {
            Ok((deal, acceptance)) => {
                let node = self.clone();
                tokio::spawn(async move { node.transfer(deal, proposal).await });
                MarketResponse::Accepted(acceptance)
            }
            Err(NodeError::BadRequest(detail)) => {
                let reason = detail.split(':').next().unwrap_or("rejected").to_string();
                MarketResponse::rejected(&reason, detail)
            }
            Err(e) => MarketResponse::rejected("internal", e.to_string()),
        }
    }

    async fn accept_proposal(
        &self,
        peer: PeerId,
        proposal: &Signed<DealProposal>,
    ) -> Result<(Cid, Signed<DealAcceptance>)> {
        let signed_ask = self
            .signed_ask()
            .await?
            .ok_or_else(|| NodeError::BadRequest("no_ask: this node offers no storage".into()))?;
        let terms = self
            .ask_terms()
            .await?
            .ok_or_else(|| NodeError::BadRequest("no_ask: this node offers no storage".into()))?;
        let (allow, deny) = terms.client_lists()?;
        let policy = Policy {
            ask: signed_ask.payload,
            provider: self.public_key(),
            allow,
            deny,
        };
        let capacity = Capacity {
            total: terms.capacity,
            reserved: self.db.reserved_capacity().await?,
        };
        // The reservation is the deal row itself (capacity is summed from deal states), so a
        // check against the recorded total and the insert below are the whole accounting.
        let _guard = self.deal_lock.lock().await;
        let capacity = Capacity {
            reserved: self.db.reserved_capacity().await?,
            ..capacity
        };
        policy
            .check(proposal, &capacity, now_ms().max(0) as u64)
            .map_err(market_error)?;
        self.check_funding(&proposal.payload).await?;
        let deal = proposal.deal_id().map_err(market_error)?;
        if self.db.get_deal(&deal.to_string()).await?.is_some() {
            return Err(NodeError::BadRequest(
                "duplicate: this deal was already proposed".into(),
            ));
        }
        let acceptance = self.sign(DealAcceptance {
            deal,
            activated: false,
            at: now_ms().max(0) as u64,
        })?;
        let row = deal_row(
            &deal,
            "provider",
            &peer,
            proposal,
            Some(&acceptance),
            DealState::Accepted,
        )?;
        self.db
            .insert_deal(&row, "accepted: proposal within the ask and capacity")
            .await?;
        Ok((deal, acceptance))
    }

    /// Provider: pull the DAG, check its piece, activate or fail.
    async fn transfer(self: Arc<Self>, deal: Cid, proposal: Signed<DealProposal>) {
        let id = deal.to_string();
        let moved = self
            .db
            .transition_deal(
                &id,
                DealState::Accepted,
                DealState::Transferring,
                "pulling the DAG",
                None,
            )
            .await;
        if !matches!(moved, Ok(true)) {
            return;
        }
        self.finish_transfer(deal, proposal).await;
    }

    /// The rest of a transfer: from `transferring` to `active` or `failed`.
    async fn finish_transfer(self: Arc<Self>, deal: Cid, proposal: Signed<DealProposal>) {
        let id = deal.to_string();
        let (to, reason, acceptance) = match self.fetch_and_check(&deal, &proposal.payload).await {
            Ok(acceptance) => (
                DealState::Active,
                "piece matches: activated".to_string(),
                Some(acceptance),
            ),
            Err(e) => {
                let _ = self.pin_rm(&proposal.payload.root).await;
                (DealState::Failed, e.to_string(), None)
            }
        };
        let hex = acceptance
            .as_ref()
            .and_then(|a| a.to_bytes().ok())
            .map(hex::encode);
        if let Err(e) = self
            .db
            .transition_deal(&id, DealState::Transferring, to, &reason, hex.as_deref())
            .await
        {
            tracing::warn!(deal = %id, error = %e, "could not record the end of a transfer");
        }
    }

    async fn fetch_and_check(
        self: &Arc<Self>,
        deal: &Cid,
        proposal: &DealProposal,
    ) -> Result<Signed<DealAcceptance>> {
        // The client, or the origins it named, may not be connected (after a restart, say).
        if let Some(net) = self.net.get() {
            for addr in proposal
                .origins
                .iter()
                .filter_map(|a| a.parse::<libp2p::Multiaddr>().ok())
            {
                if net.dial(addr).await.is_ok() {
                    break;
                }
            }
        }
        self.pin_add(&proposal.root, Some(&pin_name(deal))).await?;
        let piece = self.piece_commit(&proposal.root).await?;
        if piece.root != proposal.piece_root || piece.size != proposal.piece_size {
            return Err(NodeError::BadRequest(format!(
                "piece mismatch: the transferred DAG has piece {} ({} bytes), the proposal says {} ({} bytes)",
                hex::encode(piece.root),
                piece.size,
                hex::encode(proposal.piece_root),
                proposal.piece_size
            )));
        }
        self.sign(DealAcceptance {
            deal: *deal,
            activated: true,
            at: now_ms().max(0) as u64,
        })
    }

    /// Provider: where a deal stands.
    pub async fn deal_status(&self, deal: &Cid) -> MarketResponse {
        let row = match self.db.get_deal(&deal.to_string()).await {
            Ok(Some(row)) if row.role == "provider" => row,
            Ok(_) => {
                return MarketResponse::rejected("unknown_deal", format!("no deal {deal} here"))
            }
            Err(e) => return MarketResponse::rejected("internal", e.to_string()),
        };
        let events = self.db.deal_events(&row.id).await.unwrap_or_default();
        let reason = events.last().and_then(|e| e.reason.clone());
        let acceptance = row
            .acceptance
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| Signed::<DealAcceptance>::from_bytes(&b, 1024).ok());
        MarketResponse::Status {
            state: row.state,
            reason,
            acceptance,
        }
    }

    /// Client: propose a deal for `cid` and follow it until the provider activates it.
    pub async fn make_deal(self: &Arc<Self>, request: &DealRequest) -> Result<DealRow> {
        let net = self
            .net
            .get()
            .ok_or_else(|| NodeError::Other("the network is not running".into()))?;
        let root = crate::content::parse_cid(&request.cid)?;
        let peer = match request.provider.parse::<PeerId>() {
            Ok(peer) => peer,
            Err(_) => {
                let addr = request.provider.parse().map_err(|_| {
                    NodeError::BadRequest(format!(
                        "{:?} is neither a peer id nor a multiaddr",
                        request.provider
                    ))
                })?;
                net.dial(addr)
                    .await
                    .map_err(|e| NodeError::BadRequest(e.to_string()))?
            }
        };
        let piece = self.piece_commit(&root).await?;
        let ask = match net
            .market(peer, &MarketRequest::GetAsk, REQUEST_TIMEOUT)
            .await
            .map_err(|e| NodeError::BadRequest(e.to_string()))?
        {
            MarketResponse::Ask(ask) => ask,
            MarketResponse::Rejected { reason, detail } => {
                return Err(NodeError::BadRequest(format!("{reason}: {detail}")))
            }
            other => {
                return Err(NodeError::BadRequest(format!(
                    "unexpected answer to an ask request: {other:?}"
                )))
            }
        };
        let terms = ask
            .check(now_ms().max(0) as u64)
            .map_err(market_error)?
            .clone();
        if let Some(max) = request
            .max_price_per_gib_month
            .filter(|max| terms.price_per_gib_month.0 > *max)
        {
            return Err(NodeError::BadRequest(format!(
                "price_too_high: the provider asks {} per GiB-month, the most you accept is {max}",
                terms.price_per_gib_month.0
            )));
        }
        let origins = net
            .listen_addrs()
            .await
            .map(|a| a.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let mut payload = DealProposal {
            client: self.public_key(),
            provider: ask.signer,
            root,
            piece_root: piece.root,
            piece_size: piece.size,
            start: now_ms().max(0) as u64,
            duration_secs: request.duration_secs,
            price_per_gib_month: terms.price_per_gib_month,
            challenge_period_secs: request.challenge_period_secs,
            samples_per_challenge: request.samples,
            payment_channel: None,
            origins,
        };
        // Held until the deal is recorded, so two deals cannot both count the same deposit.
        let funding = self.pay.funding_lock.lock().await;
        payload.payment_channel = self.fund_deal(peer, &payload).await?;
        let proposal = self.sign(payload)?;
        let deal = proposal.deal_id().map_err(market_error)?;
        // The provider pulls this deal's DAG from us: never charge it for that.
        self.pay.meter.exempt(peer);
        // The data must stay while the provider pulls it.
        self.pin_add(&root, None).await?;
        let acceptance = match net
            .market(
                peer,
                &MarketRequest::Propose(Box::new(proposal.clone())),
                REQUEST_TIMEOUT,
            )
            .await
            .map_err(|e| NodeError::BadRequest(e.to_string()))?
        {
            MarketResponse::Accepted(acceptance) => acceptance,
            MarketResponse::Rejected { reason, detail } => {
                return Err(NodeError::BadRequest(format!(
                    "rejected by the provider: {reason}: {detail}"
                )))
            }
            other => {
                return Err(NodeError::BadRequest(format!(
                    "unexpected answer to a proposal: {other:?}"
                )))
            }
        };
        check_acceptance(&acceptance, &ask.signer, &deal, false)?;
        let row = deal_row(
            &deal,
            "client",
            &peer,
            &proposal,
            Some(&acceptance),
            DealState::Accepted,
        )?;
        self.db
            .insert_deal(&row, "accepted by the provider")
            .await?;
        drop(funding);
        self.follow(
            &deal,
            peer,
            &ask.signer,
            Duration::from_secs(request.wait_secs),
        )
        .await?;
        self.db
            .get_deal(&deal.to_string())
            .await?
            .ok_or_else(|| NodeError::Other("deal vanished".into()))
    }

    /// Client: polls the provider until the deal is active or has failed, or `wait` passes.
    async fn follow(
        &self,
        deal: &Cid,
        peer: PeerId,
        provider_key: &[u8; 32],
        wait: Duration,
    ) -> Result<()> {
        let net = self
            .net
            .get()
            .ok_or_else(|| NodeError::Other("the network is not running".into()))?;
        let id = deal.to_string();
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            if let Ok(MarketResponse::Status {
                state,
                reason,
                acceptance,
            }) = net
                .market(peer, &MarketRequest::Status(*deal), REQUEST_TIMEOUT)
                .await
            {
                match state {
                    DealState::Active => {
                        let acceptance = acceptance.ok_or_else(|| {
                            NodeError::Other("active without an activation".into())
                        })?;
                        check_acceptance(&acceptance, provider_key, deal, true)?;
                        let hex = acceptance.to_bytes().map(hex::encode).ok();
                        self.db
                            .transition_deal(
                                &id,
                                DealState::Accepted,
                                DealState::Active,
                                "activated by the provider",
                                hex.as_deref(),
                            )
                            .await?;
                        return Ok(());
                    }
                    DealState::Failed | DealState::Cancelled | DealState::Expired => {
                        let why = reason.unwrap_or_else(|| "no reason given".into());
                        self.db
                            .transition_deal(
                                &id,
                                DealState::Accepted,
                                DealState::Failed,
                                &format!("provider: {why}"),
                                None,
                            )
                            .await?;
                        return Ok(());
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        Ok(())
    }
}

impl Node {
    /// After a restart, picks every unfinished deal up where it stopped: a provider re-pulls
    /// deals that were accepted or transferring; a client goes back to waiting for
    /// activation. Capacity needs no repair: it is summed from the deals' states.
    pub async fn resume_deals(self: &Arc<Self>) -> Result<()> {
        for deal in self.db.list_deals("provider", None).await? {
            let Some((id, proposal)) = decode_row(&deal) else {
                continue;
            };
            let node = self.clone();
            match deal.state {
                DealState::Accepted => drop(tokio::spawn(node.transfer(id, proposal))),
                DealState::Transferring => drop(tokio::spawn(node.finish_transfer(id, proposal))),
                _ => {}
            }
        }
        for deal in self
            .db
            .list_deals("client", Some(DealState::Accepted))
            .await?
        {
            let (Some((id, proposal)), Ok(peer)) = (decode_row(&deal), deal.peer.parse::<PeerId>())
            else {
                continue;
            };
            let node = self.clone();
            tokio::spawn(async move {
                if let Err(e) = node
                    .follow(
                        &id,
                        peer,
                        &proposal.payload.provider,
                        Duration::from_secs(default_wait()),
                    )
                    .await
                {
                    tracing::warn!(deal = %id, error = %e, "could not follow a deal after restart");
                }
            });
        }
        Ok(())
    }
}

/// A stored deal's signed proposal.
pub fn decode_proposal(deal: &DealRow) -> Option<Signed<DealProposal>> {
    decode_row(deal).map(|(_, proposal)| proposal)
}

pub(super) fn decode_row(deal: &DealRow) -> Option<(Cid, Signed<DealProposal>)> {
    let bytes = hex::decode(&deal.proposal).ok()?;
    let proposal =
        Signed::<DealProposal>::from_bytes(&bytes, crate::market::deal::MAX_PROPOSAL_SIZE).ok()?;
    Some((deal.id.parse().ok()?, proposal))
}

fn check_acceptance(
    acceptance: &Signed<DealAcceptance>,
    provider: &[u8; 32],
    deal: &Cid,
    activated: bool,
) -> Result<()> {
    let payload = acceptance.verify().map_err(market_error)?;
    if &acceptance.signer != provider || payload.deal != *deal || payload.activated != activated {
        return Err(NodeError::BadRequest(
            "the provider's acceptance is not for this deal".into(),
        ));
    }
    Ok(())
}

fn deal_row(
    deal: &Cid,
    role: &str,
    peer: &PeerId,
    proposal: &Signed<DealProposal>,
    acceptance: Option<&Signed<DealAcceptance>>,
    state: DealState,
) -> Result<DealRow> {
    let encode = |bytes: std::result::Result<Vec<u8>, MarketError>| {
        bytes.map(hex::encode).map_err(market_error)
    };
    let p = &proposal.payload;
    Ok(DealRow {
        id: deal.to_string(),
        role: role.into(),
        peer: peer.to_string(),
        root_cid: p.root.to_string(),
        piece_root: hex::encode(p.piece_root),
        piece_size: p.piece_size,
        proposal: encode(proposal.to_bytes())?,
        acceptance: acceptance.map(|a| encode(a.to_bytes())).transpose()?,
        state,
        created_at: now_ms(),
        updated_at: now_ms(),
    })
}
