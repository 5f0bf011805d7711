//! Receipts: the payer's signed word that it has paid a cumulative amount on a channel, and
//! the batch verification a payee uses when receipts arrive many at a time.
//!
//! A receipt's acceptance rules live with the channel it is checked against
//! ([`super::Channel::check_receipt`]); this file owns the object and its signatures.

use cid::Cid;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use super::PayError;
use crate::amount::Amount;
use crate::signed::{signing_bytes, Signable, Signed};

/// Largest encoded signed receipt accepted.
pub const MAX_RECEIPT_SIZE: usize = 1024;

/// A cumulative payment: "the payer has paid `amount` in total on `channel`". Signed by the
/// payer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub channel: super::ChannelId,
    #[serde(with = "serde_bytes")]
    pub payer: [u8; 32],
    #[serde(with = "serde_bytes")]
    pub payee: [u8; 32],
    /// Total paid on the channel so far, not the increment: the highest receipt says it all.
    pub amount: Amount,
    /// Grows by at least one with every receipt of the channel.
    pub seq: u64,
    /// The deal this increment pays for, if any (informative: it does not change the rules).
    pub deal: Option<Cid>,
    /// Unix ms.
    pub at: u64,
    /// On an on-chain channel: the payer's EIP-712 voucher signature (65 bytes) over this
    /// receipt's `amount` (`super::onchain`); absent on a ledger channel.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub voucher: Option<Vec<u8>>,
}

impl Signable for Receipt {
    const DOMAIN: &'static str = "cairn/receipt/1";
}

/// Verifies many receipts' signatures at once (`ed25519_dalek::verify_batch` over the same
/// signing bytes as [`Signed::verify`]); if the batch fails, falls back to one-by-one so the
/// result says which ones are bad. One entry per receipt, in order.
///
/// A batch equation can hold for a maliciously made signature (one whose `R` has a
/// small-order component) that single verification refuses; honest signers never make one.
/// The receipt a payee settles with is verified singly again ([`super::check_settlement`]).
pub fn verify_batch(receipts: &[Signed<Receipt>]) -> Vec<Result<(), PayError>> {
    let mut results = vec![Ok(()); receipts.len()];
    let mut batch = Batch::with_capacity(receipts.len());
    // Batches usually come from one payer: decompress each distinct key once.
    let mut keys: Vec<([u8; 32], VerifyingKey)> = Vec::new();
    for (index, receipt) in receipts.iter().enumerate() {
        match batch.push(index, receipt, &mut keys) {
            Ok(()) => {}
            Err(e) => results[index] = Err(e),
        }
    }
    if batch.indices.is_empty() {
        return results;
    }
    let messages: Vec<&[u8]> = batch.messages.iter().map(Vec::as_slice).collect();
    if ed25519_dalek::verify_batch(&messages, &batch.signatures, &batch.keys).is_err() {
        for (j, &index) in batch.indices.iter().enumerate() {
            results[index] = batch.keys[j]
                .verify(messages[j], &batch.signatures[j])
                .map_err(|_| PayError::BadSignature);
        }
    }
    results
}

/// The parallel arrays `ed25519_dalek::verify_batch` takes, and where each entry came from.
struct Batch {
    indices: Vec<usize>,
    messages: Vec<Vec<u8>>,
    signatures: Vec<Signature>,
    keys: Vec<VerifyingKey>,
}

impl Batch {
    fn with_capacity(n: usize) -> Self {
        Batch {
            indices: Vec::with_capacity(n),
            messages: Vec::with_capacity(n),
            signatures: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
        }
    }

    /// Adds one receipt, or says why it cannot even be verified (a signer that is not a
    /// curve point, a payload that does not encode).
    fn push(
        &mut self,
        index: usize,
        receipt: &Signed<Receipt>,
        keys: &mut Vec<([u8; 32], VerifyingKey)>,
    ) -> Result<(), PayError> {
        let key = match keys.iter().find(|(bytes, _)| *bytes == receipt.signer) {
            Some((_, key)) => *key,
            None => {
                let key = VerifyingKey::from_bytes(&receipt.signer)
                    .map_err(|_| PayError::BadSignature)?;
                keys.push((receipt.signer, key));
                key
            }
        };
        let message = signing_bytes(&receipt.payload)?;
        self.indices.push(index);
        self.messages.push(message);
        self.signatures
            .push(Signature::from_bytes(&receipt.signature));
        self.keys.push(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::super::fixtures::*;
    use super::super::{Channel, Verdict};
    use super::*;

    fn reason(channel: &Channel, receipt: &Signed<Receipt>) -> &'static str {
        channel.check_receipt(receipt).unwrap_err().reason()
    }

    /// A channel of 1000 with one receipt of 300 (seq 3) accepted.
    fn paid_channel() -> (Channel, Signed<Receipt>) {
        let mut channel = channel(1000);
        let latest = receipt(&channel, 300, 3);
        assert_eq!(channel.check_receipt(&latest).unwrap(), Verdict::New);
        channel.apply(&latest.payload);
        (channel, latest)
    }

    #[test]
    fn a_receipt_signs_verifies_and_round_trips_canonically() {
        let channel = channel(1000);
        let signed = receipt(&channel, 10, 1);
        assert_eq!(signed.verify().unwrap().amount, Amount(10));
        assert_eq!(signed.signer, public(&payer_key()));
        let bytes = signed.to_bytes().unwrap();
        let decoded = Signed::<Receipt>::from_bytes(&bytes, MAX_RECEIPT_SIZE).unwrap();
        assert_eq!(decoded, signed);
        assert_eq!(decoded.to_bytes().unwrap(), bytes);
        let mut trailing = bytes.clone();
        trailing.push(0);
        let err = Signed::<Receipt>::from_bytes(&trailing, MAX_RECEIPT_SIZE).unwrap_err();
        assert_eq!(PayError::from(err).reason(), "malformed");
        let err = Signed::<Receipt>::from_bytes(&bytes, 64).unwrap_err();
        assert_eq!(PayError::from(err).reason(), "too_large");
    }

    #[test]
    fn each_broken_rule_is_refused_with_its_reason() {
        let (channel, latest) = paid_channel();
        let next = receipt(&channel, 400, 4);
        assert_eq!(channel.check_receipt(&next).unwrap(), Verdict::New);

        let mut forged = next.clone();
        forged.signature[0] ^= 1;
        assert_eq!(reason(&channel, &forged), "bad_signature");
        let mut tampered = next.clone();
        tampered.payload.amount = Amount(999);
        assert_eq!(reason(&channel, &tampered), "bad_signature");

        let by_stranger = Signed::sign(next.payload.clone(), &stranger_key()).unwrap();
        assert!(matches!(
            channel.check_receipt(&by_stranger).unwrap_err(),
            PayError::WrongSigner { .. }
        ));

        let sign = |r: Receipt| Signed::sign(r, &payer_key()).unwrap();
        let other_payee = sign(Receipt {
            payee: public(&stranger_key()),
            ..next.payload.clone()
        });
        assert_eq!(reason(&channel, &other_payee), "wrong_payee");
        let other_channel = sign(Receipt {
            channel: signed_open(5).cid().unwrap().into(),
            ..next.payload.clone()
        });
        assert_eq!(reason(&channel, &other_channel), "wrong_channel");
        let other_payer = Signed::sign(
            Receipt {
                payer: public(&stranger_key()),
                ..next.payload.clone()
            },
            &payer_key(),
        )
        .unwrap();
        assert_eq!(reason(&channel, &other_payer), "wrong_channel");

        // Same seq as the latest with other bytes, or a lower seq: a replay.
        assert_eq!(
            channel
                .check_receipt(&receipt(&channel, 400, 3))
                .unwrap_err(),
            PayError::Replayed { seq: 3, latest: 3 }
        );
        assert_eq!(reason(&channel, &receipt(&channel, 400, 2)), "replayed");
        assert_eq!(reason(&channel, &receipt(&channel, 400, 0)), "replayed");
        // A higher seq does not make a lower or equal total worth anything.
        assert_eq!(
            channel
                .check_receipt(&receipt(&channel, 300, 4))
                .unwrap_err(),
            PayError::NotIncreasing {
                amount: 300,
                latest: 300
            }
        );
        assert_eq!(
            reason(&channel, &receipt(&channel, 299, 4)),
            "not_increasing"
        );
        assert_eq!(
            channel
                .check_receipt(&receipt(&channel, 1001, 4))
                .unwrap_err(),
            PayError::OverDeposit {
                amount: 1001,
                deposit: 1000
            }
        );
        assert_eq!(
            channel.check_receipt(&receipt(&channel, 1000, 4)).unwrap(),
            Verdict::New
        );

        // The exact latest again: acknowledged, nothing to store.
        assert_eq!(channel.check_receipt(&latest).unwrap(), Verdict::Duplicate);
    }

    #[test]
    fn a_closed_channel_takes_no_receipt() {
        let (mut channel, latest) = paid_channel();
        channel.closed = true;
        assert_eq!(
            reason(&channel, &receipt(&channel, 400, 4)),
            "channel_closed"
        );
        assert_eq!(reason(&channel, &latest), "channel_closed");
    }

    #[test]
    fn the_first_receipt_needs_a_positive_seq_and_amount() {
        let channel = channel(1000);
        assert_eq!(reason(&channel, &receipt(&channel, 10, 0)), "replayed");
        assert_eq!(reason(&channel, &receipt(&channel, 0, 1)), "not_increasing");
    }

    #[test]
    fn a_batch_of_good_receipts_all_verify() {
        let channel = channel(1_000_000);
        let receipts: Vec<_> = (1..=64).map(|i| receipt(&channel, i * 10, i)).collect();
        let results = verify_batch(&receipts);
        assert_eq!(results.len(), 64);
        assert!(results.iter().all(Result::is_ok));
        assert!(verify_batch(&[]).is_empty());
    }

    #[test]
    fn a_batch_names_exactly_the_bad_receipts() {
        let channel = channel(1_000_000);
        let mut receipts: Vec<_> = (1..=64).map(|i| receipt(&channel, i * 10, i)).collect();
        receipts[17].signature[10] ^= 0x40;
        let results = verify_batch(&receipts);
        for (i, result) in results.iter().enumerate() {
            if i == 17 {
                assert_eq!(result, &Err(PayError::BadSignature));
            } else {
                assert_eq!(result, &Ok(()), "receipt {i}");
            }
        }
        // A signer that is not a curve point is refused without spoiling the rest, and a
        // stranger's good signature is good here: whose it should be is the channel's rule.
        receipts[17] = receipt(&channel, 180, 18);
        let off_curve = (0..=u8::MAX)
            .map(|b| [b; 32])
            .find(|k| VerifyingKey::from_bytes(k).is_err())
            .unwrap();
        receipts[3].signer = off_curve;
        receipts[40] = Signed::sign(receipts[40].payload.clone(), &stranger_key()).unwrap();
        let results = verify_batch(&receipts);
        assert_eq!(results[3], Err(PayError::BadSignature));
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    }

    /// Random increments, with retries and replays mixed in, through both sides' rules:
    /// the payee's total is always the sum the payer meant to pay, and never over the deposit.
    #[test]
    fn random_payments_add_up_and_never_pass_the_deposit() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let deposit = 400_000;
        let mut payer = channel(deposit);
        let mut payee = payer.clone();
        let mut sum = 0u64;
        let mut sent: Vec<Signed<Receipt>> = Vec::new();
        for _ in 0..500 {
            let increment = rng.gen_range(1..=2_000);
            let receipt = match payer.next_receipt(Amount(increment), None, NOW) {
                Ok(receipt) => receipt,
                Err(PayError::OverDeposit { amount, deposit: d }) => {
                    assert_eq!((amount, d), (sum + increment, deposit));
                    continue;
                }
                Err(e) => panic!("{e}"),
            };
            let signed = Signed::sign(receipt, &payer_key()).unwrap();
            assert_eq!(payee.check_receipt(&signed).unwrap(), Verdict::New);
            payee.apply(&signed.payload);
            payer.apply(&signed.payload);
            sum += increment;
            sent.push(signed);
            // A retry of the latest is acknowledged; anything older is a replay.
            if rng.gen_ratio(1, 5) {
                let latest = sent.last().unwrap();
                assert_eq!(payee.check_receipt(latest).unwrap(), Verdict::Duplicate);
            }
            if sent.len() > 1 && rng.gen_ratio(1, 5) {
                let old = &sent[rng.gen_range(0..sent.len() - 1)];
                assert_eq!(payee.check_receipt(old).unwrap_err().reason(), "replayed");
            }
            assert_eq!(payee.paid, Amount(sum));
            assert!(payee.paid <= payee.deposit);
            assert_eq!(payee, payer);
        }
        assert!(
            sum > deposit - 2_000,
            "the run should reach the deposit ({sum})"
        );
    }
}
