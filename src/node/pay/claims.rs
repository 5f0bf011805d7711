//! The payee's claim loop on a chain-configured node: each pass reads the contract's
//! `CloseStarted` events since the last block seen, and for every escrowed channel this node
//! is paid on, cashes the highest receipt when the unclaimed amount passes
//! `[chain] claim_threshold`, when every deal the channel paid for has ended, or when the payer started a close (always before the window ends). Deals on a
//! channel whose payer started a close are then stopped with the reason recorded.
//!
//! Invariants: what was paid out is read from the chain when a channel is first seen (after a
//! restart too), and every claim checks the chain again before it sends, so a crash between
//! sending a claim and recording it neither pays twice nor loses the claim. A chain that
//! cannot be reached is warned about once per outage and retried on the next pass; nothing
//! else waits on it.

use std::collections::{HashMap, HashSet};

use alloy::primitives::U256;

use super::chain::binding_of;
use super::Payments;
use crate::chain::{ChainError, ChainHandle};
use crate::market::DealState;
use crate::node::{NodeError, Result};

/// What the loop remembers between passes (lost on restart, rebuilt from the chain).
#[derive(Debug, Default)]
pub(super) struct ClaimWatch {
    /// The last block whose `CloseStarted` events were read.
    scanned: Option<u64>,
    /// Channels (contract ids) whose payer started a close, and when the window ends.
    closing: HashMap<U256, u64>,
    /// Per channel (CID text), what the contract has paid out, as last read or claimed.
    paid_out: HashMap<String, u64>,
    /// Deals already stopped because their channel is closing.
    stopped: HashSet<String>,
    /// Since when (unix ms) the chain has not answered, while it does not.
    down_since: Option<u64>,
    /// Claims the loop sent since start (for the logs and the benchmark).
    pub(super) claims: u64,
}

/// How the reason of a deal stopped because its payer is closing the channel begins.
pub(crate) const STOPPED_BY_CLOSE: &str = "channel_closing";

/// The provider deals one channel pays for.
#[derive(Debug, Default)]
struct ChannelUses {
    unfinished: Vec<(String, DealState)>,
    ended: usize,
}

/// Bounds what the watch keeps: channels and deals past this are forgotten and re-read.
const WATCH_CAP: usize = 10_000;

impl Payments {
    /// One pass of the claim loop (a no-op without `[chain]`). An unreachable chain is a
    /// warning, not an error: claims wait for the next pass.
    pub async fn claim_pass(&self) -> Result<()> {
        let Some(chain) = self.parts.chain.clone() else {
            return Ok(());
        };
        let mut watch = self.state.claims.lock().await;
        match self.claim_pass_on(&chain, &mut watch).await {
            Ok(()) => {
                if let Some(since) = watch.down_since.take() {
                    let down_ms = self.parts.clock.now_u64().saturating_sub(since);
                    tracing::info!(down_ms, "the chain answers again; claims resume");
                }
                Ok(())
            }
            Err(NodeError::Chain(e @ ChainError::Unreachable { .. })) => {
                if watch.down_since.is_none() {
                    watch.down_since = Some(self.parts.clock.now_u64());
                    tracing::warn!(error = %e, "the chain is unreachable: claims are delayed until it answers; deals and proofs go on");
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn claim_pass_on(&self, chain: &ChainHandle, watch: &mut ClaimWatch) -> Result<()> {
        let channels = chain.channels().await?;
        let (head, _) = channels.client().head().await?;
        let from = watch.scanned.map_or(0, |b| b.saturating_add(1));
        if from <= head {
            for started in channels.closes_started(from).await? {
                if watch.closing.len() < WATCH_CAP {
                    watch.closing.insert(started.channel_id, started.closes_at);
                }
            }
            watch.scanned = Some(head);
        }
        let unfinished = self.unfinished_deals_per_channel().await?;
        let threshold = chain.config().claim_threshold;
        for row in self.parts.db.list_channels(Some("payee"), None).await? {
            if row.state != "open" {
                continue;
            }
            let Some(binding) = binding_of(&row)? else {
                continue;
            };
            let paid_out = match watch.paid_out.get(&row.id) {
                Some(&paid_out) => paid_out,
                None => {
                    let state = channels.channel(binding.channel_id()).await?;
                    if let Some(closes_at) = state.closes_at {
                        watch.closing.insert(binding.channel_id(), closes_at);
                    }
                    let paid_out = u64::try_from(state.paid_out).unwrap_or(u64::MAX);
                    if watch.paid_out.len() >= WATCH_CAP {
                        watch.paid_out.clear();
                    }
                    watch.paid_out.insert(row.id.clone(), paid_out);
                    paid_out
                }
            };
            let closing = watch.closing.get(&binding.channel_id()).copied();
            let (deals, ended) = match unfinished.get(&row.id) {
                Some(uses) => (uses.unfinished.as_slice(), uses.ended),
                None => (&[][..], 0),
            };
            // Every deal the channel paid for has ended: nothing more will come for a while.
            let deals_ended = ended > 0 && deals.is_empty();
            let unclaimed = row.paid.saturating_sub(paid_out);
            if unclaimed > 0 && (unclaimed >= threshold || closing.is_some() || deals_ended) {
                let outcome = self.claim(&row.id).await?;
                watch.claims += u64::from(outcome.tx.is_some());
                watch.paid_out.insert(row.id.clone(), outcome.paid_out);
            }
            if let Some(closes_at) = closing {
                for (deal, state) in deals {
                    if watch.stopped.contains(deal) {
                        continue;
                    }
                    let reason = format!(
                        "{STOPPED_BY_CLOSE}: the payer started closing payment channel {} on chain (withdraw from {closes_at}); its receipts were claimed, the deal is no longer served",
                        row.id
                    );
                    self.parts
                        .db
                        .transition_deal(deal, *state, DealState::Failed, &reason, None)
                        .await?;
                    tracing::warn!(%deal, channel = %row.id, "stopped serving a deal whose payer is closing its channel");
                    if watch.stopped.len() >= WATCH_CAP {
                        watch.stopped.clear();
                    }
                    watch.stopped.insert(deal.clone());
                }
            }
        }
        Ok(())
    }

    /// Provider deals by the payment channel they are paid on: those not final, and how many
    /// ended.
    async fn unfinished_deals_per_channel(&self) -> Result<HashMap<String, ChannelUses>> {
        let mut per_channel: HashMap<String, ChannelUses> = HashMap::new();
        for deal in self.parts.db.list_deals("provider", None).await? {
            let Some(proposal) = crate::node::decode_proposal(&deal) else {
                continue;
            };
            let Some(channel) = proposal.payload.payment_channel.clone() else {
                continue;
            };
            let uses = per_channel.entry(channel).or_default();
            if deal.state.is_final() {
                uses.ended += 1;
            } else {
                uses.unfinished.push((deal.id.clone(), deal.state));
            }
        }
        Ok(per_channel)
    }

    /// Provider: whether `peer`'s deals on `piece_root` were all stopped because it started
    /// closing the channel that paid for them (then its challenges are not answered).
    pub(crate) async fn stopped_by_close(
        &self,
        peer: &libp2p::PeerId,
        piece_root: &[u8; 32],
    ) -> Result<bool> {
        if self.parts.chain.is_none() {
            return Ok(false);
        }
        let (peer, root) = (peer.to_string(), hex::encode(piece_root));
        let mut stopped = false;
        for deal in self.parts.db.list_deals("provider", None).await? {
            if deal.peer != peer || deal.piece_root != root {
                continue;
            }
            if !deal.state.is_final() {
                return Ok(false);
            }
            if deal.state == DealState::Failed {
                let events = self.parts.db.deal_events(&deal.id).await?;
                stopped |= events
                    .last()
                    .and_then(|e| e.reason.as_deref())
                    .is_some_and(|r| r.starts_with(STOPPED_BY_CLOSE));
            }
        }
        Ok(stopped)
    }

    /// Claims sent by the loop since start.
    pub async fn claims_sent(&self) -> u64 {
        self.state.claims.lock().await.claims
    }
}
