//! Payment channels: the payer's signed open, the payee's signed close, and [`Channel`], what
//! either side knows of a channel, with the rules a receipt must pass against it.
//!
//! Invariants of a [`Channel`]: `paid <= deposit`; `paid` and `seq` only ever grow, together,
//! and always come from one receipt the payee accepted; `seq == 0` means no receipt yet.

use cid::Cid;

use super::receipt::Receipt;
use super::ChannelId;
use super::PayError;
use crate::amount::Amount;
use crate::signed::{Signable, Signed};

/// Largest encoded signed open accepted.
pub const MAX_OPEN_SIZE: usize = 1024;
/// Largest encoded signed close accepted.
pub const MAX_CLOSE_SIZE: usize = 1024;

/// The payer's signed commitment that opens a channel. Channel id = CID of the
/// `Signed<ChannelOpen>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelOpen {
    #[serde(with = "serde_bytes")]
    pub payer: [u8; 32],
    #[serde(with = "serde_bytes")]
    pub payee: [u8; 32],
    /// The most the payer can ever be asked for on this channel.
    pub deposit: Amount,
    /// Tells apart channels with the same parties and deposit, so each has its own id.
    pub nonce: u64,
    /// Unix ms.
    pub at: u64,
    /// Where the deposit is escrowed on chain; absent for a channel the ledger settles (and
    /// then the encoding is exactly version 1's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<super::OnChain>,
}

impl Signable for ChannelOpen {
    const DOMAIN: &'static str = "cairn/channel-open/1";
}

impl Signed<ChannelOpen> {
    /// Verifies the payer's signature, that the payer signed as itself, and that the channel
    /// is worth opening (a positive deposit between two distinct parties).
    pub fn check(&self) -> Result<&ChannelOpen, PayError> {
        let open = self.verify()?;
        if open.payer != self.signer {
            return Err(wrong_signer(&self.signer, &open.payer));
        }
        if open.deposit.0 == 0 {
            return Err(PayError::Invalid("deposit must be positive".into()));
        }
        if open.payer == open.payee {
            return Err(PayError::Invalid("payer and payee are the same key".into()));
        }
        Ok(open)
    }

    /// The channel id: for a channel escrowed on chain the contract's channel id, which the
    /// open names; for a ledger channel the CID of this signed open.
    pub fn channel_id(&self) -> Result<ChannelId, PayError> {
        match &self.payload.chain {
            Some(binding) => Ok(ChannelId::chain(binding.channel_id())),
            None => Ok(ChannelId::Open(self.cid()?)),
        }
    }
}

/// The payee's signed statement closing the channel at the highest receipt it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelClose {
    pub channel: ChannelId,
    /// The cumulative amount of the receipt the payee settles with (0 if it holds none).
    pub amount: Amount,
    /// That receipt's sequence number (0 if none).
    pub seq: u64,
    /// Unix ms.
    pub at: u64,
}

impl Signable for ChannelClose {
    const DOMAIN: &'static str = "cairn/channel-close/1";
}

impl Signed<ChannelClose> {
    /// Payer side: the close is signed by the channel's payee, for this channel, and claims
    /// no more than the payer has signed for.
    pub fn check(&self, channel: &Channel) -> Result<&ChannelClose, PayError> {
        let close = self.verify()?;
        if self.signer != channel.payee {
            return Err(wrong_signer(&self.signer, &channel.payee));
        }
        if close.channel != channel.id {
            return Err(PayError::WrongChannel);
        }
        if close.amount > channel.paid {
            return Err(PayError::Invalid(format!(
                "the close claims {} but the payer signed for {}",
                close.amount.0, channel.paid.0
            )));
        }
        Ok(close)
    }
}

/// What either side knows of a channel: plain data with the rules as methods.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Channel {
    pub id: ChannelId,
    #[serde(with = "serde_bytes")]
    pub payer: [u8; 32],
    #[serde(with = "serde_bytes")]
    pub payee: [u8; 32],
    pub deposit: Amount,
    /// Highest cumulative amount accepted.
    pub paid: Amount,
    /// The sequence number of that receipt; 0 = none yet.
    pub seq: u64,
    pub closed: bool,
}

/// What a payee's check of a receipt concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Above the latest: store it and [`Channel::apply`] it.
    New,
    /// The latest receipt again (same `seq`, same `amount`): acknowledge again, store nothing.
    /// This is how a payer's retry after a payee crash or a lost answer is answered.
    Duplicate,
}

impl Channel {
    /// The channel a checked open starts: nothing paid yet.
    pub fn from_open(open: &Signed<ChannelOpen>) -> Result<Channel, PayError> {
        let payload = open.check()?;
        Ok(Channel {
            id: open.channel_id()?,
            payer: payload.payer,
            payee: payload.payee,
            deposit: payload.deposit,
            paid: Amount(0),
            seq: 0,
            closed: false,
        })
    }

    /// Payee side: verifies the signature, then [`Channel::check_verified`].
    pub fn check_receipt(&self, receipt: &Signed<Receipt>) -> Result<Verdict, PayError> {
        receipt.verify()?;
        self.check_verified(receipt)
    }

    /// The same rules without the signature check, for receipts whose signatures were
    /// verified already ([`super::verify_batch`]). In order: channel id, signer is the payer,
    /// payer and payee fields match, channel open, duplicate of the latest, `seq` above the
    /// latest, amount above the latest, amount within the deposit.
    pub fn check_verified(&self, receipt: &Signed<Receipt>) -> Result<Verdict, PayError> {
        let r = self.check_parties(receipt)?;
        if self.closed {
            return Err(PayError::ChannelClosed);
        }
        // Checked before the ordering rules, which would call it a replay: a retry of the
        // latest receipt must get the same answer as the first time.
        if self.seq > 0 && r.seq == self.seq && r.amount == self.paid {
            return Ok(Verdict::Duplicate);
        }
        if r.seq <= self.seq {
            return Err(PayError::Replayed {
                seq: r.seq,
                latest: self.seq,
            });
        }
        if r.amount <= self.paid {
            return Err(PayError::NotIncreasing {
                amount: r.amount.0,
                latest: self.paid.0,
            });
        }
        if r.amount > self.deposit {
            return Err(PayError::OverDeposit {
                amount: r.amount.0,
                deposit: self.deposit.0,
            });
        }
        Ok(Verdict::New)
    }

    /// The checks that tie a receipt to this channel and its two parties, for a caller that
    /// checks more (an on-chain voucher) before the ordering rules.
    pub fn check_parties_of(&self, receipt: &Signed<Receipt>) -> Result<(), PayError> {
        self.check_parties(receipt).map(|_| ())
    }

    /// The checks that tie a receipt to this channel and its two parties (shared with
    /// settlement, which accepts closed channels).
    pub(super) fn check_parties<'a>(
        &self,
        receipt: &'a Signed<Receipt>,
    ) -> Result<&'a Receipt, PayError> {
        let r = &receipt.payload;
        if r.channel != self.id {
            return Err(PayError::WrongChannel);
        }
        if receipt.signer != self.payer {
            return Err(wrong_signer(&receipt.signer, &self.payer));
        }
        if r.payer != self.payer {
            return Err(PayError::WrongChannel);
        }
        if r.payee != self.payee {
            return Err(PayError::WrongPayee);
        }
        Ok(r)
    }

    /// Records an accepted receipt: its amount and seq become the latest. Meant for a receipt
    /// [`Channel::check_receipt`] called [`Verdict::New`]; anything not above the latest on
    /// both counts is ignored, so a misuse can never move the channel backwards.
    pub fn apply(&mut self, receipt: &Receipt) {
        if receipt.seq > self.seq && receipt.amount > self.paid {
            self.paid = receipt.amount;
            self.seq = receipt.seq;
        }
    }

    /// Payer side: the next receipt, paying `increment` more than the latest.
    pub fn next_receipt(
        &self,
        increment: Amount,
        deal: Option<Cid>,
        at: u64,
    ) -> Result<Receipt, PayError> {
        if self.closed {
            return Err(PayError::ChannelClosed);
        }
        if increment.0 == 0 {
            return Err(PayError::Invalid("a receipt must pay something".into()));
        }
        let amount = self.paid.checked_add(increment)?;
        if amount > self.deposit {
            return Err(PayError::OverDeposit {
                amount: amount.0,
                deposit: self.deposit.0,
            });
        }
        Ok(Receipt {
            channel: self.id,
            payer: self.payer,
            payee: self.payee,
            amount,
            seq: self.seq.checked_add(1).ok_or(PayError::Overflow)?,
            deal,
            at,
            voucher: None,
        })
    }

    /// What the payer can still pay on this channel.
    pub fn remaining(&self) -> Amount {
        Amount(self.deposit.0.saturating_sub(self.paid.0))
    }
}

fn wrong_signer(signer: &[u8; 32], expected: &[u8; 32]) -> PayError {
    PayError::WrongSigner {
        signer: hex::encode(signer),
        expected: hex::encode(expected),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn an_open_checks_its_signer_deposit_and_parties() {
        let open = signed_open(1000);
        let channel = Channel::from_open(&open).unwrap();
        assert_eq!(channel.id, open.cid().unwrap().into());
        assert_eq!(
            (channel.paid, channel.seq, channel.closed),
            (Amount(0), 0, false)
        );
        let bytes = open.to_bytes().unwrap();
        assert_eq!(
            Signed::<ChannelOpen>::from_bytes(&bytes, MAX_OPEN_SIZE).unwrap(),
            open
        );

        let mut forged = open.clone();
        forged.signature[5] ^= 1;
        assert_eq!(forged.check().unwrap_err().reason(), "bad_signature");
        let impostor = Signed::sign(open.payload.clone(), &payee_key()).unwrap();
        assert_eq!(impostor.check().unwrap_err().reason(), "wrong_signer");
        let empty = Signed::sign(
            ChannelOpen {
                deposit: Amount(0),
                ..open.payload.clone()
            },
            &payer_key(),
        )
        .unwrap();
        assert_eq!(empty.check().unwrap_err().reason(), "invalid");
        let to_self = ChannelOpen {
            payee: open.payload.payer,
            ..open.payload.clone()
        };
        let to_self = Signed::sign(to_self, &payer_key()).unwrap();
        assert_eq!(
            Channel::from_open(&to_self).unwrap_err().reason(),
            "invalid"
        );
    }

    #[test]
    fn next_receipt_counts_up_and_stops_at_the_deposit() {
        let mut channel = channel(100);
        let first = channel.next_receipt(Amount(60), None, NOW).unwrap();
        assert_eq!(
            (first.amount, first.seq, first.channel),
            (Amount(60), 1, channel.id)
        );
        channel.apply(&first);
        assert_eq!(channel.remaining(), Amount(40));
        assert_eq!(
            channel.next_receipt(Amount(41), None, NOW).unwrap_err(),
            PayError::OverDeposit {
                amount: 101,
                deposit: 100
            }
        );
        assert_eq!(
            channel
                .next_receipt(Amount(0), None, NOW)
                .unwrap_err()
                .reason(),
            "invalid"
        );
        let last = channel.next_receipt(Amount(40), None, NOW).unwrap();
        assert_eq!((last.amount, last.seq), (Amount(100), 2));
        channel.closed = true;
        assert_eq!(
            channel
                .next_receipt(Amount(1), None, NOW)
                .unwrap_err()
                .reason(),
            "channel_closed"
        );
    }

    #[test]
    fn next_receipt_refuses_to_overflow() {
        let mut channel = channel(u64::MAX);
        channel.paid = Amount(u64::MAX - 5);
        channel.seq = 9;
        assert_eq!(
            channel.next_receipt(Amount(6), None, NOW).unwrap_err(),
            PayError::Overflow
        );
        assert_eq!(
            channel.next_receipt(Amount(5), None, NOW).unwrap().amount,
            Amount(u64::MAX)
        );
        channel.seq = u64::MAX;
        assert_eq!(
            channel.next_receipt(Amount(1), None, NOW).unwrap_err(),
            PayError::Overflow
        );
    }

    #[test]
    fn apply_never_moves_a_channel_backwards() {
        let mut channel = channel(1000);
        let r = channel.next_receipt(Amount(500), None, NOW).unwrap();
        channel.apply(&r);
        let older = Receipt {
            amount: Amount(100),
            seq: 1,
            ..r.clone()
        };
        channel.apply(&older);
        let lower = Receipt {
            amount: Amount(100),
            seq: 7,
            ..r
        };
        channel.apply(&lower);
        assert_eq!((channel.paid, channel.seq), (Amount(500), 1));
    }
}
