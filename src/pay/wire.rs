//! What travels on `/cairn/pay/1` (`contracts/pay.md`): one DAG-CBOR request and one response
//! per stream, each an externally tagged map (`{"pay": [...]}`) or a bare string for unit
//! variants (`"noted"`).
//!
//! Decoding is strict like every Cairn object: the size cap is checked before decoding, and
//! a message that does not re-encode to the same bytes is refused (`malformed`).

use super::receipt::MAX_RECEIPT_SIZE;
use super::{ChannelClose, ChannelId, ChannelOpen, PayError, Receipt, RetrievalTerms};
use crate::amount::Amount;
use crate::signed::Signed;

/// The protocol id.
pub const PROTOCOL: &str = "/cairn/pay/1";
/// Most receipts in one `pay` request.
pub const MAX_BATCH: usize = 64;
/// Largest encoded request or response: a full batch of receipts and its framing.
pub const MAX_MESSAGE_SIZE: usize = MAX_BATCH * MAX_RECEIPT_SIZE + 4096;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayRequest {
    /// Payer → payee: the payer's signed open; answered `opened`.
    Open(Box<Signed<ChannelOpen>>),
    /// Payer → payee: 1..=[`MAX_BATCH`] receipts, on one or several channels; answered `acks`.
    Pay(Vec<Signed<Receipt>>),
    /// Payer → payee: settle this channel with the highest receipt; answered `closed`.
    Close(ChannelId),
    /// Payee → payer: a payment request for retrieval; answered `noted`.
    Invoice(Invoice),
}

/// A payee's request for payment: what it served, on what terms, and the cumulative charge
/// it computes. The payer pays by its own measure ([`RetrievalTerms::owed_for`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    /// The channel to pay on, if one is open between the two.
    pub channel: Option<ChannelId>,
    /// Cumulative bytes served to the payer.
    pub bytes_served: u64,
    pub terms: RetrievalTerms,
    /// Cumulative charge for `bytes_served` under `terms`.
    pub due: Amount,
    /// Unix ms.
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayResponse {
    Opened {
        channel: ChannelId,
    },
    /// One per receipt of the `pay` request, in the same order.
    Acks(Vec<Ack>),
    /// The payee's signed close.
    Closed(Signed<ChannelClose>),
    /// An invoice was received.
    Noted,
    /// `malformed`, `too_large`, `invalid`, `unknown_channel`, `internal`, or a
    /// [`PayError::reason`].
    Rejected {
        reason: String,
        detail: String,
    },
}

/// The payee's answer to one receipt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub channel: ChannelId,
    pub seq: u64,
    pub amount: Amount,
    /// `stored`, `duplicate`, or a [`PayError::reason`].
    pub status: String,
    pub detail: Option<String>,
}

impl Ack {
    /// The receipt was new and is stored.
    pub fn stored(receipt: &Receipt) -> Self {
        Ack::with_status(receipt, "stored", None)
    }

    /// The receipt was the latest already held: nothing stored, nothing lost.
    pub fn duplicate(receipt: &Receipt) -> Self {
        Ack::with_status(receipt, "duplicate", None)
    }

    /// The receipt was refused.
    pub fn refused(receipt: &Receipt, error: &PayError) -> Self {
        Ack::with_status(receipt, error.reason(), Some(error.to_string()))
    }

    /// Whether the payee holds this receipt (or the same one) now.
    pub fn is_accepted(&self) -> bool {
        self.status == "stored" || self.status == "duplicate"
    }

    fn with_status(receipt: &Receipt, status: &str, detail: Option<String>) -> Self {
        Ack {
            channel: receipt.channel,
            seq: receipt.seq,
            amount: receipt.amount,
            status: status.into(),
            detail,
        }
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, PayError> {
    let bytes = serde_ipld_dagcbor::to_vec(value).map_err(|e| PayError::Encoding(e.to_string()))?;
    // Never send what the other side would refuse for its size.
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(PayError::TooLarge {
            size: bytes.len(),
            max: MAX_MESSAGE_SIZE,
        });
    }
    Ok(bytes)
}

fn decode<T: serde::Serialize + serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, PayError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(PayError::TooLarge {
            size: bytes.len(),
            max: MAX_MESSAGE_SIZE,
        });
    }
    let value: T =
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| PayError::Encoding(e.to_string()))?;
    // Canonical only: this also refuses missing optional fields, which serde would fill in.
    if serde_ipld_dagcbor::to_vec(&value).map_err(|e| PayError::Encoding(e.to_string()))? != bytes {
        return Err(PayError::Encoding(
            "not the canonical DAG-CBOR encoding".into(),
        ));
    }
    Ok(value)
}

impl PayRequest {
    pub fn to_bytes(&self) -> Result<Vec<u8>, PayError> {
        self.check_batch()?;
        encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayError> {
        let request: PayRequest = decode(bytes)?;
        request.check_batch()?;
        Ok(request)
    }

    /// A `pay` request carries 1..=[`MAX_BATCH`] receipts.
    fn check_batch(&self) -> Result<(), PayError> {
        match self {
            PayRequest::Pay(receipts) if receipts.is_empty() || receipts.len() > MAX_BATCH => {
                Err(PayError::Invalid(format!(
                    "a pay request carries 1 to {MAX_BATCH} receipts, not {}",
                    receipts.len()
                )))
            }
            _ => Ok(()),
        }
    }
}

impl PayResponse {
    pub fn rejected(reason: &str, detail: impl Into<String>) -> Self {
        PayResponse::Rejected {
            reason: reason.into(),
            detail: detail.into(),
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, PayError> {
        encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayError> {
        decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn invoice() -> Invoice {
        Invoice {
            channel: Some(channel(1000).id),
            bytes_served: 3 << 30,
            terms: RetrievalTerms {
                price_per_gib: Amount(10),
                free_bytes: 1 << 30,
                payment_threshold: Amount(5),
                disconnect_threshold: Amount(50),
            },
            due: Amount(20),
            at: NOW,
        }
    }

    #[test]
    fn every_request_round_trips() {
        let channel = channel(1000);
        let requests = vec![
            PayRequest::Open(Box::new(signed_open(1000))),
            PayRequest::Pay(vec![receipt(&channel, 10, 1), receipt(&channel, 20, 2)]),
            PayRequest::Close(channel.id),
            PayRequest::Invoice(invoice()),
            PayRequest::Invoice(Invoice {
                channel: None,
                ..invoice()
            }),
        ];
        for request in requests {
            let bytes = request.to_bytes().unwrap();
            assert_eq!(PayRequest::from_bytes(&bytes).unwrap(), request);
        }
    }

    #[test]
    fn every_response_round_trips() {
        let channel = channel(1000);
        let r = receipt(&channel, 10, 1).payload;
        let close = ChannelClose {
            channel: channel.id,
            amount: Amount(10),
            seq: 1,
            at: NOW,
        };
        let responses = vec![
            PayResponse::Opened {
                channel: channel.id,
            },
            PayResponse::Acks(vec![
                Ack::stored(&r),
                Ack::duplicate(&r),
                Ack::refused(&r, &PayError::Replayed { seq: 1, latest: 1 }),
            ]),
            PayResponse::Closed(Signed::sign(close, &payee_key()).unwrap()),
            PayResponse::Noted,
            PayResponse::rejected("unknown_channel", "no such channel"),
        ];
        for response in responses {
            let bytes = response.to_bytes().unwrap();
            assert_eq!(PayResponse::from_bytes(&bytes).unwrap(), response);
        }
        assert_eq!(PayResponse::Noted.to_bytes().unwrap(), b"\x65noted");
    }

    #[test]
    fn acks_say_whether_the_payee_holds_the_receipt() {
        let r = receipt(&channel(1000), 10, 1).payload;
        assert!(Ack::stored(&r).is_accepted());
        assert!(Ack::duplicate(&r).is_accepted());
        let refused = Ack::refused(
            &r,
            &PayError::OverDeposit {
                amount: 10,
                deposit: 5,
            },
        );
        assert!(!refused.is_accepted());
        assert_eq!(refused.status, "over_deposit");
    }

    #[test]
    fn oversized_and_non_canonical_messages_are_refused() {
        let big = vec![0u8; MAX_MESSAGE_SIZE + 1];
        assert_eq!(
            PayRequest::from_bytes(&big).unwrap_err().reason(),
            "too_large"
        );
        assert_eq!(
            PayResponse::from_bytes(&big).unwrap_err().reason(),
            "too_large"
        );
        let huge = PayResponse::rejected("internal", "x".repeat(MAX_MESSAGE_SIZE));
        assert_eq!(huge.to_bytes().unwrap_err().reason(), "too_large");

        let mut bytes = PayRequest::Close(channel(1000).id).to_bytes().unwrap();
        bytes.push(0);
        assert_eq!(
            PayRequest::from_bytes(&bytes).unwrap_err().reason(),
            "malformed"
        );
        // `channel: null` left out: serde would read it as None, the contract says no.
        let loose = serde_json::json!({"invoice": {
            "bytes_served": 1, "terms": invoice().terms, "due": 1, "at": 1
        }});
        let missing = serde_ipld_dagcbor::to_vec(&loose).unwrap();
        assert_eq!(
            PayRequest::from_bytes(&missing).unwrap_err().reason(),
            "malformed"
        );
        assert_eq!(
            PayRequest::from_bytes(b"\x64junk").unwrap_err().reason(),
            "malformed"
        );
    }

    #[test]
    fn empty_and_oversized_batches_are_refused() {
        let channel = channel(1_000_000);
        let full: Vec<_> = (1..=64).map(|i| receipt(&channel, i, i)).collect();
        let bytes = PayRequest::Pay(full.clone()).to_bytes().unwrap();
        assert!(bytes.len() <= MAX_MESSAGE_SIZE);
        assert_eq!(
            PayRequest::from_bytes(&bytes).unwrap(),
            PayRequest::Pay(full.clone())
        );

        let mut over = full;
        over.push(receipt(&channel, 65, 65));
        assert_eq!(
            PayRequest::Pay(over.clone())
                .to_bytes()
                .unwrap_err()
                .reason(),
            "invalid"
        );
        let bytes = serde_ipld_dagcbor::to_vec(&PayRequest::Pay(over)).unwrap();
        assert_eq!(
            PayRequest::from_bytes(&bytes).unwrap_err().reason(),
            "invalid"
        );

        let bytes = serde_ipld_dagcbor::to_vec(&PayRequest::Pay(vec![])).unwrap();
        assert_eq!(
            PayRequest::from_bytes(&bytes).unwrap_err().reason(),
            "invalid"
        );
        assert_eq!(
            PayRequest::Pay(vec![]).to_bytes().unwrap_err().reason(),
            "invalid"
        );
    }
}
