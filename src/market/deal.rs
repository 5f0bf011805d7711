//! Deal proposals (client-signed) and acceptances (provider-signed). The deal id is the CID
//! of the signed proposal.

use cid::Cid;

use super::{MarketError, MONTH_SECS};
use crate::amount::Amount;
use crate::signed::{Signable, Signed};
use crate::units::GIB;

/// Largest encoded signed proposal accepted.
pub const MAX_PROPOSAL_SIZE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealProposal {
    #[serde(with = "serde_bytes")]
    pub client: [u8; 32],
    #[serde(with = "serde_bytes")]
    pub provider: [u8; 32],
    /// The DAG to store.
    pub root: Cid,
    #[serde(with = "serde_bytes")]
    pub piece_root: [u8; 32],
    pub piece_size: u64,
    /// Unix ms.
    pub start: u64,
    pub duration_secs: u64,
    pub price_per_gib_month: Amount,
    pub challenge_period_secs: u64,
    pub samples_per_challenge: u32,
    /// The payment channel that pays for the deal, once payments exist.
    pub payment_channel: Option<String>,
    /// Multiaddrs the provider may fetch the DAG from besides the client.
    pub origins: Vec<String>,
}

impl Signable for DealProposal {
    const DOMAIN: &'static str = "cairn/deal-proposal/1";
}

impl DealProposal {
    /// What the whole deal costs: price × GiB × months, rounded up to a whole base unit.
    pub fn total_price(&self) -> Result<Amount, MarketError> {
        let numerator = u128::from(self.price_per_gib_month.0)
            .checked_mul(u128::from(self.piece_size))
            .and_then(|n| n.checked_mul(u128::from(self.duration_secs)))
            .ok_or(MarketError::Overflow)?;
        let denominator = u128::from(GIB) * u128::from(MONTH_SECS);
        let total = numerator.div_ceil(denominator);
        u64::try_from(total)
            .map(Amount)
            .map_err(|_| MarketError::Overflow)
    }

    /// The price of one challenge period, what a passed proof earns.
    pub fn price_per_period(&self) -> Result<Amount, MarketError> {
        let periods = self
            .duration_secs
            .div_ceil(self.challenge_period_secs.max(1));
        Ok(Amount(self.total_price()?.0.div_ceil(periods.max(1))))
    }

    /// The challenge period `at_ms` (Unix ms) falls in, counted from the deal's start: what
    /// a client pays per, and what a provider counts its proofs in.
    pub fn period_at(&self, at_ms: i64) -> i64 {
        let period_ms = self.challenge_period_secs.max(1).saturating_mul(1000) as i64;
        (at_ms - self.start as i64).max(0) / period_ms
    }

    pub fn end(&self) -> u64 {
        self.start
            .saturating_add(self.duration_secs.saturating_mul(1000))
    }
}

impl Signed<DealProposal> {
    /// Verifies the client's signature and that the client signed as itself.
    pub fn check(&self) -> Result<&DealProposal, MarketError> {
        let proposal = self.verify()?;
        if proposal.client != self.signer {
            return Err(MarketError::WrongSigner {
                signer: hex::encode(self.signer),
                expected: hex::encode(proposal.client),
            });
        }
        Ok(proposal)
    }

    /// The deal id.
    pub fn deal_id(&self) -> Result<Cid, MarketError> {
        Ok(self.cid()?)
    }
}

/// The provider's signed word that it accepts a deal (and, later, that the transferred data
/// matched the piece: `activated`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealAcceptance {
    pub deal: Cid,
    pub activated: bool,
    /// Unix ms.
    pub at: u64,
}

impl Signable for DealAcceptance {
    const DOMAIN: &'static str = "cairn/deal-acceptance/1";
}

/// Largest encoded signed cancellation accepted.
pub const MAX_CANCEL_SIZE: usize = 1024;

/// The client's signed word that it ends a deal early (it stops challenging and paying); the
/// provider may then let the data go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealCancel {
    pub deal: Cid,
    pub reason: String,
    /// Unix ms.
    pub at: u64,
}

impl Signable for DealCancel {
    const DOMAIN: &'static str = "cairn/deal-cancel/1";
}

impl Signed<DealCancel> {
    /// Verifies the signature and that the deal's client signed it.
    pub fn check_for(&self, proposal: &DealProposal) -> Result<&DealCancel, MarketError> {
        let cancel = self.verify()?;
        if self.signer != proposal.client {
            return Err(MarketError::WrongSigner {
                signer: hex::encode(self.signer),
                expected: hex::encode(proposal.client),
            });
        }
        Ok(cancel)
    }
}
