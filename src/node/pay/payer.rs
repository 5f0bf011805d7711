//! The payer's side: opening channels, signing cumulative receipts, paying storage periods
//! and closing channels.

use cid::Cid;
use libp2p::PeerId;

use super::{channel_of, key_hex, Payments};
use crate::amount::Amount;
use crate::clock::Clock;
use crate::db::{ChannelRow, ReceiptRow, StoragePayment};
use crate::node::provider::peer_key;
use crate::node::{NodeError, Refusal, Result};
use crate::pay::wire::{Ack, PayRequest, PayResponse};
use crate::pay::ChannelOpen;
use crate::signed::Signed;

/// The answer of a payee to one receipt, as the payer reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Payment {
    pub channel: String,
    pub seq: u64,
    pub amount: u64,
    pub status: String,
}

impl Payments {
    async fn pay_request(&self, peer: PeerId, request: &PayRequest) -> Result<PayResponse> {
        let response = self
            .parts
            .net
            .get()?
            .pay(peer, request, super::PAY_TIMEOUT)
            .await?;
        match response {
            PayResponse::Rejected { reason, detail } => Err(NodeError::Refused {
                peer,
                reason,
                detail,
            }),
            other => Ok(other),
        }
    }

    /// Opens a channel to `peer` with `deposit`: the payer's signed commitment, recorded on
    /// both sides.
    pub async fn open_channel(&self, peer: PeerId, deposit: u64) -> Result<ChannelRow> {
        Amount::recordable(deposit, "deposit")?;
        if deposit == 0 {
            return Err(NodeError::refuse(
                Refusal::Invalid,
                "the deposit must be positive",
            ));
        }
        if peer == self.parts.signer.peer_id() {
            return Err(NodeError::refuse(
                Refusal::Invalid,
                "a channel to oneself pays nothing",
            ));
        }
        let payee = peer_key(&peer.to_string())?;
        // On a chain-configured node the deposit is escrowed first; the open names it.
        let chain = match self.parts.chain {
            Some(_) => Some(self.open_on_chain(peer, deposit).await?),
            None => None,
        };
        let open = self.parts.signer.sign(ChannelOpen {
            payer: self.parts.signer.public_key(),
            payee,
            deposit: Amount(deposit),
            nonce: rand::random(),
            at: self.parts.clock.now_u64(),
            chain,
        })?;
        let id = open.channel_id()?;
        let answer = match self
            .pay_request(peer, &PayRequest::Open(Box::new(open.clone())))
            .await
        {
            Ok(PayResponse::Opened { channel }) if channel == id => Ok(()),
            Ok(other) => Err(NodeError::Protocol {
                peer,
                what: format!("{other:?} to a channel open"),
            }),
            Err(e) => Err(e),
        };
        let row = channel_row(&open, "payer", &peer, &self.parts.clock)?;
        if let Err(e) = answer {
            if let Some(binding) = &chain {
                // The deposit is escrowed: close it, and keep the channel (closing) so that
                // `cairn pay withdraw` takes the deposit back after the window.
                self.abandon_on_chain(&row, binding).await;
            }
            return Err(e);
        }
        self.parts.db.insert_channel(&row).await?;
        Ok(row)
    }

    /// An open channel to `peer` with at least `need` left, opening one with `deposit` (at
    /// least `need`) if there is none.
    pub async fn channel_for(&self, peer: PeerId, need: u64, deposit: u64) -> Result<ChannelRow> {
        let rows = self
            .parts
            .db
            .list_channels(Some("payer"), Some(&peer.to_string()))
            .await?;
        if let Some(row) = rows
            .into_iter()
            .find(|r| r.is_usable() && r.deposit.saturating_sub(r.paid) >= need)
        {
            return Ok(row);
        }
        self.open_channel(peer, deposit.max(need)).await
    }

    /// A channel this node pays on, and the peer it pays.
    async fn own_channel(&self, channel: &str) -> Result<(ChannelRow, PeerId)> {
        let row = self
            .parts
            .db
            .get_channel(&super::chain::canonical_id(channel))
            .await?
            .filter(|r| r.role == "payer")
            .ok_or_else(|| {
                NodeError::refuse(Refusal::UnknownChannel, format!("no channel {channel}"))
            })?;
        let peer = row
            .peer
            .parse()
            .map_err(|_| NodeError::internal(format!("stored peer {:?}", row.peer)))?;
        Ok((row, peer))
    }

    /// Pays `increment` more on `channel`: signs the next cumulative receipt, records it, sends
    /// it. A receipt the payee never saw is not lost: the next one includes its amount.
    pub async fn pay_on(
        &self,
        channel: &str,
        increment: Amount,
        deal: Option<Cid>,
    ) -> Result<Payment> {
        let _signing = self.state.sign_lock.lock().await;
        let (row, peer) = self.own_channel(channel).await?;
        refuse_if_closing(&row, "new receipts")?;
        let state = channel_of(&row)?;
        let mut receipt = state.next_receipt(increment, deal, self.parts.clock.now_u64())?;
        if let Some(binding) = super::chain::binding_of(&row)? {
            let wallet = self.chain()?.wallet();
            receipt.voucher = Some(binding.sign_voucher(receipt.amount.0, wallet)?);
        }
        let signed = self.parts.signer.sign(receipt)?;
        let stored = receipt_row(&signed, &self.parts.clock)?;
        if !self.parts.db.record_receipt(&stored, row.seq).await? {
            return Err(NodeError::internal(format!(
                "channel {channel} changed while paying"
            )));
        }
        let ack = match self
            .pay_request(peer, &PayRequest::Pay(vec![signed.clone()]))
            .await?
        {
            PayResponse::Acks(acks) => acks.into_iter().next(),
            _ => None,
        };
        let ack: Ack = ack.ok_or_else(|| NodeError::Protocol {
            peer,
            what: "no acknowledgement of a receipt".into(),
        })?;
        if ack.status != "stored" && ack.status != "duplicate" {
            return Err(NodeError::Refused {
                peer,
                reason: ack.status,
                detail: ack.detail.unwrap_or_default(),
            });
        }
        Ok(Payment {
            channel: channel.to_string(),
            seq: signed.payload.seq,
            amount: signed.payload.amount.0,
            status: ack.status,
        })
    }

    /// Client: after a passed challenge, pays the deal's storage price for `period` unless it
    /// was paid already; never more than the deal's total price.
    pub(crate) async fn pay_storage_period(
        &self,
        deal: &crate::db::DealRow,
        proposal: &crate::market::DealProposal,
        period: i64,
    ) -> Result<()> {
        let Some(channel) = proposal.payment_channel.as_deref() else {
            return Ok(());
        };
        if self
            .parts
            .db
            .storage_payments(&deal.id)
            .await?
            .iter()
            .any(|p| p.period == period)
        {
            return Ok(());
        }
        let total = proposal.total_price()?;
        let per_period = proposal.price_per_period()?;
        let left = total
            .0
            .saturating_sub(self.parts.db.storage_paid(&deal.id).await?);
        let amount = per_period.0.min(left);
        if amount == 0 {
            return Ok(());
        }
        let deal_cid: Cid = deal
            .id
            .parse()
            .map_err(|_| NodeError::internal(format!("stored deal id {:?}", deal.id)))?;
        let paid = self.pay_on(channel, Amount(amount), Some(deal_cid)).await?;
        self.parts
            .db
            .record_storage_payment(&StoragePayment {
                deal: deal.id.clone(),
                period,
                channel: channel.to_string(),
                amount,
                seq: paid.seq,
                at: self.parts.clock.now_ms(),
            })
            .await?;
        Ok(())
    }

    /// Payer: asks the payee to settle `channel` with the highest receipt it holds.
    pub async fn close_channel(&self, channel: &str) -> Result<ChannelRow> {
        let (row, peer) = self.own_channel(channel).await?;
        if row.state != "open" {
            return Err(NodeError::refuse(
                Refusal::ChannelClosed,
                format!("{channel} is already closed"),
            ));
        }
        refuse_if_closing(&row, "another close")?;
        if let Some(binding) = super::chain::binding_of(&row)? {
            // Escrowed: the payer's close is the contract's; the payee claims during the window
            // and the payer withdraws the rest after it (`withdraw`). From now on the channel
            // is `closing` here and takes no new deal or receipt.
            let started = self.start_close_on_chain(&row, &binding).await?;
            tracing::info!(channel, closes_at = started.closes_at, tx = ?started.tx, "started closing a channel on chain");
            return self
                .parts
                .db
                .get_channel(&row.id)
                .await?
                .ok_or_else(|| NodeError::internal("channel vanished"));
        }
        let state = channel_of(&row)?;
        let close = match self.pay_request(peer, &PayRequest::Close(state.id)).await? {
            PayResponse::Closed(close) => close,
            other => {
                return Err(NodeError::Protocol {
                    peer,
                    what: format!("{other:?} to a close"),
                })
            }
        };
        close.check(&state)?;
        let hex_close = close.to_bytes().map(hex::encode).ok();
        self.parts
            .db
            .close_channel(&row.id, hex_close.as_deref(), close.payload.amount.0)
            .await?;
        self.parts
            .db
            .get_channel(&row.id)
            .await?
            .ok_or_else(|| NodeError::internal("channel vanished"))
    }
}

/// A channel whose close started on chain takes nothing new: refused with `channel_closed`,
/// saying when the payer may withdraw.
pub(crate) fn refuse_if_closing(row: &ChannelRow, what: &str) -> Result<()> {
    match row.closes_at {
        Some(closes_at) if row.state == "open" => Err(NodeError::refuse(
            Refusal::ChannelClosed,
            format!(
                "channel {} is closing on chain (withdraw from {closes_at}): it takes no {what}",
                row.id
            ),
        )),
        _ => Ok(()),
    }
}

pub(super) fn channel_row(
    open: &Signed<ChannelOpen>,
    role: &str,
    peer: &PeerId,
    clock: &Clock,
) -> Result<ChannelRow> {
    let id = open.channel_id()?;
    let bytes = open.to_bytes()?;
    let now = clock.now_ms();
    Ok(ChannelRow {
        id: id.to_string(),
        role: role.into(),
        peer: peer.to_string(),
        payer: key_hex(&open.payload.payer),
        payee: key_hex(&open.payload.payee),
        deposit: open.payload.deposit.0,
        paid: 0,
        seq: 0,
        state: "open".into(),
        open_signed: hex::encode(bytes),
        last_receipt: None,
        close_signed: None,
        settled: None,
        created_at: now,
        updated_at: now,
        closes_at: None,
        refund: None,
    })
}

pub(super) fn receipt_row(
    signed: &Signed<crate::pay::Receipt>,
    clock: &Clock,
) -> Result<ReceiptRow> {
    let bytes = signed.to_bytes()?;
    let r = &signed.payload;
    Ok(ReceiptRow {
        channel: r.channel.to_string(),
        seq: r.seq,
        amount: r.amount.0,
        deal: r.deal.map(|d| d.to_string()),
        at: r.at as i64,
        signed: hex::encode(bytes),
        stored_at: clock.now_ms(),
    })
}
