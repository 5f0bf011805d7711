//! Repair decisions: each live deal's verdict from its own proof record, and what a keep does
//! about them (drop, release, make new deals) with the status that results.
//!
//! Thresholds (a deal is dropped, with the reason recorded, when any holds):
//! - [`MAX_FAILED_IN_A_ROW`] failed proofs in a row (wrong, refused or late);
//! - a pass rate under [`MIN_PASS_RATE`] over its last [`RATE_WINDOW`] answered challenges,
//!   once it has answered at least [`MIN_CHALLENGES_FOR_RATE`];
//! - unreachable past the grace period: [`MAX_FAILED_IN_A_ROW`] challenges in a row without a
//!   passing answer and [`GRACE_PERIODS`] challenge periods since its last answer;
//! - accepted but not active [`ACTIVATION_TIMEOUT_MS`] after it was made.
//!
//! A deal that missed its latest proof but is under every threshold is *at risk*: a warning
//! (log and metric) comes before the penalty. Deals due for renewal (see `policy`) still
//! count as healthy replicas but not toward the replicas the keep needs from now on, so a new
//! deal is made before they end.
//!
//! Status: `pinned` when at least `replicas` deals are healthy (active, latest proof passed);
//! otherwise `pinning` while any deal is live or in progress, and `queued` with none. The
//! shortfall is the number of replicas the keep cannot even attempt for lack of an eligible
//! provider: it is reported in the status details and the metrics, and made up as soon as a
//! provider appears.

use super::{KeepStatus, Outcome, Policy, Subnet};

pub const MAX_FAILED_IN_A_ROW: usize = 3;
pub const MIN_PASS_RATE: f64 = 0.5;
pub const MIN_CHALLENGES_FOR_RATE: usize = 4;
pub const RATE_WINDOW: usize = 24;
pub const GRACE_PERIODS: i64 = 3;
/// How long a deal may stay accepted without being activated: ten minutes.
pub const ACTIVATION_TIMEOUT_MS: i64 = 600_000;

/// Where a live deal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Proposed and accepted; the provider is pulling the data.
    Pending,
    Active,
}

/// A live deal of a keep, as repair sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DealHealth {
    pub deal: String,
    pub peer: String,
    pub phase: Phase,
    /// When the deal was recorded here.
    pub created_ms: i64,
    /// When its term ends.
    pub end_ms: i64,
    /// This deal's challenges, oldest first.
    pub proofs: Vec<Outcome>,
    /// Why its latest challenge did not pass, if it did not.
    pub last_reason: Option<String>,
    /// The latest answer to a challenge (or the activation, before any challenge).
    pub last_answer_ms: Option<i64>,
    pub subnet: Option<Subnet>,
    /// Its provider's score.
    pub score: f64,
}

/// What a deal's record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pending,
    /// Active, not challenged yet.
    Unproven,
    Healthy,
    AtRisk(String),
    Drop(String),
}

impl Verdict {
    /// Worst first, for choosing which surplus deal to release.
    fn rank(&self) -> u8 {
        match self {
            Verdict::Drop(_) => 0,
            Verdict::AtRisk(_) => 1,
            Verdict::Pending => 2,
            Verdict::Unproven => 3,
            Verdict::Healthy => 4,
        }
    }
}

impl DealHealth {
    pub fn verdict(&self, policy: &Policy, now_ms: i64) -> Verdict {
        if self.phase == Phase::Pending {
            let waited = now_ms.saturating_sub(self.created_ms);
            if waited > ACTIVATION_TIMEOUT_MS {
                return Verdict::Drop(format!(
                    "not activated {} s after it was accepted",
                    waited / 1000
                ));
            }
            return Verdict::Pending;
        }
        let misses: Vec<Outcome> = self
            .proofs
            .iter()
            .rev()
            .take_while(|o| **o != Outcome::Passed)
            .copied()
            .collect();
        let failed = misses.iter().filter(|o| **o == Outcome::Failed).count();
        let unreachable = misses.len() - failed;
        let last = self
            .last_reason
            .as_deref()
            .map(|r| format!(" (last: {r})"))
            .unwrap_or_default();
        if unreachable == 0 && failed >= MAX_FAILED_IN_A_ROW {
            return Verdict::Drop(format!("{failed} failed proofs in a row{last}"));
        }
        let answered: Vec<Outcome> = self
            .proofs
            .iter()
            .rev()
            .filter(|o| **o != Outcome::Unreachable)
            .take(RATE_WINDOW)
            .copied()
            .collect();
        let passed = answered.iter().filter(|o| **o == Outcome::Passed).count();
        if answered.len() >= MIN_CHALLENGES_FOR_RATE
            && (passed as f64) < MIN_PASS_RATE * answered.len() as f64
        {
            return Verdict::Drop(format!(
                "passed only {passed} of its last {} answered proofs",
                answered.len()
            ));
        }
        let silent_ms = now_ms.saturating_sub(self.last_answer_ms.unwrap_or(self.created_ms));
        if misses.len() >= MAX_FAILED_IN_A_ROW && silent_ms >= GRACE_PERIODS * policy.period_ms() {
            return Verdict::Drop(if failed == 0 {
                format!(
                    "unreachable for {} s ({unreachable} challenges unanswered){last}",
                    silent_ms / 1000
                )
            } else {
                format!(
                    "{} proofs missed in a row ({failed} failed, {unreachable} unreachable){last}",
                    misses.len()
                )
            });
        }
        if !misses.is_empty() {
            return Verdict::AtRisk(format!(
                "missed its last {} proof(s){last}; dropped after {MAX_FAILED_IN_A_ROW} in a row or {GRACE_PERIODS} periods unreachable",
                misses.len()
            ));
        }
        if self.proofs.is_empty() {
            return Verdict::Unproven;
        }
        Verdict::Healthy
    }
}

/// What to do about a keep now, from its live deals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Deals to drop, with why: their providers failed.
    pub drops: Vec<(String, String)>,
    /// Deals to let go of, with why: more replicas than the policy asks.
    pub releases: Vec<(String, String)>,
    /// Warnings to raise before any penalty.
    pub warnings: Vec<String>,
    /// New deals to start now.
    pub new_deals: usize,
    /// Providers whose deal is due for renewal (preferred for the new deal).
    pub renewing: Vec<String>,
    /// Live deals kept, not due for renewal (pending or active).
    pub live: usize,
    /// Kept deals whose latest proof passed (due for renewal or not).
    pub healthy: usize,
    pub at_risk: usize,
    /// Kept deals pending activation or not yet challenged.
    pub unproven: usize,
}

/// Plans a keep from its live deals and the deals being made for it now (`in_flight`).
pub fn plan(policy: &Policy, deals: &[DealHealth], in_flight: usize, now_ms: i64) -> Plan {
    let mut plan = Plan::default();
    let mut counted: Vec<(&DealHealth, Verdict)> = Vec::new();
    let mut renewing: Vec<(&DealHealth, Verdict)> = Vec::new();
    for deal in deals {
        match deal.verdict(policy, now_ms) {
            Verdict::Drop(why) => plan.drops.push((deal.deal.clone(), why)),
            verdict
                if deal.phase == Phase::Active && policy.due_for_renewal(deal.end_ms, now_ms) =>
            {
                plan.renewing.push(deal.peer.clone());
                renewing.push((deal, verdict));
            }
            verdict => counted.push((deal, verdict)),
        }
    }
    let wanted = policy.replicas as usize;
    if counted.len() > wanted {
        counted.sort_by(|(a, va), (b, vb)| {
            va.rank()
                .cmp(&vb.rank())
                .then(a.score.total_cmp(&b.score))
                .then(b.created_ms.cmp(&a.created_ms))
        });
        let surplus = counted.len() - wanted;
        for (deal, _) in counted.drain(..surplus) {
            plan.releases.push((
                deal.deal.clone(),
                format!("the keep now asks for {wanted} replicas"),
            ));
        }
    }
    for (deal, verdict) in counted.iter().chain(&renewing) {
        match verdict {
            Verdict::Healthy => plan.healthy += 1,
            Verdict::AtRisk(why) => {
                plan.at_risk += 1;
                plan.warnings.push(format!(
                    "deal {} with {} at risk: {why}",
                    deal.deal, deal.peer
                ));
            }
            Verdict::Pending | Verdict::Unproven => plan.unproven += 1,
            Verdict::Drop(_) => {}
        }
    }
    plan.live = counted.len();
    plan.new_deals = wanted.saturating_sub(plan.live + in_flight);
    let had_replicas = !deals.is_empty();
    if had_replicas && plan.healthy + plan.unproven < wanted {
        plan.warnings.push(format!(
            "replicas below policy: {} of {wanted} healthy",
            plan.healthy
        ));
    }
    plan
}

/// A keep's status once this pass's new deals (`started`) are under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: KeepStatus,
    pub shortfall: usize,
    pub details: String,
}

impl Plan {
    /// The status, its shortfall and a line saying why (`why_short`: who was passed over).
    pub fn health(
        &self,
        policy: &Policy,
        in_flight: usize,
        started: usize,
        why_short: &str,
    ) -> Health {
        let wanted = policy.replicas as usize;
        let going = self.live + in_flight + started;
        let shortfall = wanted.saturating_sub(going);
        let status = if self.healthy >= wanted {
            KeepStatus::Pinned
        } else if going == 0 && self.healthy == 0 && self.at_risk == 0 {
            KeepStatus::Queued
        } else {
            KeepStatus::Pinning
        };
        let mut details = format!("{} of {wanted} replicas healthy", self.healthy);
        let in_progress = self.unproven + in_flight + started;
        if in_progress > 0 {
            details.push_str(&format!(", {in_progress} in progress"));
        }
        if self.at_risk > 0 {
            details.push_str(&format!(", {} at risk", self.at_risk));
        }
        if !self.renewing.is_empty() {
            details.push_str(&format!(", {} due for renewal", self.renewing.len()));
        }
        if shortfall > 0 {
            details.push_str(&format!("; {shortfall} short: no eligible provider"));
            if !why_short.is_empty() {
                details.push_str(&format!(" ({why_short})"));
            }
        }
        Health {
            status,
            shortfall,
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;
    use super::*;

    const NOW: i64 = 1_000_000_000;
    const DAY: i64 = 86_400_000;

    fn policy(replicas: u32) -> Policy {
        Policy {
            replicas,
            duration_secs: 30 * 86_400,
            max_price_per_gib_month: None,
            challenge_period_secs: 60,
        }
    }

    fn deal(name: &str, proofs: &[Outcome]) -> DealHealth {
        DealHealth {
            deal: name.into(),
            peer: format!("peer-{name}"),
            phase: Phase::Active,
            created_ms: NOW - DAY,
            end_ms: NOW + 20 * DAY,
            proofs: proofs.to_vec(),
            last_reason: None,
            last_answer_ms: Some(NOW - 60_000),
            subnet: None,
            score: 0.5,
        }
    }

    #[test]
    fn three_failed_proofs_in_a_row_drop_a_deal_and_one_miss_is_a_warning() {
        let p = policy(3);
        let mut d = deal("a", &[Passed, Passed, Failed, Failed, Failed]);
        d.last_reason = Some("data_unavailable".into());
        let Verdict::Drop(why) = d.verdict(&p, NOW) else {
            panic!("dropped")
        };
        assert_eq!(why, "3 failed proofs in a row (last: data_unavailable)");
        let at_risk = deal("b", &[Passed, Passed, Failed]).verdict(&p, NOW);
        assert!(matches!(&at_risk, Verdict::AtRisk(w) if w.contains("missed its last 1")));
        assert_eq!(
            deal("c", &[Failed, Passed]).verdict(&p, NOW),
            Verdict::Healthy
        );
        assert_eq!(deal("d", &[]).verdict(&p, NOW), Verdict::Unproven);
    }

    #[test]
    fn a_low_pass_rate_drops_a_deal_once_it_has_answered_enough() {
        let p = policy(3);
        let flaky = [Failed, Passed, Failed, Failed, Passed, Failed, Passed];
        assert!(matches!(
            deal("a", &flaky).verdict(&p, NOW),
            Verdict::Drop(w) if w == "passed only 3 of its last 7 answered proofs"
        ));
        // Three answers are too few to judge a rate; unreachable ones are not answers.
        let few = [Failed, Passed, Unreachable, Unreachable, Passed];
        assert_eq!(deal("b", &few).verdict(&p, NOW), Verdict::Healthy);
    }

    #[test]
    fn an_unreachable_provider_is_dropped_only_past_the_grace_period() {
        let p = policy(3);
        let mut d = deal("a", &[Passed, Unreachable, Unreachable, Unreachable]);
        d.last_answer_ms = Some(NOW - 2 * 60_000);
        assert!(
            matches!(d.verdict(&p, NOW), Verdict::AtRisk(_)),
            "2 periods"
        );
        d.last_answer_ms = Some(NOW - 3 * 60_000);
        let Verdict::Drop(why) = d.verdict(&p, NOW) else {
            panic!("3 periods")
        };
        assert_eq!(why, "unreachable for 180 s (3 challenges unanswered)");
        let mixed = DealHealth {
            proofs: vec![Passed, Failed, Unreachable, Failed],
            ..d
        };
        assert!(matches!(
            mixed.verdict(&p, NOW),
            Verdict::Drop(w) if w.starts_with("3 proofs missed in a row (2 failed, 1 unreachable)")
        ));
    }

    #[test]
    fn a_deal_never_activated_is_dropped_after_the_timeout() {
        let p = policy(1);
        let mut d = deal("a", &[]);
        d.phase = Phase::Pending;
        d.created_ms = NOW - 1000;
        assert_eq!(d.verdict(&p, NOW), Verdict::Pending);
        d.created_ms = NOW - ACTIVATION_TIMEOUT_MS - 1000;
        assert!(matches!(d.verdict(&p, NOW), Verdict::Drop(w) if w.contains("not activated")));
    }

    #[test]
    fn a_plan_replaces_dropped_replicas_and_counts_deals_in_flight() {
        let p = policy(3);
        let deals = [
            deal("good", &[Passed]),
            deal("bad", &[Failed, Failed, Failed]),
            deal("new", &[]),
        ];
        let plan = plan(&p, &deals, 0, NOW);
        assert_eq!(plan.drops.len(), 1);
        assert_eq!(plan.drops[0].0, "bad");
        assert_eq!((plan.live, plan.healthy, plan.unproven), (2, 1, 1));
        assert_eq!(plan.new_deals, 1);
        assert!(plan
            .warnings
            .iter()
            .any(|w| w.contains("replicas below policy")));
        let busy = super::plan(&p, &deals, 1, NOW);
        assert_eq!(busy.new_deals, 0, "a deal being made counts");
    }

    #[test]
    fn status_is_pinned_only_with_enough_healthy_replicas_and_reports_the_shortfall() {
        let p = policy(2);
        let one = plan(&p, &[deal("a", &[Passed])], 0, NOW);
        assert_eq!(one.new_deals, 1);
        let short = one.health(&p, 0, 0, "x: asks 5000 per GiB-month, over the cap of 2000");
        assert_eq!(short.status, KeepStatus::Pinning);
        assert_eq!(short.shortfall, 1);
        assert_eq!(
            short.details,
            "1 of 2 replicas healthy; 1 short: no eligible provider (x: asks 5000 per GiB-month, over the cap of 2000)"
        );
        let topped = one.health(&p, 0, 1, "");
        assert_eq!((topped.status, topped.shortfall), (KeepStatus::Pinning, 0));
        assert_eq!(topped.details, "1 of 2 replicas healthy, 1 in progress");

        let two = plan(
            &p,
            &[deal("a", &[Passed]), deal("b", &[Failed, Passed])],
            0,
            NOW,
        );
        let health = two.health(&p, 0, 0, "");
        assert_eq!((health.status, health.shortfall), (KeepStatus::Pinned, 0));
        assert!(two.warnings.is_empty());

        let none = plan(&p, &[], 0, NOW).health(&p, 0, 0, "");
        assert_eq!((none.status, none.shortfall), (KeepStatus::Queued, 2));
        let started = plan(&p, &[], 0, NOW).health(&p, 0, 2, "");
        assert_eq!(started.status, KeepStatus::Pinning);
    }

    #[test]
    fn deals_due_for_renewal_are_replaced_before_they_end_and_surplus_is_released() {
        let p = policy(2);
        let mut ending = deal("ending", &[Passed]);
        ending.end_ms = NOW + DAY; // under a tenth of 30 days left
        let plan1 = plan(&p, &[ending, deal("b", &[Passed])], 0, NOW);
        assert_eq!(plan1.renewing, ["peer-ending"]);
        assert_eq!((plan1.live, plan1.healthy, plan1.new_deals), (1, 2, 1));
        assert_eq!(plan1.health(&p, 0, 0, "").status, KeepStatus::Pinned);

        let mut weak = deal("weak", &[Passed, Failed]);
        weak.score = 0.3;
        let p1 = policy(1);
        let plan2 = plan(
            &p1,
            &[deal("strong", &[Passed]), weak, deal("new", &[])],
            0,
            NOW,
        );
        let released: Vec<&str> = plan2.releases.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(released, ["weak", "new"]);
        assert_eq!((plan2.live, plan2.new_deals), (1, 0));
    }
}
