//! Settlement on an EVM chain: the node's secp256k1 [`wallet`], the EIP-712 [`voucher`]s of
//! the payment-channel contract, a [`contract`] client for `CairnChannels` and its ERC-20
//! token (`contracts/evm.md`, `contracts/evm/`), and a local [`anvil`] chain for the devnet
//! and tests.
//!
//! What this module owns: talking to one chain over JSON-RPC (HTTP) as one wallet, and the
//! typed meaning of what the chain answers. What it does not: which channels a node opens or
//! when it claims (the node's pay layer decides, through the `Settlement` trait).
//!
//! Invariants:
//! - A contract revert is reported as [`ChainError::Reverted`] with the contract's custom error
//!   decoded from the revert data by its selector ([`Revert`]); text is never parsed.
//! - A chain that cannot be reached is [`ChainError::Unreachable`], distinct from a refusal,
//!   so a caller can retry later; a transaction sent whose receipt was not seen is
//!   [`ChainError::Unconfirmed`] with its hash, so a caller reconciles from the chain instead
//!   of sending again blindly.
//! - Amounts are the contract's: deposits and totals are `uint128` (`u128` here), a voucher's
//!   cumulative is signed as `uint256`.

pub mod anvil;
pub mod config;
pub mod contract;
pub mod handle;
pub mod voucher;
pub mod wallet;

#[cfg(test)]
mod vectors;

use std::path::PathBuf;

use alloy::primitives::{Bytes, B256};
use alloy::sol_types::SolInterface;

pub use anvil::Anvil;
pub use contract::{
    ChainClient, ChannelState, Channels, Claimed, CloseStarted, CooperativelyClosed, Deployment,
    Opened, ToppedUp, TxOutcome, Withdrawn,
};
pub use handle::ChainHandle;
pub use voucher::{recover, Close, Domain, Voucher, VoucherError};
pub use wallet::{Wallet, WALLET_FILE};

use contract::bindings::{CairnChannels, TestToken};

/// What went wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The RPC endpoint could not be reached (connection refused, timed out, HTTP error).
    #[error("the chain RPC at {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    /// The contract (or the token it called) refused: its custom error, decoded.
    #[error("reverted with {0}")]
    Reverted(Revert),
    /// The node answered with an error that is not a revert (e.g. the wallet cannot pay gas).
    #[error("the chain refused the request ({code}): {message}")]
    Rpc { code: i64, message: String },
    /// A transaction was sent but its receipt was not seen: it may or may not be mined.
    #[error("transaction {tx} was sent but not confirmed: {reason}")]
    Unconfirmed { tx: B256, reason: String },
    /// A transaction was mined and failed (status 0).
    #[error("transaction {tx} was mined and reverted")]
    Failed { tx: B256 },
    /// The chain's answer does not have the shape this client expects (a missing event, an
    /// address that holds no contract, undecodable return data).
    #[error("unexpected answer from the chain: {0}")]
    Unexpected(String),
    /// A bad argument, refused before anything was sent.
    #[error("invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Voucher(#[from] VoucherError),
    #[error("wallet {path}: {reason}")]
    Wallet { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ChainError {
    /// Stable machine-readable reason (CLI JSON, HTTP errors, logs).
    pub fn reason(&self) -> &'static str {
        match self {
            ChainError::Unreachable { .. } => "chain_unreachable",
            ChainError::Reverted(_) => "reverted",
            ChainError::Rpc { .. } => "chain_refused",
            ChainError::Unconfirmed { .. } => "unconfirmed",
            ChainError::Failed { .. } => "tx_failed",
            ChainError::Unexpected(_) => "unexpected",
            ChainError::Invalid(_) => "invalid",
            ChainError::Voucher(e) => e.reason(),
            ChainError::Wallet { .. } | ChainError::Io { .. } => "wallet",
        }
    }

    /// The contract's error, if this is a revert of `CairnChannels`.
    pub fn channels_error(&self) -> Option<&CairnChannels::CairnChannelsErrors> {
        match self {
            ChainError::Reverted(Revert::Channels(e)) => Some(e),
            _ => None,
        }
    }

    /// The name of the reverting custom error (`InvalidSignature`, ...), if any.
    pub fn revert_name(&self) -> Option<&'static str> {
        match self {
            ChainError::Reverted(revert) => revert.name(),
            _ => None,
        }
    }
}

/// A decoded revert: the custom error of `CairnChannels`, or of the ERC-20 token it called
/// (OpenZeppelin's `IERC20Errors`, which the test token uses), or raw data neither declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    Channels(CairnChannels::CairnChannelsErrors),
    Token(TestToken::TestTokenErrors),
    Unknown(Bytes),
}

impl Revert {
    /// Decodes revert data by its 4-byte selector.
    pub fn decode(data: &[u8]) -> Revert {
        if let Ok(e) = CairnChannels::CairnChannelsErrors::abi_decode(data) {
            return Revert::Channels(e);
        }
        if let Ok(e) = TestToken::TestTokenErrors::abi_decode(data) {
            return Revert::Token(e);
        }
        Revert::Unknown(Bytes::copy_from_slice(data))
    }

    /// The Solidity name of the error, e.g. `VoucherNotAbove`.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Revert::Channels(e) => {
                CairnChannels::CairnChannelsErrors::name_by_selector(e.selector())
            }
            Revert::Token(e) => TestToken::TestTokenErrors::name_by_selector(e.selector()),
            Revert::Unknown(_) => None,
        }
    }
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Revert::Channels(e) => write!(f, "{e:?}"),
            Revert::Token(e) => write!(f, "token {e:?}"),
            Revert::Unknown(data) => write!(f, "undeclared revert data {data}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;
    use alloy::sol_types::SolError;

    use super::*;

    #[test]
    fn reverts_are_named_by_their_selector() {
        let data = CairnChannels::VoucherNotAbove {
            cumulative: U256::from(5),
            paidOut: 7,
        }
        .abi_encode();
        let revert = Revert::decode(&data);
        assert_eq!(revert.name(), Some("VoucherNotAbove"));
        assert_eq!(
            revert,
            Revert::Channels(CairnChannels::CairnChannelsErrors::VoucherNotAbove(
                CairnChannels::VoucherNotAbove {
                    cumulative: U256::from(5),
                    paidOut: 7
                }
            ))
        );
        let token = Revert::decode(
            &TestToken::ERC20InsufficientBalance {
                sender: Default::default(),
                balance: U256::from(1),
                needed: U256::from(2),
            }
            .abi_encode(),
        );
        assert_eq!(token.name(), Some("ERC20InsufficientBalance"));
        // Error(string) is not a custom error of either contract: kept raw, never parsed.
        let unknown = Revert::decode(&hex::decode("08c379a0").unwrap());
        assert_eq!(unknown.name(), None);
        assert!(matches!(unknown, Revert::Unknown(_)));
        let err = ChainError::Reverted(revert);
        assert_eq!(err.reason(), "reverted");
        assert_eq!(err.revert_name(), Some("VoucherNotAbove"));
        assert!(err.channels_error().is_some());
    }
}
