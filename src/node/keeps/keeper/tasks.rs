//! The keeper's slow work, run in tasks its run loop owns so a tick never waits on the
//! network: discovering providers (cached for 3 s, up to 30 s while nothing changes),
//! fetching and pinning a keep's DAG (bounded by the config's `fetch_timeout`), and making
//! deals (which wait for activation). Deals and fetches each hold a semaphore slot while they run.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use super::super::Discovered;
use super::{
    health_row, Keeper, BACKOFF, BACKOFF_MAX, DEAL_WAIT_SECS, DISCOVERY_TTL, DISCOVERY_TTL_MAX,
};
use crate::db::KeepRow;
use crate::keeper::{Candidate, KeepStatus};
use crate::market::state::DealState;
use crate::node::{DealRequest, NodeError, Result};

impl Keeper {
    /// Leaves `peer` alone for this keep a while after a failed deal: 2 s after the first
    /// failure, doubling with each one in a row, at most 5 minutes. Short at first, because
    /// the failure may have been on this side.
    pub(super) fn back_off(&self, keep: &str, peer: &str) {
        let mut state = self.state();
        let now = Instant::now();
        state
            .backoff
            .retain(|_, (until, _)| *until + BACKOFF_MAX > now);
        let entry = state
            .backoff
            .entry((keep.to_string(), peer.to_string()))
            .or_insert((now, 0));
        entry.1 = entry.1.saturating_add(1);
        let pause = BACKOFF.saturating_mul(1 << entry.1.min(16).saturating_sub(1));
        entry.0 = now + pause.min(BACKOFF_MAX);
    }

    /// The latest discovery, starting a new one when it is stale.
    pub(super) fn discovered(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Option<Discovered> {
        let mut state = self.state();
        let ttl = state.discovery_ttl.max(DISCOVERY_TTL);
        let fresh = state
            .discovered
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < ttl);
        if !fresh && !state.discovering {
            state.discovering = true;
            let keeper = self.clone();
            tasks.spawn(async move {
                let found = match keeper.keeps.discover_providers().await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::debug!(error = %e, "provider discovery failed");
                        Vec::new()
                    }
                };
                for d in &found {
                    let addr = d.address.as_ref().map(ToString::to_string);
                    let _ = keeper
                        .keeps
                        .parts
                        .db
                        .see_provider(&d.peer.to_string(), addr.as_deref())
                        .await;
                }
                let mut state = keeper.state();
                // The same providers as last time: ask less often; anything new: back to
                // the shortest interval.
                let peers = |list: &[crate::node::DiscoveredProvider]| {
                    let mut peers: Vec<_> = list.iter().map(|d| d.peer).collect();
                    peers.sort();
                    peers
                };
                let same = state
                    .discovered
                    .as_ref()
                    .is_some_and(|(_, old)| peers(old) == peers(&found));
                state.discovery_ttl = if same {
                    (state.discovery_ttl * 2).clamp(DISCOVERY_TTL, DISCOVERY_TTL_MAX)
                } else {
                    DISCOVERY_TTL
                };
                state.discovered = Some((Instant::now(), Arc::new(found)));
                state.discovering = false;
            });
        }
        state.discovered.as_ref().map(|(_, found)| found.clone())
    }

    /// Pins a keep's DAG here (dialling its origins first) and commits its piece.
    pub(super) fn fetch(self: &Arc<Self>, keep: &KeepRow, tasks: &mut JoinSet<()>) {
        if !self.state().fetching.insert(keep.id.clone()) {
            return;
        }
        let (keeper, keep) = (self.clone(), keep.clone());
        tasks.spawn(async move {
            let _slot = keeper.fetch_slots.clone().acquire_owned().await;
            let limit = keeper.keeps.parts.config.keeper.fetch_timeout;
            let fetched = tokio::time::timeout(limit, keeper.pin_locally(&keep)).await;
            let outcome = fetched.unwrap_or_else(|_| {
                Err(NodeError::internal(format!(
                    "not found within {}",
                    humantime::format_duration(limit)
                )))
            });
            if let Err(e) = outcome {
                let details = format!("could not fetch the DAG: {e}");
                let health = health_row(KeepStatus::Failed, &details);
                if let Err(e) = keeper.store_health(&keep, &health).await {
                    tracing::warn!(keep = %keep.id, error = %e, "could not record a failed keep");
                }
            }
            keeper.state().fetching.remove(&keep.id);
        });
    }

    pub(super) async fn pin_locally(&self, keep: &KeepRow) -> Result<()> {
        let keeps = &self.keeps;
        let cid = crate::content::parse_cid(&keep.cid)?;
        if let Some(net) = keeps.parts.net.running() {
            for origin in keep.origins.iter().filter_map(|o| o.parse().ok()) {
                if let Err(e) = net.dial(origin).await {
                    tracing::debug!(keep = %keep.id, error = %e, "could not dial an origin");
                }
            }
        }
        let owned = !keeps.parts.db.is_pinned(&cid).await?;
        let blocks = keeps
            .content
            .pin_add(
                &cid,
                owned.then_some(format!("keep:{}", keep.id)).as_deref(),
            )
            .await?;
        let piece = keeps.content.piece_commit(&cid).await?;
        if keeps.parts.db.get_keep(&keep.id).await?.is_none() {
            // Removed while it was fetched: undo the pin it made.
            if owned {
                keeps.content.pin_rm(&cid).await?;
            }
            return Ok(());
        }
        keeps
            .parts
            .db
            .set_keep_local(&keep.id, owned, &hex::encode(piece.root), piece.size)
            .await?;
        let detail = format!("the DAG is pinned here ({blocks} blocks, a piece of {} bytes): the copy repairs are made from", piece.size);
        self.event(&keep.id, "pinned_locally", &detail).await;
        Ok(())
    }

    /// Starts making a deal with `chosen` in a task; `nth` is the replica it makes.
    pub(super) async fn start_deal(
        self: &Arc<Self>,
        keep: &KeepRow,
        chosen: &Candidate,
        nth: usize,
        tasks: &mut JoinSet<()>,
    ) {
        let peer = chosen.peer.clone();
        self.state()
            .making
            .entry(keep.cid.clone())
            .or_default()
            .push((keep.id.clone(), peer.clone()));
        let detail = format!(
            "proposing a deal to {peer} ({} per GiB-month, score {:.2}) for replica {nth} of {}",
            chosen.price_per_gib_month, chosen.score, keep.policy.replicas
        );
        self.event(&keep.id, "deal_started", &detail).await;
        let (keeper, keep) = (self.clone(), keep.clone());
        tasks.spawn(async move {
            let _slot = keeper.deal_slots.clone().acquire_owned().await;
            keeper.make_deal(&keep, &peer).await;
            let mut state = keeper.state();
            if let Some(list) = state.making.get_mut(&keep.cid) {
                list.retain(|(k, p)| (k, p) != (&keep.id, &peer));
                if list.is_empty() {
                    state.making.remove(&keep.cid);
                }
            }
        });
    }

    pub(super) async fn make_deal(&self, keep: &KeepRow, peer: &str) {
        let request = DealRequest {
            cid: keep.cid.clone(),
            provider: peer.to_string(),
            duration_secs: keep.policy.duration_secs,
            challenge_period_secs: keep.policy.challenge_period_secs,
            samples: 20,
            max_price_per_gib_month: keep.policy.max_price_per_gib_month,
            wait_secs: DEAL_WAIT_SECS,
            channel: None,
        };
        let row = match self.keeps.deals.make_deal(&request).await {
            Ok(row) => {
                let key = (keep.id.clone(), peer.to_string());
                self.state().backoff.remove(&key);
                row
            }
            Err(e) => {
                self.back_off(&keep.id, peer);
                return self
                    .event(
                        &keep.id,
                        "deal_failed",
                        &format!("deal with {peer} failed: {e}"),
                    )
                    .await;
            }
        };
        let recorded = async {
            if !self
                .keeps
                .parts
                .db
                .add_keep_deal(&keep.id, &row.id, peer)
                .await?
            {
                self.keeps
                    .cancel_deal(&row.id, "the keep was removed while the deal was made")
                    .await?;
                return Ok(());
            }
            let detail = match row.state {
                DealState::Active => format!("new deal {} with {peer} is active", row.id),
                state => format!("deal {} with {peer} is {state:?} (waiting for it)", row.id),
            };
            self.event(&keep.id, "deal", &detail).await;
            Ok::<_, NodeError>(())
        };
        if let Err(e) = recorded.await {
            tracing::warn!(keep = %keep.id, deal = %row.id, error = %e, "could not record a keep's deal");
        }
    }
}
