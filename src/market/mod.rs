//! The storage market's domain rules: asks, deal proposals and acceptances, the provider's
//! acceptance policy with capacity accounting, and the deal state machine.
//!
//! Plain data with their rules as methods, testable without a network or a database. Every
//! exchanged object is signed ([`signed`]) under its own domain tag and encoded as canonical
//! DAG-CBOR, so it has one byte form and one CID (`contracts/market.md`). Amounts are integers
//! in base units with checked arithmetic.
//!
//! The protocol lives in `net::market`, the flows (accept, transfer, activate, challenge,
//! expire) in `node::deals` and `node::lifecycle`. A paid deal names the payment channel
//! (`crate::pay`) its client opened to the provider; the provider refuses it (`unfunded`)
//! otherwise.

pub mod ask;
pub mod deal;
pub mod policy;
pub mod signed;
pub mod state;
pub mod wire;

pub use ask::Ask;
pub use deal::{DealAcceptance, DealCancel, DealProposal};
pub use policy::{Capacity, Policy};
pub use signed::{Signable, Signed};
pub use state::{DealEvent, DealState};

/// An amount in base units.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Amount(pub u64);

impl Amount {
    /// The largest amount Cairn keeps. The database stores integers as signed 64-bit, so every
    /// entry (API, config, a peer's message) refuses more with
    /// [`MarketError::AmountTooLarge`] instead of failing, or wrapping, when it is written.
    pub const MAX: Amount = Amount(i64::MAX as u64);

    /// `value` as an amount, if it is at most [`Amount::MAX`]; `what` names it in the error.
    pub fn recordable(value: u64, what: &'static str) -> Result<Amount, MarketError> {
        if value > Self::MAX.0 {
            return Err(MarketError::AmountTooLarge { what, value });
        }
        Ok(Amount(value))
    }

    pub fn checked_add(self, other: Amount) -> Result<Amount, MarketError> {
        self.0
            .checked_add(other.0)
            .map(Amount)
            .ok_or(MarketError::Overflow)
    }
}

pub const GIB: u64 = 1 << 30;

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
    #[error("{what} of {value} is over the largest amount Cairn keeps, {}", Amount::MAX.0)]
    AmountTooLarge { what: &'static str, value: u64 },
    #[error("invalid encoding: {0}")]
    Encoding(String),
    #[error("{size} bytes is over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("invalid field: {0}")]
    Invalid(String),
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
