//! Time as the node's domain sees it: unix milliseconds from a [`Clock`] handle.
//!
//! Every decision that depends on the time of day (a deal's start and end, a challenge period,
//! a keep's silence, a payment check, a row's timestamp) reads it from the clock it was built
//! with, never from the system directly. The default is the system clock; tests build a node
//! with [`Clock::manual`] and move time forward with [`ManualClock::advance`], so expiry, repair
//! and payment thresholds are exercised without waiting in real time.
//!
//! Invariant: a manual clock never goes backwards (`advance` adds, `set` refuses the past).
//! Timers (how often a loop wakes up) stay on tokio's clock: they decide *when* the node looks,
//! the [`Clock`] decides *what time it is* when it does.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A cheap, cloneable source of the current time.
#[derive(Debug, Clone, Default)]
pub struct Clock(Source);

#[derive(Debug, Clone, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Clock(Source::System)
    }

    /// A clock that stands still at `start_ms` until the returned handle moves it.
    pub fn manual(start_ms: i64) -> (Self, ManualClock) {
        let now = Arc::new(AtomicI64::new(start_ms));
        (Clock(Source::Manual(now.clone())), ManualClock(now))
    }

    /// A manual clock starting at the system's current time.
    pub fn manual_now() -> (Self, ManualClock) {
        Self::manual(system_ms())
    }

    /// Unix milliseconds (signed, as the database stores them; never negative in practice).
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Source::System => system_ms(),
            Source::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// Unix milliseconds as the signed objects carry them.
    pub fn now_u64(&self) -> u64 {
        self.now_ms().max(0) as u64
    }

    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }
}

/// The handle that moves a manual [`Clock`].
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the time to `ms`, if that is not in the past; returns whether it moved.
    pub fn set(&self, ms: i64) -> bool {
        self.0.fetch_max(ms, Ordering::SeqCst) <= ms
    }

    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn system_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_never_backwards() {
        let (clock, hand) = Clock::manual(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        hand.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
        assert!(!hand.set(2_000), "the past is refused");
        assert_eq!(clock.clone().now_ms(), 3_000);
        assert!(hand.set(10_000));
        assert_eq!(clock.now_u64(), 10_000);
    }

    #[test]
    fn the_system_clock_is_near_the_system_time() {
        let clock = Clock::system();
        assert!((clock.now_ms() - system_ms()).abs() < 5_000);
        assert!(!clock.is_manual());
    }
}
