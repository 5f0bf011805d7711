//! What travels on `/cairn/market/1`. Version 1 carries ask requests; proposals and
//! activations join it with the deal flow.

use super::ask::MAX_ASK_SIZE;
use super::{Ask, MarketError, Signed};

/// Largest encoded request or response.
pub const MAX_MESSAGE_SIZE: usize = MAX_ASK_SIZE + 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketRequest {
    GetAsk,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketResponse {
    Ask(Signed<Ask>),
    /// `no_ask` (not a provider), `malformed`, or a [`MarketError::reason`].
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
