//! The payee's side of `/cairn/pay/1`: channels others open to this node, receipts checked
//! and stored before they are acknowledged, closes settled through the ledger, and invoices
//! received (this node as payer) handed to the retrieval payer.

use futures::future::BoxFuture;
use libp2p::PeerId;

use super::payer::{channel_row, receipt_row};
use super::{channel_of, key_hex, LedgerSettlement, Payments};
use crate::amount::Amount;
use crate::node::provider::peer_key;
use crate::node::{NodeError, Result};
use crate::pay::wire::{Ack, PayRequest, PayResponse};
use crate::pay::{
    verify_batch, ChannelClose, ChannelId, ChannelOpen, PayError, Receipt, Settlement, Verdict,
};
use crate::signed::Signed;

/// Answers `/cairn/pay/1`.
impl crate::net::pay::Payments for Payments {
    fn respond(&self, peer: PeerId, request: PayRequest) -> BoxFuture<'_, PayResponse> {
        Box::pin(async move {
            let node = self;
            let answer = match request {
                PayRequest::Open(open) => node.receive_open(peer, *open).await,
                PayRequest::Pay(receipts) => Ok(PayResponse::Acks(
                    node.receive_receipts(peer, receipts).await,
                )),
                PayRequest::Close(channel) => node.receive_close(peer, channel).await,
                PayRequest::Invoice(invoice) => {
                    match node.state.invoice_slots.clone().try_acquire_owned() {
                        // Invoices are paid in the background, a bounded number waiting at once.
                        Ok(slot) => {
                            let node = node.clone();
                            self.parts.tasks.spawn(async move {
                                node.pay_invoice(peer, invoice).await;
                                drop(slot);
                            });
                            Ok(PayResponse::Noted)
                        }
                        Err(_) => Ok(PayResponse::rejected("busy", "too many invoices waiting")),
                    }
                }
            };
            answer.unwrap_or_else(|e| {
                let told = e.rejection();
                PayResponse::rejected(&told.reason, told.detail)
            })
        })
    }
}

fn refuse(e: PayError) -> NodeError {
    NodeError::Pay(e)
}

impl Payments {
    async fn receive_open(&self, peer: PeerId, open: Signed<ChannelOpen>) -> Result<PayResponse> {
        let payload = open.check().map_err(refuse)?;
        crate::amount::Amount::recordable(payload.deposit.0, "deposit")?;
        if payload.payee != self.parts.signer.public_key() {
            return Err(refuse(PayError::WrongPayee));
        }
        if peer_key(&peer.to_string()).ok() != Some(payload.payer) {
            return Err(refuse(PayError::WrongSigner {
                signer: hex::encode(payload.payer),
                expected: peer.to_string(),
            }));
        }
        self.check_open_on_chain(payload).await?;
        let row = channel_row(&open, "payee", &peer, &self.parts.clock)?;
        // Opening twice with the same signed open is harmless (the row is the same); another
        // open naming a contract channel already recorded is refused, so one on-chain channel
        // is never two off-chain commitments.
        if !self.parts.db.insert_channel(&row).await? {
            let held = self.parts.db.get_channel(&row.id).await?;
            if held.map(|h| h.open_signed) != Some(row.open_signed.clone()) {
                return Err(refuse(PayError::Invalid(format!(
                    "channel {} is already opened with another commitment",
                    row.id
                ))));
            }
        }
        Ok(PayResponse::Opened {
            channel: open.channel_id().map_err(refuse)?,
        })
    }

    /// Checks a batch (signatures verified together) and stores each new receipt through the
    /// receipt writer before acknowledging it.
    pub(crate) async fn receive_receipts(
        &self,
        peer: PeerId,
        receipts: Vec<Signed<Receipt>>,
    ) -> Vec<Ack> {
        let signatures = verify_batch(&receipts);
        let mut acks = Vec::with_capacity(receipts.len());
        for (receipt, signature) in receipts.iter().zip(signatures) {
            let outcome = match signature {
                Ok(()) => self.store_receipt(peer, receipt).await,
                Err(e) => Err(e),
            };
            let r = &receipt.payload;
            let (status, detail) = match outcome {
                Ok(status) => (status.to_string(), None),
                Err(e) => (e.reason().to_string(), Some(e.to_string())),
            };
            acks.push(Ack {
                channel: r.channel,
                seq: r.seq,
                amount: r.amount,
                status,
                detail,
            });
        }
        acks
    }

    async fn store_receipt(
        &self,
        peer: PeerId,
        receipt: &Signed<Receipt>,
    ) -> Result<&'static str, PayError> {
        let internal = |e: &dyn std::fmt::Display| PayError::Invalid(format!("payee: {e}"));
        // A conflict means another receipt of the same channel landed in between: look again.
        for _ in 0..3 {
            let row = self
                .parts
                .db
                .get_channel(&receipt.payload.channel.to_string())
                .await
                .map_err(|e| internal(&e))?
                .filter(|r| r.role == "payee")
                .ok_or(PayError::WrongChannel)?;
            let channel = channel_of(&row).map_err(|e| internal(&e))?;
            // On an escrowed channel the voucher must be cashable before anything is stored.
            if let Some(binding) = super::chain::binding_of(&row).map_err(|e| internal(&e))? {
                channel.check_parties_of(receipt)?;
                binding.check_voucher(&receipt.payload)?;
            } else if receipt.payload.voucher.is_some() {
                return Err(PayError::Invalid(
                    "a voucher on a channel the ledger settles".into(),
                ));
            }
            if channel.check_verified(receipt)? == Verdict::Duplicate {
                return Ok("duplicate");
            }
            let stored = receipt_row(receipt, &self.parts.clock).map_err(|e| internal(&e))?;
            if self
                .state
                .writer
                .record(stored, row.seq)
                .await
                .map_err(|e| internal(&e))?
            {
                if receipt.payload.deal.is_none() {
                    self.credit_retrieval(peer, &row, receipt.payload.amount)
                        .await;
                }
                return Ok("stored");
            }
        }
        Err(PayError::Invalid(
            "the channel kept changing; send again".into(),
        ))
    }

    /// A receipt without a deal pays for retrieval: its increment over the channel's previous
    /// total is credited to the payer's retrieval account.
    async fn credit_retrieval(&self, peer: PeerId, row: &crate::db::ChannelRow, amount: Amount) {
        let increment = amount.0.saturating_sub(row.paid);
        let account = match self.parts.db.retrieval_account(&row.peer, "payee").await {
            Ok(account) => account,
            Err(e) => return tracing::warn!(%peer, error = %e, "cannot read a retrieval account"),
        };
        let paid = account.paid.saturating_add(increment);
        if let Err(e) = self
            .parts
            .db
            .set_retrieval_paid(&row.peer, "payee", paid)
            .await
        {
            tracing::warn!(%peer, error = %e, "cannot credit a retrieval payment");
        }
        if let Ok(payer) = row.peer.parse() {
            self.state.meter.credit(payer, Amount(paid));
        }
    }

    async fn receive_close(&self, peer: PeerId, channel: ChannelId) -> Result<PayResponse> {
        let row = self
            .parts
            .db
            .get_channel(&channel.to_string())
            .await?
            .filter(|r| r.role == "payee")
            .ok_or_else(|| refuse(PayError::WrongChannel))?;
        if peer_key(&peer.to_string()).ok().map(|k| key_hex(&k)) != Some(row.payer.clone()) {
            return Err(NodeError::Pay(PayError::WrongSigner {
                signer: peer.to_string(),
                expected: "the channel's payer".into(),
            }));
        }
        if let Some(close) = row.close_signed.as_deref() {
            // Closed before: the same signed close again.
            let bytes = hex::decode(close).map_err(NodeError::internal)?;
            let close =
                Signed::<ChannelClose>::from_bytes(&bytes, 1024).map_err(NodeError::internal)?;
            return Ok(PayResponse::Closed(close));
        }
        let state = channel_of(&row)?;
        let last = match row.last_receipt.as_deref() {
            Some(hex_receipt) => Some(decode_receipt(hex_receipt)?),
            None => None,
        };
        let close = self.parts.signer.sign(ChannelClose {
            channel,
            amount: state.paid,
            seq: state.seq,
            at: self.parts.clock.now_u64(),
        })?;
        let close_signed = close.to_bytes().map(hex::encode).ok();
        let settlement: Box<dyn Settlement> = match super::chain::binding_of(&row)? {
            Some(binding) => Box::new(super::ChainSettlement {
                db: self.parts.db.clone(),
                channels: self.chain()?.channels().await?.clone(),
                binding,
                close_signed,
            }),
            None => Box::new(LedgerSettlement {
                db: self.parts.db.clone(),
                close_signed,
            }),
        };
        settlement
            .settle(&state, last.as_ref())
            .await
            .map_err(refuse)?;
        Ok(PayResponse::Closed(close))
    }
}

pub(crate) fn decode_receipt(hex_receipt: &str) -> Result<Signed<Receipt>> {
    let bytes = hex::decode(hex_receipt).map_err(NodeError::internal)?;
    Signed::<Receipt>::from_bytes(&bytes, crate::pay::MAX_RECEIPT_SIZE).map_err(NodeError::internal)
}
