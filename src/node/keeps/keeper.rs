//! The keeper's runtime: one task that ticks every half second and, for each keep, pins the
//! DAG locally (the healthy copy repairs are made from), reads each live deal's proof record,
//! applies the domain's plan (`crate::keeper::repair`): drops failing providers (their deals
//! are cancelled, so the lifecycle stops challenging and paying them), releases surplus,
//! raises warnings, and starts new deals with the providers `select` chooses, then stores
//! the keep's status. Every decision is a keep event. Pin requests for the same CID share
//! deals (`crate::keeper::share`): a request first adopts the live deals another request
//! holds, deals being made count for every request of the CID, and a deal is cancelled only
//! when no request holds it any more.
//!
//! Bounds: a tick evaluates at most [`KEEPS_PER_TICK`] keeps (round robin); slow work never
//! runs in the tick: fetching a DAG, discovering providers and making a deal (which waits for
//! activation) run in tasks the run loop owns ([`DEALS_AT_ONCE`] deals and [`FETCHES_AT_ONCE`]
//! fetches at a time). Stopping the run loop aborts them. Runtime memory (deals in flight,
//! back-offs, raised warnings, the discovery cache) is rebuilt from the database after a
//! restart; a deal whose making was cut short by a restart is not adopted by its keep (the
//! keep makes another).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Discovered, Keeps};
use crate::db::{KeepHealthRow, KeepRow};
use crate::keeper::repair::{self, DealHealth, Verdict};
use crate::keeper::select::{self, Candidate, Need};
use crate::keeper::{share, KeepStatus, Score, Subnet};
use crate::node::Result;

mod erasure;
mod health;
mod tasks;

pub const TICK: Duration = Duration::from_millis(500);
pub const KEEPS_PER_TICK: usize = 256;
pub const DEALS_AT_ONCE: usize = 8;
pub const FETCHES_AT_ONCE: usize = 2;
/// How long `make_deal` waits for the provider to activate.
const DEAL_WAIT_SECS: u64 = 300;
/// How long a provider is left alone for a keep after a deal with it failed: the first
/// pause, doubled for each failure in a row, up to the longest.
const BACKOFF: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How long a discovery result is used before the next: the shortest, and the longest
/// (reached by doubling while each discovery finds the same providers: a node short of
/// providers for long must not ask every peer every few seconds forever).
const DISCOVERY_TTL: Duration = Duration::from_secs(3);
const DISCOVERY_TTL_MAX: Duration = Duration::from_secs(30);
/// A provider's score falling by this much, or under [`LOW_SCORE`], is warned about.
const SCORE_FALL: i64 = 150;
const LOW_SCORE: i64 = 500;

/// What [`Keeper::top_up`] works from.
struct TopUp<'a> {
    plan: &'a repair::Plan,
    deals: &'a [DealHealth],
    piece_size: u64,
    excluded: BTreeMap<String, String>,
    in_flight: usize,
}

/// A reason short enough for a status line (network errors can run to a paragraph).
fn clip(reason: &str) -> String {
    const MAX: usize = 160;
    match reason.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &reason[..at]),
        None => reason.to_string(),
    }
}

fn health_row(status: KeepStatus, details: &str) -> KeepHealthRow<'_> {
    KeepHealthRow {
        status,
        details,
        healthy: 0,
        shortfall: 0,
        at_risk: 0,
    }
}

/// The keeper of one node. Cheap to share; one run loop per node.
pub struct Keeper {
    keeps: Keeps,
    deal_slots: Arc<Semaphore>,
    fetch_slots: Arc<Semaphore>,
    /// Never held across an await.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per CID, the providers a deal is being made with and the keep it is for: every
    /// request for a CID counts them, so requests arriving together make one set of deals.
    making: HashMap<String, Vec<(String, String)>>,
    fetching: HashSet<String>,
    /// Per keep and provider: until when it is left alone, and failures in a row.
    backoff: HashMap<(String, String), (Instant, u32)>,
    discovered: Option<(Instant, Discovered)>,
    discovering: bool,
    discovery_ttl: Duration,
    /// Per erasure-coded keep, the slots a deal is being made for, with the provider.
    making_slots: HashMap<String, Vec<(u32, String)>>,
    /// Erasure-coded keeps whose slots are being encoded or rebuilt now.
    slot_work: HashSet<String>,
    /// When such work last failed, per keep (tried again after `erasure::WORK_RETRY`).
    slot_work_failed: HashMap<String, Instant>,
    /// Per keep, the warnings raised and still standing (each is recorded once).
    warnings: HashMap<String, BTreeSet<String>>,
    cursor: usize,
}

impl Keeper {
    pub fn new(keeps: Keeps) -> Arc<Self> {
        Arc::new(Keeper {
            keeps,
            deal_slots: Arc::new(Semaphore::new(DEALS_AT_ONCE)),
            fetch_slots: Arc::new(Semaphore::new(FETCHES_AT_ONCE)),
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave this map half-written in a way that matters.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ticks until the node stops; the tasks it started are aborted when it returns.
    pub async fn run(self: Arc<Self>) {
        let mut tasks = JoinSet::new();
        let stop = self.keeps.parts.tasks.stop_token();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.cancelled() => break,
            }
            while tasks.try_join_next().is_some() {}
            if let Err(e) = self.tick(&mut tasks).await {
                tracing::warn!(error = %e, "keeper pass failed");
            }
        }
        tasks.shutdown().await;
    }

    /// One pass over (at most [`KEEPS_PER_TICK`]) keeps.
    pub async fn tick(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Result<()> {
        let keeps = self.keeps.parts.db.query_keeps(&Default::default()).await?;
        let start = {
            let mut state = self.state();
            let start = state.cursor % keeps.len().max(1);
            state.cursor = start + KEEPS_PER_TICK;
            let live: HashSet<&str> = keeps.iter().map(|k| k.id.as_str()).collect();
            state.warnings.retain(|k, _| live.contains(k.as_str()));
            start
        };
        let mut scores = HashMap::new();
        for keep in keeps
            .iter()
            .cycle()
            .skip(start)
            .take(keeps.len().min(KEEPS_PER_TICK))
        {
            if let Err(e) = self.evaluate(keep, tasks, &mut scores).await {
                tracing::warn!(keep = %keep.id, error = %e, "could not evaluate a keep");
            }
        }
        Ok(())
    }

    /// Records a keeper decision, and logs it (warnings and penalties as warnings).
    async fn event(&self, keep: &str, kind: &str, detail: &str) {
        if matches!(kind, "warning" | "drop" | "deal_failed" | "failed") {
            tracing::warn!(keep, kind, "{detail}");
        } else {
            tracing::info!(keep, kind, "{detail}");
        }
        if let Err(e) = self.keeps.parts.db.add_keep_event(keep, kind, detail).await {
            tracing::warn!(keep, error = %e, "could not record a keep event");
        }
    }

    async fn evaluate(
        self: &Arc<Self>,
        keep: &KeepRow,
        tasks: &mut JoinSet<()>,
        scores: &mut HashMap<String, Score>,
    ) -> Result<()> {
        if keep.status == KeepStatus::Failed {
            return Ok(());
        }
        let (Some(piece_root), Some(piece_size), true) =
            (&keep.piece_root, keep.piece_size, keep.local_pin)
        else {
            self.fetch(keep, tasks);
            let details = "fetching the DAG to pin it here (origins, then the network)";
            return self
                .store_health(keep, &health_row(KeepStatus::Queued, details))
                .await;
        };
        if let Some(spec) = super::erasure::spec_of(&keep.meta)? {
            return self.evaluate_erasure(keep, spec, tasks, scores).await;
        }
        // Deals being made are read before the keep's recorded deals: a deal that finishes
        // in between is then counted twice for one tick (harmless), never zero times (which
        // would make one deal too many).
        let making: Vec<String> = self
            .state()
            .making
            .get(&keep.cid)
            .map(|list| list.iter().map(|(_, peer)| peer.clone()).collect())
            .unwrap_or_default();
        let mut excluded = BTreeMap::new();
        let mut deals = Vec::new();
        for kd in self.keeps.parts.db.keep_deals(&keep.id).await? {
            if kd.state == "dropped" {
                let why = kd.reason.unwrap_or_default();
                excluded.insert(kd.peer, format!("dropped from this keep: {why}"));
            } else if kd.state == "live" {
                let health = self.deal_health(keep, &kd.deal, &kd.peer, piece_root, scores);
                if let Some(health) = health.await? {
                    excluded.insert(kd.peer, "holds a deal for this keep".into());
                    deals.push(health);
                }
            }
        }
        for peer in &making {
            excluded.insert(peer.clone(), "a deal with it is being made".into());
        }
        self.share(keep, piece_root, &making, &mut deals, &mut excluded, scores)
            .await?;
        let plan = repair::plan(
            &keep.policy,
            &deals,
            making.len(),
            self.keeps.parts.clock.now_ms(),
        );
        self.apply(keep, &plan, &deals, &mut excluded).await?;
        let mut warnings: BTreeSet<String> = plan.warnings.iter().cloned().collect();
        for deal in &deals {
            warnings.extend(self.score_fall(&deal.peer, scores).await?);
        }
        self.warn(&keep.id, warnings).await;
        let (started, why_short) = if plan.new_deals > 0 {
            let need = TopUp {
                plan: &plan,
                deals: &deals,
                piece_size,
                excluded,
                in_flight: making.len(),
            };
            self.top_up(keep, need, tasks, scores).await?
        } else {
            (0, String::new())
        };
        let health = plan.health(&keep.policy, making.len(), started, &why_short);
        let row = KeepHealthRow {
            healthy: plan.healthy as u64,
            shortfall: health.shortfall as u64,
            at_risk: plan.at_risk as u64,
            ..health_row(health.status, &health.details)
        };
        self.store_health(keep, &row).await
    }

    /// Drops failing providers and releases surplus deals: their deals are cancelled, so
    /// the lifecycle stops challenging and paying them.
    async fn apply(
        &self,
        keep: &KeepRow,
        plan: &repair::Plan,
        deals: &[DealHealth],
        excluded: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        // Every provider failing at once while this node has no peer at all is more likely
        // this node's own network than all of them: drop nobody until it is connected again.
        let isolated = !plan.drops.is_empty()
            && plan.drops.len() >= deals.len()
            && self.connected_peers().await == 0;
        if isolated {
            let detail = "every provider looks unreachable and this node has no connected \
                          peer: not dropping anyone until it is connected again";
            self.event(&keep.id, "warning", detail).await;
        }
        let drops = plan
            .drops
            .iter()
            .filter(|_| !isolated)
            .map(|(d, w)| (d, w, "dropped"));
        let releases = plan.releases.iter().map(|(d, w)| (d, w, "released"));
        for (deal, why, state) in drops.chain(releases) {
            let peer = deals
                .iter()
                .find(|d| &d.deal == deal)
                .map(|d| d.peer.clone())
                .unwrap_or_default();
            let reason = format!("{state} by the keeper: {why}");
            // A deal another request for the CID still holds goes on for it; that request
            // drops it itself if the provider is failing (it reads the same proofs).
            if !self
                .keeps
                .parts
                .db
                .deal_held_elsewhere(deal, &keep.id)
                .await?
            {
                self.keeps.cancel_deal(deal, &reason).await?;
            }
            self.keeps
                .parts
                .db
                .end_keep_deal(&keep.id, deal, state, why)
                .await?;
            let kind = if state == "dropped" {
                excluded.insert(peer.clone(), format!("dropped from this keep: {why}"));
                "drop"
            } else {
                excluded.remove(&peer);
                "release"
            };
            let detail = format!("provider {peer} {state} (deal {deal}): {why}");
            self.event(&keep.id, kind, &detail).await;
        }
        Ok(())
    }

    /// One keep per CID: adopts live deals other requests for the same CID hold, while this
    /// keep wants more replicas and the deal serves its policy (`keeper::share`); providers
    /// holding such a deal are never asked for a second one.
    async fn share(
        &self,
        keep: &KeepRow,
        piece_root: &str,
        making: &[String],
        deals: &mut Vec<DealHealth>,
        excluded: &mut BTreeMap<String, String>,
        scores: &mut HashMap<String, Score>,
    ) -> Result<()> {
        let db = &self.keeps.parts.db;
        let now = self.keeps.parts.clock.now_ms();
        for (deal, peer) in db.shared_deals(&keep.cid, &keep.id).await? {
            let wanted = keep.policy.replicas as usize;
            if excluded.contains_key(&peer) || deals.len() + making.len() >= wanted {
                excluded
                    .entry(peer)
                    .or_insert_with(|| "holds a deal for this CID (another pin request)".into());
                continue;
            }
            let row = db.get_deal(&deal).await?;
            let Some((_, signed)) = row.as_ref().and_then(crate::node::deals::decode_row) else {
                continue;
            };
            let proposal = &signed.payload;
            let offer = share::Offer {
                price_per_gib_month: proposal.price_per_gib_month.0,
                challenge_period_secs: proposal.challenge_period_secs,
                end_ms: i64::try_from(proposal.end()).unwrap_or(i64::MAX),
            };
            // A deal that cannot serve this policy needs no proof record read.
            let health = if share::serves(&keep.policy, &offer, now) {
                self.deal_health(keep, &deal, &peer, piece_root, scores)
                    .await?
            } else {
                None
            };
            let healthy = health
                .as_ref()
                .is_some_and(|h| !matches!(h.verdict(&keep.policy, now), Verdict::Drop(_)));
            if let (true, Some(health)) = (healthy, health) {
                if db.add_keep_deal(&keep.id, &deal, &peer).await? {
                    let detail = format!(
                        "sharing deal {deal} with {peer}, made for another request for this CID"
                    );
                    self.event(&keep.id, "deal", &detail).await;
                    deals.push(health);
                }
            }
            excluded.insert(
                peer,
                "holds a deal for this CID (another pin request)".into(),
            );
        }
        Ok(())
    }

    async fn connected_peers(&self) -> usize {
        match self.keeps.parts.net.running() {
            Some(net) => net.peers().await.map(|p| p.len()).unwrap_or(0),
            None => 0,
        }
    }

    /// Chooses providers for the replicas the plan wants and starts a deal with each.
    /// Returns how many started and, if fewer than wanted, why.
    async fn top_up(
        self: &Arc<Self>,
        keep: &KeepRow,
        mut need: TopUp<'_>,
        tasks: &mut JoinSet<()>,
        scores: &mut HashMap<String, Score>,
    ) -> Result<(usize, String)> {
        let Some(found) = self.discovered(tasks) else {
            return Ok((0, "looking for providers".into()));
        };
        let now = Instant::now();
        for ((k, peer), (until, _)) in &self.state().backoff {
            if k == &keep.id && *until > now {
                need.excluded
                    .entry(peer.clone())
                    .or_insert("a deal with it failed: tried again after a pause".into());
            }
        }
        // A provider due for renewal may take the new deal (it holds the data already).
        let renewing: HashSet<String> = need.plan.renewing.iter().cloned().collect();
        for peer in &renewing {
            need.excluded.remove(peer);
        }
        let taken: HashSet<Subnet> = need
            .deals
            .iter()
            .filter(|d| !renewing.contains(&d.peer))
            .filter_map(|d| d.subnet)
            .collect();
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
        let selection = select::select(
            &candidates,
            &Need {
                policy: &keep.policy,
                piece_size: need.piece_size,
                count: need.plan.new_deals,
                excluded: &need.excluded,
                taken_subnets: &taken,
                renewing: &renewing,
            },
        );
        let before = need.plan.live + need.in_flight;
        for (i, chosen) in selection.chosen.iter().enumerate() {
            self.start_deal(keep, chosen, before + i + 1, tasks).await;
        }
        let started = selection.chosen.len();
        let why = match (started < need.plan.new_deals, candidates.is_empty()) {
            (false, _) => String::new(),
            (true, true) => "no provider found".into(),
            (true, false) => selection.summary(),
        };
        Ok((started, why))
    }

    /// Records and logs the warnings that are new for this keep.
    async fn warn(&self, keep: &str, now: BTreeSet<String>) {
        let fresh: Vec<String> = {
            let mut state = self.state();
            let raised = state.warnings.entry(keep.to_string()).or_default();
            let fresh = now.difference(raised).cloned().collect();
            *raised = now
                .into_iter()
                .filter(|w| !w.contains("score fell"))
                .collect();
            fresh
        };
        for warning in fresh {
            self.event(keep, "warning", &warning).await;
        }
    }

    async fn store_health(&self, keep: &KeepRow, h: &KeepHealthRow<'_>) -> Result<()> {
        let same = keep.status == h.status
            && keep.status_details.as_deref() == Some(h.details)
            && (keep.healthy, keep.shortfall, keep.at_risk) == (h.healthy, h.shortfall, h.at_risk);
        if same {
            return Ok(());
        }
        self.keeps.parts.db.set_keep_health(&keep.id, h).await?;
        if h.shortfall > 0 {
            tracing::warn!(keep = %keep.id, shortfall = h.shortfall, "{}", h.details);
        }
        if keep.status != h.status {
            self.event(
                &keep.id,
                "status",
                &format!("{} -> {}: {}", keep.status, h.status, h.details),
            )
            .await;
        }
        Ok(())
    }
}
