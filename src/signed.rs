//! Signed objects: a payload, the signer's ed25519 public key and a signature over
//! `domain ‖ 0x00 ‖ DAG-CBOR(payload)`. The domain tag names the object and its version, so a
//! signature made for one kind of object can never pass for another.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::MarketError;

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
pub fn signing_bytes<T: Signable>(payload: &T) -> Result<Vec<u8>, MarketError> {
    let body =
        serde_ipld_dagcbor::to_vec(payload).map_err(|e| MarketError::Encoding(e.to_string()))?;
    let mut bytes = Vec::with_capacity(T::DOMAIN.len() + 1 + body.len());
    bytes.extend_from_slice(T::DOMAIN.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

impl<T: Signable> Signed<T> {
    pub fn sign(payload: T, key: &SigningKey) -> Result<Self, MarketError> {
        let signature = key.sign(&signing_bytes(&payload)?);
        Ok(Signed {
            payload,
            signer: key.verifying_key().to_bytes(),
            signature: signature.to_bytes(),
        })
    }

    /// Checks the signature against `signer`; returns the payload if it holds.
    pub fn verify(&self) -> Result<&T, MarketError> {
        let key = VerifyingKey::from_bytes(&self.signer).map_err(|_| MarketError::BadSignature)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify(&signing_bytes(&self.payload)?, &signature)
            .map_err(|_| MarketError::BadSignature)?;
        Ok(&self.payload)
    }

    /// The canonical DAG-CBOR encoding of the signed object.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MarketError> {
        serde_ipld_dagcbor::to_vec(self).map_err(|e| MarketError::Encoding(e.to_string()))
    }

    /// Decodes, refusing anything but the canonical encoding and anything over `max` bytes.
    pub fn from_bytes(bytes: &[u8], max: usize) -> Result<Self, MarketError> {
        if bytes.len() > max {
            return Err(MarketError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        let value: Self = serde_ipld_dagcbor::from_slice(bytes)
            .map_err(|e| MarketError::Encoding(e.to_string()))?;
        if value.to_bytes()? != bytes {
            return Err(MarketError::Encoding(
                "not the canonical DAG-CBOR encoding".into(),
            ));
        }
        Ok(value)
    }

    /// The object's CID: DAG-CBOR, sha2-256.
    pub fn cid(&self) -> Result<cid::Cid, MarketError> {
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
