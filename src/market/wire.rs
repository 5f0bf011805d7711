//! What travels on `/cairn/market/1`: ask requests, deal proposals and deal status.

use cid::Cid;

use super::deal::MAX_PROPOSAL_SIZE;
use super::state::DealState;
use super::{Ask, DealAcceptance, DealCancel, DealProposal, MarketError};
use crate::signed::Signed;

/// Largest encoded request or response.
pub const MAX_MESSAGE_SIZE: usize = MAX_PROPOSAL_SIZE + 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketRequest {
    GetAsk,
    /// A client's signed proposal; the provider checks it against its policy.
    Propose(Box<Signed<DealProposal>>),
    /// Where a deal stands on the provider's side.
    Status(Cid),
    /// The client ends a deal early; answered with the deal's status.
    Cancel(Box<Signed<DealCancel>>),
    /// Where a deal stands, answered once its state differs from `known` or after at most
    /// [`MAX_WATCH_MS`] (and `wait_ms`), whichever comes first: a long-poll, so a client
    /// following a transfer asks a few times instead of many.
    Watch {
        deal: Cid,
        known: DealState,
        wait_ms: u64,
    },
}

/// The longest a provider holds a `watch` request before answering with the current state.
pub const MAX_WATCH_MS: u64 = 5_000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketResponse {
    Ask(Signed<Ask>),
    /// The provider's signed acceptance (`activated` once the piece matched).
    Accepted(Signed<DealAcceptance>),
    Status {
        state: DealState,
        reason: Option<String>,
        acceptance: Option<Signed<DealAcceptance>>,
    },
    /// `no_ask` (not a provider), `unknown_deal`, `malformed`, or a [`MarketError::reason`].
    Rejected {
        reason: String,
        detail: String,
    },
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, MarketError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| MarketError::Encoding(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, MarketError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(MarketError::TooLarge {
            size: bytes.len(),
            max: MAX_MESSAGE_SIZE,
        });
    }
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| MarketError::Encoding(e.to_string()))
}

impl MarketRequest {
    pub fn to_bytes(&self) -> Result<Vec<u8>, MarketError> {
        encode(self)
    }
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MarketError> {
        decode(bytes)
    }
}

impl MarketResponse {
    pub fn rejected(reason: &str, detail: impl Into<String>) -> Self {
        MarketResponse::Rejected {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
    pub fn to_bytes(&self) -> Result<Vec<u8>, MarketError> {
        encode(self)
    }
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MarketError> {
        decode(bytes)
    }
}
