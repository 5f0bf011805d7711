//! Payments: channels, cumulative signed receipts, retrieval pricing, the settlement trait and
//! the messages of `/cairn/pay/1` (`contracts/pay.md`).
//!
//! Plain data with their rules as methods, testable without a network or a database: the
//! node keeps channels and receipts in its database (`node::pay`) and carries the messages over
//! libp2p (`net::pay`); everything that decides whether a payment counts lives here.
//!
//! The rules:
//! - A payer opens a channel by signing a [`ChannelOpen`] (payer, payee, deposit); the
//!   channel id is the CID of that signed object, so it names the exact commitment.
//! - A [`Receipt`] states the channel's **cumulative** total paid so far, signed by the payer
//!   under its own domain. The payee keeps only the highest one: a replayed or older receipt
//!   is worth nothing, and one receipt settles the channel.
//! - The payee accepts a receipt only if it is for this channel, signed by its payer, names
//!   this payee, the channel is open, its `seq` and `amount` are both above the latest held,
//!   and the amount stays within the deposit ([`Channel::check_receipt`], in that order). A
//!   byte-for-byte repeat of the latest receipt is acknowledged again and stores nothing, which
//!   is how a payer's retry after a lost answer is made safe.
//! - Retrieval is charged per byte beyond a free allowance, rounded up to a whole base unit;
//!   the payee asks for payment past one debt threshold and stops serving past another; the
//!   payer never pays for more bytes than it measured itself ([`RetrievalTerms`]).
//! - Settlement sits behind [`Settlement`]: the receipt format does not depend on where the
//!   final receipt is cashed. The first backend is the node's own ledger.
//!
//! Amounts are integers in base units with checked arithmetic; nothing here panics on a
//! peer's input.

pub mod channel;
pub mod history;
pub mod id;
pub mod onchain;
pub mod receipt;
pub mod retrieval;
pub mod settle;
pub mod wire;

pub use channel::{Channel, ChannelClose, ChannelOpen, Verdict, MAX_CLOSE_SIZE, MAX_OPEN_SIZE};
pub use id::ChannelId;
pub use onchain::OnChain;
pub use receipt::{verify_batch, Receipt, MAX_RECEIPT_SIZE};
pub use retrieval::{Gate, RetrievalTerms};
pub use settle::{check_settlement, Settled, Settlement};
pub use wire::{Ack, Invoice, PayRequest, PayResponse, MAX_BATCH, MAX_MESSAGE_SIZE, PROTOCOL};

use crate::amount::AmountOverflow;
use crate::signed::SignedError;

/// Why a payment object is refused: each a reason a payer or payee can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("signed by {signer}, expected the channel's payer {expected}")]
    WrongSigner { signer: String, expected: String },
    #[error("the receipt names another payee than the channel's")]
    WrongPayee,
    #[error("the receipt is for another channel, or its payer or payee differ from the channel's")]
    WrongChannel,
    #[error("the channel is closed")]
    ChannelClosed,
    #[error("sequence {seq} is not above the latest accepted, {latest}")]
    Replayed { seq: u64, latest: u64 },
    #[error("cumulative amount {amount} is not above the latest accepted, {latest}")]
    NotIncreasing { amount: u64, latest: u64 },
    #[error("cumulative amount {amount} is over the deposit of {deposit}")]
    OverDeposit { amount: u64, deposit: u64 },
    #[error("amount overflow")]
    Overflow,
    #[error("invalid encoding: {0}")]
    Encoding(String),
    #[error("{size} bytes is over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("invalid field: {0}")]
    Invalid(String),
    /// A receipt on an on-chain channel without its EIP-712 voucher.
    #[error("a receipt on an on-chain channel must carry its voucher")]
    MissingVoucher,
    /// The voucher is not the channel's payer's signature over the receipt's amount in the
    /// channel's chain and contract.
    #[error("voucher refused: {0}")]
    BadVoucher(String),
    /// The channel is on another chain or contract than this node settles on.
    #[error("wrong chain: {0}")]
    WrongChain(String),
}

impl PayError {
    /// Stable machine-readable reason (acks, protocol rejections, HTTP errors, vectors).
    pub fn reason(&self) -> &'static str {
        match self {
            PayError::BadSignature => "bad_signature",
            PayError::WrongSigner { .. } => "wrong_signer",
            PayError::WrongPayee => "wrong_payee",
            PayError::WrongChannel => "wrong_channel",
            PayError::ChannelClosed => "channel_closed",
            PayError::Replayed { .. } => "replayed",
            PayError::NotIncreasing { .. } => "not_increasing",
            PayError::OverDeposit { .. } => "over_deposit",
            PayError::Overflow => "overflow",
            PayError::Encoding(_) => "malformed",
            PayError::TooLarge { .. } => "too_large",
            PayError::Invalid(_) => "invalid",
            PayError::MissingVoucher => "missing_voucher",
            PayError::BadVoucher(_) => "bad_voucher",
            PayError::WrongChain(_) => "wrong_chain",
        }
    }
}

/// The envelope's errors keep their reason.
impl From<SignedError> for PayError {
    fn from(e: SignedError) -> Self {
        match e {
            SignedError::BadSignature => PayError::BadSignature,
            SignedError::Encoding(detail) => PayError::Encoding(detail),
            SignedError::TooLarge { size, max } => PayError::TooLarge { size, max },
        }
    }
}

impl From<AmountOverflow> for PayError {
    fn from(AmountOverflow: AmountOverflow) -> Self {
        PayError::Overflow
    }
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod onchain_vectors;
#[cfg(test)]
mod vectors;

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
            assert_eq!(e.reason(), reason);
            assert_eq!(PayError::from(e).reason(), reason);
        }
        assert_eq!(
            PayError::from(SignedError::TooLarge { size: 2, max: 1 }),
            PayError::TooLarge { size: 2, max: 1 }
        );
        assert_eq!(PayError::from(AmountOverflow).reason(), "overflow");
    }
}
