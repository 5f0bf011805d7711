//! A provider's ask: its prices and limits, signed, and valid until it expires.

use super::MarketError;
use crate::amount::Amount;
use crate::signed::{Signable, Signed};

/// Largest encoded signed ask accepted.
pub const MAX_ASK_SIZE: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    /// Storage price per GiB per 30-day month, base units.
    pub price_per_gib_month: Amount,
    /// Retrieval price per GiB served beyond the free allowance.
    pub retrieval_price_per_gib: Amount,
    pub min_duration_secs: u64,
    pub max_duration_secs: u64,
    pub max_piece_size: u64,
    /// Capacity free when the ask was made.
    pub free_capacity: u64,
    /// Shortest challenge period the provider agrees to answer.
    pub min_challenge_period_secs: u64,
    pub collateral: Amount,
    /// Unix ms after which the ask is void.
    pub expires_at: u64,
    /// Increases with every new ask from the same provider; the highest wins.
    pub seq: u64,
}

impl Signable for Ask {
    const DOMAIN: &'static str = "cairn/ask/1";
}

impl Ask {
    /// Refuses asks that contradict themselves.
    pub fn validate(&self) -> Result<(), MarketError> {
        if self.min_duration_secs > self.max_duration_secs {
            return Err(MarketError::Invalid(
                "min_duration_secs is over max_duration_secs".into(),
            ));
        }
        if self.max_piece_size == 0 || self.min_challenge_period_secs == 0 {
            return Err(MarketError::Invalid(
                "max_piece_size and min_challenge_period_secs must be positive".into(),
            ));
        }
        Ok(())
    }
}

impl Signed<Ask> {
    /// A signed ask that holds: signature valid, fields consistent, not expired at `now`.
    pub fn check(&self, now_ms: u64) -> Result<&Ask, MarketError> {
        let ask = self.verify()?;
        ask.validate()?;
        if now_ms > ask.expires_at {
            return Err(MarketError::Expired {
                expired_at: ask.expires_at,
                now: now_ms,
            });
        }
        Ok(ask)
    }
}
