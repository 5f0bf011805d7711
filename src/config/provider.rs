//! `[provider]`: the storage terms this node offers, applied when the daemon starts.
//!
//! ```toml
//! [provider]
//! price_per_gib_month = 2000        # base units per GiB per 30-day month
//! retrieval_price_per_gib = 100     # base units per GiB served over Bitswap (default 0)
//! capacity = "500GiB"               # space offered to deals in all
//! max_piece_size = "32GiB"          # largest single deal (default: the capacity)
//! min_duration = "1d"
//! max_duration = "365d"
//! min_challenge_period = "1h"       # shortest proof period answered (default 1h)
//! ask_ttl = "24h"                   # how long each signed ask stays valid (default 24h)
//! ```
//!
//! Invariant: a loaded `ProviderConfig` makes terms the market accepts (durations in order,
//! positive piece size and challenge period, recordable prices); whether the disk has room for
//! the capacity is checked when the terms are applied (`node::Provider::set_ask_terms`), where
//! the store's real free space is known. `cairn provider ask set` replaces the terms of the
//! running daemon; the next start applies `[provider]` again, so lasting changes go here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::node::AskTerms;
use crate::units::duration_text;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub price_per_gib_month: u64,
    #[serde(default)]
    pub retrieval_price_per_gib: u64,
    #[serde(with = "size")]
    pub capacity: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::size_text"
    )]
    pub max_piece_size: Option<u64>,
    #[serde(with = "duration_text")]
    pub min_duration: Duration,
    #[serde(with = "duration_text")]
    pub max_duration: Duration,
    #[serde(default = "one_hour", with = "duration_text")]
    pub min_challenge_period: Duration,
    #[serde(default = "one_day", with = "duration_text")]
    pub ask_ttl: Duration,
}

fn one_hour() -> Duration {
    Duration::from_secs(3_600)
}

fn one_day() -> Duration {
    Duration::from_secs(86_400)
}

impl ProviderConfig {
    /// The ask terms these settings make (whole seconds; no allow or deny lists).
    pub fn terms(&self) -> AskTerms {
        AskTerms {
            price_per_gib_month: self.price_per_gib_month,
            retrieval_price_per_gib: self.retrieval_price_per_gib,
            min_duration_secs: self.min_duration.as_secs(),
            max_duration_secs: self.max_duration.as_secs(),
            max_piece_size: self.max_piece_size.unwrap_or(self.capacity),
            capacity: self.capacity,
            min_challenge_period_secs: self.min_challenge_period.as_secs(),
            ttl_secs: self.ask_ttl.as_secs(),
            allow: None,
            deny: Vec::new(),
        }
    }

    /// What the types alone do not check, as (key, reason).
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.capacity == 0 {
            return Err(("provider.capacity", "must be more than 0".into()));
        }
        if self.max_piece_size == Some(0) {
            return Err(("provider.max_piece_size", "must be more than 0".into()));
        }
        if self.max_piece_size.is_some_and(|max| max > self.capacity) {
            return Err((
                "provider.max_piece_size",
                "is more than provider.capacity".into(),
            ));
        }
        if self.min_duration > self.max_duration {
            return Err((
                "provider.min_duration",
                "is longer than provider.max_duration".into(),
            ));
        }
        if self.min_challenge_period.as_secs() == 0 {
            return Err((
                "provider.min_challenge_period",
                "must be at least 1s".into(),
            ));
        }
        if self.ask_ttl.as_secs() == 0 {
            return Err(("provider.ask_ttl", "must be at least 1s".into()));
        }
        let recordable = |value, key, what| {
            crate::amount::Amount::recordable(value, what).map_err(|e| (key, e.to_string()))
        };
        recordable(
            self.price_per_gib_month,
            "provider.price_per_gib_month",
            "[provider] price_per_gib_month",
        )?;
        recordable(
            self.retrieval_price_per_gib,
            "provider.retrieval_price_per_gib",
            "[provider] retrieval_price_per_gib",
        )?;
        Ok(())
    }
}

/// Serde for a size in bytes written as text (`"500GiB"`).
mod size {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::units::exact_size(*bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        crate::units::parse_size(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use std::path::Path;
    use std::time::Duration;

    const PROVIDER: &str = "[provider]
price_per_gib_month = 2000
retrieval_price_per_gib = 100
capacity = \"500GiB\"
max_piece_size = \"32GiB\"
min_duration = \"1d\"
max_duration = \"365d\"
";

    fn load(provider: &str) -> Result<Config, ConfigError> {
        let base = toml::to_string(&Config::new(true)).unwrap();
        Config::from_toml(Path::new("config.toml"), &format!("{base}\n{provider}"))
    }

    #[test]
    fn provider_settings_load_into_ask_terms_with_defaults() {
        assert_eq!(load("").unwrap().provider, None);
        let config = load(PROVIDER).unwrap();
        let provider = config.provider.clone().unwrap();
        assert_eq!(provider.min_challenge_period, Duration::from_secs(3_600));
        let terms = provider.terms();
        assert_eq!(terms.price_per_gib_month, 2000);
        assert_eq!(terms.retrieval_price_per_gib, 100);
        assert_eq!(terms.capacity, 500 << 30);
        assert_eq!(terms.max_piece_size, 32 << 30);
        assert_eq!(terms.min_duration_secs, 86_400);
        assert_eq!(terms.max_duration_secs, 365 * 86_400);
        assert_eq!(terms.ttl_secs, 86_400);
        // Written back in the same forms, and read back the same.
        let again = toml::to_string(&config).unwrap();
        assert!(again.contains("capacity = \"500GiB\""), "{again}");
        assert_eq!(
            Config::from_toml(Path::new("config.toml"), &again).unwrap(),
            config
        );
        // Without max_piece_size a deal may take the whole capacity.
        let whole = load(&PROVIDER.replace("max_piece_size = \"32GiB\"\n", "")).unwrap();
        assert_eq!(whole.provider.unwrap().terms().max_piece_size, 500 << 30);
    }

    #[test]
    fn a_bad_provider_setting_fails_at_load_naming_its_key() {
        let cases = [
            (
                "\"500GiB\"",
                "\"lots\"",
                "provider.capacity",
                "is not a size",
            ),
            ("\"500GiB\"", "\"0\"", "provider.capacity", "more than 0"),
            (
                "\"32GiB\"",
                "\"1TiB\"",
                "provider.max_piece_size",
                "capacity",
            ),
            ("\"1d\"", "\"400d\"", "provider.min_duration", "longer"),
            (
                "\"365d\"",
                "\"soon\"",
                "provider.max_duration",
                "not a duration",
            ),
            (
                "= 2000",
                "= -1",
                "provider.price_per_gib_month",
                "invalid value",
            ),
            (
                "min_duration",
                "min_challenge_period = \"0s\"\nmin_duration",
                "provider.min_challenge_period",
                "at least 1s",
            ),
            (
                "capacity",
                "capacty = 1\ncapacity",
                "provider.capacty",
                "unknown field",
            ),
        ];
        for (from, to, key, reason) in cases {
            let e = load(&PROVIDER.replacen(from, to, 1)).unwrap_err();
            let ConfigError::BadValue {
                key: Some(k),
                reason: r,
                ..
            } = &e
            else {
                panic!("{to}: {e:?}");
            };
            assert_eq!(k, key, "{to}: {e}");
            assert!(r.contains(reason), "{to}: {r}");
        }
        // A missing required key is named too.
        let e = load("[provider]\ncapacity = \"1GiB\"\n").unwrap_err();
        assert!(e.to_string().contains("provider"), "{e}");
    }
}
