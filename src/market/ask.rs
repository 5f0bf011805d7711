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
    /// Where the provider is paid, when it settles on an EVM chain; absent for a provider
    /// that settles on its ledger (and then the encoding is exactly version 1's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<AskChain>,
}

/// The chain a provider is paid on: the chain id, the `CairnChannels` contract, and the
/// provider's EVM address, the payee of the channels clients open to it. Signed with the
/// rest of the ask by the provider's ed25519 key, so it binds that address to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskChain {
    pub chain_id: u64,
    #[serde(with = "serde_bytes")]
    pub contract: [u8; 20],
    #[serde(with = "serde_bytes")]
    pub payee: [u8; 20],
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
        Amount::recordable(self.price_per_gib_month.0, "price per GiB-month")?;
        Amount::recordable(self.retrieval_price_per_gib.0, "retrieval price per GiB")?;
        Amount::recordable(self.collateral.0, "collateral")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(price: u64) -> Ask {
        Ask {
            price_per_gib_month: Amount(price),
            retrieval_price_per_gib: Amount(0),
            min_duration_secs: 1,
            max_duration_secs: 10,
            max_piece_size: 1 << 20,
            free_capacity: 1 << 20,
            min_challenge_period_secs: 1,
            collateral: Amount(0),
            expires_at: 1_000,
            seq: 1,
            chain: None,
        }
    }

    #[test]
    fn a_signed_ask_priced_past_what_cairn_keeps_is_refused_by_its_reader() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        for price in [u64::MAX, Amount::MAX.0 + 1] {
            let signed = Signed::sign(ask(price), &key).unwrap();
            let refused = signed.check(0).unwrap_err();
            assert_eq!(
                refused,
                MarketError::AmountTooLarge {
                    what: "price per GiB-month",
                    value: price
                }
            );
            assert_eq!(refused.reason(), "amount_too_large");
        }
        let at_max = Signed::sign(ask(Amount::MAX.0), &key).unwrap();
        assert_eq!(at_max.check(0).unwrap().price_per_gib_month, Amount::MAX);
        assert!(Amount::recordable(0, "x").is_ok());
    }
}
