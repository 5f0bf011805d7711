//! A channel's whole history checked offline: its signed open and every receipt, as exported
//! by `cairn pay receipts --export`. Anyone can run it (`cairn pay verify`): signatures
//! (verified as a batch), one channel, sequence numbers and cumulative amounts strictly
//! increasing, never past the deposit.

use super::{verify_batch, Channel, ChannelId, ChannelOpen, PayError, Receipt, Verdict};
use crate::amount::Amount;
use crate::signed::Signed;

/// What a verified history adds up to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryReport {
    pub channel: ChannelId,
    pub payer: String,
    pub payee: String,
    pub deposit: Amount,
    pub receipts: usize,
    /// The highest receipt's cumulative amount: what the channel settles at.
    pub total: Amount,
    pub last_seq: u64,
}

/// The first receipt that breaks the rules, by its position in the history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("receipt {index}: {error}")]
pub struct HistoryError {
    pub index: usize,
    pub error: PayError,
}

/// Checks `receipts` in order against the channel `open` opened.
pub fn verify_history(
    open: &Signed<ChannelOpen>,
    receipts: &[Signed<Receipt>],
) -> Result<HistoryReport, HistoryError> {
    let mut channel = Channel::from_open(open).map_err(|error| HistoryError { index: 0, error })?;
    let signatures = verify_batch(receipts);
    for (index, (receipt, signature)) in receipts.iter().zip(signatures).enumerate() {
        let fail = |error| HistoryError { index, error };
        signature.map_err(fail)?;
        match channel.check_verified(receipt).map_err(fail)? {
            Verdict::New => channel.apply(&receipt.payload),
            Verdict::Duplicate => {
                return Err(fail(PayError::Replayed {
                    seq: receipt.payload.seq,
                    latest: channel.seq,
                }))
            }
        }
    }
    Ok(HistoryReport {
        channel: channel.id,
        payer: hex::encode(channel.payer),
        payee: hex::encode(channel.payee),
        deposit: channel.deposit,
        receipts: receipts.len(),
        total: channel.paid,
        last_seq: channel.seq,
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    fn open(payer: &SigningKey, payee: &SigningKey) -> Signed<ChannelOpen> {
        Signed::sign(
            ChannelOpen {
                payer: payer.verifying_key().to_bytes(),
                payee: payee.verifying_key().to_bytes(),
                deposit: Amount(1000),
                nonce: 1,
                at: 1,
                chain: None,
            },
            payer,
        )
        .unwrap()
    }

    fn history(
        payer: &SigningKey,
        payee: &SigningKey,
    ) -> (Signed<ChannelOpen>, Vec<Signed<Receipt>>) {
        let open = open(payer, payee);
        let mut channel = Channel::from_open(&open).unwrap();
        let mut receipts = Vec::new();
        for step in [100, 250, 50] {
            let receipt = channel.next_receipt(Amount(step), None, 2).unwrap();
            channel.apply(&receipt);
            receipts.push(Signed::sign(receipt, payer).unwrap());
        }
        (open, receipts)
    }

    #[test]
    fn a_valid_history_adds_up_to_its_highest_receipt() {
        let (payer, payee) = (
            SigningKey::from_bytes(&[3; 32]),
            SigningKey::from_bytes(&[4; 32]),
        );
        let (open, receipts) = history(&payer, &payee);
        let report = verify_history(&open, &receipts).unwrap();
        assert_eq!(report.total, Amount(400));
        assert_eq!((report.receipts, report.last_seq), (3, 3));
    }

    #[test]
    fn a_reordered_forged_or_repeated_receipt_is_pinpointed() {
        let (payer, payee) = (
            SigningKey::from_bytes(&[3; 32]),
            SigningKey::from_bytes(&[4; 32]),
        );
        let (open, receipts) = history(&payer, &payee);

        let mut swapped = receipts.clone();
        swapped.swap(1, 2);
        assert_eq!(verify_history(&open, &swapped).unwrap_err().index, 2);

        let mut forged = receipts.clone();
        forged[1].payload.amount = Amount(999);
        let err = verify_history(&open, &forged).unwrap_err();
        assert_eq!((err.index, err.error.reason()), (1, "bad_signature"));

        let mut repeated = receipts.clone();
        repeated.push(receipts[2].clone());
        let err = verify_history(&open, &repeated).unwrap_err();
        assert_eq!((err.index, err.error.reason()), (3, "replayed"));
    }
}
