//! A provider's score: how much this node trusts it to keep data, from the challenges this
//! node issued to it (its own audit record, never hearsay).
//!
//! `score = pass_rate × uptime × (0.75 + 0.25 × age)`, each factor in `0..=1`:
//! - **pass rate**: passed proofs over answered challenges;
//! - **uptime**: answered challenges over all challenges (unreachable ones count against);
//! - **age**: days since this node first saw the provider over 30, capped at 1: a new
//!   provider starts at three quarters of the weight an established one has.
//!
//! Both rates forget: the n-th most recent challenge weighs `0.5^(n / 24)` (a half-life of 24
//! challenges), so a provider that recovers earns its score back and an old record does not
//! shield a provider that starts failing. Both start from a prior worth two challenges at
//! 0.75, so one early miss does not sink a newcomer and a newcomer is not trusted blindly:
//! a provider never challenged scores `0.75 × 0.75 × 0.75 ≈ 0.42`.

/// Half-life of a challenge's weight, in challenges.
pub const HALF_LIFE: f64 = 24.0;
/// Weight of the prior, in challenges.
pub const PRIOR_WEIGHT: f64 = 2.0;
/// The prior pass rate and uptime.
pub const PRIOR_RATE: f64 = 0.75;
/// Days after which a provider counts as established.
pub const MATURE_DAYS: f64 = 30.0;
/// Challenges worth reading: older ones weigh under 0.3% (`0.5^(200/24)`).
pub const HISTORY: usize = 200;

/// What one challenge came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// A wrong or refused proof, or a late one.
    Failed,
    /// No answer: the provider could not be reached.
    Unreachable,
}

impl Outcome {
    /// From a challenge record's outcome; `None` for one still pending.
    pub fn from_record(outcome: &str) -> Option<Outcome> {
        match outcome {
            "passed" => Some(Outcome::Passed),
            "failed" | "late" => Some(Outcome::Failed),
            "unreachable" => Some(Outcome::Unreachable),
            _ => None,
        }
    }
}

/// A score with the figures it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Score {
    /// In `0..=1`.
    pub value: f64,
    pub pass_rate: f64,
    pub uptime: f64,
    pub age_days: f64,
    /// Counts over the history read (unweighted).
    pub challenges: u64,
    pub passed: u64,
    pub failed: u64,
    pub unreachable: u64,
    /// One line a user can read: what the score is made of.
    pub explanation: String,
}

impl Score {
    /// Scores a history (oldest first) for a provider first seen at `first_seen_ms`.
    pub fn from_history(history: &[Outcome], first_seen_ms: Option<i64>, now_ms: i64) -> Score {
        let (mut passed_w, mut answered_w, mut all_w) = (0.0, 0.0, 0.0);
        let (mut passed, mut failed, mut unreachable) = (0u64, 0u64, 0u64);
        for (age, outcome) in history.iter().rev().take(HISTORY).enumerate() {
            let weight = 0.5f64.powf(age as f64 / HALF_LIFE);
            all_w += weight;
            match outcome {
                Outcome::Passed => {
                    passed += 1;
                    passed_w += weight;
                    answered_w += weight;
                }
                Outcome::Failed => {
                    failed += 1;
                    answered_w += weight;
                }
                Outcome::Unreachable => unreachable += 1,
            }
        }
        let prior = PRIOR_WEIGHT * PRIOR_RATE;
        let pass_rate = (passed_w + prior) / (answered_w + PRIOR_WEIGHT);
        let uptime = (answered_w + prior) / (all_w + PRIOR_WEIGHT);
        let age_days = first_seen_ms
            .map(|first| (now_ms.saturating_sub(first)).max(0) as f64 / 86_400_000.0)
            .unwrap_or(0.0);
        let maturity = (age_days / MATURE_DAYS).min(1.0);
        let value = (pass_rate * uptime * (0.75 + 0.25 * maturity)).clamp(0.0, 1.0);
        let challenges = passed + failed + unreachable;
        let explanation = format!(
            "score {value:.2} = pass rate {pass_rate:.2} ({passed} of {} answered passed) × uptime {uptime:.2} ({} of {challenges} challenges answered) × age {:.2} ({age_days:.1} days known); recent challenges weigh most (half-life {HALF_LIFE} challenges)",
            passed + failed,
            passed + failed,
            0.75 + 0.25 * maturity,
        );
        Score {
            value,
            pass_rate,
            uptime,
            age_days,
            challenges,
            passed,
            failed,
            unreachable,
            explanation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_newcomer_starts_in_the_middle_and_earns_trust_with_passes_and_age() {
        let new = Score::from_history(&[], None, 0);
        assert!((new.value - 0.421875).abs() < 1e-9, "{}", new.value);
        let proven = Score::from_history(&[Passed; 50], Some(0), 60 * DAY);
        assert!(proven.value > 0.9, "{}", proven.explanation);
        let young = Score::from_history(&[Passed; 50], Some(0), DAY);
        assert!(young.value < proven.value && young.value > new.value);
        assert!(proven.explanation.contains("50 of 50 answered passed"));
    }

    #[test]
    fn failures_and_silence_both_lower_the_score_and_recent_ones_count_most() {
        let old_fail: Vec<_> = [Failed; 5].into_iter().chain([Passed; 30]).collect();
        let new_fail: Vec<_> = [Passed; 30].into_iter().chain([Failed; 5]).collect();
        let recovered = Score::from_history(&old_fail, Some(0), 60 * DAY);
        let failing = Score::from_history(&new_fail, Some(0), 60 * DAY);
        assert!(
            recovered.value > failing.value + 0.05,
            "{} vs {}",
            recovered.value,
            failing.value
        );
        let silent: Vec<_> = [Passed; 30].into_iter().chain([Unreachable; 5]).collect();
        let silent = Score::from_history(&silent, Some(0), 60 * DAY);
        assert!(silent.uptime < 0.9 && silent.pass_rate > 0.95);
        assert_eq!((silent.passed, silent.unreachable), (30, 5));
        let bad = Score::from_history(&[Failed; 3], Some(0), DAY);
        assert!(bad.value < 0.25, "{}", bad.value);
    }

    #[test]
    fn the_score_stays_in_range_and_reads_only_recent_history() {
        let long: Vec<_> = std::iter::repeat_n(Failed, 1000)
            .chain(std::iter::repeat_n(Passed, HISTORY))
            .collect();
        let s = Score::from_history(&long, Some(0), 365 * DAY);
        assert!(s.value <= 1.0 && s.value > 0.95);
        assert_eq!(s.challenges, HISTORY as u64);
        let future = Score::from_history(&[], Some(10 * DAY), 0);
        assert_eq!(future.age_days, 0.0);
        assert_eq!(Outcome::from_record("late"), Some(Failed));
        assert_eq!(Outcome::from_record("pending"), None);
    }
}
