//! Signed objects, the envelope of every object the market and payments exchange: a
//! payload, the signer's ed25519 public key and a signature over
//! `domain ‖ 0x00 ‖ DAG-CBOR(payload)`. The domain tag names the object and its version, so a
//! signature made for one kind of object can never pass for another.
//!
//! Invariants: a signed object has one byte form, its canonical DAG-CBOR encoding
//! ([`Signed::from_bytes`] refuses any other), and so one CID. The format is frozen by the
//! golden vectors in `contracts/vectors` (`contracts/market.md`, `contracts/pay.md`).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a signed object is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("invalid encoding: {0}")]
    Encoding(String),
    #[error("{size} bytes is over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
}

impl SignedError {
    /// Stable machine-readable reason, the same the market and payments give.
    pub fn reason(&self) -> &'static str {
        match self {
            SignedError::BadSignature => "bad_signature",
            SignedError::Encoding(_) => "malformed",
            SignedError::TooLarge { .. } => "too_large",
        }
    }
}

/// An object with a domain tag: what a signature over it is for.
pub trait Signable: Serialize + DeserializeOwned + Clone {
    const DOMAIN: &'static str;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed<T> {
    pub payload: T,
    #[serde(with = "serde_bytes")]
    pub signer: [u8; 32],
    #[serde(with = "serde_bytes")]
    pub signature: [u8; 64],
}

/// The bytes a signature covers.
pub fn signing_bytes<T: Signable>(payload: &T) -> Result<Vec<u8>, SignedError> {
    let body =
        serde_ipld_dagcbor::to_vec(payload).map_err(|e| SignedError::Encoding(e.to_string()))?;
    let mut bytes = Vec::with_capacity(T::DOMAIN.len() + 1 + body.len());
    bytes.extend_from_slice(T::DOMAIN.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

impl<T: Signable> Signed<T> {
    pub fn sign(payload: T, key: &SigningKey) -> Result<Self, SignedError> {
        let signature = key.sign(&signing_bytes(&payload)?);
        Ok(Signed {
            payload,
            signer: key.verifying_key().to_bytes(),
            signature: signature.to_bytes(),
        })
    }

    /// Checks the signature against `signer`; returns the payload if it holds.
    pub fn verify(&self) -> Result<&T, SignedError> {
        let key = VerifyingKey::from_bytes(&self.signer).map_err(|_| SignedError::BadSignature)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify(&signing_bytes(&self.payload)?, &signature)
            .map_err(|_| SignedError::BadSignature)?;
        Ok(&self.payload)
    }

    /// The canonical DAG-CBOR encoding of the signed object.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SignedError> {
        serde_ipld_dagcbor::to_vec(self).map_err(|e| SignedError::Encoding(e.to_string()))
    }

    /// Decodes, refusing anything but the canonical encoding and anything over `max` bytes.
    pub fn from_bytes(bytes: &[u8], max: usize) -> Result<Self, SignedError> {
        if bytes.len() > max {
            return Err(SignedError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        let value: Self = serde_ipld_dagcbor::from_slice(bytes)
            .map_err(|e| SignedError::Encoding(e.to_string()))?;
        if value.to_bytes()? != bytes {
            return Err(SignedError::Encoding(
                "not the canonical DAG-CBOR encoding".into(),
            ));
        }
        Ok(value)
    }

    /// The object's CID: DAG-CBOR, sha2-256.
    pub fn cid(&self) -> Result<cid::Cid, SignedError> {
        let bytes = self.to_bytes()?;
        Ok(crate::content::Block::encode(
            crate::content::DAG_CBOR,
            crate::content::HashAlg::Sha2_256,
            bytes,
        )
        .into_parts()
        .0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
    }

    impl Signable for Note {
        const DOMAIN: &'static str = "cairn/test-note/1";
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn note() -> Signed<Note> {
        Signed::sign(Note { text: "hi".into() }, &key()).unwrap()
    }

    #[test]
    fn the_signature_covers_the_domain_a_zero_and_the_payload() {
        let bytes = signing_bytes(&Note { text: "hi".into() }).unwrap();
        let body = serde_ipld_dagcbor::to_vec(&Note { text: "hi".into() }).unwrap();
        assert_eq!(
            bytes,
            [b"cairn/test-note/1".as_slice(), &[0], &body].concat()
        );
        let signed = note();
        assert_eq!(signed.verify().unwrap().text, "hi");
        assert_eq!(signed.signer, key().verifying_key().to_bytes());
    }

    #[test]
    fn tampering_oversize_and_non_canonical_bytes_are_refused() {
        let mut tampered = note();
        tampered.payload.text = "ho".into();
        assert_eq!(tampered.verify().unwrap_err(), SignedError::BadSignature);
        let mut bad_key = note();
        bad_key.signer = [0xff; 32];
        assert_eq!(bad_key.verify().unwrap_err().reason(), "bad_signature");

        let bytes = note().to_bytes().unwrap();
        assert_eq!(
            Signed::<Note>::from_bytes(&bytes, bytes.len()).unwrap(),
            note()
        );
        let e = Signed::<Note>::from_bytes(&bytes, bytes.len() - 1).unwrap_err();
        assert_eq!(
            e,
            SignedError::TooLarge {
                size: bytes.len(),
                max: bytes.len() - 1
            }
        );
        assert_eq!(e.reason(), "too_large");
        let e = Signed::<Note>::from_bytes(&bytes[..bytes.len() - 1], 1 << 10).unwrap_err();
        assert_eq!(e.reason(), "malformed");
        // The same map header written in two bytes instead of one: not canonical.
        assert_eq!(bytes[0], 0xa3);
        let long_header = [&[0xb8, 0x03], &bytes[1..]].concat();
        let e = Signed::<Note>::from_bytes(&long_header, 1 << 10).unwrap_err();
        assert_eq!(e.reason(), "malformed");
    }
}
