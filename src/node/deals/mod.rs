//! The deals service: storage deals, both sides, their lifecycle, cancellation, funding and
//! the audits that check them. It answers `/cairn/market/1` and `/cairn/proof/1`.
//!
//! Provider: a proposal is checked against the policy made from this node's ask terms and the
//! capacity its deals hold; if accepted, the deal is recorded (`accepted`), the DAG is pulled
//! over Bitswap from the client (`transferring`), its piece is recomputed, and only if it
//! matches the proposal's `piece_root` and size does the provider sign activation (`active`);
//! otherwise the deal fails with the reason and its data is unpinned.
//!
//! Client: `make_deal` commits the piece, fetches and verifies the provider's ask, signs a
//! proposal at the ask's price, and follows the deal until the provider activates it.
//!
//! Invariants: capacity is summed from the deals' states, and acceptance is serialized by
//! `deal_lock`, so two proposals cannot both take the last free bytes; every transfer runs as
//! a task of the node's task set, so none outlives `Daemon::stop`; a peer is told a rejection's
//! reason, never this node's internals ([`rejected`]).

mod cancel;
mod funding;
mod lifecycle;
mod prover;
mod retry;

pub use prover::AuditReport;

use std::sync::Arc;
use std::time::Duration;

use cid::Cid;
use futures::future::BoxFuture;
use libp2p::PeerId;

use super::content::Content;
use super::parts::Parts;
use super::pay::Payments;
use super::provider::Provider;
use super::{NodeError, Refusal, Result};
use crate::db::DealRow;
use crate::market::state::DealState;
use crate::market::wire::{MarketRequest, MarketResponse, MAX_WATCH_MS};
use crate::market::{Capacity, DealAcceptance, DealProposal, MarketError, Policy};
use crate::net::market::Market;
use crate::signed::{Signed, SignedError};

/// How long a market request may take.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client waits before asking again when its provider did not answer a watch.
const RETRY_EVERY: Duration = Duration::from_secs(1);

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
    /// The payment channel that pays for the deal; chosen (or opened) when absent.
    #[serde(default)]
    pub channel: Option<String>,
}

fn default_samples() -> u32 {
    20
}

fn default_wait() -> u64 {
    300
}

/// The `/cairn/market/1` rejection for an error: the one place a market answer is made from
/// a node error.
pub(super) fn rejected(e: &NodeError) -> MarketResponse {
    let told = e.rejection();
    MarketResponse::rejected(&told.reason, told.detail)
}

/// A market answer other than the one asked for: the peer's typed rejection, or a protocol
/// error naming what it sent instead.
fn unwanted(peer: PeerId, answer: MarketResponse, to: &str) -> NodeError {
    match answer {
        MarketResponse::Rejected { reason, detail } => NodeError::Refused {
            peer,
            reason,
            detail,
        },
        other => NodeError::Protocol {
            peer,
            what: format!("{other:?} to {to}"),
        },
    }
}

fn pin_name(deal: &Cid) -> String {
    format!("deal:{deal}")
}

/// Storage deals, both sides. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Deals {
    parts: Parts,
    content: Content,
    pay: Payments,
    provider: Provider,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Serializes deal acceptance, so two proposals cannot both take the last free bytes.
    deal_lock: tokio::sync::Mutex<()>,
    /// Every deal state change this node records; followers and long-polls wait on it.
    changes: tokio::sync::broadcast::Sender<Cid>,
}

/// Deal state changes buffered for slow listeners; one that lags re-reads the database.
const CHANGES: usize = 256;

impl Deals {
    pub fn new(parts: Parts, content: Content, pay: Payments, provider: Provider) -> Self {
        Deals {
            parts,
            content,
            pay,
            provider,
            inner: Arc::new(Inner {
                deal_lock: Default::default(),
                changes: tokio::sync::broadcast::channel(CHANGES).0,
            }),
        }
    }

    fn public_key(&self) -> [u8; 32] {
        self.parts.signer.public_key()
    }

    /// Provider: decide a proposal; on acceptance, start the transfer in the background.
    pub async fn receive_proposal(
        &self,
        peer: PeerId,
        proposal: Signed<DealProposal>,
    ) -> MarketResponse {
        match self.accept_proposal(peer, &proposal).await {
            Ok((deal, acceptance)) => {
                let deals = self.clone();
                self.parts
                    .tasks
                    .spawn(async move { deals.transfer(deal, proposal).await });
                MarketResponse::Accepted(acceptance)
            }
            Err(e) => rejected(&e),
        }
    }

    async fn accept_proposal(
        &self,
        peer: PeerId,
        proposal: &Signed<DealProposal>,
    ) -> Result<(Cid, Signed<DealAcceptance>)> {
        let signed_ask = self
            .provider
            .signed_ask()
            .await?
            .ok_or_else(|| NodeError::refuse(Refusal::NoAsk, "this node offers no storage"))?;
        let terms = self
            .provider
            .ask_terms()
            .await?
            .ok_or_else(|| NodeError::refuse(Refusal::NoAsk, "this node offers no storage"))?;
        let (allow, deny) = terms.client_lists()?;
        let policy = Policy {
            ask: signed_ask.payload,
            provider: self.public_key(),
            allow,
            deny,
        };
        let capacity = Capacity {
            total: terms.capacity,
            reserved: self.parts.db.reserved_capacity().await?,
        };
        // The reservation is the deal row itself (capacity is summed from deal states), so a
        // check against the recorded total and the insert below are the whole accounting.
        let _guard = self.inner.deal_lock.lock().await;
        let capacity = Capacity {
            reserved: self.parts.db.reserved_capacity().await?,
            ..capacity
        };
        policy.check(proposal, &capacity, self.parts.clock.now_u64())?;
        self.check_funding(&proposal.payload).await?;
        let deal = proposal.deal_id()?;
        if self.parts.db.get_deal(&deal.to_string()).await?.is_some() {
            return Err(NodeError::refuse(
                Refusal::Duplicate,
                "this deal was already proposed",
            ));
        }
        let acceptance = self.parts.signer.sign(DealAcceptance {
            deal,
            activated: false,
            at: self.parts.clock.now_u64(),
        })?;
        let row = deal_row(
            &deal,
            "provider",
            &peer,
            proposal,
            Some(&acceptance),
            DealState::Accepted,
            &self.parts.clock,
        )?;
        self.parts
            .db
            .insert_deal(&row, "accepted: proposal within the ask and capacity")
            .await?;
        self.changed(deal);
        Ok((deal, acceptance))
    }

    /// Provider: pull the DAG, check its piece, activate or fail.
    async fn transfer(self, deal: Cid, proposal: Signed<DealProposal>) {
        let id = deal.to_string();
        let moved = self
            .parts
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
        self.changed(deal);
        self.finish_transfer(deal, proposal).await;
    }

    /// The rest of a transfer: from `transferring` to `active` or `failed`.
    async fn finish_transfer(self, deal: Cid, proposal: Signed<DealProposal>) {
        let id = deal.to_string();
        let (to, reason, acceptance) = match self.fetch_with_retries(&deal, &proposal.payload).await
        {
            Ok(acceptance) => (
                DealState::Active,
                "piece matches: activated".to_string(),
                Some(acceptance),
            ),
            Err(e) => {
                let _ = self.content.pin_rm(&proposal.payload.root).await;
                // The reason is told to the client: only what it can act on.
                let told = e.rejection();
                tracing::warn!(deal = %id, error = %e, "transfer failed");
                (
                    DealState::Failed,
                    format!("{}: {}", told.reason, told.detail),
                    None,
                )
            }
        };
        let hex = acceptance
            .as_ref()
            .and_then(|a| a.to_bytes().ok())
            .map(hex::encode);
        if let Err(e) = self
            .parts
            .db
            .transition_deal(&id, DealState::Transferring, to, &reason, hex.as_deref())
            .await
        {
            tracing::warn!(deal = %id, error = %e, "could not record the end of a transfer");
        }
        self.changed(deal);
    }

    async fn fetch_and_check(
        &self,
        deal: &Cid,
        proposal: &DealProposal,
    ) -> Result<Signed<DealAcceptance>> {
        // The client, or the origins it named, may not be connected (after a restart, say).
        if let Some(net) = self.parts.net.running() {
            // Every origin: the blocks may be spread over them, and a dial to one that is up
            // costs little.
            for addr in proposal
                .origins
                .iter()
                .filter_map(|a| a.parse::<libp2p::Multiaddr>().ok())
            {
                if let Err(e) = net.dial(addr.clone()).await {
                    tracing::debug!(deal = %deal, %addr, error = %e, "origin not reachable");
                }
            }
        }
        self.content
            .pin_add(&proposal.root, Some(&pin_name(deal)))
            .await?;
        let piece = self.content.piece_commit(&proposal.root).await?;
        if piece.root != proposal.piece_root || piece.size != proposal.piece_size {
            return Err(NodeError::refuse(Refusal::PieceMismatch, format!(
                "piece mismatch: the transferred DAG has piece {} ({} bytes), the proposal says {} ({} bytes)",
                hex::encode(piece.root),
                piece.size,
                hex::encode(proposal.piece_root),
                proposal.piece_size
            )));
        }
        self.parts.signer.sign(DealAcceptance {
            deal: *deal,
            activated: true,
            at: self.parts.clock.now_u64(),
        })
    }

    /// Provider: where a deal stands.
    pub async fn deal_status(&self, deal: &Cid) -> MarketResponse {
        let row = match self.parts.db.get_deal(&deal.to_string()).await {
            Ok(Some(row)) if row.role == "provider" => row,
            Ok(_) => {
                return MarketResponse::rejected("unknown_deal", format!("no deal {deal} here"))
            }
            Err(e) => return rejected(&e.into()),
        };
        let events = self.parts.db.deal_events(&row.id).await.unwrap_or_default();
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
    pub async fn make_deal(&self, request: &DealRequest) -> Result<DealRow> {
        if let Some(max) = request.max_price_per_gib_month {
            crate::amount::Amount::recordable(max, "max price per GiB-month")?;
        }
        let net = self.parts.net.get()?;
        let root = crate::content::parse_cid(&request.cid)?;
        let peer = match request.provider.parse::<PeerId>() {
            Ok(peer) => peer,
            Err(_) => {
                let addr = request.provider.parse().map_err(|_| {
                    NodeError::invalid(format!(
                        "{:?} is neither a peer id nor a multiaddr",
                        request.provider
                    ))
                })?;
                net.dial(addr).await?
            }
        };
        let piece = self.content.piece_commit(&root).await?;
        let ask = match net
            .market(peer, &MarketRequest::GetAsk, REQUEST_TIMEOUT)
            .await?
        {
            MarketResponse::Ask(ask) => ask,
            other => return Err(unwanted(peer, other, "an ask request")),
        };
        let terms = ask.check(self.parts.clock.now_u64())?.clone();
        if terms.price_per_gib_month.0 > 0 {
            // Paid deals settle where both settle, or not at all (`wrong_chain`).
            self.pay.check_ask_chain(&terms).await?;
        }
        // The request's cap, else the node's default: a client never takes an ask it did not
        // agree to, whatever the provider asks.
        let (max, whose) = match request.max_price_per_gib_month {
            Some(max) => (max, "the most you accept"),
            None => (
                self.parts.config.pay.max_price_per_gib_month,
                "the default cap ([pay] max_price_per_gib_month; pass a max price to go higher)",
            ),
        };
        if terms.price_per_gib_month.0 > max {
            return Err(NodeError::refuse(
                Refusal::PriceTooHigh,
                format!(
                    "the provider asks {} per GiB-month, {whose} is {max}",
                    terms.price_per_gib_month.0
                ),
            ));
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
            start: self.parts.clock.now_u64(),
            duration_secs: request.duration_secs,
            price_per_gib_month: terms.price_per_gib_month,
            challenge_period_secs: request.challenge_period_secs,
            samples_per_challenge: request.samples,
            payment_channel: None,
            origins,
        };
        // Held until the deal is recorded, so two deals cannot both count the same deposit.
        // What funding would commit, refused before anything is if Cairn cannot keep it.
        crate::amount::Amount::recordable(payload.total_price()?.0, "the deal's total price")?;
        let funding = self.pay.funding_lock().await;
        payload.payment_channel = self
            .fund_deal(peer, &payload, request.channel.as_deref())
            .await?;
        let proposal = self.parts.signer.sign(payload)?;
        let deal = proposal.deal_id()?;
        // The provider pulls this deal's DAG from us: never charge it for that.
        self.pay.meter().exempt(peer);
        // The data must stay while the provider pulls it.
        self.content.pin_add(&root, None).await?;
        let acceptance = match net
            .market(
                peer,
                &MarketRequest::Propose(Box::new(proposal.clone())),
                REQUEST_TIMEOUT,
            )
            .await?
        {
            MarketResponse::Accepted(acceptance) => acceptance,
            other => return Err(unwanted(peer, other, "a proposal")),
        };
        check_acceptance(&acceptance, &ask.signer, &deal, false)?;
        let row = deal_row(
            &deal,
            "client",
            &peer,
            &proposal,
            Some(&acceptance),
            DealState::Accepted,
            &self.parts.clock,
        )?;
        let total = proposal.payload.total_price()?.0;
        let channel = proposal.payload.payment_channel.as_deref();
        self.parts
            .db
            .insert_funded_deal(&row, "accepted by the provider", channel, total)
            .await?;
        self.changed(deal);
        drop(funding);
        self.follow(
            &deal,
            peer,
            &ask.signer,
            Duration::from_secs(request.wait_secs),
        )
        .await?;
        self.parts
            .db
            .get_deal(&deal.to_string())
            .await?
            .ok_or_else(|| NodeError::internal("deal vanished"))
    }

    /// Client: polls the provider until the deal is active or has failed, or `wait` passes.
    async fn follow(
        &self,
        deal: &Cid,
        peer: PeerId,
        provider_key: &[u8; 32],
        wait: Duration,
    ) -> Result<()> {
        let net = self.parts.net.get()?;
        let id = deal.to_string();
        let deadline = tokio::time::Instant::now() + wait;
        // What we last heard; each watch is answered as soon as the provider's state differs.
        let mut known = DealState::Accepted;
        while tokio::time::Instant::now() < deadline {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let watch = MarketRequest::Watch {
                deal: *deal,
                known,
                wait_ms: left.as_millis().min(u128::from(MAX_WATCH_MS)) as u64,
            };
            let answer = net
                .market(
                    peer,
                    &watch,
                    REQUEST_TIMEOUT + Duration::from_millis(MAX_WATCH_MS),
                )
                .await;
            let Ok(MarketResponse::Status {
                state,
                reason,
                acceptance,
            }) = answer
            else {
                // Unreachable for now, or an answer we cannot use: wait a little and ask again.
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_EVERY) => continue,
                    _ = self.parts.tasks.stopping() => return Ok(()),
                }
            };
            known = state;
            match state {
                DealState::Active => {
                    let acceptance = acceptance.ok_or_else(|| NodeError::Protocol {
                        peer,
                        what: "active without an activation".into(),
                    })?;
                    check_acceptance(&acceptance, provider_key, deal, true)?;
                    let hex = acceptance.to_bytes().map(hex::encode).ok();
                    self.parts
                        .db
                        .transition_deal(
                            &id,
                            DealState::Accepted,
                            DealState::Active,
                            "activated by the provider",
                            hex.as_deref(),
                        )
                        .await?;
                    self.changed(*deal);
                    return Ok(());
                }
                DealState::Failed | DealState::Cancelled | DealState::Expired => {
                    let why = reason.unwrap_or_else(|| "no reason given".into());
                    self.parts
                        .db
                        .transition_deal(
                            &id,
                            DealState::Accepted,
                            DealState::Failed,
                            &format!("provider: {why}"),
                            None,
                        )
                        .await?;
                    self.changed(*deal);
                    return Ok(());
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Deals {
    /// After a restart, picks every unfinished deal up where it stopped: a provider re-pulls
    /// deals that were accepted or transferring; a client goes back to waiting for
    /// activation. Capacity needs no repair: it is summed from the deals' states.
    pub async fn resume_deals(&self) -> Result<()> {
        for deal in self.parts.db.list_deals("provider", None).await? {
            let Some((id, proposal)) = decode_row(&deal) else {
                continue;
            };
            let deals = self.clone();
            match deal.state {
                DealState::Accepted => self.parts.tasks.spawn(deals.transfer(id, proposal)),
                DealState::Transferring => {
                    self.parts.tasks.spawn(deals.finish_transfer(id, proposal))
                }
                _ => {}
            }
        }
        for deal in self
            .parts
            .db
            .list_deals("client", Some(DealState::Accepted))
            .await?
        {
            let (Some((id, proposal)), Ok(peer)) = (decode_row(&deal), deal.peer.parse::<PeerId>())
            else {
                continue;
            };
            let deals = self.clone();
            self.parts.tasks.spawn(async move {
                if let Err(e) = deals
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
    let payload = acceptance.verify()?;
    if &acceptance.signer != provider || payload.deal != *deal || payload.activated != activated {
        return Err(NodeError::Market(MarketError::Invalid(
            "the provider's acceptance is not for this deal".into(),
        )));
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
    clock: &crate::clock::Clock,
) -> Result<DealRow> {
    let encode = |bytes: std::result::Result<Vec<u8>, SignedError>| {
        bytes.map(hex::encode).map_err(NodeError::from)
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
        created_at: clock.now_ms(),
        updated_at: clock.now_ms(),
    })
}

impl Deals {
    /// Records that `deal` changed state, waking whoever follows it.
    fn changed(&self, deal: Cid) {
        // No listener is not an error: nobody is waiting.
        let _ = self.inner.changes.send(deal);
    }

    /// Provider: the deal's status once it differs from `known`, or after `wait` (capped at
    /// [`MAX_WATCH_MS`](crate::market::wire::MAX_WATCH_MS)).
    pub async fn watch_status(
        &self,
        deal: &Cid,
        known: DealState,
        wait: Duration,
    ) -> MarketResponse {
        let wait = wait.min(Duration::from_millis(crate::market::wire::MAX_WATCH_MS));
        let mut changes = self.inner.changes.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let status = self.deal_status(deal).await;
            let moved = !matches!(&status, MarketResponse::Status { state, .. } if *state == known);
            if moved {
                return status;
            }
            let woke = tokio::select! {
                woke = changes.recv() => woke,
                _ = tokio::time::sleep_until(deadline) => return status,
                _ = self.parts.tasks.stopping() => return status,
            };
            match woke {
                Ok(changed) if changed != *deal => continue,
                // This deal moved, or we missed some changes: look again.
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return status,
            }
        }
    }
}

/// Answers `/cairn/market/1`: asks from the provider service, proposals, status and
/// cancellations from this one.
impl Market for Deals {
    fn respond(&self, peer: PeerId, request: MarketRequest) -> BoxFuture<'_, MarketResponse> {
        Box::pin(async move {
            match request {
                MarketRequest::GetAsk => match self.provider.signed_ask().await {
                    Ok(Some(ask)) => MarketResponse::Ask(ask),
                    Ok(None) => MarketResponse::rejected("no_ask", "this node offers no storage"),
                    Err(e) => rejected(&e),
                },
                MarketRequest::Propose(proposal) => self.receive_proposal(peer, *proposal).await,
                MarketRequest::Status(deal) => self.deal_status(&deal).await,
                MarketRequest::Watch {
                    deal,
                    known,
                    wait_ms,
                } => {
                    self.watch_status(&deal, known, Duration::from_millis(wait_ms))
                        .await
                }
                MarketRequest::Cancel(cancel) => self.receive_cancel(*cancel).await,
            }
        })
    }
}
