//! Ending a deal early: the client's signed cancellation (`cairn/deal-cancel/1`), sent when
//! the keeper drops or removes a deal, and the provider's handling of it (capacity released,
//! data unpinned unless something else keeps it).

use libp2p::PeerId;

use super::{decode_row, rejected, Deals, REQUEST_TIMEOUT};
use crate::db::DealRow;
use crate::market::state::DealState;
use crate::market::wire::{MarketRequest, MarketResponse};
use crate::market::DealCancel;
use crate::node::{NodeError, Result};
use crate::signed::Signed;

impl Deals {
    /// Provider: the client ends a deal early. The deal is cancelled (freeing its capacity)
    /// and its data unpinned unless something else keeps it.
    pub async fn receive_cancel(&self, cancel: Signed<DealCancel>) -> MarketResponse {
        let deal = cancel.payload.deal;
        let row = match self.parts.db.get_deal(&deal.to_string()).await {
            Ok(Some(row)) if row.role == "provider" => row,
            Ok(_) => {
                return MarketResponse::rejected("unknown_deal", format!("no deal {deal} here"))
            }
            Err(e) => return rejected(&e.into()),
        };
        let Some((_, proposal)) = decode_row(&row) else {
            return rejected(&NodeError::internal("stored proposal unreadable"));
        };
        if let Err(e) = cancel.check_for(&proposal.payload) {
            return MarketResponse::rejected(e.reason(), e.to_string());
        }
        if !row.state.is_final() {
            let reason = format!("cancelled by the client: {}", cancel.payload.reason);
            if let Err(e) = self
                .cancel_held_deal(&row, &proposal.payload, &reason)
                .await
            {
                tracing::warn!(deal = %row.id, error = %e, "could not cancel a deal");
            }
        }
        self.deal_status(&deal).await
    }

    /// Provider: moves a deal it holds from the state `deal` shows to `cancelled` (releasing
    /// its capacity) and unpins data kept only for it. Returns whether it moved.
    pub(super) async fn cancel_held_deal(
        &self,
        deal: &DealRow,
        proposal: &crate::market::DealProposal,
        reason: &str,
    ) -> Result<bool> {
        let moved = self
            .parts
            .db
            .transition_deal(&deal.id, deal.state, DealState::Cancelled, reason, None)
            .await?;
        if moved {
            self.release_deal_data(&deal.id, proposal).await?;
        }
        Ok(moved)
    }

    /// Client: tells the provider a deal was cancelled, best effort (a provider that vanished
    /// lets the deal expire instead).
    pub async fn notify_cancel(&self, deal: &DealRow, reason: &str) -> Result<()> {
        let net = self.parts.net.get()?;
        let peer: PeerId = deal
            .peer
            .parse()
            .map_err(|_| NodeError::internal(format!("stored peer {:?}", deal.peer)))?;
        let cancel = self.parts.signer.sign(DealCancel {
            deal: deal
                .id
                .parse()
                .map_err(|_| NodeError::internal(format!("stored deal id {:?}", deal.id)))?,
            reason: reason.to_string(),
            at: self.parts.clock.now_u64(),
        })?;
        match net
            .market(
                peer,
                &MarketRequest::Cancel(Box::new(cancel)),
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(MarketResponse::Rejected { reason, detail }) => Err(NodeError::Refused {
                peer,
                reason,
                detail,
            }),
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
