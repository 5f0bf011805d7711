//! The provider's acceptance policy: its ask, a client allow/deny list, and capacity that is
//! reserved when a deal is accepted and released when it ends or fails, never exceeded.

use std::collections::HashSet;

use super::{Ask, DealProposal, MarketError};
use crate::signed::Signed;

/// Bytes a provider offers and bytes promised to deals. Invariant: `reserved <= total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Capacity {
    pub total: u64,
    pub reserved: u64,
}

impl Capacity {
    pub fn free(&self) -> u64 {
        self.total.saturating_sub(self.reserved)
    }

    pub fn reserve(&mut self, bytes: u64) -> Result<(), MarketError> {
        let reserved = self
            .reserved
            .checked_add(bytes)
            .filter(|r| *r <= self.total);
        self.reserved = reserved.ok_or(MarketError::OverCapacity {
            needed: bytes,
            free: self.free(),
        })?;
        Ok(())
    }

    pub fn release(&mut self, bytes: u64) {
        self.reserved = self.reserved.saturating_sub(bytes);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub ask: Ask,
    /// Our own key: proposals for another provider are refused.
    pub provider: [u8; 32],
    /// If set, only these clients.
    pub allow: Option<HashSet<[u8; 32]>>,
    pub deny: HashSet<[u8; 32]>,
}

impl Policy {
    /// Decides a proposal against the ask, the lists and the free capacity at `now`. On
    /// success the caller reserves `piece_size` in `capacity` (see [`Policy::accept`]).
    pub fn check(
        &self,
        proposal: &Signed<DealProposal>,
        capacity: &Capacity,
        now_ms: u64,
    ) -> Result<(), MarketError> {
        let deal = proposal.check()?;
        let ask = &self.ask;
        if deal.provider != self.provider {
            return Err(MarketError::WrongSigner {
                signer: hex::encode(deal.provider),
                expected: hex::encode(self.provider),
            });
        }
        if now_ms > ask.expires_at {
            return Err(MarketError::Expired {
                expired_at: ask.expires_at,
                now: now_ms,
            });
        }
        if self.deny.contains(&deal.client)
            || self
                .allow
                .as_ref()
                .is_some_and(|a| !a.contains(&deal.client))
        {
            return Err(MarketError::ClientDenied);
        }
        if deal.price_per_gib_month < ask.price_per_gib_month {
            return Err(MarketError::PriceTooLow {
                offered: deal.price_per_gib_month.0,
                asked: ask.price_per_gib_month.0,
            });
        }
        if deal.piece_size > ask.max_piece_size {
            return Err(MarketError::PieceTooLarge {
                size: deal.piece_size,
                max: ask.max_piece_size,
            });
        }
        if !(ask.min_duration_secs..=ask.max_duration_secs).contains(&deal.duration_secs) {
            return Err(MarketError::DurationOutOfRange {
                secs: deal.duration_secs,
                min: ask.min_duration_secs,
                max: ask.max_duration_secs,
            });
        }
        if deal.challenge_period_secs < ask.min_challenge_period_secs {
            return Err(MarketError::PeriodTooShort {
                secs: deal.challenge_period_secs,
                min: ask.min_challenge_period_secs,
            });
        }
        deal.total_price()?;
        if deal.piece_size > capacity.free() {
            return Err(MarketError::OverCapacity {
                needed: deal.piece_size,
                free: capacity.free(),
            });
        }
        Ok(())
    }

    /// [`Policy::check`], then the capacity reservation, in one step.
    pub fn accept(
        &self,
        proposal: &Signed<DealProposal>,
        capacity: &mut Capacity,
        now_ms: u64,
    ) -> Result<(), MarketError> {
        self.check(proposal, capacity, now_ms)?;
        capacity.reserve(proposal.payload.piece_size)
    }
}
