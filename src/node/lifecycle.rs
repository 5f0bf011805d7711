//! What happens to active deals as time passes: the client challenges its provider once per
//! challenge period (the outcome goes into the deal's proof record) and pays each passed
//! period, the provider cancels deals whose client stopped paying (`pay::enforce`), and both
//! sides expire a deal at its end, the provider unpinning data it kept only for that deal.
//! State lives in the database, so a restarted node picks up where it left off.

use std::sync::Arc;
use std::time::Duration;

use super::{Node, Result};
use crate::db::{now_ms, DealRow};
use crate::market::state::DealState;
use crate::market::DealProposal;
use crate::proof::PieceCommitment;

impl Node {
    /// One pass over the active deals.
    pub async fn tick_deals(self: &Arc<Self>) -> Result<()> {
        let now = now_ms();
        let check_payments = self.payment_check_due();
        for role in ["client", "provider"] {
            for deal in self.db.list_deals(role, Some(DealState::Active)).await? {
                let Some((_, signed)) = super::deals::decode_row(&deal) else {
                    continue;
                };
                let proposal = signed.payload;
                if now.max(0) as u64 > proposal.end() {
                    self.expire(&deal, &proposal).await?;
                } else if role == "client" && self.challenge_due(&deal, &proposal, now).await? {
                    self.challenge(&deal, &proposal).await?;
                } else if role == "provider" && check_payments {
                    self.enforce_storage_payment(&deal, &proposal).await?;
                }
            }
        }
        Ok(())
    }

    async fn expire(&self, deal: &DealRow, proposal: &DealProposal) -> Result<()> {
        if !self
            .db
            .transition_deal(
                &deal.id,
                DealState::Active,
                DealState::Expired,
                "the deal's term ended",
                None,
            )
            .await?
        {
            return Ok(());
        }
        if deal.role == "provider" {
            self.release_deal_data(&deal.id, proposal).await?;
        }
        Ok(())
    }

    /// Provider: unpins a deal's data if it was pinned for that deal alone.
    pub(super) async fn release_deal_data(
        &self,
        deal: &str,
        proposal: &DealProposal,
    ) -> Result<()> {
        let pinned_for_this_deal =
            self.db.list_pins().await?.into_iter().any(|p| {
                p.cid == proposal.root && p.name.as_deref() == Some(&format!("deal:{deal}"))
            });
        if pinned_for_this_deal {
            self.pin_rm(&proposal.root).await?;
        }
        Ok(())
    }

    async fn challenge_due(
        &self,
        deal: &DealRow,
        proposal: &DealProposal,
        now: i64,
    ) -> Result<bool> {
        let period_ms = (proposal.challenge_period_secs.max(1) * 1000) as i64;
        let last = self
            .db
            .challenges_for(&deal.piece_root)
            .await?
            .into_iter()
            .filter(|c| c.role == "verifier" && c.peer == deal.peer)
            .map(|c| c.issued_at)
            .max();
        Ok(last.is_none_or(|at| at + period_ms <= now))
    }

    async fn challenge(&self, deal: &DealRow, proposal: &DealProposal) -> Result<()> {
        let Ok(peer) = deal.peer.parse() else {
            return Ok(());
        };
        let commitment = PieceCommitment {
            root: proposal.piece_root,
            size: proposal.piece_size,
        };
        // Half a period to answer, between 1 and 30 seconds.
        let timeout = Duration::from_secs((proposal.challenge_period_secs / 2).clamp(1, 30));
        let report = self
            .audit(peer, commitment, proposal.samples_per_challenge, timeout)
            .await?;
        if !report.passed {
            tracing::warn!(deal = %deal.id, reason = ?report.reason, "a provider failed its challenge");
            return Ok(());
        }
        // Storage is paid per passed period; a failed or missed period is not paid.
        let period = proposal.period_at(now_ms());
        if let Err(e) = self.pay_storage_period(deal, proposal, period).await {
            tracing::warn!(deal = %deal.id, error = %e, "could not pay a storage period");
        }
        Ok(())
    }
}
