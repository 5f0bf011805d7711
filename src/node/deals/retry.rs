//! A provider's transfer survives a client, an origin or itself restarting: a pull that
//! failed for a reason that may pass (a block no connected peer had in time, a peer's bad
//! bytes, the network) is tried again after a pause, doubling, before the deal fails. A
//! pull that can never succeed (the DAG does not match the proposal's piece, the store is
//! full) fails at once. The schedule is a plain type so its bounds are tested on their own.

use std::time::Duration;

use super::Deals;
use crate::content::ContentError;
use crate::market::deal::DealProposal;
use crate::node::{NodeError, Result};
use crate::signed::Signed;

/// When a failed pull is tried again: after `first`, doubling up to `longest`, `tries` pulls
/// in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub tries: u32,
    pub first: Duration,
    pub longest: Duration,
}

/// Six pulls over half a minute of pauses (1, 2, 4, 8, 16 s), besides each pull's own block
/// timeouts: long enough for a peer to restart, short enough that a client waiting on the
/// deal hears of a failure well within its activation wait.
pub const TRANSFER: Schedule = Schedule {
    tries: 6,
    first: Duration::from_secs(1),
    longest: Duration::from_secs(16),
};

impl Schedule {
    /// The pause after failed pull number `n` (1-based), or `None` when it was the last.
    pub fn pause_after(&self, n: u32) -> Option<Duration> {
        if n >= self.tries {
            return None;
        }
        let doubled = self
            .first
            .checked_mul(1u32 << (n - 1).min(16))
            .unwrap_or(self.longest);
        Some(doubled.min(self.longest))
    }
}

/// Whether a failed pull may succeed if tried again.
pub fn transient(e: &NodeError) -> bool {
    match e {
        NodeError::Net(_) | NodeError::Offline => true,
        NodeError::Content(c) => matches!(
            c,
            ContentError::NotFound(_) | ContentError::HashMismatch(_) | ContentError::Source(_)
        ),
        _ => false,
    }
}

impl Deals {
    /// Pulls and checks a deal's DAG, trying again on the [`TRANSFER`] schedule while the
    /// failure is [`transient`]. Stops early (with the last error) when the node stops.
    pub(super) async fn fetch_with_retries(
        &self,
        deal: &cid::Cid,
        proposal: &DealProposal,
    ) -> Result<Signed<crate::market::deal::DealAcceptance>> {
        let mut n = 0;
        loop {
            n += 1;
            let e = match self.fetch_and_check(deal, proposal).await {
                Ok(acceptance) => return Ok(acceptance),
                Err(e) => e,
            };
            let Some(pause) = TRANSFER.pause_after(n).filter(|_| transient(&e)) else {
                return Err(e);
            };
            tracing::info!(%deal, attempt = n, error = %e, "pull failed; trying again in {pause:?}");
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.parts.tasks.stopping() => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_longest_and_end_after_the_last_try() {
        let pauses: Vec<_> = (1..=6).map(|n| TRANSFER.pause_after(n)).collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(pauses, [secs(1), secs(2), secs(4), secs(8), secs(16), None]);
    }

    #[test]
    fn only_failures_that_may_pass_are_tried_again() {
        let cid = cid::Cid::try_from("bafkqaaa").unwrap();
        assert!(transient(&NodeError::Content(ContentError::NotFound(cid))));
        assert!(transient(&NodeError::Offline));
        let mismatch = NodeError::refuse(crate::node::Refusal::PieceMismatch, "piece mismatch");
        assert!(!transient(&mismatch));
        let invalid = NodeError::Content(ContentError::InvalidOption("x".into()));
        assert!(!transient(&invalid));
    }
}
