//! Paying for deals: which channel funds a new deal (client), and the provider's check that a
//! paid proposal names an open channel from its client. A channel's deposit may fund several
//! deals, but never more than it holds: what unfinished deals may still be paid is set aside.

use std::collections::HashMap;

use libp2p::PeerId;

use super::{decode_row, Deals};
use crate::market::DealProposal;
use crate::node::{NodeError, Refusal, Result};

impl Deals {
    /// Client: the channel that pays for a deal; free deals need none. A channel's deposit
    /// is shared by every deal it funds: what those deals may still be paid is set aside
    /// before a new deal is put on it.
    /// A `named` channel must be this node's, to `provider`, usable (not closing nor closed)
    /// and with room for the deal, else the deal is refused before anything is proposed.
    pub(super) async fn fund_deal(
        &self,
        provider: PeerId,
        proposal: &DealProposal,
        named: Option<&str>,
    ) -> Result<Option<String>> {
        let total = proposal.total_price()?;
        if total.0 == 0 {
            return Ok(None);
        }
        let committed = self.committed_per_channel(provider).await?;
        if let Some(named) = named {
            return self
                .fund_from(provider, named, total.0, &committed)
                .await
                .map(Some);
        }
        for row in self
            .parts
            .db
            .list_channels(Some("payer"), Some(&provider.to_string()))
            .await?
        {
            let held = committed.get(&row.id).copied().unwrap_or(0);
            let free = row.deposit.saturating_sub(row.paid).saturating_sub(held);
            if row.is_usable() && free >= total.0 {
                return Ok(Some(row.id));
            }
        }
        Ok(Some(self.pay.open_channel(provider, total.0).await?.id))
    }

    /// Client: the deal is paid from the channel the user named.
    async fn fund_from(
        &self,
        provider: PeerId,
        named: &str,
        total: u64,
        committed: &HashMap<String, u64>,
    ) -> Result<String> {
        let (row, _) = self.pay.find_channel(named, "payer").await?;
        if row.peer != provider.to_string() {
            return Err(NodeError::refuse(
                Refusal::Invalid,
                format!("channel {} pays {}, not this provider", row.id, row.peer),
            ));
        }
        crate::node::pay::refuse_if_closing(&row, "new deals")?;
        if row.state != "open" {
            return Err(NodeError::refuse(
                Refusal::ChannelClosed,
                format!("channel {} is closed: it takes no new deals", row.id),
            ));
        }
        let held = committed.get(&row.id).copied().unwrap_or(0);
        let free = row.deposit.saturating_sub(row.paid).saturating_sub(held);
        if free < total {
            return Err(NodeError::refuse(
                Refusal::Unfunded,
                format!(
                    "channel {} has {free} left after its other deals, the deal costs {total}",
                    row.id
                ),
            ));
        }
        Ok(row.id)
    }

    /// Per channel to `provider`, what the client's unfinished deals on it may still be paid:
    /// one query over the funding recorded with each deal, plus a decode of any unfinished
    /// deal recorded before funding records existed.
    async fn committed_per_channel(&self, provider: PeerId) -> Result<HashMap<String, u64>> {
        let provider = provider.to_string();
        let db = &self.parts.db;
        let mut committed = db.committed_per_channel(&provider).await?;
        let older = db.unfunded_record_deals(&provider).await?;
        if older.is_empty() {
            return Ok(committed);
        }
        let paid = db.storage_paid_per_deal().await?;
        for deal in older {
            let Some((_, signed)) = decode_row(&deal) else {
                continue;
            };
            let (Some(channel), Ok(total)) = (
                signed.payload.payment_channel.clone(),
                signed.payload.total_price(),
            ) else {
                continue;
            };
            let left = total
                .0
                .saturating_sub(paid.get(&deal.id).copied().unwrap_or(0));
            *committed.entry(channel).or_default() += left;
        }
        Ok(committed)
    }

    /// Provider: a paid deal must name an open channel that its client opened to this node.
    pub(super) async fn check_funding(&self, proposal: &DealProposal) -> Result<()> {
        if proposal.total_price()?.0 == 0 {
            return Ok(());
        }
        let unfunded = |why: &str| Err(NodeError::refuse(Refusal::Unfunded, why));
        let Some(id) = proposal.payment_channel.as_deref() else {
            return unfunded("a paid deal needs a payment channel");
        };
        let Some(row) = self.parts.db.get_channel(id).await? else {
            return unfunded("no such channel with this provider");
        };
        if row.role != "payee" || row.state != "open" || row.payer != hex::encode(proposal.client) {
            return unfunded("the channel is not an open channel from this client");
        }
        // On chain: the contract, not the client's word, says the escrow covers the price.
        self.pay
            .check_chain_funding(&row, proposal.total_price()?.0)
            .await
    }
}
