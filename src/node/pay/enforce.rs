//! Provider: storage is paid per proven period, so a client that stops paying loses its
//! deal. A period counts as proven when this node answered the client's challenge with a
//! proof; past [`UNPAID_PERIODS_ALLOWED`] proven periods without payment (the client pays
//! after checking each proof, so a little lag is normal), the deal is cancelled with the
//! reason and its data released.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::Payments;
use crate::db::{DealRow, ReceiptRow};
use crate::market::DealProposal;
use crate::node::Result;

/// Proven periods a client may be behind on before its deal is cancelled.
pub const UNPAID_PERIODS_ALLOWED: u64 = 3;
/// How often the provider's deals are checked for payment.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// What a deal's receipts added up to: the increments of receipts naming it.
fn paid_for(deal: &str, history: &[ReceiptRow]) -> u64 {
    let mut previous = 0;
    let mut paid = 0u64;
    for receipt in history {
        let increment = receipt.amount.saturating_sub(previous);
        previous = receipt.amount;
        if receipt.deal.as_deref() == Some(deal) {
            paid = paid.saturating_add(increment);
        }
    }
    paid
}

impl Payments {
    /// What a deal has been paid so far: for a client, what it paid; for a provider, what the
    /// receipts naming the deal add up to (its earnings).
    pub async fn deal_paid(&self, deal: &DealRow, proposal: &DealProposal) -> Result<u64> {
        if deal.role == "client" {
            return Ok(self.parts.db.storage_paid(&deal.id).await?);
        }
        let Some(channel) = proposal.payment_channel.as_deref() else {
            return Ok(0);
        };
        Ok(paid_for(&deal.id, &self.parts.db.receipts(channel).await?))
    }

    /// Whether the provider's payment check is due (at most once per [`CHECK_EVERY`]).
    pub(crate) fn payment_check_due(&self) -> bool {
        let mut last = self
            .state
            .enforced_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < CHECK_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Provider: why `deal` must be cancelled, if its client is more than the allowed
    /// periods behind on payment.
    pub(crate) async fn unpaid(
        &self,
        deal: &DealRow,
        proposal: &DealProposal,
    ) -> Result<Option<String>> {
        let per_period = proposal.price_per_period()?.0;
        if proposal.payment_channel.is_none() || per_period == 0 {
            return Ok(None);
        }
        let proven: HashSet<i64> = self
            .parts
            .db
            .challenges_for(&deal.piece_root)
            .await?
            .into_iter()
            .filter(|c| c.role == "prover" && c.peer == deal.peer && c.outcome == "answered")
            .filter(|c| c.issued_at >= deal.created_at)
            .map(|c| proposal.period_at(c.issued_at))
            .collect();
        let total = proposal.total_price()?.0;
        let owed = (proven.len() as u64).saturating_mul(per_period).min(total);
        let paid = self.deal_paid(deal, proposal).await?;
        let allowed = UNPAID_PERIODS_ALLOWED.saturating_mul(per_period);
        if owed <= paid.saturating_add(allowed) {
            return Ok(None);
        }
        Ok(Some(format!(
            "unpaid: {} periods proven are worth {owed}, the client paid {paid}",
            proven.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(seq: u64, amount: u64, deal: Option<&str>) -> ReceiptRow {
        ReceiptRow {
            channel: "c".into(),
            seq,
            amount,
            deal: deal.map(str::to_string),
            at: 0,
            signed: String::new(),
            stored_at: 0,
        }
    }

    #[test]
    fn a_deals_payments_are_the_increments_of_the_receipts_naming_it() {
        let history = [
            receipt(1, 100, Some("a")),
            receipt(2, 150, None),
            receipt(3, 400, Some("b")),
            receipt(4, 430, Some("a")),
        ];
        assert_eq!(paid_for("a", &history), 130);
        assert_eq!(paid_for("b", &history), 250);
        assert_eq!(paid_for("c", &history), 0);
    }
}
