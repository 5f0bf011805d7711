//! One keep per CID: pin requests that name the same CID share its deals rather than each
//! paying providers for the same bytes.
//!
//! A request adopts a live deal another request for the CID holds when the deal serves its
//! own policy too (this rule); it then links the deal and counts it as one of its replicas.
//! A deal is cancelled only when no request links it any more, so removing one request keeps
//! the deals another still needs. Invariant: a deal is paid once however many requests link
//! it, since payments follow deals, not requests.

use super::Policy;

/// What a shared deal offers, read from its signed proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub price_per_gib_month: u64,
    pub challenge_period_secs: u64,
    /// When its term ends, Unix ms.
    pub end_ms: i64,
}

/// Whether a deal made for another request of the same CID serves `policy` as well: it costs
/// no more than the policy's cap, is audited at least as often, and has not ended.
pub fn serves(policy: &Policy, offer: &Offer, now_ms: i64) -> bool {
    let priced = policy
        .max_price_per_gib_month
        .is_none_or(|cap| offer.price_per_gib_month <= cap);
    priced && offer.challenge_period_secs <= policy.challenge_period_secs && offer.end_ms > now_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(cap: Option<u64>) -> Policy {
        Policy {
            replicas: 3,
            duration_secs: 86_400,
            max_price_per_gib_month: cap,
            challenge_period_secs: 3600,
        }
    }

    const OFFER: Offer = Offer {
        price_per_gib_month: 100,
        challenge_period_secs: 3600,
        end_ms: 10_000,
    };

    #[test]
    fn a_deal_within_the_cap_and_period_is_shared() {
        assert!(serves(&policy(None), &OFFER, 0));
        assert!(serves(&policy(Some(100)), &OFFER, 0));
    }

    #[test]
    fn a_dearer_less_audited_or_ended_deal_is_not_shared() {
        assert!(!serves(&policy(Some(99)), &OFFER, 0));
        let rare = Offer {
            challenge_period_secs: 7200,
            ..OFFER
        };
        assert!(!serves(&policy(None), &rare, 0));
        assert!(!serves(&policy(None), &OFFER, 10_000));
    }
}
