//! The `[chain]` table of `config.toml`: where a chain-configured node settles its channels.
//!
//! Typed at load: `rpc_url` must be an `http://` URL, `contract` and `token` 20-byte hex
//! addresses, the window and threshold positive, so no user of the config parses anything
//! again. Without a `[chain]` table the node settles on its own ledger.

use std::time::Duration;

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::units::duration_text;

/// Default `claim_threshold`: unclaimed receipts worth this much (base units) are cashed.
pub const DEFAULT_CLAIM_THRESHOLD: u64 = 10_000;
/// Default challenge window of channels this node opens: one hour.
pub const DEFAULT_CHALLENGE_WINDOW: Duration = Duration::from_secs(3_600);
/// The payee claims when a payer's window ends within this margin, whatever the threshold.
pub const DEFAULT_CLAIM_MARGIN: Duration = Duration::from_secs(600);

/// `[chain]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The chain's JSON-RPC endpoint, `http://...`.
    #[serde(with = "http_url")]
    pub rpc_url: String,
    /// The `CairnChannels` contract.
    #[serde(with = "address")]
    pub contract: Address,
    /// The channel token; if set, the contract's token must be this one.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_address")]
    pub token: Option<Address>,
    /// Unclaimed receipts (base units) past which the payee claims on its own.
    #[serde(default = "default_threshold")]
    pub claim_threshold: u64,
    /// The challenge window of channels this node opens, e.g. "1h".
    #[serde(default = "default_window", with = "duration_text")]
    pub challenge_window: Duration,
}

fn default_threshold() -> u64 {
    DEFAULT_CLAIM_THRESHOLD
}

fn default_window() -> Duration {
    DEFAULT_CHALLENGE_WINDOW
}

impl ChainConfig {
    /// A `[chain]` table with the defaults for what is not given.
    pub fn new(rpc_url: String, contract: Address, token: Option<Address>) -> Self {
        ChainConfig {
            rpc_url,
            contract,
            token,
            claim_threshold: DEFAULT_CLAIM_THRESHOLD,
            challenge_window: DEFAULT_CHALLENGE_WINDOW,
        }
    }

    /// What the types alone do not check: `(key, reason)` of the first bad value.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        check_http_url(&self.rpc_url).map_err(|e| ("chain.rpc_url", e))?;
        if self.contract == Address::ZERO {
            return Err((
                "chain.contract",
                "the zero address holds no contract".into(),
            ));
        }
        if self.claim_threshold == 0 {
            return Err(("chain.claim_threshold", "must be more than 0".into()));
        }
        crate::amount::Amount::recordable(self.claim_threshold, "claim threshold")
            .map_err(|e| ("chain.claim_threshold", e.to_string()))?;
        let secs = self.challenge_window.as_secs();
        if secs == 0 || secs > u64::from(u32::MAX) {
            return Err((
                "chain.challenge_window",
                "must be between 1s and 2^32-1 seconds".into(),
            ));
        }
        Ok(())
    }

    /// The challenge window in whole seconds, as the contract takes it.
    pub fn window_secs(&self) -> u32 {
        u32::try_from(self.challenge_window.as_secs()).unwrap_or(u32::MAX)
    }
}

/// An RPC URL this build can reach: `http://host[:port][/path]`.
pub fn check_http_url(text: &str) -> Result<(), String> {
    let url: reqwest::Url = text
        .parse()
        .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "{text:?}: only http:// is supported (a local node, or a TLS-terminating proxy)"
        ));
    }
    if url.host().is_none() {
        return Err(format!("{text:?} names no host"));
    }
    Ok(())
}

/// Parses a 20-byte hex address (`0x` and checksum case optional).
pub fn parse_address(text: &str) -> Result<Address, String> {
    let hex = text.strip_prefix("0x").unwrap_or(text);
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not a 20-byte hex address"));
    }
    text.parse::<Address>()
        .map_err(|e| format!("{text:?} is not an address: {e}"))
}

mod http_url {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(url)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let text = String::deserialize(d)?;
        super::check_http_url(&text).map_err(D::Error::custom)?;
        Ok(text)
    }
}

mod address {
    use alloy::primitives::Address;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(address: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&address.to_checksum(None))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_address(&text).map_err(D::Error::custom)
    }
}

mod opt_address {
    use alloy::primitives::Address;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(address: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
        match address {
            Some(address) => super::address::serialize(address, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
        super::address::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_urls_are_checked() {
        assert!(parse_address("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266").is_ok());
        assert!(parse_address("f39fd6e51aad88f6f4ce6ab8827279cfffb92266").is_ok());
        assert!(parse_address("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226").is_err());
        assert!(parse_address("0xzz9Fd6e51aad88F6F4ce6aB8827279cffFb92266").is_err());
        assert!(check_http_url("http://127.0.0.1:8545").is_ok());
        assert!(check_http_url("https://rpc.example").is_err());
        assert!(check_http_url("127.0.0.1:8545").is_err());
        let mut config = ChainConfig::new(
            "http://127.0.0.1:8545".into(),
            Address::repeat_byte(1),
            None,
        );
        assert_eq!(config.validate(), Ok(()));
        config.claim_threshold = 0;
        assert_eq!(config.validate().unwrap_err().0, "chain.claim_threshold");
        config.claim_threshold = 1;
        config.challenge_window = Duration::ZERO;
        assert_eq!(config.validate().unwrap_err().0, "chain.challenge_window");
        config.challenge_window = Duration::from_secs(60);
        config.contract = Address::ZERO;
        assert_eq!(config.validate().unwrap_err().0, "chain.contract");
    }
}
