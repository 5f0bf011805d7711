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
