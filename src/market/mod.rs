//! The storage market's domain rules: asks, deal proposals and acceptances, the provider's
//! acceptance policy with capacity accounting, and the deal state machine.
//!
//! Plain data with their rules as methods, testable without a network or a database. Every
//! exchanged object is signed ([`crate::signed`]) under its own domain tag and encoded as
//! canonical DAG-CBOR, so it has one byte form and one CID (`contracts/market.md`). Amounts
//! are [`crate::amount::Amount`]s: integers in base units with checked arithmetic.
//!
//! The protocol lives in `net::market`, the flows (accept, transfer, activate, challenge,
//! expire) in `node::deals` and `node::lifecycle`. A paid deal names the payment channel
//! (`crate::pay`) its client opened to the provider; the provider refuses it (`unfunded`)
//! otherwise.

pub mod ask;
pub mod deal;
pub mod policy;
pub mod state;
pub mod wire;

pub use ask::{Ask, AskChain};
pub use deal::{DealAcceptance, DealCancel, DealProposal};
pub use policy::{Capacity, Policy};
pub use state::{DealEvent, DealState};

use crate::amount::AmountOverflow;
use crate::signed::SignedError;

/// The DHT key providers announce themselves under: the raw CID of `cairn/providers/1`.
pub fn providers_key() -> cid::Cid {
    *crate::content::Block::encode(
        crate::content::RAW,
        crate::content::HashAlg::Sha2_256,
        &b"cairn/providers/1"[..],
    )
    .cid()
}
/// The price unit's month: 30 days.
pub const MONTH_SECS: u64 = 30 * 24 * 3600;

/// Why a market object is refused: each a reason a provider or client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("signed by {signer}, expected {expected}")]
    WrongSigner { signer: String, expected: String },
    #[error("expired at {expired_at} ms (now {now} ms)")]
    Expired { expired_at: u64, now: u64 },
    #[error("offered {offered} per GiB-month, the ask is {asked}")]
    PriceTooLow { offered: u64, asked: u64 },
    #[error("piece of {size} bytes is over the {max}-byte limit")]
    PieceTooLarge { size: u64, max: u64 },
    #[error("not enough capacity: {needed} bytes needed, {free} free")]
    OverCapacity { needed: u64, free: u64 },
    #[error("duration {secs} s is outside {min}..={max} s")]
    DurationOutOfRange { secs: u64, min: u64, max: u64 },
    #[error("challenge period {secs} s is shorter than the provider's {min} s")]
    PeriodTooShort { secs: u64, min: u64 },
    #[error("client not accepted by this provider")]
    ClientDenied,
    #[error("amount overflow")]
    Overflow,
    #[error("{what} of {value} is over the largest amount Cairn keeps, {}", crate::amount::Amount::MAX.0)]
    AmountTooLarge { what: &'static str, value: u64 },
    #[error("invalid encoding: {0}")]
    Encoding(String),
    #[error("{size} bytes is over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("invalid field: {0}")]
    Invalid(String),
}

/// The envelope's errors keep their reason.
impl From<SignedError> for MarketError {
    fn from(e: SignedError) -> Self {
        match e {
            SignedError::BadSignature => MarketError::BadSignature,
            SignedError::Encoding(detail) => MarketError::Encoding(detail),
            SignedError::TooLarge { size, max } => MarketError::TooLarge { size, max },
        }
    }
}

impl From<AmountOverflow> for MarketError {
    fn from(AmountOverflow: AmountOverflow) -> Self {
        MarketError::Overflow
    }
}

impl MarketError {
    /// Stable machine-readable reason (protocol rejections, HTTP errors, vectors).
    pub fn reason(&self) -> &'static str {
        match self {
            MarketError::BadSignature => "bad_signature",
            MarketError::WrongSigner { .. } => "wrong_signer",
            MarketError::Expired { .. } => "expired",
            MarketError::PriceTooLow { .. } => "price_too_low",
            MarketError::PieceTooLarge { .. } => "piece_too_large",
            MarketError::OverCapacity { .. } => "over_capacity",
            MarketError::DurationOutOfRange { .. } => "duration_out_of_range",
            MarketError::PeriodTooShort { .. } => "period_too_short",
            MarketError::ClientDenied => "client_denied",
            MarketError::Overflow => "overflow",
            MarketError::AmountTooLarge { .. } => "amount_too_large",
            MarketError::Encoding(_) => "malformed",
            MarketError::TooLarge { .. } => "too_large",
            MarketError::Invalid(_) => "invalid",
        }
    }
}

#[cfg(test)]
mod vectors;

/// An amount past what the database keeps, refused as the market's own reason.
impl From<crate::amount::AmountTooLarge> for MarketError {
    fn from(e: crate::amount::AmountTooLarge) -> Self {
        MarketError::AmountTooLarge {
            what: e.what,
            value: e.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_and_amount_errors_keep_their_reason() {
        let cases = [
            (SignedError::BadSignature, "bad_signature"),
            (SignedError::Encoding("x".into()), "malformed"),
            (SignedError::TooLarge { size: 2, max: 1 }, "too_large"),
        ];
        for (e, reason) in cases {
            assert_eq!(MarketError::from(e).reason(), reason);
        }
        assert_eq!(
            MarketError::from(SignedError::TooLarge { size: 2, max: 1 }),
            MarketError::TooLarge { size: 2, max: 1 }
        );
        assert_eq!(MarketError::from(AmountOverflow), MarketError::Overflow);
    }
}
