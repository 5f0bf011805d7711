//! Channels escrowed on an EVM chain (`contracts/pay.md`, "On-chain channels"): the binding a
//! [`super::ChannelOpen`] carries from its ed25519 channel to one channel of one deployed
//! `CairnChannels` contract, and the EIP-712 voucher a [`super::Receipt`] on such a channel
//! carries beside its ed25519 envelope.
//!
//! Plain data and rules, no chain needed. Invariants:
//! - A binding names the chain id, the contract, the contract's channel id and both parties'
//!   EVM addresses; it is inside the payer's ed25519-signed open, so the payer's identity and
//!   its on-chain channel are bound by one signature (the payee's address is bound by the
//!   payee's own ed25519-signed ask, `contracts/market.md`).
//! - A receipt on a bound channel is accepted only if its voucher is the binding's payer's
//!   EIP-712 signature over `(chainId, contract, channelId, cumulative = receipt.amount)`:
//!   exactly what the contract's `claim` will accept, so an acknowledged receipt is cashable.

use alloy::primitives::{Address, U256};

use super::{PayError, Receipt};
use crate::chain::{Domain, Voucher, VoucherError, Wallet};

/// Where a channel's deposit is escrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnChain {
    /// The contract's channel id, a big-endian `uint256`.
    #[serde(with = "serde_bytes")]
    pub id: [u8; 32],
    /// The payee's EVM address (the channel's `payee` on chain).
    #[serde(with = "serde_bytes")]
    pub payee: [u8; 20],
    /// The payer's EVM address, which signs the vouchers.
    #[serde(with = "serde_bytes")]
    pub payer: [u8; 20],
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The `CairnChannels` contract.
    #[serde(with = "serde_bytes")]
    pub contract: [u8; 20],
}

impl OnChain {
    pub fn new(domain: Domain, id: U256, payer: Address, payee: Address) -> Self {
        OnChain {
            id: id.to_be_bytes(),
            payee: payee.into_array(),
            payer: payer.into_array(),
            chain_id: domain.chain_id,
            contract: domain.contract.into_array(),
        }
    }

    /// The EIP-712 domain of this channel's vouchers.
    pub fn domain(&self) -> Domain {
        Domain::new(self.chain_id, Address::from(self.contract))
    }

    /// The contract's channel id.
    pub fn channel_id(&self) -> U256 {
        U256::from_be_bytes(self.id)
    }

    pub fn payer_address(&self) -> Address {
        Address::from(self.payer)
    }

    pub fn payee_address(&self) -> Address {
        Address::from(self.payee)
    }

    /// The voucher a receipt for `cumulative` on this channel carries.
    pub fn voucher(&self, cumulative: u64) -> Voucher {
        Voucher::new(self.channel_id(), u128::from(cumulative))
    }

    /// Payer side: signs the voucher for `cumulative` with the payer's wallet.
    pub fn sign_voucher(&self, cumulative: u64, payer: &Wallet) -> Result<Vec<u8>, PayError> {
        if payer.address() != self.payer_address() {
            return Err(PayError::Invalid(format!(
                "the wallet {} is not the channel's payer {}",
                payer.address(),
                self.payer_address()
            )));
        }
        self.voucher(cumulative)
            .sign(&self.domain(), payer)
            .map(|s| s.to_vec())
            .map_err(voucher_error)
    }

    /// Payee side: the receipt's voucher is the payer's signature over its cumulative amount
    /// in this channel's domain (see the module docs).
    pub fn check_voucher(&self, receipt: &Receipt) -> Result<(), PayError> {
        let Some(signature) = receipt.voucher.as_deref() else {
            return Err(PayError::MissingVoucher);
        };
        self.voucher(receipt.amount.0)
            .verify(&self.domain(), signature, self.payer_address())
            .map_err(voucher_error)
    }

    /// Whether this binding is on the chain and contract `domain` names.
    pub fn is_on(&self, domain: &Domain) -> bool {
        self.domain() == *domain
    }
}

fn voucher_error(e: VoucherError) -> PayError {
    PayError::BadVoucher(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::amount::Amount;
    use crate::signed::Signed;

    fn wallet(byte: u8) -> Wallet {
        Wallet::from_secret([byte; 32]).unwrap()
    }

    fn binding() -> OnChain {
        OnChain::new(
            Domain::new(31_337, Address::repeat_byte(0xcc)),
            U256::from(7),
            wallet(0x11).address(),
            wallet(0x22).address(),
        )
    }

    fn receipt_with(voucher: Option<Vec<u8>>, amount: u64) -> Receipt {
        let mut r = receipt(&channel(1000), amount, 1).payload;
        r.voucher = voucher;
        r
    }

    #[test]
    fn a_voucher_is_checked_against_the_binding() {
        let binding = binding();
        assert_eq!(binding.channel_id(), U256::from(7));
        let good = binding.sign_voucher(250, &wallet(0x11)).unwrap();
        assert_eq!(good.len(), 65);
        assert_eq!(
            binding.check_voucher(&receipt_with(Some(good.clone()), 250)),
            Ok(())
        );
        // The same signature for another amount, channel, chain or contract is refused.
        let refused = |b: &OnChain, r: &Receipt| b.check_voucher(r).unwrap_err().reason();
        assert_eq!(
            refused(&binding, &receipt_with(Some(good.clone()), 251)),
            "bad_voucher"
        );
        let other_channel = OnChain {
            id: U256::from(8).to_be_bytes(),
            ..binding
        };
        let other_chain = OnChain {
            chain_id: 1,
            ..binding
        };
        let other_contract = OnChain {
            contract: [0xcd; 20],
            ..binding
        };
        for other in [other_channel, other_chain, other_contract] {
            assert_eq!(
                refused(&other, &receipt_with(Some(good.clone()), 250)),
                "bad_voucher"
            );
        }
        // Signed by someone else, malformed, missing.
        let by_stranger = binding
            .voucher(250)
            .sign(&binding.domain(), &wallet(0x33))
            .unwrap()
            .to_vec();
        assert_eq!(
            refused(&binding, &receipt_with(Some(by_stranger), 250)),
            "bad_voucher"
        );
        let mut flipped = good.clone();
        flipped[10] ^= 1;
        assert_eq!(
            refused(&binding, &receipt_with(Some(flipped), 250)),
            "bad_voucher"
        );
        assert_eq!(
            refused(&binding, &receipt_with(Some(good[..64].to_vec()), 250)),
            "bad_voucher"
        );
        assert_eq!(
            refused(&binding, &receipt_with(None, 250)),
            "missing_voucher"
        );
        // Only the payer's wallet signs.
        assert_eq!(
            binding.sign_voucher(1, &wallet(0x22)).unwrap_err().reason(),
            "invalid"
        );
    }

    #[test]
    fn a_receipt_with_a_voucher_round_trips_and_one_without_keeps_its_old_bytes() {
        let binding = binding();
        let plain = receipt(&channel(1000), 100, 1);
        let mut with = plain.payload.clone();
        with.voucher = Some(binding.sign_voucher(100, &wallet(0x11)).unwrap());
        with.amount = Amount(100);
        let signed = Signed::sign(with, &payer_key()).unwrap();
        let bytes = signed.to_bytes().unwrap();
        assert_eq!(
            Signed::<Receipt>::from_bytes(&bytes, super::super::MAX_RECEIPT_SIZE).unwrap(),
            signed
        );
        // Without a voucher the field is absent: ledger receipts are byte-for-byte version 1.
        let plain_bytes = plain.to_bytes().unwrap();
        assert!(!plain_bytes.windows(7).any(|w| w == b"voucher"));
        assert!(bytes.windows(7).any(|w| w == b"voucher"));
    }
}
