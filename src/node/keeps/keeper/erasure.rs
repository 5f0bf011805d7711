//! The keeper's pass over an erasure-coded keep (`meta.erasure`): encode the DAG pinned here
//! into slots once, deal each slot to its own provider, read each slot deal's proof record,
//! drop failing providers, let go of the copy of a slot here once its provider holds it, and
//! rebuild lost slots when the held ones fall below the repair threshold (the domain's rules
//! are in `crate::keeper::erasure`). Every decision is a keep event.
//!
//! A provider holding, or being offered, any slot of a keep is excluded for every other slot
//! of it, and so is one dropped from it; distinct subnets as for replicas. A slot whose deal
//! is due for renewal is dealt anew, its own provider first (for that slot only, and only
//! while it holds no other slot of the keep); its bytes are fetched back first when the copy
//! here was let go. Providers are chosen one slot at a time, each choice excluded for the
//! slots after it. Encoding and
//! rebuilding run in tasks the run loop owns (one at a time per keep, holding a fetch slot);
//! a failed one is retried after [`WORK_RETRY`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::super::erasure::ErasureSpec;
use super::{health_row, Keeper, DEAL_WAIT_SECS};
use crate::db::{KeepHealthRow, KeepRow, KeepSlotRow};
use crate::erasure::Scheme;
use crate::keeper::erasure::{plan_slots, slot_health, SlotHealth, SlotPlan};
use crate::keeper::repair::{self, DealHealth};
use crate::keeper::select::{self, Candidate, Need};
use crate::keeper::{KeepStatus, Score, Subnet};
use crate::market::state::DealState;
use crate::node::{DealRequest, NodeError, Result};

/// How long after a failed encode or rebuild it is tried again.
pub(super) const WORK_RETRY: Duration = Duration::from_secs(10);

/// Slow work on a keep's slots.
enum Work {
    Encode(Scheme),
    Rebuild(Vec<u32>),
    /// Fetch slots due for renewal back from their providers.
    Fetch(Vec<u32>),
}

/// What placing slots works from.
struct Placing<'a> {
    slots: &'a [KeepSlotRow],
    deals: &'a [DealHealth],
    /// Providers not to use for any slot, with why.
    excluded: BTreeMap<String, String>,
    /// The slots each provider holds (live deals).
    holds: &'a HashMap<String, HashSet<u32>>,
}

impl Keeper {
    pub(super) async fn evaluate_erasure(
        self: &Arc<Self>,
        keep: &KeepRow,
        spec: ErasureSpec,
        tasks: &mut JoinSet<()>,
        scores: &mut HashMap<String, Score>,
    ) -> Result<()> {
        let Some((_, manifest)) = self.keeps.keep_manifest(&keep.id).await? else {
            self.slot_work(keep, Work::Encode(spec.scheme), tasks);
            let details = format!("encoding the DAG into {} slots", spec.scheme);
            return self
                .store_health(keep, &health_row(KeepStatus::Queued, &details))
                .await;
        };
        let scheme = manifest.scheme();
        let threshold = spec.threshold.clamp(scheme.k, scheme.n());
        let db = &self.keeps.parts.db;
        let slots = db.keep_slots(&keep.id).await?;
        let making: Vec<(u32, String)> = self
            .state()
            .making_slots
            .get(&keep.id)
            .cloned()
            .unwrap_or_default();
        let mut excluded = BTreeMap::new();
        let mut holds: HashMap<String, HashSet<u32>> = HashMap::new();
        let mut by_slot: HashMap<u32, Vec<DealHealth>> = HashMap::new();
        let mut deals = Vec::new();
        for sd in db.slot_deals(&keep.id).await? {
            let kd = sd.deal;
            if kd.state == "dropped" {
                let why = kd.reason.unwrap_or_default();
                excluded.insert(kd.peer, format!("dropped from this keep: {why}"));
                continue;
            }
            let (true, Some(slot)) = (kd.state == "live", sd.slot) else {
                continue;
            };
            let Some(row) = slots.iter().find(|s| s.index == slot) else {
                continue;
            };
            let health = self.deal_health(keep, &kd.deal, &kd.peer, &row.piece_root, scores);
            if let Some(health) = health.await? {
                holds.entry(kd.peer.clone()).or_default().insert(slot);
                // A drop outweighs holding a slot.
                excluded
                    .entry(kd.peer)
                    .or_insert(format!("holds slot {slot} of this keep"));
                by_slot.entry(slot).or_default().push(health.clone());
                deals.push(health);
            }
        }
        for (slot, peer) in &making {
            excluded.insert(
                peer.clone(),
                format!("a deal for slot {slot} is being made"),
            );
        }
        let healths: Vec<SlotHealth> = slots
            .iter()
            .map(|s| SlotHealth {
                index: s.index,
                deals: by_slot.remove(&s.index).unwrap_or_default(),
                in_flight: making.iter().any(|(i, _)| *i == s.index),
                local: s.local,
            })
            .collect();
        let now = self.keeps.parts.clock.now_ms();
        let plan = plan_slots(scheme, threshold, &keep.policy, &healths, now);
        let penalties = repair::Plan {
            drops: plan.drops.clone(),
            releases: plan.releases.clone(),
            ..Default::default()
        };
        self.apply(keep, &penalties, &deals, &mut excluded).await?;
        self.release_local(keep, &plan, &slots).await?;
        let mut warnings: std::collections::BTreeSet<String> =
            plan.warnings.iter().cloned().collect();
        for deal in &deals {
            warnings.extend(self.score_fall(&deal.peer, scores).await?);
        }
        self.warn(&keep.id, warnings).await;
        let (started, short, why_short) = if plan.to_deal.is_empty() {
            (0, 0, String::new())
        } else {
            let placing = Placing {
                slots: &slots,
                deals: &deals,
                excluded,
                holds: &holds,
            };
            self.place_slots(keep, &plan, placing, tasks, scores)
                .await?
        };
        if !plan.to_rebuild.is_empty() {
            self.slot_work(keep, Work::Rebuild(plan.to_rebuild.clone()), tasks);
        } else if !plan.to_fetch.is_empty() {
            self.slot_work(keep, Work::Fetch(plan.to_fetch.clone()), tasks);
        }
        let rebuilding = self.state().slot_work.contains(&keep.id);
        let mut health = slot_health(
            &plan, scheme, threshold, started, rebuilding, short, &why_short,
        );
        // Slots a restore could read: those held by providers and the copies here.
        let missing = plan.in_state(&crate::keeper::erasure::SlotState::Missing);
        let here = healths
            .iter()
            .filter(|h| h.local && missing.contains(&h.index))
            .count();
        if ((plan.held + here) as u32) < scheme.k {
            let lost: Vec<u32> = healths
                .iter()
                .filter(|h| !h.local && missing.contains(&h.index))
                .map(|h| h.index)
                .collect();
            health.details.push_str(&format!(
                "; unrecoverable from slots: {} of the {} needed are held or here, missing {lost:?}",
                plan.held + here,
                scheme.k
            ));
        }
        let row = KeepHealthRow {
            healthy: plan.healthy as u64,
            shortfall: health.shortfall as u64,
            at_risk: plan.at_risk as u64,
            ..health_row(health.status, &health.details)
        };
        self.store_health(keep, &row).await
    }

    /// Lets go of the copies here of slots whose provider holds them (an active deal).
    async fn release_local(
        &self,
        keep: &KeepRow,
        plan: &SlotPlan,
        slots: &[KeepSlotRow],
    ) -> Result<()> {
        for index in &plan.release_local {
            let Some(slot) = slots.iter().find(|s| s.index == *index) else {
                continue;
            };
            self.keeps.release_slot(&keep.id, slot).await?;
            let detail = format!("slot {index}'s provider holds it: the copy here is let go");
            self.event(&keep.id, "slot_released", &detail).await;
        }
        Ok(())
    }

    /// Chooses a provider for each slot to deal, one slot at a time, and starts the deals.
    /// Returns how many started, how many slots found no provider, and why.
    async fn place_slots(
        self: &Arc<Self>,
        keep: &KeepRow,
        plan: &SlotPlan,
        placing: Placing<'_>,
        tasks: &mut JoinSet<()>,
        scores: &mut HashMap<String, Score>,
    ) -> Result<(usize, usize, String)> {
        let Placing {
            slots,
            deals,
            mut excluded,
            holds,
        } = placing;
        let wanted = plan.to_deal.len();
        let Some(found) = self.discovered(tasks) else {
            return Ok((0, wanted, "looking for providers".into()));
        };
        let now = Instant::now();
        for ((k, peer), (until, _)) in &self.state().backoff {
            if k == &keep.id && *until > now {
                excluded
                    .entry(peer.clone())
                    .or_insert("a deal with it failed: tried again after a pause".into());
            }
        }
        let mut candidates = Vec::new();
        for d in found.iter() {
            let peer = d.peer.to_string();
            let a = &d.ask.payload;
            candidates.push(Candidate {
                score: self.score(&peer, scores).await?.value,
                price_per_gib_month: a.price_per_gib_month.0,
                free_capacity: a.free_capacity,
                max_piece_size: a.max_piece_size,
                min_duration_secs: a.min_duration_secs,
                max_duration_secs: a.max_duration_secs,
                min_challenge_period_secs: a.min_challenge_period_secs,
                subnet: d.address.as_ref().and_then(Subnet::of_multiaddr),
                latency_ms: d.latency_ms,
                peer,
            });
        }
        let mut chosen_subnets: HashSet<Subnet> = HashSet::new();
        let (mut started, mut why) = (0, Vec::new());
        for index in &plan.to_deal {
            let Some(slot) = slots.iter().find(|s| s.index == *index) else {
                continue;
            };
            // The providers renewing this slot may take it again if this is all they hold.
            let own: HashSet<String> = plan
                .renewing
                .iter()
                .filter(|(i, _)| i == index)
                .flat_map(|(_, peers)| peers.iter().cloned())
                .filter(|p| {
                    holds
                        .get(p)
                        .is_some_and(|h| h.len() == 1 && h.contains(index))
                })
                .collect();
            let mut mine = excluded.clone();
            for peer in &own {
                if mine.get(peer) == Some(&format!("holds slot {index} of this keep")) {
                    mine.remove(peer);
                }
            }
            let mut taken: HashSet<Subnet> = deals
                .iter()
                .filter(|d| !own.contains(&d.peer))
                .filter_map(|d| d.subnet)
                .collect();
            taken.extend(chosen_subnets.iter().copied());
            let selection = select::select(
                &candidates,
                &Need {
                    policy: &keep.policy,
                    piece_size: slot.piece_size,
                    count: 1,
                    excluded: &mine,
                    taken_subnets: &taken,
                    renewing: &own,
                },
            );
            let Some(chosen) = selection.chosen.first() else {
                if !candidates.is_empty() {
                    why.push(format!("slot {index}: {}", selection.summary()));
                }
                continue;
            };
            excluded.insert(
                chosen.peer.clone(),
                format!("a deal for slot {index} is being made"),
            );
            chosen_subnets.extend(chosen.subnet);
            self.start_slot_deal(keep, slot, chosen, !own.is_empty(), tasks)
                .await;
            started += 1;
        }
        let why = match (started < wanted, candidates.is_empty()) {
            (false, _) => String::new(),
            (true, true) => "no provider found".into(),
            (true, false) => why.join(" / "),
        };
        Ok((started, wanted - started, why))
    }

    async fn start_slot_deal(
        self: &Arc<Self>,
        keep: &KeepRow,
        slot: &KeepSlotRow,
        chosen: &Candidate,
        renewal: bool,
        tasks: &mut JoinSet<()>,
    ) {
        let peer = chosen.peer.clone();
        let index = slot.index;
        let what = if renewal { "to renew slot" } else { "for slot" };
        self.state()
            .making_slots
            .entry(keep.id.clone())
            .or_default()
            .push((index, peer.clone()));
        let detail = format!(
            "proposing a deal to {peer} ({} per GiB-month, score {:.2}) {what} {index}",
            chosen.price_per_gib_month, chosen.score
        );
        self.event(&keep.id, "deal_started", &detail).await;
        let (keeper, keep, cid) = (self.clone(), keep.clone(), slot.cid.clone());
        tasks.spawn(async move {
            let _permit = keeper.deal_slots.clone().acquire_owned().await;
            keeper.make_slot_deal(&keep, index, &cid, &peer).await;
            let mut state = keeper.state();
            if let Some(list) = state.making_slots.get_mut(&keep.id) {
                list.retain(|(i, p)| !(*i == index && p == &peer));
            }
        });
    }

    async fn make_slot_deal(&self, keep: &KeepRow, index: u32, cid: &str, peer: &str) {
        let request = DealRequest {
            cid: cid.to_string(),
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
                self.state()
                    .backoff
                    .remove(&(keep.id.clone(), peer.to_string()));
                row
            }
            Err(e) => {
                self.back_off(&keep.id, peer);
                let detail = format!("deal with {peer} for slot {index} failed: {e}");
                return self.event(&keep.id, "deal_failed", &detail).await;
            }
        };
        let recorded = async {
            let db = &self.keeps.parts.db;
            if !db.add_slot_deal(&keep.id, &row.id, peer, index).await? {
                self.keeps
                    .cancel_deal(&row.id, "the keep was removed while the deal was made")
                    .await?;
                return Ok(());
            }
            let detail = match row.state {
                DealState::Active => {
                    format!("new deal {} with {peer} for slot {index} is active", row.id)
                }
                state => format!(
                    "deal {} with {peer} for slot {index} is {state:?} (waiting for it)",
                    row.id
                ),
            };
            self.event(&keep.id, "deal", &detail).await;
            Ok::<_, NodeError>(())
        };
        if let Err(e) = recorded.await {
            tracing::warn!(keep = %keep.id, deal = %row.id, error = %e, "could not record a slot deal");
        }
    }

    /// Starts encoding or rebuilding a keep's slots in a task, unless such work is under way
    /// or failed less than [`WORK_RETRY`] ago.
    fn slot_work(self: &Arc<Self>, keep: &KeepRow, work: Work, tasks: &mut JoinSet<()>) {
        {
            let mut state = self.state();
            let recent = state
                .slot_work_failed
                .get(&keep.id)
                .is_some_and(|at| at.elapsed() < WORK_RETRY);
            if recent || !state.slot_work.insert(keep.id.clone()) {
                return;
            }
        }
        let (keeper, keep) = (self.clone(), keep.clone());
        tasks.spawn(async move {
            let _permit = keeper.fetch_slots.clone().acquire_owned().await;
            let failed = match work {
                Work::Encode(scheme) => keeper.encode(&keep, scheme).await,
                Work::Rebuild(targets) => keeper.rebuild(&keep, &targets).await,
                Work::Fetch(targets) => keeper.fetch_for_renewal(&keep, &targets).await,
            }
            .err();
            let mut state = keeper.state();
            state.slot_work.remove(&keep.id);
            if failed.is_some() {
                state
                    .slot_work_failed
                    .insert(keep.id.clone(), Instant::now());
            } else {
                state.slot_work_failed.remove(&keep.id);
            }
        });
    }

    async fn encode(&self, keep: &KeepRow, scheme: Scheme) -> Result<()> {
        let started = Instant::now();
        match self.keeps.encode_keep(keep, scheme).await {
            Ok(manifest) => {
                let root = manifest.cid().map(|c| c.to_string()).unwrap_or_default();
                let detail = format!(
                    "encoded into {scheme} slots of {} bytes each in {} ms; erasure root {root}",
                    manifest.slots.first().map_or(0, |s| s.size),
                    started.elapsed().as_millis()
                );
                self.event(&keep.id, "encoded", &detail).await;
                Ok(())
            }
            Err(e) => {
                let detail = format!("could not encode the DAG into {scheme} slots: {e}");
                self.event(&keep.id, "warning", &detail).await;
                Err(e)
            }
        }
    }

    async fn fetch_for_renewal(&self, keep: &KeepRow, targets: &[u32]) -> Result<()> {
        let started = Instant::now();
        let limit = self.keeps.parts.config.keeper.fetch_timeout;
        let fetched = tokio::time::timeout(limit, self.keeps.fetch_slots(keep, targets))
            .await
            .unwrap_or_else(|_| {
                Err(NodeError::internal(format!(
                    "not fetched within {} s",
                    limit.as_secs()
                )))
            });
        match fetched {
            Ok(bytes) => {
                let detail = format!(
                    "slots {targets:?} are due for renewal: here again to be dealt anew ({bytes} bytes fetched from providers, {} ms)",
                    started.elapsed().as_millis()
                );
                self.event(&keep.id, "slot_fetched", &detail).await;
                Ok(())
            }
            Err(e) => {
                let detail = format!("could not fetch slots {targets:?} for their renewal: {e}");
                self.event(&keep.id, "warning", &detail).await;
                Err(e)
            }
        }
    }

    async fn rebuild(&self, keep: &KeepRow, targets: &[u32]) -> Result<()> {
        let started = Instant::now();
        match self.keeps.rebuild_slots(keep, targets).await {
            Ok(rebuilt) => {
                let detail = format!(
                    "rebuilt slots {:?} from {} in {} ms, {} bytes fetched from providers ({} per slot)",
                    rebuilt.slots,
                    rebuilt.from,
                    started.elapsed().as_millis(),
                    rebuilt.fetched_bytes,
                    rebuilt.fetched_bytes / rebuilt.slots.len().max(1) as u64
                );
                self.event(&keep.id, "repair", &detail).await;
                Ok(())
            }
            Err(e) => {
                let detail = format!("could not rebuild slots {targets:?}: {e}");
                self.event(&keep.id, "repair_failed", &detail).await;
                Err(e)
            }
        }
    }
}
