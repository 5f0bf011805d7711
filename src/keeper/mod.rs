//! The keeper: the client side of persistence. A *keep* is a CID this node promises to keep
//! available with a replication policy: `replicas` storage deals with distinct providers (in
//! distinct subnets where their addresses say so), each audited every challenge period, and
//! repaired when a provider fails its proofs or goes silent.
//!
//! This module is the pure domain, plain data and rules as methods, with no network and no
//! database, so every rule has a unit test beside it:
//! - [`policy`]: what a keep asks for, its overrides from Pinning Service API `meta`, when a
//!   deal is renewed, and which subnet a provider's address puts it in;
//! - [`score`]: a provider's score in `0..=1` from its proof history, with its explanation;
//! - [`select`]: which discovered providers may hold a new replica, best first;
//! - [`repair`]: each deal's verdict (healthy, at risk, drop) and a keep's plan and status.
//!
//! The runtime that applies these decisions is `node::keeper` (one tick every half second);
//! the interfaces are `api::pinning` (the IPFS Pinning Service API) and `cairn keep`.
//!
//! Invariants the runtime relies on:
//! - a provider dropped from a keep is never chosen again for that keep;
//! - a keep's status is `pinned` only when at least `replicas` active deals passed their
//!   latest proof; with fewer eligible providers than wanted it stays `pinning` (or `queued`
//!   with no replica at all) and reports the shortfall, never `pinned`;
//! - `failed` is final and means the CID could not be fetched and pinned locally.

pub mod erasure;
pub mod policy;
pub mod repair;
pub mod score;
pub mod select;
pub mod share;

pub use policy::{Policy, PolicyError, Subnet, MAX_REPLICAS};
pub use repair::{DealHealth, Phase, Plan, Verdict};
pub use score::{Outcome, Score};
pub use select::{Candidate, Need, Selection};

/// Where a keep stands, with the Pinning Service API's four names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepStatus {
    /// Fetching the DAG locally, or no provider holds or is taking a replica yet.
    Queued,
    /// At least one deal is in progress or active, but fewer than `replicas` are healthy.
    Pinning,
    /// At least `replicas` active deals passed their latest proof.
    Pinned,
    /// The DAG could not be fetched and pinned locally (final).
    Failed,
}

impl KeepStatus {
    pub const ALL: [KeepStatus; 4] = [
        KeepStatus::Queued,
        KeepStatus::Pinning,
        KeepStatus::Pinned,
        KeepStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeepStatus::Queued => "queued",
            KeepStatus::Pinning => "pinning",
            KeepStatus::Pinned => "pinned",
            KeepStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<KeepStatus> {
        KeepStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for KeepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::KeepStatus;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in KeepStatus::ALL {
            assert_eq!(KeepStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(KeepStatus::parse("Pinned"), None);
    }
}
