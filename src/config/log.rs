//! `[log]`: how the daemon writes its log to stderr.
//!
//! ```toml
//! [log]
//! format = "json"   # one JSON object per line, for journald, Loki or `jq`; default "text"
//! ```
//!
//! What is logged is chosen by an `EnvFilter` directive (`warn,cairn=debug`): `CAIRN_LOG`
//! if set, else `RUST_LOG`, else `warn,cairn=info`. `CAIRN_LOG` wins because it is meant for
//! this program only, while `RUST_LOG` is often set for a whole shell. Colours are used only
//! when stderr is a terminal and `NO_COLOR` is unset, so files and journals get plain text.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

impl LogConfig {
    pub(super) fn is_default(&self) -> bool {
        *self == LogConfig::default()
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human lines (`2026-12-01T11:25:40Z  INFO cairn::node: daemon ready id=...`).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`).
    Json,
}

/// The filter directive in force: `CAIRN_LOG`, else `RUST_LOG`, else `default`; an empty
/// variable counts as unset.
pub fn filter_directive(
    cairn_log: Option<String>,
    rust_log: Option<String>,
    default: &str,
) -> String {
    [cairn_log, rust_log]
        .into_iter()
        .flatten()
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    #[test]
    fn cairn_log_wins_over_rust_log_which_wins_over_the_default() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(filter_directive(s("debug"), s("trace"), "info"), "debug");
        assert_eq!(filter_directive(None, s("trace"), "info"), "trace");
        assert_eq!(filter_directive(s(" "), s("trace"), "info"), "trace");
        assert_eq!(filter_directive(None, None, "info"), "info");
    }

    #[test]
    fn the_format_is_read_from_config_and_a_bad_one_names_its_key() {
        let base = toml::to_string(&Config::new(true)).unwrap();
        assert!(
            !base.contains("[log]"),
            "the default is not written: {base}"
        );
        let load =
            |extra: &str| Config::from_toml(Path::new("config.toml"), &format!("{base}\n{extra}"));
        assert_eq!(load("").unwrap().log.format, LogFormat::Text);
        let json = load("[log]\nformat = \"json\"\n").unwrap();
        assert_eq!(json.log.format, LogFormat::Json);
        let again = toml::to_string(&json).unwrap();
        assert!(again.contains("[log]\nformat = \"json\""), "{again}");
        let e = load("[log]\nformat = \"xml\"\n").unwrap_err();
        assert!(
            matches!(&e, ConfigError::BadValue { key: Some(k), line: Some(_), reason, .. }
                if k == "log.format" && reason.contains("xml")),
            "{e:?}"
        );
    }
}
