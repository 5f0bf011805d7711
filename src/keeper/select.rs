//! Choosing providers for new replicas.
//!
//! Candidates are the providers discovered with a valid signed ask. A candidate is passed
//! over, with the reason recorded, when it is excluded for this keep (it holds a deal for it,
//! was dropped from it, or is backing off after a failed attempt), asks more than the cap,
//! cannot take the piece (size, free capacity), does not offer the duration or the
//! challenge period, or scores under [`MIN_SCORE`]. The rest are ranked by score, then
//! price, then latency, and taken in order while each lands in a subnet no other replica of
//! the keep is in.
//!
//! Scores are compared in steps of [`SCORE_STEP`]: a difference smaller than that is noise
//! (one challenge more or less) and must not outweigh a lower price.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use super::{Policy, Subnet};

/// Providers scoring under this are never chosen (three failed proofs for a newcomer).
pub const MIN_SCORE: f64 = 0.25;
/// Score resolution when ranking.
pub const SCORE_STEP: f64 = 0.05;

/// A discovered provider, as selection sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub peer: String,
    pub price_per_gib_month: u64,
    pub free_capacity: u64,
    pub max_piece_size: u64,
    pub min_duration_secs: u64,
    pub max_duration_secs: u64,
    pub min_challenge_period_secs: u64,
    /// Where its address puts it, if that says anything.
    pub subnet: Option<Subnet>,
    /// Round trip of its ask request.
    pub latency_ms: Option<u64>,
    pub score: f64,
}

/// What a keep needs now.
#[derive(Debug, Clone)]
pub struct Need<'a> {
    pub policy: &'a Policy,
    pub piece_size: u64,
    /// How many new deals to start.
    pub count: usize,
    /// Providers not to use for this keep, with why.
    pub excluded: &'a BTreeMap<String, String>,
    /// Subnets the keep's live replicas are in already.
    pub taken_subnets: &'a HashSet<Subnet>,
    /// Providers whose deal is due for renewal: renewing with them moves no data, so they
    /// come first when eligible.
    pub renewing: &'a HashSet<String>,
}

/// The outcome: who gets a deal, and why each other candidate did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub chosen: Vec<Candidate>,
    pub passed_over: Vec<(String, String)>,
}

impl Selection {
    /// `peer: reason; ...`, for a status line.
    pub fn summary(&self) -> String {
        self.passed_over
            .iter()
            .map(|(peer, why)| format!("{}: {why}", short(peer)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The tail of a peer id, enough to tell peers apart in a status line.
pub fn short(peer: &str) -> &str {
    peer.get(peer.len().saturating_sub(8)..).unwrap_or(peer)
}

impl Candidate {
    /// Why this candidate cannot hold the piece on these terms, if it cannot.
    pub fn unfit(&self, need: &Need<'_>) -> Option<String> {
        let policy = need.policy;
        if let Some(why) = need.excluded.get(&self.peer) {
            return Some(why.clone());
        }
        if let Some(cap) = policy
            .max_price_per_gib_month
            .filter(|cap| self.price_per_gib_month > *cap)
        {
            return Some(format!(
                "asks {} per GiB-month, over the cap of {cap}",
                self.price_per_gib_month
            ));
        }
        if need.piece_size > self.max_piece_size {
            return Some(format!(
                "takes pieces up to {} bytes, the piece is {}",
                self.max_piece_size, need.piece_size
            ));
        }
        if need.piece_size > self.free_capacity {
            return Some(format!(
                "has {} bytes free, the piece is {}",
                self.free_capacity, need.piece_size
            ));
        }
        if !(self.min_duration_secs..=self.max_duration_secs).contains(&policy.duration_secs) {
            return Some(format!(
                "offers {}..={} s, the keep wants {} s",
                self.min_duration_secs, self.max_duration_secs, policy.duration_secs
            ));
        }
        if policy.challenge_period_secs < self.min_challenge_period_secs {
            return Some(format!(
                "answers challenges every {} s at most, the keep wants {} s",
                self.min_challenge_period_secs, policy.challenge_period_secs
            ));
        }
        if self.score < MIN_SCORE {
            return Some(format!("score {:.2} under {MIN_SCORE}", self.score));
        }
        None
    }
}

/// Best first: renewals, then score (in steps), then price, then latency, then peer id.
fn rank(a: &Candidate, b: &Candidate, renewing: &HashSet<String>) -> Ordering {
    let step = |s: f64| (s / SCORE_STEP).floor() as i64;
    renewing
        .contains(&b.peer)
        .cmp(&renewing.contains(&a.peer))
        .then_with(|| step(b.score).cmp(&step(a.score)))
        .then_with(|| a.price_per_gib_month.cmp(&b.price_per_gib_month))
        .then_with(|| {
            a.latency_ms
                .unwrap_or(u64::MAX)
                .cmp(&b.latency_ms.unwrap_or(u64::MAX))
        })
        .then_with(|| a.peer.cmp(&b.peer))
}

/// Chooses up to `need.count` providers.
pub fn select(candidates: &[Candidate], need: &Need<'_>) -> Selection {
    let mut selection = Selection::default();
    let mut fit: Vec<&Candidate> = Vec::new();
    let mut seen = HashSet::new();
    for candidate in candidates {
        if !seen.insert(candidate.peer.as_str()) {
            continue;
        }
        match candidate.unfit(need) {
            Some(why) => selection.passed_over.push((candidate.peer.clone(), why)),
            None => fit.push(candidate),
        }
    }
    fit.sort_by(|a, b| rank(a, b, need.renewing));
    let mut subnets = need.taken_subnets.clone();
    for candidate in fit {
        if selection.chosen.len() >= need.count {
            break;
        }
        if let Some(subnet) = candidate.subnet {
            if !subnets.insert(subnet) {
                selection.passed_over.push((
                    candidate.peer.clone(),
                    format!("in {subnet}, where another replica is"),
                ));
                continue;
            }
        }
        selection.chosen.push(candidate.clone());
    }
    selection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            replicas: 3,
            duration_secs: 86_400,
            max_price_per_gib_month: Some(2000),
            challenge_period_secs: 60,
        }
    }

    fn candidate(peer: &str, price: u64, score: f64) -> Candidate {
        Candidate {
            peer: peer.into(),
            price_per_gib_month: price,
            free_capacity: 1 << 30,
            max_piece_size: 1 << 30,
            min_duration_secs: 1,
            max_duration_secs: 365 * 86_400,
            min_challenge_period_secs: 1,
            subnet: None,
            latency_ms: Some(10),
            score,
        }
    }

    fn choose(candidates: &[Candidate], count: usize, excluded: &[(&str, &str)]) -> Selection {
        let excluded: BTreeMap<String, String> = excluded
            .iter()
            .map(|(p, w)| (p.to_string(), w.to_string()))
            .collect();
        let policy = policy();
        let need = Need {
            policy: &policy,
            piece_size: 1 << 20,
            count,
            excluded: &excluded,
            taken_subnets: &HashSet::new(),
            renewing: &HashSet::new(),
        };
        select(candidates, &need)
    }

    fn peers(s: &Selection) -> Vec<&str> {
        s.chosen.iter().map(|c| c.peer.as_str()).collect()
    }

    #[test]
    fn ranks_by_score_then_price_then_latency() {
        let mut fast = candidate("fast", 1000, 0.42);
        fast.latency_ms = Some(1);
        let mut slow = candidate("slow", 1000, 0.42);
        slow.latency_ms = None;
        let cands = [
            candidate("cheap", 500, 0.42),
            slow,
            fast,
            candidate("trusted", 1900, 0.95),
            candidate("noise", 400, 0.43),
        ];
        let s = choose(&cands, 5, &[]);
        // 0.42 and 0.43 are one step: the cheaper wins among them.
        assert_eq!(peers(&s), ["trusted", "noise", "cheap", "fast", "slow"]);
        assert_eq!(peers(&choose(&cands, 2, &[])), ["trusted", "noise"]);
    }

    #[test]
    fn unfit_candidates_are_passed_over_with_a_reason() {
        let mut small = candidate("small", 100, 0.9);
        small.max_piece_size = 1000;
        let mut full = candidate("full", 100, 0.9);
        full.free_capacity = 10;
        let mut short = candidate("short", 100, 0.9);
        short.max_duration_secs = 3600;
        let mut slow = candidate("slowperiod", 100, 0.9);
        slow.min_challenge_period_secs = 3600;
        let cands = [
            candidate("dear", 2001, 0.9),
            small,
            full,
            short,
            slow,
            candidate("bad", 100, 0.2),
            candidate("dropped", 100, 0.9),
            candidate("ok", 2000, 0.4),
        ];
        let s = choose(&cands, 3, &[("dropped", "dropped: 3 failed proofs")]);
        assert_eq!(peers(&s), ["ok"]);
        let why: BTreeMap<_, _> = s.passed_over.iter().cloned().collect();
        assert!(why["dear"].contains("over the cap of 2000"));
        assert!(why["small"].contains("pieces up to 1000"));
        assert!(why["full"].contains("10 bytes free"));
        assert!(why["short"].contains("offers 1..=3600"));
        assert!(why["slowperiod"].contains("every 3600 s"));
        assert!(why["bad"].contains("under 0.25"));
        assert_eq!(why["dropped"], "dropped: 3 failed proofs");
        assert!(s.summary().contains("dear: asks 2001"));
    }

    #[test]
    fn replicas_land_in_distinct_subnets_where_known() {
        let net = |n: u8| Some(Subnet::V4([203, 0, n]));
        let mut a = candidate("a", 100, 0.9);
        a.subnet = net(1);
        let mut b = candidate("b", 200, 0.9);
        b.subnet = net(1);
        let mut c = candidate("c", 300, 0.9);
        c.subnet = net(2);
        let mut d = candidate("d", 400, 0.9);
        d.subnet = net(3);
        let e = candidate("e", 500, 0.9);
        let s = choose(&[a, b, c, d.clone(), e.clone()], 3, &[]);
        assert_eq!(peers(&s), ["a", "c", "d"]);
        assert!(s.passed_over[0].1.contains("203.0.1.0/24"));

        // A subnet a live replica is in is taken too; unknown subnets never clash.
        let policy = policy();
        let taken: HashSet<Subnet> = [Subnet::V4([203, 0, 3])].into();
        let need = Need {
            policy: &policy,
            piece_size: 1,
            count: 2,
            excluded: &BTreeMap::new(),
            taken_subnets: &taken,
            renewing: &HashSet::new(),
        };
        let mut f = candidate("f", 600, 0.9);
        f.subnet = None;
        assert_eq!(peers(&select(&[d, e, f], &need)), ["e", "f"]);
    }

    #[test]
    fn a_provider_due_for_renewal_comes_first_and_duplicates_count_once() {
        let policy = policy();
        let renewing: HashSet<String> = ["old".to_string()].into();
        let need = Need {
            policy: &policy,
            piece_size: 1,
            count: 2,
            excluded: &BTreeMap::new(),
            taken_subnets: &HashSet::new(),
            renewing: &renewing,
        };
        let cands = [
            candidate("best", 1, 0.99),
            candidate("old", 1500, 0.5),
            candidate("old", 1500, 0.5),
        ];
        assert_eq!(peers(&select(&cands, &need)), ["old", "best"]);
    }
}
