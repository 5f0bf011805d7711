//! What happens to active deals as time passes: the client challenges its provider once per
//! challenge period (the outcome goes into the deal's proof record) and pays each passed
//! period, the provider cancels deals whose client stopped paying (`pay::enforce`), and both
//! sides expire a deal at its end, the provider unpinning data it kept only for that deal.
//! A passed period whose payment failed (the provider unreachable, say) is paid on a later
//! pass, until it is paid or the deal ends. State lives in the database, so a restarted node
//! picks up where it left off.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Deals;
use crate::db::DealRow;
use crate::market::state::DealState;
use crate::market::DealProposal;
use crate::node::Result;
use crate::proof::PieceCommitment;

impl Deals {
    /// One pass over the active deals.
    pub async fn tick_deals(&self) -> Result<()> {
        let now = self.parts.clock.now_ms();
        let check_payments = self.pay.payment_check_due();
        for role in ["client", "provider"] {
            for deal in self
                .parts
                .db
                .list_deals(role, Some(DealState::Active))
                .await?
            {
                let Some((_, signed)) = super::decode_row(&deal) else {
                    continue;
                };
                let proposal = signed.payload;
                if now.max(0) as u64 > proposal.end() {
                    self.expire(&deal, &proposal).await?;
                } else if role == "client" && self.challenge_due(&deal, &proposal, now).await? {
                    self.challenge(&deal, &proposal).await?;
                } else if role == "client" && check_payments {
                    self.pay_missed_periods(&deal, &proposal).await?;
                } else if role == "provider" && check_payments {
                    self.enforce_storage_payment(&deal, &proposal).await?;
                }
            }
        }
        Ok(())
    }

    /// Provider: cancels `deal` if its client is more than the allowed periods behind.
    async fn enforce_storage_payment(&self, deal: &DealRow, proposal: &DealProposal) -> Result<()> {
        if let Some(reason) = self.pay.unpaid(deal, proposal).await? {
            tracing::warn!(deal = %deal.id, %reason, "cancelling a deal its client does not pay");
            self.cancel_held_deal(deal, proposal, &reason).await?;
        }
        Ok(())
    }

    /// Client: pays the passed periods of `deal` that are not paid yet (a payment that
    /// failed when its challenge passed), at most [`MISSED_PER_PASS`] per pass.
    async fn pay_missed_periods(&self, deal: &DealRow, proposal: &DealProposal) -> Result<()> {
        if proposal.payment_channel.is_none() {
            return Ok(());
        }
        let db = &self.parts.db;
        let passed = db
            .challenges_for(&deal.piece_root)
            .await?
            .into_iter()
            .filter(|c| c.role == "verifier" && c.peer == deal.peer && c.outcome == "passed")
            .filter(|c| c.issued_at >= deal.created_at)
            .map(|c| c.answered_at.unwrap_or(c.issued_at));
        let paid: BTreeSet<i64> = db
            .storage_payments(&deal.id)
            .await?
            .iter()
            .map(|p| p.period)
            .collect();
        for period in missed_periods(passed, &paid, proposal) {
            tracing::info!(deal = %deal.id, period, "paying a passed period whose payment failed");
            if let Err(e) = self.pay.pay_storage_period(deal, proposal, period).await {
                tracing::warn!(deal = %deal.id, error = %e, "could not pay a storage period");
                break;
            }
        }
        Ok(())
    }

    async fn expire(&self, deal: &DealRow, proposal: &DealProposal) -> Result<()> {
        if !self
            .parts
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
            self.parts.db.list_pins().await?.into_iter().any(|p| {
                p.cid == proposal.root && p.name.as_deref() == Some(&format!("deal:{deal}"))
            });
        if pinned_for_this_deal {
            self.content.pin_rm(&proposal.root).await?;
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
            .parts
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
        let period = proposal.period_at(self.parts.clock.now_ms());
        if let Err(e) = self.pay.pay_storage_period(deal, proposal, period).await {
            tracing::warn!(deal = %deal.id, error = %e, "could not pay a storage period");
        }
        Ok(())
    }
}

/// Most missed periods one pass pays for a deal (the rest wait for the next pass).
const MISSED_PER_PASS: usize = 4;

/// The periods with a passed challenge (answered at `passed_at`, Unix ms) that have no
/// payment in `paid`, oldest first, at most [`MISSED_PER_PASS`].
fn missed_periods(
    passed_at: impl Iterator<Item = i64>,
    paid: &BTreeSet<i64>,
    proposal: &DealProposal,
) -> Vec<i64> {
    let periods: BTreeSet<i64> = passed_at.map(|at| proposal.period_at(at)).collect();
    periods
        .into_iter()
        .filter(|p| !paid.contains(p))
        .take(MISSED_PER_PASS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_periods_are_the_passed_ones_without_a_payment_oldest_first_and_bounded() {
        let proposal = DealProposal {
            client: [1; 32],
            provider: [2; 32],
            root: cid::Cid::try_from("bafkqaaa").unwrap(),
            piece_root: [3; 32],
            piece_size: 1024,
            start: 1_000,
            duration_secs: 3600,
            price_per_gib_month: crate::amount::Amount(10),
            challenge_period_secs: 10,
            samples_per_challenge: 4,
            payment_channel: Some("channel".into()),
            origins: vec![],
        };
        // Period length 10 s from a start at 1 000 ms.
        let passed = [
            1_500, 11_000, 12_000, 31_000, 41_000, 51_000, 61_000, 71_000,
        ];
        let paid = BTreeSet::from([1]);
        let missed = missed_periods(passed.into_iter(), &paid, &proposal);
        assert_eq!(missed, [0, 3, 4, 5]);
        assert!(missed_periods([11_000].into_iter(), &paid, &proposal).is_empty());
    }
}
