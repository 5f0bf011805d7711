//! Channel ids (`contracts/pay.md`, "Channel ids"): a ledger channel is named by the CID of its
//! signed open; a channel escrowed on chain is named by the contract's own channel id, so the
//! off-chain id, the database row, receipts, acknowledgements and the contract's `claim` all
//! name the same channel.
//!
//! Invariants:
//! - The text form is the CID (base32, `b…`) for a ledger channel and `0x` followed by 64
//!   lowercase hex digits (the big-endian `uint256`) for an on-chain one; parsing accepts both
//!   and nothing else, so the text form round-trips and the two kinds never collide.
//! - On the wire (DAG-CBOR) a ledger id is a link (tag 42), exactly as in version 1, and an
//!   on-chain id is a byte string of exactly 32 bytes; anything else is refused.
//! - An on-chain id is unique within one contract (the contract numbers its channels); a node
//!   settles on one contract, so within a node's records it is unique.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::U256;
use cid::Cid;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A channel's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelId {
    /// A channel the ledger settles: the CID of its `Signed<ChannelOpen>`.
    Open(Cid),
    /// A channel escrowed on chain: the contract's channel id, a big-endian `uint256`.
    Chain([u8; 32]),
}

impl ChannelId {
    /// The id of the contract's channel `id`.
    pub fn chain(id: U256) -> Self {
        ChannelId::Chain(id.to_be_bytes())
    }

    /// The contract's channel id, for a channel on chain.
    pub fn on_chain(&self) -> Option<U256> {
        match self {
            ChannelId::Chain(bytes) => Some(U256::from_be_bytes(*bytes)),
            ChannelId::Open(_) => None,
        }
    }
}

impl From<Cid> for ChannelId {
    fn from(cid: Cid) -> Self {
        ChannelId::Open(cid)
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelId::Open(cid) => write!(f, "{cid}"),
            ChannelId::Chain(bytes) => write!(f, "0x{}", hex::encode(bytes)),
        }
    }
}

/// A text that is neither a CID nor a `0x`-prefixed 32-byte hex id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a channel id (a CID or 0x and 64 hex digits): {0:?}")]
pub struct BadChannelId(pub String);

impl FromStr for ChannelId {
    type Err = BadChannelId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadChannelId(s.chars().take(100).collect());
        if let Some(digits) = s.strip_prefix("0x") {
            // Lowercase only, so each id has one text form (the database key).
            if digits.len() != 64 || digits.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(bad());
            }
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(digits, &mut bytes).map_err(|_| bad())?;
            return Ok(ChannelId::Chain(bytes));
        }
        Cid::from_str(s).map(ChannelId::Open).map_err(|_| bad())
    }
}

impl Serialize for ChannelId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return serializer.collect_str(self);
        }
        match self {
            ChannelId::Open(cid) => cid.serialize(serializer),
            ChannelId::Chain(bytes) => serializer.serialize_bytes(bytes),
        }
    }
}

impl<'de> Deserialize<'de> for ChannelId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            return text.parse().map_err(de::Error::custom);
        }
        // DAG-CBOR hands a link (tag 42) to `visit_newtype_struct` and a byte string to
        // `visit_bytes`.
        deserializer.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = ChannelId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a link (a ledger channel) or 32 bytes (a contract's channel id)")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<ChannelId, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        Cid::try_from(bytes.as_slice())
            .map(ChannelId::Open)
            .map_err(de::Error::custom)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<ChannelId, E> {
        <[u8; 32]>::try_from(bytes)
            .map(ChannelId::Chain)
            .map_err(|_| E::invalid_length(bytes.len(), &"32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Holder {
        channel: ChannelId,
        other: Option<ChannelId>,
    }

    fn cid() -> Cid {
        // The empty identity CID: any CID will do.
        "bafkqaaa".parse().unwrap()
    }

    #[test]
    fn text_forms_round_trip_and_bad_ones_are_refused() {
        let chain = ChannelId::chain(U256::from(7));
        let text = chain.to_string();
        assert_eq!(text, format!("0x{}07", "0".repeat(62)));
        assert_eq!(text.parse::<ChannelId>().unwrap(), chain);
        assert_eq!(chain.on_chain(), Some(U256::from(7)));
        let open = ChannelId::Open(cid());
        assert_eq!(open.to_string().parse::<ChannelId>().unwrap(), open);
        assert_eq!(open.on_chain(), None);
        for bad in [
            "",
            "7",
            "0x07",
            &format!("0x{}", "0".repeat(65)),
            &format!("0x{}0A", "0".repeat(62)),
            &format!("0x{}zz", "0".repeat(62)),
            "bafynot",
        ] {
            assert!(bad.parse::<ChannelId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_ledger_id_is_a_link_and_a_chain_id_is_32_bytes_on_the_wire() {
        let ledger = Holder {
            channel: ChannelId::Open(cid()),
            other: None,
        };
        let bytes = serde_ipld_dagcbor::to_vec(&ledger).unwrap();
        // The same bytes as a plain `Cid` field (version 1).
        #[derive(serde::Serialize)]
        struct V1 {
            channel: Cid,
            other: Option<Cid>,
        }
        let v1 = serde_ipld_dagcbor::to_vec(&V1 {
            channel: cid(),
            other: None,
        })
        .unwrap();
        assert_eq!(bytes, v1);
        assert_eq!(
            serde_ipld_dagcbor::from_slice::<Holder>(&bytes).unwrap(),
            ledger
        );

        let chain = Holder {
            channel: ChannelId::chain(U256::from(1)),
            other: Some(ChannelId::Open(cid())),
        };
        let bytes = serde_ipld_dagcbor::to_vec(&chain).unwrap();
        // `channel` is a 32-byte string: 0x58 0x20 then the bytes.
        let mut expected = vec![0x58, 0x20];
        expected.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
        assert!(bytes.windows(34).any(|w| w == expected.as_slice()));
        assert_eq!(
            serde_ipld_dagcbor::from_slice::<Holder>(&bytes).unwrap(),
            chain
        );

        // 31 bytes, or a string, is not an id.
        #[derive(serde::Serialize)]
        struct Short {
            #[serde(with = "serde_bytes")]
            channel: Vec<u8>,
            other: Option<Cid>,
        }
        let short = serde_ipld_dagcbor::to_vec(&Short {
            channel: vec![1; 31],
            other: None,
        })
        .unwrap();
        assert!(serde_ipld_dagcbor::from_slice::<Holder>(&short).is_err());
        #[derive(serde::Serialize)]
        struct Text {
            channel: String,
            other: Option<Cid>,
        }
        let text = serde_ipld_dagcbor::to_vec(&Text {
            channel: cid().to_string(),
            other: None,
        })
        .unwrap();
        assert!(serde_ipld_dagcbor::from_slice::<Holder>(&text).is_err());

        // JSON carries the text form.
        let json = serde_json::to_value(&chain).unwrap();
        assert_eq!(json["channel"], ChannelId::chain(U256::from(1)).to_string());
        assert_eq!(serde_json::from_value::<Holder>(json).unwrap(), chain);
    }
}
