//! What travels on `/cairn/proof/1` besides the challenge: the provider's [`Answer`] (a proof,
//! or a typed rejection), and the [`AuditRecord`] an auditor saves to verify later.

use super::{decode_canonical, encode, Challenge, Proof, ProofError, MAX_PROOF_SIZE};

/// The provider's reply to a challenge. DAG-CBOR: a map with one key, `proof` or `rejected`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Proof(Proof),
    Rejected(Rejection),
}

/// Why a provider did not answer with a proof.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// `unknown_piece`, `late`, `malformed` or `data_unavailable`.
    pub reason: String,
    pub detail: String,
}

impl Answer {
    pub fn rejected(reason: &str, detail: impl Into<String>) -> Self {
        Answer::Rejected(Rejection {
            reason: reason.to_string(),
            detail: detail.into(),
        })
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, ProofError> {
        encode(self, "answer")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        decode_canonical(bytes, "answer", MAX_PROOF_SIZE + 1024)
    }
}

/// A challenge with the proof that answered it: everything an offline verifier needs
/// besides the commitment it trusts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub challenge: Challenge,
    pub proof: Proof,
    /// When the proof arrived (unix ms), as the auditor saw it.
    pub received_at: u64,
}

impl AuditRecord {
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProofError> {
        encode(self, "audit record")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        decode_canonical(bytes, "audit record", MAX_PROOF_SIZE + 2048)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_round_trip_and_garbage_is_refused() {
        let answer = Answer::rejected("unknown_piece", "no such piece");
        assert_eq!(
            Answer::from_bytes(&answer.to_bytes().unwrap()).unwrap(),
            answer
        );
        assert!(Answer::from_bytes(b"\xa1\x63foo\x01").is_err());
        assert!(Answer::from_bytes(&[0u8; 4]).is_err());
    }
}
