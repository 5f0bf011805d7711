//! The first settlement backend: the node's own ledger. Closing a channel records the highest
//! receipt's amount as settled in the database; balances per peer are sums over channels.
//! An on-chain backend would implement the same trait and leave receipts unchanged.

use futures::future::BoxFuture;

use crate::db::Db;
use crate::pay::{check_settlement, Channel, PayError, Receipt, Settled, Settlement};
use crate::signed::Signed;

#[derive(Debug, Clone)]
pub struct LedgerSettlement {
    pub db: Db,
    /// Hex of the payee's signed close, kept beside the settled amount.
    pub close_signed: Option<String>,
}

impl Settlement for LedgerSettlement {
    fn name(&self) -> &'static str {
        "ledger"
    }

    fn settle<'a>(
        &'a self,
        channel: &'a Channel,
        last: Option<&'a Signed<Receipt>>,
    ) -> BoxFuture<'a, Result<Settled, PayError>> {
        Box::pin(async move {
            let (amount, seq) = check_settlement(channel, last)?;
            let closed = self
                .db
                .close_channel(
                    &channel.id.to_string(),
                    self.close_signed.as_deref(),
                    amount.0,
                )
                .await
                .map_err(|e| PayError::Invalid(format!("ledger: {e}")))?;
            if !closed {
                return Err(PayError::ChannelClosed);
            }
            Ok(Settled {
                channel: channel.id,
                amount,
                seq,
                backend: self.name(),
            })
        })
    }
}

/// The on-chain backend: settling a channel escrowed in `CairnChannels` is cashing its
/// highest receipt's voucher with the contract (nothing is sent when the contract has paid
/// that much already), then recording the channel closed with what the contract paid out.
#[derive(Debug, Clone)]
pub struct ChainSettlement {
    pub db: Db,
    pub channels: crate::chain::Channels,
    pub binding: crate::pay::OnChain,
    /// Hex of the payee's signed close, kept beside the settled amount.
    pub close_signed: Option<String>,
}

impl Settlement for ChainSettlement {
    fn name(&self) -> &'static str {
        "chain"
    }

    fn settle<'a>(
        &'a self,
        channel: &'a Channel,
        last: Option<&'a Signed<Receipt>>,
    ) -> BoxFuture<'a, Result<Settled, PayError>> {
        Box::pin(async move {
            let (amount, seq) = check_settlement(channel, last)?;
            let chain = |e: crate::chain::ChainError| PayError::Invalid(format!("chain: {e}"));
            if let Some(receipt) = last {
                self.binding.check_voucher(&receipt.payload)?;
                let voucher = receipt.payload.voucher.as_deref().unwrap_or_default();
                self.channels
                    .claim_owed(self.binding.channel_id(), u128::from(amount.0), voucher)
                    .await
                    .map_err(chain)?;
            }
            let state = self
                .channels
                .channel(self.binding.channel_id())
                .await
                .map_err(chain)?;
            let paid_out = u64::try_from(state.paid_out).map_err(|_| PayError::Overflow)?;
            self.db
                .close_channel(
                    &channel.id.to_string(),
                    self.close_signed.as_deref(),
                    paid_out,
                )
                .await
                .map_err(|e| PayError::Invalid(format!("ledger: {e}")))?;
            Ok(Settled {
                channel: channel.id,
                amount: crate::amount::Amount(paid_out),
                seq,
                backend: self.name(),
            })
        })
    }
}
