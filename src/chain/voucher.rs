//! EIP-712 vouchers of `CairnChannels` (`contracts/evm.md`): the payer's cumulative
//! [`Voucher`] and the payee's [`Close`], their digests, signing and recovery.
//!
//! Plain data, no chain needed; tested against `contracts/vectors/evm-vouchers.json`.
//!
//! Invariants:
//! - A digest binds the chain id, the contract's address, the channel id and the cumulative
//!   total: a voucher for another channel, chain or contract recovers to another address.
//! - [`recover`] accepts exactly what the contract's `ECDSA.tryRecoverCalldata` accepts: 65
//!   bytes `r ‖ s ‖ v`, `v` 27 or 28, `s` in the lower half of the curve order (so a signature
//!   has one form), and a recovered address other than zero. Anything the contract would
//!   refuse is refused here first, with a reason.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolStruct};

use super::wallet::Wallet;

/// The EIP-712 domain name and version of `CairnChannels`.
pub const DOMAIN_NAME: &str = "CairnChannels";
pub const DOMAIN_VERSION: &str = "1";

mod typed {
    alloy::sol! {
        /// `Voucher(uint256 channelId,uint256 cumulative)`, signed by the payer.
        struct Voucher {
            uint256 channelId;
            uint256 cumulative;
        }
        /// `Close(uint256 channelId,uint256 cumulative)`, signed by the payee.
        struct Close {
            uint256 channelId;
            uint256 cumulative;
        }
    }
}

/// Why a voucher signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    #[error("a signature is 65 bytes (r, s, v), got {0}")]
    Length(usize),
    #[error("v must be 27 or 28, got {0}")]
    RecoveryByte(u8),
    #[error("s is in the upper half of the curve order (a malleated signature)")]
    HighS,
    #[error("the signature recovers no key")]
    Unrecoverable,
    #[error("signed by {recovered}, expected {expected}")]
    WrongSigner {
        recovered: Address,
        expected: Address,
    },
    #[error("signing failed: {0}")]
    Signing(String),
}

impl VoucherError {
    /// Stable machine-readable reason, in the words of `contracts/pay.md`.
    pub fn reason(&self) -> &'static str {
        match self {
            VoucherError::WrongSigner { .. } => "wrong_signer",
            VoucherError::Signing(_) => "internal",
            _ => "bad_signature",
        }
    }
}

/// Where a voucher is valid: one chain, one deployed `CairnChannels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Domain {
    pub chain_id: u64,
    pub contract: Address,
}

impl Domain {
    pub fn new(chain_id: u64, contract: Address) -> Self {
        Domain { chain_id, contract }
    }

    /// The EIP-712 domain: name `CairnChannels`, version `1`, this chain and contract.
    pub fn eip712(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(DOMAIN_NAME.into()),
            Some(DOMAIN_VERSION.into()),
            Some(U256::from(self.chain_id)),
            Some(self.contract),
            None,
        )
    }

    /// The domain separator, as the contract's `domainSeparator()` returns it.
    pub fn separator(&self) -> B256 {
        self.eip712().separator()
    }
}

/// The payer's voucher: the channel's cumulative total paid so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Voucher {
    pub channel_id: U256,
    pub cumulative: u128,
}

/// The payee's agreement to end a channel at `cumulative` (the contract's cooperative close).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Close {
    pub channel_id: U256,
    pub cumulative: u128,
}

impl Voucher {
    pub fn new(channel_id: U256, cumulative: u128) -> Self {
        Voucher {
            channel_id,
            cumulative,
        }
    }

    /// The EIP-712 digest the payer signs (the contract's `voucherDigest`).
    pub fn digest(&self, domain: &Domain) -> B256 {
        typed::Voucher {
            channelId: self.channel_id,
            cumulative: U256::from(self.cumulative),
        }
        .eip712_signing_hash(&domain.eip712())
    }

    /// The payer's signature, `r ‖ s ‖ v` (65 bytes, low `s`, `v` 27 or 28).
    pub fn sign(&self, domain: &Domain, payer: &Wallet) -> Result<[u8; 65], VoucherError> {
        sign_digest(&self.digest(domain), payer)
    }

    /// Checks that `signature` is `payer`'s over this voucher in `domain`.
    pub fn verify(
        &self,
        domain: &Domain,
        signature: &[u8],
        payer: Address,
    ) -> Result<(), VoucherError> {
        expect_signer(&self.digest(domain), signature, payer)
    }
}

impl Close {
    pub fn new(channel_id: U256, cumulative: u128) -> Self {
        Close {
            channel_id,
            cumulative,
        }
    }

    /// The EIP-712 digest the payee signs (the contract's `closeDigest`).
    pub fn digest(&self, domain: &Domain) -> B256 {
        typed::Close {
            channelId: self.channel_id,
            cumulative: U256::from(self.cumulative),
        }
        .eip712_signing_hash(&domain.eip712())
    }

    /// The payee's signature, in the same form as a voucher's.
    pub fn sign(&self, domain: &Domain, payee: &Wallet) -> Result<[u8; 65], VoucherError> {
        sign_digest(&self.digest(domain), payee)
    }

    /// Checks that `signature` is `payee`'s over this close in `domain`.
    pub fn verify(
        &self,
        domain: &Domain,
        signature: &[u8],
        payee: Address,
    ) -> Result<(), VoucherError> {
        expect_signer(&self.digest(domain), signature, payee)
    }
}

fn sign_digest(digest: &B256, wallet: &Wallet) -> Result<[u8; 65], VoucherError> {
    let signature = wallet
        .signer()
        .sign_hash_sync(digest)
        .map_err(|e| VoucherError::Signing(e.to_string()))?;
    // k256 signs with a low s already; normalizing keeps that true whatever the signer.
    Ok(signature.normalized_s().as_bytes())
}

/// Half the secp256k1 group order: the largest `s` the contract accepts.
const HALF_ORDER: U256 = U256::from_be_bytes([
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

/// The address that signed `digest`, under the contract's rules (module docs).
pub fn recover(digest: &B256, signature: &[u8]) -> Result<Address, VoucherError> {
    let bytes: &[u8; 65] = signature
        .try_into()
        .map_err(|_| VoucherError::Length(signature.len()))?;
    let v = bytes[64];
    if v != 27 && v != 28 {
        return Err(VoucherError::RecoveryByte(v));
    }
    let s = U256::from_be_slice(&bytes[32..64]);
    if s > HALF_ORDER {
        return Err(VoucherError::HighS);
    }
    let parsed = alloy::primitives::Signature::from_raw_array(bytes)
        .map_err(|_| VoucherError::Unrecoverable)?;
    let address = parsed
        .recover_address_from_prehash(digest)
        .map_err(|_| VoucherError::Unrecoverable)?;
    if address == Address::ZERO {
        return Err(VoucherError::Unrecoverable);
    }
    Ok(address)
}

fn expect_signer(digest: &B256, signature: &[u8], expected: Address) -> Result<(), VoucherError> {
    let recovered = recover(digest, signature)?;
    if recovered != expected {
        return Err(VoucherError::WrongSigner {
            recovered,
            expected,
        });
    }
    Ok(())
}
