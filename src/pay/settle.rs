//! Settlement: cashing a channel's final receipt. Behind a trait so the receipt format does
//! not depend on where it is cashed: the first backend is the node's own ledger (in
//! `node::pay`), an on-chain one can be added later without touching receipts.

use futures::future::BoxFuture;

use super::{Channel, PayError, Receipt};
use crate::amount::Amount;
use crate::signed::Signed;

/// A channel settled: the amount the payee keeps, by which backend.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settled {
    pub channel: super::ChannelId,
    pub amount: Amount,
    pub seq: u64,
    pub backend: &'static str,
}

/// Where a channel's final receipt is cashed.
pub trait Settlement: Send + Sync {
    /// The backend's name, recorded with each settlement (`ledger`, ...).
    fn name(&self) -> &'static str;

    /// Settles `channel` with `last`, the highest receipt the payee holds (`None` if it never
    /// got one: nothing is owed). Implementations call [`check_settlement`] first: the
    /// receipt must be for this channel, signed by its payer, and match `channel.paid` and
    /// `channel.seq`.
    fn settle<'a>(
        &'a self,
        channel: &'a Channel,
        last: Option<&'a Signed<Receipt>>,
    ) -> BoxFuture<'a, Result<Settled, PayError>>;
}

/// Checks that `last` is what `channel` says was paid, and returns `(amount, seq)` to settle.
///
/// The signature is verified singly here, whatever checked it before: the receipt that is
/// cashed must pass the plain ed25519 check anyone else would apply (see
/// [`super::verify_batch`] on why a batch is not enough for that).
pub fn check_settlement(
    channel: &Channel,
    last: Option<&Signed<Receipt>>,
) -> Result<(Amount, u64), PayError> {
    let Some(receipt) = last else {
        if channel.seq != 0 || channel.paid.0 != 0 {
            return Err(PayError::Invalid(format!(
                "the channel was paid {} (seq {}) but no receipt was given",
                channel.paid.0, channel.seq
            )));
        }
        return Ok((Amount(0), 0));
    };
    receipt.verify()?;
    let r = channel.check_parties(receipt)?;
    if r.amount > channel.deposit {
        return Err(PayError::OverDeposit {
            amount: r.amount.0,
            deposit: channel.deposit.0,
        });
    }
    if r.amount != channel.paid || r.seq != channel.seq {
        return Err(PayError::Invalid(format!(
            "the receipt pays {} (seq {}), the channel's latest is {} (seq {})",
            r.amount.0, r.seq, channel.paid.0, channel.seq
        )));
    }
    Ok((r.amount, r.seq))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::super::channel::MAX_CLOSE_SIZE;
    use super::super::fixtures::*;
    use super::super::ChannelClose;
    use super::*;

    /// A backend that keeps nothing: enough to show the trait is object-safe and usable.
    struct Echo;

    impl Settlement for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
        fn settle<'a>(
            &'a self,
            channel: &'a Channel,
            last: Option<&'a Signed<Receipt>>,
        ) -> BoxFuture<'a, Result<Settled, PayError>> {
            Box::pin(async move {
                let (amount, seq) = check_settlement(channel, last)?;
                Ok(Settled {
                    channel: channel.id,
                    amount,
                    seq,
                    backend: self.name(),
                })
            })
        }
    }

    #[test]
    fn settlement_takes_exactly_the_latest_receipt() {
        let mut channel = channel(1000);
        assert_eq!(check_settlement(&channel, None).unwrap(), (Amount(0), 0));
        let first = receipt(&channel, 100, 1);
        channel.apply(&first.payload);
        let latest = receipt(&channel, 250, 2);
        channel.apply(&latest.payload);
        channel.closed = true;

        let backend: &dyn Settlement = &Echo;
        let settled = futures::executor::block_on(backend.settle(&channel, Some(&latest))).unwrap();
        assert_eq!(
            settled,
            Settled {
                channel: channel.id,
                amount: Amount(250),
                seq: 2,
                backend: "echo"
            }
        );
        assert_eq!(
            check_settlement(&channel, Some(&first))
                .unwrap_err()
                .reason(),
            "invalid"
        );
        assert_eq!(
            check_settlement(&channel, None).unwrap_err().reason(),
            "invalid"
        );
        let mut forged = latest.clone();
        forged.signature[1] ^= 1;
        assert_eq!(
            check_settlement(&channel, Some(&forged))
                .unwrap_err()
                .reason(),
            "bad_signature"
        );
        let other = Channel {
            id: signed_open(7).cid().unwrap().into(),
            ..channel.clone()
        };
        assert_eq!(
            check_settlement(&other, Some(&latest))
                .unwrap_err()
                .reason(),
            "wrong_channel"
        );
        let by_stranger = Signed::sign(latest.payload.clone(), &stranger_key()).unwrap();
        assert_eq!(
            check_settlement(&channel, Some(&by_stranger))
                .unwrap_err()
                .reason(),
            "wrong_signer"
        );
    }

    #[test]
    fn a_signed_close_is_checked_against_the_channel() {
        let mut channel = channel(1000);
        channel.apply(&channel.next_receipt(Amount(300), None, NOW).unwrap());
        let close = |amount: u64, key: &SigningKey| {
            let close = ChannelClose {
                channel: channel.id,
                amount: Amount(amount),
                seq: 1,
                at: NOW,
            };
            Signed::sign(close, key).unwrap()
        };
        let good = close(300, &payee_key());
        assert_eq!(good.check(&channel).unwrap().amount, Amount(300));
        let bytes = good.to_bytes().unwrap();
        assert_eq!(
            Signed::<ChannelClose>::from_bytes(&bytes, MAX_CLOSE_SIZE).unwrap(),
            good
        );
        let by_payer = close(300, &payer_key());
        assert_eq!(
            by_payer.check(&channel).unwrap_err().reason(),
            "wrong_signer"
        );
        let over = close(301, &payee_key());
        assert_eq!(over.check(&channel).unwrap_err().reason(), "invalid");
    }
}
