//! Keys, channels and receipts the tests and golden vectors share: payer seed `03…03`,
//! payee seed `04…04`, a stranger `05…05` (`contracts/pay.md`, Vectors).

use ed25519_dalek::SigningKey;

use super::*;
use crate::amount::Amount;
use crate::signed::Signed;

pub const NOW: u64 = 1_800_000_000_000;

pub fn payer_key() -> SigningKey {
    SigningKey::from_bytes(&[3u8; 32])
}

pub fn payee_key() -> SigningKey {
    SigningKey::from_bytes(&[4u8; 32])
}

pub fn stranger_key() -> SigningKey {
    SigningKey::from_bytes(&[5u8; 32])
}

pub fn public(key: &SigningKey) -> [u8; 32] {
    key.verifying_key().to_bytes()
}

pub fn signed_open(deposit: u64) -> Signed<ChannelOpen> {
    let open = ChannelOpen {
        payer: public(&payer_key()),
        payee: public(&payee_key()),
        deposit: Amount(deposit),
        nonce: 1,
        at: NOW,
        chain: None,
    };
    Signed::sign(open, &payer_key()).unwrap()
}

pub fn channel(deposit: u64) -> Channel {
    Channel::from_open(&signed_open(deposit)).unwrap()
}

/// A receipt on `channel` with the given total and seq, signed by the payer.
pub fn receipt(channel: &Channel, amount: u64, seq: u64) -> Signed<Receipt> {
    let receipt = Receipt {
        channel: channel.id,
        payer: channel.payer,
        payee: channel.payee,
        amount: Amount(amount),
        seq,
        deal: None,
        at: NOW + seq,
        voucher: None,
    };
    Signed::sign(receipt, &payer_key()).unwrap()
}
