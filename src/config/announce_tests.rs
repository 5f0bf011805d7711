//! `[swarm] announce`: typed at load, and a malformed or undialable address refused naming
//! its key and line.

use std::path::Path;

use super::{Config, ConfigError};

fn load(announce: &str) -> Result<Config, ConfigError> {
    let base = toml::to_string(&Config::new(true)).unwrap();
    let text = base.replace(
        "bootstrap = []",
        &format!("bootstrap = []\nannounce = {announce}"),
    );
    assert!(text.contains("announce"), "{text}");
    Config::from_toml(Path::new("config.toml"), &text)
}

#[test]
fn announce_addresses_load_typed_and_round_trip() {
    let config =
        load(r#"["/ip4/203.0.113.7/tcp/4701", "/dns4/node.example.org/udp/4701/quic-v1"]"#)
            .unwrap();
    let shown: Vec<String> = config
        .swarm
        .announce
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "/ip4/203.0.113.7/tcp/4701",
            "/dns4/node.example.org/udp/4701/quic-v1"
        ]
    );
    let again = toml::to_string(&config).unwrap();
    assert_eq!(
        Config::from_toml(Path::new("config.toml"), &again).unwrap(),
        config
    );
    // Absent by default, and not written when empty.
    let plain = toml::to_string(&Config::new(true)).unwrap();
    assert!(!plain.contains("announce"), "{plain}");
}

#[test]
fn a_malformed_announce_address_is_refused_at_load_naming_its_key_and_line() {
    let cases = [
        (
            r#"["203.0.113.7:4701"]"#,
            "swarm.announce[0]",
            "invalid multiaddr",
        ),
        (
            r#"["/ip4/203.0.113.7/tcp/4701", "/ip4/203.0.113.7/tcp/port"]"#,
            "swarm.announce[1]",
            "invalid multiaddr",
        ),
        (
            r#"["/ip4/203.0.113.7"]"#,
            "swarm.announce[0]",
            "TCP or UDP port",
        ),
        (
            r#"["/ip4/203.0.113.7/tcp/0"]"#,
            "swarm.announce[0]",
            "port 0",
        ),
        (r#"["/tcp/4701"]"#, "swarm.announce[0]", "must start with"),
        (
            r#"["/ip4/203.0.113.7/tcp/4701/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"]"#,
            "swarm.announce[0]",
            "must not name a peer",
        ),
        (
            "\"/ip4/203.0.113.7/tcp/4701\"",
            "swarm.announce",
            "invalid type",
        ),
    ];
    for (value, key, reason) in cases {
        let e = load(value).unwrap_err();
        let ConfigError::BadValue {
            key: Some(k),
            line: Some(line),
            reason: r,
            ..
        } = &e
        else {
            panic!("{value}: {e:?}");
        };
        assert_eq!(k, key, "{value}: {e}");
        assert!(r.contains(reason), "{value}: {r}");
        assert!(*line > 1, "{value}: line {line}");
        assert!(
            e.to_string().contains(&format!("{key} (line {line})")),
            "{e}"
        );
    }
}
