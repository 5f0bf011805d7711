//! Erasure-coded keeps: what the keeper does about a keep held as `k + m` slots, each slot an
//! ordinary content object with its own deal (`crate::erasure` has the coding itself).
//!
//! Decisions recorded here:
//! - **Placement**: one provider per slot, never two slots of one keep on one provider (a
//!   provider that holds, held or is being offered any slot of the keep is not chosen for
//!   another), and distinct subnets where addresses say so, as for replicas.
//! - **A slot's state** comes from its deal's verdict ([`DealHealth::verdict`], the replica
//!   thresholds): `healthy` (active, latest proof passed), `unproven` (pending or not
//!   challenged yet), `at_risk` (missed its latest proof), `missing` (no live deal).
//! - **Health** is healthy slots minus `k`: how many more slots may be lost before the data
//!   cannot be rebuilt from slots. Negative: unrecoverable from the healthy slots alone.
//! - **Repair is lazy**, as in Storj and Sia: a missing slot whose bytes are still here (it
//!   was never dealt, or its deal failed before the copy here was released) is dealt at once;
//!   one whose bytes are gone is rebuilt only when the slots *held* (a live deal in any state,
//!   or one being made) fall below the repair threshold (default `k + 1`). Then every missing
//!   slot is rebuilt at once, from the local DAG when it is here, else from `k` slots fetched
//!   from providers, so one repair pays the fetch of `k` slots for all the slots it rebuilds.
//! - **Renewal**, as for replicas (`policy`): once a slot's deal is due for renewal (less than
//!   a tenth of its term or two challenge periods left) and the slot has no other live deal,
//!   a new deal is made for the same slot, with the same provider first when it still offers
//!   fair terms, else with another provider that holds no other slot of the keep. The old
//!   deal still holds the slot (and counts toward its state) until it ends; it is never
//!   released as surplus. A new deal needs the slot's bytes here: when the copy here was let
//!   go, the slot is first brought back (`to_fetch`: encoded again from the local DAG when it
//!   is whole here, else fetched by CID from its provider), then dealt; the copy is let go
//!   again once the new deal is active.
//! - **Status**: `pinned` when every slot is healthy, `queued` while no slot is held, else
//!   `pinning`; the shortfall is the slots that are missing and cannot be placed for lack of
//!   an eligible provider (made up when providers appear).

use super::repair::{DealHealth, Phase, Verdict};
use super::{KeepStatus, Policy};
use crate::erasure::Scheme;

/// The default repair threshold: rebuild once fewer than `k + 1` slots are held (while one
/// more loss is still survivable).
pub fn default_threshold(scheme: Scheme) -> u32 {
    (scheme.k + 1).min(scheme.n())
}

/// Checks a repair threshold: between `k` (repair only at the last moment) and `k + m`
/// (repair every lost slot at once).
pub fn check_threshold(scheme: Scheme, threshold: u32) -> Result<u32, String> {
    if threshold < scheme.k || threshold > scheme.n() {
        return Err(format!(
            "the repair threshold must be between k = {} and k + m = {}, not {threshold}",
            scheme.k,
            scheme.n()
        ));
    }
    Ok(threshold)
}

/// One slot as the keeper sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotHealth {
    pub index: u32,
    /// Its live deals (normally one).
    pub deals: Vec<DealHealth>,
    /// A deal for it is being made now.
    pub in_flight: bool,
    /// Its bytes are pinned here.
    pub local: bool,
}

/// Where a slot stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    Healthy,
    Unproven,
    AtRisk,
    Missing,
}

impl SlotState {
    pub fn as_str(&self) -> &'static str {
        match self {
            SlotState::Healthy => "healthy",
            SlotState::Unproven => "unproven",
            SlotState::AtRisk => "at_risk",
            SlotState::Missing => "missing",
        }
    }
}

/// What to do about an erasure-coded keep now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlotPlan {
    /// Deals to drop, with why (their providers failed).
    pub drops: Vec<(String, String)>,
    /// Extra deals for a slot that already has a better one.
    pub releases: Vec<(String, String)>,
    pub warnings: Vec<String>,
    /// Each slot's state after the drops, by index.
    pub states: Vec<SlotState>,
    /// Missing slots whose bytes are here: deal them now.
    pub to_deal: Vec<u32>,
    /// Missing slots to rebuild (the held slots fell below the threshold).
    pub to_rebuild: Vec<u32>,
    /// Missing slots left alone until the held slots fall below the threshold.
    pub waiting: Vec<u32>,
    /// Slots with an active deal (any verdict but drop) whose copy here may be let go.
    pub release_local: Vec<u32>,
    /// Slots whose every live deal is due for renewal, with those deals' providers (preferred
    /// for the new deal of that slot, and only for it).
    pub renewing: Vec<(u32, Vec<String>)>,
    /// Slots due for renewal whose bytes are not here: fetch them back from their provider
    /// before the new deal (then they are in `to_deal`).
    pub to_fetch: Vec<u32>,
    pub healthy: usize,
    pub at_risk: usize,
    /// Slots with a live deal or one being made.
    pub held: usize,
}

impl SlotPlan {
    /// Healthy slots minus `k`.
    pub fn health(&self, scheme: Scheme) -> i64 {
        self.healthy as i64 - i64::from(scheme.k)
    }

    /// Indices in `state`.
    pub fn in_state(&self, state: &SlotState) -> Vec<u32> {
        (0..self.states.len() as u32)
            .filter(|&i| &self.states[i as usize] == state)
            .collect()
    }
}

/// Plans a keep from its slots; `threshold` is the repair threshold (checked).
pub fn plan_slots(
    scheme: Scheme,
    threshold: u32,
    policy: &Policy,
    slots: &[SlotHealth],
    now_ms: i64,
) -> SlotPlan {
    let mut plan = SlotPlan::default();
    let mut missing = Vec::new();
    for slot in slots {
        let mut kept: Vec<(&DealHealth, Verdict)> = Vec::new();
        for deal in &slot.deals {
            match deal.verdict(policy, now_ms) {
                Verdict::Drop(why) => plan.drops.push((deal.deal.clone(), why)),
                verdict => kept.push((deal, verdict)),
            }
        }
        // The best deal gives the slot its state; deals due for renewal run to their end.
        kept.sort_by_key(|(d, v)| (std::cmp::Reverse(rank(v)), std::cmp::Reverse(d.created_ms)));
        let due =
            |d: &DealHealth| d.phase == Phase::Active && policy.due_for_renewal(d.end_ms, now_ms);
        let current: Vec<&(&DealHealth, Verdict)> = kept.iter().filter(|(d, _)| !due(d)).collect();
        // The best current deal holds the slot; any other current one is surplus.
        for (deal, _) in current.iter().skip(1) {
            plan.releases.push((
                deal.deal.clone(),
                format!("slot {} is held by another deal", slot.index),
            ));
        }
        if current.is_empty() && !kept.is_empty() && !slot.in_flight {
            let peers: Vec<String> = kept.iter().map(|(d, _)| d.peer.clone()).collect();
            plan.renewing.push((slot.index, peers));
            if slot.local {
                plan.to_deal.push(slot.index);
            } else {
                plan.to_fetch.push(slot.index);
            }
        }
        let state = match kept.first() {
            Some((_, Verdict::Healthy)) => SlotState::Healthy,
            Some((deal, Verdict::AtRisk(why))) => {
                plan.warnings.push(format!(
                    "slot {} (deal {} with {}) at risk: {why}",
                    slot.index, deal.deal, deal.peer
                ));
                SlotState::AtRisk
            }
            Some(_) => SlotState::Unproven,
            None if slot.in_flight => SlotState::Unproven,
            None => SlotState::Missing,
        };
        if let Some((deal, _)) = current.first() {
            if deal.phase == Phase::Active && slot.local {
                plan.release_local.push(slot.index);
            }
        }
        match state {
            SlotState::Healthy => plan.healthy += 1,
            SlotState::AtRisk => plan.at_risk += 1,
            _ => {}
        }
        if state == SlotState::Missing {
            missing.push(slot);
        } else {
            plan.held += 1;
        }
        plan.states.push(state);
    }
    let below = (plan.held as u32) < threshold;
    for slot in missing {
        if slot.local {
            plan.to_deal.push(slot.index);
        } else if below {
            plan.to_rebuild.push(slot.index);
        } else {
            plan.waiting.push(slot.index);
        }
    }
    if !plan.to_rebuild.is_empty() {
        plan.warnings.push(format!(
            "slots below the repair threshold: {} of {} held, repair below {threshold}",
            plan.held,
            scheme.n()
        ));
    }
    if (plan.held as u32) < scheme.k && slots.iter().any(|s| !s.deals.is_empty()) {
        plan.warnings.push(format!(
            "fewer than k = {} slots held: only the local copy can restore the data",
            scheme.k
        ));
    }
    plan
}

fn rank(verdict: &Verdict) -> u8 {
    match verdict {
        Verdict::Healthy => 4,
        Verdict::Unproven => 3,
        Verdict::Pending => 2,
        Verdict::AtRisk(_) => 1,
        Verdict::Drop(_) => 0,
    }
}

/// A keep's status and the line that says why, once this pass's deals (`started`) and
/// rebuilds are under way; `short` is how many missing slots found no eligible provider.
pub fn slot_health(
    plan: &SlotPlan,
    scheme: Scheme,
    threshold: u32,
    started: usize,
    rebuilding: bool,
    short: usize,
    why_short: &str,
) -> super::repair::Health {
    let n = scheme.n() as usize;
    let status = if plan.healthy >= n {
        KeepStatus::Pinned
    } else if plan.held + started == 0 && !rebuilding {
        KeepStatus::Queued
    } else {
        KeepStatus::Pinning
    };
    let mut details = format!(
        "{scheme}: {} of {n} slots healthy (health {:+}, repair below {threshold} held)",
        plan.healthy,
        plan.health(scheme)
    );
    let unproven = plan.in_state(&SlotState::Unproven).len() + started;
    if unproven > 0 {
        details.push_str(&format!(", {unproven} in progress"));
    }
    if plan.at_risk > 0 {
        details.push_str(&format!(", {} at risk", plan.at_risk));
    }
    if !plan.renewing.is_empty() {
        let due: Vec<u32> = plan.renewing.iter().map(|(i, _)| *i).collect();
        details.push_str(&format!(", slots {due:?} due for renewal"));
    }
    if rebuilding {
        details.push_str(&format!(", rebuilding slots {:?}", plan.to_rebuild));
    }
    if !plan.waiting.is_empty() {
        details.push_str(&format!(
            "; slots {:?} lost, rebuilt once fewer than {threshold} are held",
            plan.waiting
        ));
    }
    if short > 0 {
        details.push_str(&format!("; {short} short: no eligible provider"));
        if !why_short.is_empty() {
            details.push_str(&format!(" ({why_short})"));
        }
    }
    super::repair::Health {
        status,
        shortfall: short,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keeper::Outcome;

    const NOW: i64 = 1_000_000_000;

    fn policy() -> Policy {
        Policy {
            replicas: 1,
            duration_secs: 30 * 86_400,
            max_price_per_gib_month: None,
            challenge_period_secs: 3600,
        }
    }

    fn deal(id: &str, proofs: &[Outcome]) -> DealHealth {
        DealHealth {
            deal: id.into(),
            peer: format!("peer-{id}"),
            phase: Phase::Active,
            created_ms: NOW - 86_400_000,
            end_ms: NOW + 20 * 86_400_000,
            proofs: proofs.to_vec(),
            last_reason: None,
            last_answer_ms: Some(NOW),
            subnet: None,
            score: 0.9,
        }
    }

    fn slot(index: u32, deals: Vec<DealHealth>, local: bool) -> SlotHealth {
        SlotHealth {
            index,
            deals,
            in_flight: false,
            local,
        }
    }

    fn scheme() -> Scheme {
        Scheme::new(4, 4).unwrap()
    }

    #[test]
    fn the_threshold_defaults_to_k_plus_one_and_stays_between_k_and_n() {
        assert_eq!(default_threshold(scheme()), 5);
        assert_eq!(default_threshold(Scheme::new(1, 1).unwrap()), 2);
        assert_eq!(check_threshold(scheme(), 4), Ok(4));
        assert_eq!(check_threshold(scheme(), 8), Ok(8));
        assert!(check_threshold(scheme(), 3)
            .unwrap_err()
            .contains("between k = 4"));
        assert!(check_threshold(scheme(), 9).is_err());
    }

    #[test]
    fn fresh_slots_here_are_dealt_and_an_all_healthy_keep_is_pinned() {
        let slots: Vec<SlotHealth> = (0..8).map(|i| slot(i, Vec::new(), true)).collect();
        let plan = plan_slots(scheme(), 5, &policy(), &slots, NOW);
        assert_eq!(plan.to_deal, (0..8).collect::<Vec<_>>());
        assert!(plan.to_rebuild.is_empty() && plan.waiting.is_empty());
        let health = slot_health(&plan, scheme(), 5, 8, false, 0, "");
        assert_eq!(health.status, KeepStatus::Pinning);
        let none = slot_health(&plan, scheme(), 5, 0, false, 8, "no provider found");
        assert_eq!(none.status, KeepStatus::Queued);
        assert!(none.details.contains("8 short"), "{}", none.details);

        let slots: Vec<SlotHealth> = (0..8)
            .map(|i| slot(i, vec![deal(&i.to_string(), &[Outcome::Passed])], true))
            .collect();
        let plan = plan_slots(scheme(), 5, &policy(), &slots, NOW);
        assert_eq!(plan.healthy, 8);
        assert_eq!(plan.health(scheme()), 4);
        assert_eq!(plan.release_local, (0..8).collect::<Vec<_>>());
        let health = slot_health(&plan, scheme(), 5, 0, false, 0, "");
        assert_eq!(health.status, KeepStatus::Pinned);
        assert!(health.details.contains("8 of 8 slots healthy (health +4"));
    }

    #[test]
    fn lost_slots_wait_until_the_held_ones_fall_below_the_threshold() {
        let healthy = |i: u32| slot(i, vec![deal(&i.to_string(), &[Outcome::Passed])], false);
        // Two of eight lost: six held, at or above 5: lazy.
        let mut slots: Vec<SlotHealth> = (0..6).map(healthy).collect();
        slots.push(slot(6, Vec::new(), false));
        slots.push(slot(7, Vec::new(), false));
        let plan = plan_slots(scheme(), 5, &policy(), &slots, NOW);
        assert_eq!(plan.waiting, vec![6, 7]);
        assert!(plan.to_rebuild.is_empty());
        assert_eq!(plan.health(scheme()), 2);
        // Four lost: four held, under 5: every missing slot is rebuilt at once.
        for s in &mut slots[2..6] {
            s.deals.clear();
        }
        let plan = plan_slots(scheme(), 5, &policy(), &slots, NOW);
        assert_eq!(plan.to_rebuild, vec![2, 3, 4, 5, 6, 7]);
        assert!(plan.waiting.is_empty());
        assert!(plan.warnings.iter().any(|w| w.contains("repair threshold")));
        // A missing slot still here is dealt, not rebuilt.
        slots[3].local = true;
        let plan = plan_slots(scheme(), 5, &policy(), &slots, NOW);
        assert_eq!(plan.to_deal, vec![3]);
        assert!(!plan.to_rebuild.contains(&3));
        // With the threshold at n every loss is repaired at once.
        let plan = plan_slots(scheme(), 8, &policy(), &slots, NOW);
        assert!(plan.waiting.is_empty());
    }

    #[test]
    fn failing_deals_are_dropped_and_their_slots_count_as_missing() {
        let failed = [Outcome::Failed, Outcome::Failed, Outcome::Failed];
        let slots = vec![
            slot(0, vec![deal("a", &failed)], false),
            slot(
                1,
                vec![deal("b", &[Outcome::Passed, Outcome::Failed])],
                false,
            ),
            slot(2, vec![deal("c", &[Outcome::Passed])], false),
        ];
        let two_one = Scheme::new(2, 1).unwrap();
        let plan = plan_slots(two_one, 3, &policy(), &slots, NOW);
        assert_eq!(plan.drops.len(), 1);
        assert!(plan.drops[0].1.contains("failed proofs"));
        assert_eq!(
            plan.states,
            vec![SlotState::Missing, SlotState::AtRisk, SlotState::Healthy]
        );
        assert_eq!(plan.to_rebuild, vec![0]);
        assert!(plan.warnings.iter().any(|w| w.contains("slot 1")));
        assert_eq!(plan.health(two_one), -1);
    }

    #[test]
    fn a_slot_whose_deal_nears_its_end_is_renewed_and_the_old_deal_runs_out() {
        let p = policy();
        let lead = p.renewal_lead_ms();
        let ending = |id: &str| DealHealth {
            end_ms: NOW + lead - 1,
            ..deal(id, &[Outcome::Passed])
        };
        // Not due yet: nothing to do.
        let slots = vec![
            slot(0, vec![deal("a", &[Outcome::Passed])], false),
            slot(1, vec![deal("b", &[Outcome::Passed])], false),
        ];
        let plan = plan_slots(Scheme::new(1, 1).unwrap(), 2, &p, &slots, NOW);
        assert!(plan.renewing.is_empty() && plan.to_fetch.is_empty() && plan.to_deal.is_empty());

        // Due: the copy here was let go, so it is fetched back first; a copy here is dealt.
        let slots = vec![
            slot(0, vec![ending("a")], false),
            slot(1, vec![ending("b")], true),
        ];
        let plan = plan_slots(Scheme::new(1, 1).unwrap(), 2, &p, &slots, NOW);
        assert_eq!(plan.to_fetch, vec![0]);
        assert_eq!(plan.to_deal, vec![1]);
        assert_eq!(
            plan.renewing,
            vec![
                (0, vec!["peer-a".to_string()]),
                (1, vec!["peer-b".to_string()])
            ]
        );
        // The old deals still hold their slots: healthy, held, not rebuilt, copy kept.
        assert_eq!(plan.healthy, 2);
        assert_eq!(plan.held, 2);
        assert!(plan.to_rebuild.is_empty() && plan.releases.is_empty());
        assert!(plan.release_local.is_empty(), "kept for the new deal");
        let health = slot_health(&plan, Scheme::new(1, 1).unwrap(), 2, 1, false, 0, "");
        assert_eq!(health.status, KeepStatus::Pinned);
        assert!(
            health.details.contains("slots [0, 1] due for renewal"),
            "{}",
            health.details
        );

        // A deal being made for it: no second renewal.
        let mut making = slot(0, vec![ending("a")], true);
        making.in_flight = true;
        let plan = plan_slots(Scheme::new(1, 1).unwrap(), 1, &p, &[making], NOW);
        assert!(plan.renewing.is_empty() && plan.to_deal.is_empty());

        // The new deal is pending: neither deal is released, the copy here stays.
        let pending = DealHealth {
            phase: Phase::Pending,
            created_ms: NOW,
            end_ms: NOW + 30 * 86_400_000,
            ..deal("new", &[])
        };
        let slots = vec![slot(0, vec![ending("old"), pending.clone()], true)];
        let plan = plan_slots(Scheme::new(1, 1).unwrap(), 1, &p, &slots, NOW);
        assert!(plan.renewing.is_empty() && plan.to_deal.is_empty());
        assert!(plan.releases.is_empty(), "{:?}", plan.releases);
        assert_eq!(plan.states, vec![SlotState::Healthy]);
        assert!(plan.release_local.is_empty());
        // Active: the copy here is let go; the old deal is still not released.
        let active = DealHealth {
            phase: Phase::Active,
            ..pending
        };
        let slots = vec![slot(0, vec![ending("old"), active], true)];
        let plan = plan_slots(Scheme::new(1, 1).unwrap(), 1, &p, &slots, NOW);
        assert_eq!(plan.release_local, vec![0]);
        assert!(plan.releases.is_empty());
        assert!(plan.renewing.is_empty());
    }

    #[test]
    fn a_slot_with_two_deals_keeps_the_better_one() {
        let slots = vec![slot(
            0,
            vec![
                deal("old", &[Outcome::Failed]),
                deal("new", &[Outcome::Passed]),
            ],
            false,
        )];
        let plan = plan_slots(Scheme::new(1, 1).unwrap(), 1, &policy(), &slots, NOW);
        assert_eq!(plan.releases.len(), 1);
        assert_eq!(plan.releases[0].0, "old");
        assert_eq!(plan.states[0], SlotState::Healthy);
    }
}
