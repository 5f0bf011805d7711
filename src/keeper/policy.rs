//! A keep's replication policy: how many replicas, for how long, at what price at most, and
//! how often each provider must prove it still holds the data.
//!
//! Decisions recorded here:
//! - **Renewal**: a deal is renewed (a new deal is made, with the same provider when it is
//!   still eligible) once less than a tenth of its duration, or less than two challenge
//!   periods, is left, whichever is longer. Two periods leave room for one failed attempt.
//! - **Subnets**: replicas go to distinct IPv4 /24 or IPv6 /48 networks where the provider's
//!   address is public. Loopback, private (RFC 1918, unique-local), link-local and
//!   unspecified addresses say nothing about the operator or the failure domain (a LAN
//!   cluster shares one /24 legitimately), so they are treated as unknown.
//! - **Meta overrides** (Pinning Service API): `replicas`, `duration`, `max_price_per_gib_month`
//!   and `challenge_period` in a pin's `meta` override the node's defaults; other keys are the
//!   application's own and are kept untouched. A malformed value is an error, never ignored.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::units::parse_secs;

/// Most replicas one keep may ask for.
pub const MAX_REPLICAS: u32 = 16;
/// Longest keep duration: ten years.
pub const MAX_DURATION_SECS: u64 = 3650 * 86_400;

/// What a keep asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// Deals with distinct providers.
    pub replicas: u32,
    /// Each deal's term.
    pub duration_secs: u64,
    /// Highest price accepted, base units per GiB per 30-day month; `None` is no cap.
    pub max_price_per_gib_month: Option<u64>,
    /// How often each provider is challenged.
    pub challenge_period_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("replicas must be between 1 and {MAX_REPLICAS}, not {0}")]
    Replicas(u64),
    #[error(
        "duration must be between one challenge period ({period} s) and 3650 days, not {secs} s"
    )]
    Duration { secs: u64, period: u64 },
    #[error("the challenge period must be at least 1 s")]
    ChallengePeriod,
    #[error("meta {key:?}: {reason}")]
    Meta { key: String, reason: String },
    #[error(
        "max_price_per_gib_month {0} is over the largest amount Cairn keeps, {max}",
        max = crate::amount::Amount::MAX.0
    )]
    PriceTooLarge(u64),
}

impl Policy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.replicas == 0 || self.replicas > MAX_REPLICAS {
            return Err(PolicyError::Replicas(u64::from(self.replicas)));
        }
        if self.challenge_period_secs == 0 {
            return Err(PolicyError::ChallengePeriod);
        }
        if let Some(max) = self
            .max_price_per_gib_month
            .filter(|max| *max > crate::amount::Amount::MAX.0)
        {
            return Err(PolicyError::PriceTooLarge(max));
        }
        if self.duration_secs < self.challenge_period_secs || self.duration_secs > MAX_DURATION_SECS
        {
            return Err(PolicyError::Duration {
                secs: self.duration_secs,
                period: self.challenge_period_secs,
            });
        }
        Ok(())
    }

    /// This policy with the overrides a pin's `meta` carries, validated.
    pub fn with_meta(&self, meta: &BTreeMap<String, String>) -> Result<Policy, PolicyError> {
        let bad = |key: &str, reason: String| PolicyError::Meta {
            key: key.into(),
            reason,
        };
        let mut policy = self.clone();
        if let Some(text) = meta.get("replicas") {
            let n: u64 = text
                .trim()
                .parse()
                .map_err(|_| bad("replicas", format!("{text:?} is not a whole number")))?;
            policy.replicas = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(text) = meta.get("duration") {
            policy.duration_secs = parse_secs(text).map_err(|e| bad("duration", e.to_string()))?;
        }
        if let Some(text) = meta.get("challenge_period") {
            policy.challenge_period_secs =
                parse_secs(text).map_err(|e| bad("challenge_period", e.to_string()))?;
        }
        if let Some(text) = meta.get("max_price_per_gib_month") {
            policy.max_price_per_gib_month = match text.trim() {
                "" | "none" => None,
                n => Some(n.parse().map_err(|_| {
                    bad(
                        "max_price_per_gib_month",
                        format!("{text:?} is not a whole number of base units"),
                    )
                })?),
            };
        }
        policy.validate().map_err(|e| {
            let key = match e {
                PolicyError::Replicas(_) => "replicas",
                PolicyError::Duration { .. } => "duration",
                PolicyError::ChallengePeriod => "challenge_period",
                PolicyError::PriceTooLarge(_) => "max_price_per_gib_month",
                PolicyError::Meta { .. } => return e,
            };
            bad(key, e.to_string())
        })?;
        Ok(policy)
    }

    /// How long before a deal's end it is renewed, in ms (see the module docs).
    pub fn renewal_lead_ms(&self) -> i64 {
        let tenth = self.duration_secs / 10;
        let two_periods = self.challenge_period_secs.saturating_mul(2);
        (tenth.max(two_periods).saturating_mul(1000)).min(i64::MAX as u64) as i64
    }

    /// Whether a deal ending at `end_ms` is due for renewal at `now_ms`.
    pub fn due_for_renewal(&self, end_ms: i64, now_ms: i64) -> bool {
        end_ms.saturating_sub(now_ms) <= self.renewal_lead_ms()
    }

    pub fn period_ms(&self) -> i64 {
        (self.challenge_period_secs.max(1).saturating_mul(1000)).min(i64::MAX as u64) as i64
    }
}

/// A failure domain: providers in one subnet hold at most one replica of a keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subnet {
    /// The first three octets: a /24.
    V4([u8; 3]),
    /// The first six bytes: a /48.
    V6([u8; 6]),
}

impl Subnet {
    /// The subnet of a public address; `None` for addresses that say nothing (module docs).
    pub fn of_ip(ip: IpAddr) -> Option<Subnet> {
        match ip {
            IpAddr::V4(v4) => {
                let private = v4.is_loopback()
                    || v4.is_private()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || v4.is_broadcast();
                let [a, b, c, _] = v4.octets();
                (!private).then_some(Subnet::V4([a, b, c]))
            }
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return Subnet::of_ip(IpAddr::V4(v4));
                }
                let first = v6.segments()[0];
                let unique_local = first & 0xfe00 == 0xfc00;
                let link_local = first & 0xffc0 == 0xfe80;
                if v6.is_loopback() || v6.is_unspecified() || unique_local || link_local {
                    return None;
                }
                let o = v6.octets();
                Some(Subnet::V6([o[0], o[1], o[2], o[3], o[4], o[5]]))
            }
        }
    }

    /// The subnet of the first IP address in a multiaddr (`/ip4/...` or `/ip6/...`).
    pub fn of_multiaddr(addr: &libp2p::Multiaddr) -> Option<Subnet> {
        use libp2p::multiaddr::Protocol;
        addr.iter().find_map(|p| match p {
            Protocol::Ip4(ip) => Subnet::of_ip(IpAddr::V4(ip)),
            Protocol::Ip6(ip) => Subnet::of_ip(IpAddr::V6(ip)),
            _ => None,
        })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subnet::V4([a, b, c]) => write!(f, "{a}.{b}.{c}.0/24"),
            Subnet::V6(o) => write!(
                f,
                "{:x}:{:x}:{:x}::/48",
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([o[2], o[3]]),
                u16::from_be_bytes([o[4], o[5]])
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            replicas: 3,
            duration_secs: 30 * 86_400,
            max_price_per_gib_month: None,
            challenge_period_secs: 3600,
        }
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn meta_overrides_the_defaults_and_leaves_other_keys_alone() {
        let p = policy()
            .with_meta(&meta(&[
                ("replicas", "2"),
                ("duration", "90d"),
                ("max_price_per_gib_month", "2000"),
                ("challenge_period", "60"),
                ("app_id", "whatever"),
            ]))
            .unwrap();
        assert_eq!(p.replicas, 2);
        assert_eq!(p.duration_secs, 90 * 86_400);
        assert_eq!(p.max_price_per_gib_month, Some(2000));
        assert_eq!(p.challenge_period_secs, 60);
        assert_eq!(policy().with_meta(&meta(&[])).unwrap(), policy());
    }

    #[test]
    fn malformed_meta_is_an_error_naming_the_key() {
        for (key, value) in [
            ("replicas", "three"),
            ("replicas", "0"),
            ("replicas", "17"),
            ("replicas", "-1"),
            ("duration", "forever"),
            ("duration", "0"),
            ("max_price_per_gib_month", "1.5"),
            ("challenge_period", "0s"),
        ] {
            let err = policy().with_meta(&meta(&[(key, value)])).unwrap_err();
            assert!(
                matches!(&err, PolicyError::Meta { key: k, .. } if k == key),
                "{key}={value}: {err}"
            );
        }
    }

    #[test]
    fn renewal_starts_a_tenth_of_the_term_or_two_periods_before_the_end() {
        let p = policy();
        let end = 100 * 86_400_000;
        let lead = 3 * 86_400_000; // a tenth of 30 days
        assert_eq!(p.renewal_lead_ms(), lead);
        assert!(!p.due_for_renewal(end, end - lead - 1));
        assert!(p.due_for_renewal(end, end - lead));
        let short = Policy {
            duration_secs: 60,
            challenge_period_secs: 10,
            ..policy()
        };
        assert_eq!(short.renewal_lead_ms(), 20_000, "two periods beat a tenth");
    }

    #[test]
    fn only_public_addresses_place_a_provider_in_a_subnet() {
        let sub = |a: &str| Subnet::of_multiaddr(&a.parse().unwrap());
        assert_eq!(
            sub("/ip4/203.0.113.7/tcp/4001"),
            sub("/ip4/203.0.113.200/udp/4001/quic-v1")
        );
        assert_ne!(sub("/ip4/203.0.113.7/tcp/1"), sub("/ip4/203.0.114.7/tcp/1"));
        assert_eq!(
            sub("/ip4/203.0.113.7/tcp/1").unwrap().to_string(),
            "203.0.113.0/24"
        );
        for local in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/10.1.2.3/tcp/1",
            "/ip4/192.168.0.4/tcp/1",
            "/ip4/169.254.0.1/tcp/1",
            "/ip6/::1/tcp/1",
            "/ip6/fd00::1/tcp/1",
            "/ip6/fe80::1/tcp/1",
            "/dns4/example.com/tcp/1",
        ] {
            assert_eq!(sub(local), None, "{local}");
        }
        assert_eq!(
            sub("/ip6/2001:db8:1:2::1/tcp/1"),
            sub("/ip6/2001:db8:1:ffff::9/tcp/1")
        );
        assert_ne!(
            sub("/ip6/2001:db8:1::1/tcp/1"),
            sub("/ip6/2001:db8:2::1/tcp/1")
        );
        assert_eq!(
            sub("/ip6/2001:db8:1::1/tcp/1").unwrap().to_string(),
            "2001:db8:1::/48"
        );
        assert_eq!(
            sub("/ip6/::ffff:203.0.113.9/tcp/1"),
            sub("/ip4/203.0.113.1/tcp/1")
        );
    }

    #[test]
    fn a_price_cap_past_what_cairn_keeps_is_refused() {
        let mut policy = policy();
        policy.max_price_per_gib_month = Some(u64::MAX);
        assert_eq!(policy.validate(), Err(PolicyError::PriceTooLarge(u64::MAX)));
        policy.max_price_per_gib_month = Some(i64::MAX as u64);
        assert_eq!(policy.validate(), Ok(()));
    }
}
