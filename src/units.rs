//! Durations and sizes as people write them, in flags, `config.toml` and a pin's `meta`:
//! one parser for each, and the matching display.
//!
//! - A duration is humantime's form (`90s`, `1h 30m`, `30d`) or a whole number of seconds.
//! - A size is bytesize's form (`500GiB`, `1.5 GB`, `32MiB`) or a whole number of bytes.
//!
//! Invariants: surrounding whitespace is ignored; a value too large for its type is an
//! error, never clamped; every error quotes the text it refused and shows a valid example.
//! [`duration_text`] and [`size_text`] write a value in the shortest form that reads back
//! exactly (`30d`, `500GiB`), so a config written and read again is the same config.

use std::time::{Duration, UNIX_EPOCH};

/// Bytes in a GiB, the unit prices are per.
pub const GIB: u64 = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    #[error("{text:?} is not a duration ({reason}; use e.g. 90s, 1h, 30d or a number of seconds)")]
    Duration { text: String, reason: String },
    #[error("{text:?} is not a size ({reason}; use e.g. 512MiB, 32GiB or a number of bytes)")]
    Size { text: String, reason: String },
}

/// `90s`, `1h 30m`, `30d`, or a whole number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, UnitsError> {
    let trimmed = text.trim();
    if let Ok(secs) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(trimmed).map_err(|e| UnitsError::Duration {
        text: text.to_string(),
        reason: e.to_string(),
    })
}

/// [`parse_duration`] in whole seconds (a fraction of a second is dropped).
pub fn parse_secs(text: &str) -> Result<u64, UnitsError> {
    parse_duration(text).map(|d| d.as_secs())
}

/// `512MiB`, `32GiB`, `1.5 GB`, or a whole number of bytes.
pub fn parse_size(text: &str) -> Result<u64, UnitsError> {
    let bad = |reason: String| UnitsError::Size {
        text: text.to_string(),
        reason,
    };
    let bytes = text
        .trim()
        .parse::<bytesize::ByteSize>()
        .map_err(bad)?
        .as_u64();
    // bytesize saturates where the value does not fit; u64::MAX bytes is never meant.
    if bytes == u64::MAX {
        return Err(bad("too large: the most is 16 EiB".into()));
    }
    Ok(bytes)
}

/// A duration as [`parse_duration`] reads it back: `1h 30m`, `30days`.
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// Whole seconds as [`format_duration`] shows them.
pub fn format_secs(secs: u64) -> String {
    format_duration(Duration::from_secs(secs))
}

/// A size in binary units: `1.5 GiB`, `512 B`.
pub fn format_size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).to_string()
}

/// The shortest text [`parse_duration`] reads back to exactly `duration`: `30d`, `90m`,
/// `45s`, `1500ms`.
pub fn exact_duration(duration: Duration) -> String {
    if duration.subsec_nanos() != 0 {
        return match duration.subsec_nanos() % 1_000_000 {
            0 => format!("{}ms", duration.as_millis()),
            _ => format_duration(duration),
        };
    }
    let secs = duration.as_secs();
    let units = [("d", 86_400), ("h", 3_600), ("m", 60)];
    match units
        .iter()
        .find(|(_, n)| secs != 0 && secs.is_multiple_of(*n))
    {
        Some((unit, n)) => format!("{}{unit}", secs / n),
        None => format!("{secs}s"),
    }
}

/// The shortest text [`parse_size`] reads back to exactly `bytes`: `500GiB`, `2TB`, `1234`.
pub fn exact_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 12] = [
        ("EiB", 1 << 60),
        ("EB", 1_000_000_000_000_000_000),
        ("PiB", 1 << 50),
        ("PB", 1_000_000_000_000_000),
        ("TiB", 1 << 40),
        ("TB", 1_000_000_000_000),
        ("GiB", 1 << 30),
        ("GB", 1_000_000_000),
        ("MiB", 1 << 20),
        ("MB", 1_000_000),
        ("KiB", 1 << 10),
        ("kB", 1_000),
    ];
    match UNITS
        .iter()
        .find(|(_, n)| bytes != 0 && bytes.is_multiple_of(*n))
    {
        Some((unit, n)) => format!("{}{unit}", bytes / n),
        None => bytes.to_string(),
    }
}

/// Serde for a `Duration` written as text (`"30d"`), as `config.toml` holds durations.
pub mod duration_text {
    use std::time::Duration;

    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::exact_duration(*duration))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(D::Error::custom)
    }
}

/// Serde for an optional size in bytes written as text (`"500GiB"`).
pub mod size_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_str(&super::exact_size(*bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => super::parse_size(&text).map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

/// A Unix time in ms as RFC 3339 to the second (UTC); times before 1970 show as 1970.
pub fn format_unix_ms(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_words_or_seconds() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration(" 1h 30m ").unwrap(),
            Duration::from_secs(5_400)
        );
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(parse_duration("3600").unwrap(), Duration::from_secs(3_600));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_secs("1500ms").unwrap(), 1);
        assert_eq!(parse_secs("0").unwrap(), 0);
    }

    #[test]
    fn bad_durations_quote_the_text_and_an_example() {
        for bad in [
            "",
            "soon",
            "10 parsecs",
            "-5s",
            "1.5.2h",
            "99999999999999999999999d",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(matches!(e, UnitsError::Duration { .. }), "{bad:?}");
            let message = e.to_string();
            assert!(
                message.starts_with(&format!("{bad:?} is not a duration (")),
                "{message}"
            );
            assert!(message.contains("use e.g. 90s, 1h, 30d"), "{message}");
        }
    }

    #[test]
    fn sizes_in_units_or_bytes() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("32GiB").unwrap(), 32 << 30);
        assert_eq!(parse_size("1.5 GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size(" 4096 ").unwrap(), 4096);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("15EiB").unwrap(), 15 << 60);
    }

    #[test]
    fn bad_sizes_quote_the_text_and_an_example() {
        for bad in ["", "lots", "12 parsecs", "-1GiB", "GiB", "20EiB", "1e30GB"] {
            let e = parse_size(bad).unwrap_err();
            assert!(matches!(e, UnitsError::Size { .. }), "{bad:?}");
            let message = e.to_string();
            assert!(
                message.starts_with(&format!("{bad:?} is not a size (")),
                "{message}"
            );
            assert!(message.contains("use e.g. 512MiB, 32GiB"), "{message}");
        }
        assert!(parse_size("20EiB")
            .unwrap_err()
            .to_string()
            .contains("too large"));
    }

    #[test]
    fn exact_forms_read_back_to_the_same_value() {
        let durations = [
            (Duration::from_secs(30 * 86_400), "30d"),
            (Duration::from_secs(3_600), "1h"),
            (Duration::from_secs(600), "10m"),
            (Duration::from_secs(90 * 60), "90m"),
            (Duration::from_secs(61), "61s"),
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1_500), "1500ms"),
        ];
        for (duration, text) in durations {
            assert_eq!(exact_duration(duration), text);
            assert_eq!(parse_duration(text).unwrap(), duration);
        }
        let odd = Duration::new(2, 5);
        assert_eq!(parse_duration(&exact_duration(odd)).unwrap(), odd);
        for (bytes, text) in [
            (500u64 << 30, "500GiB"),
            (2_000_000_000_000, "2TB"),
            (3 << 9, "1536"),
            (3 << 10, "3KiB"),
            (1_234, "1234"),
            (0, "0"),
            (u64::MAX - 1, "18446744073709551614"),
        ] {
            assert_eq!(exact_size(bytes), text);
            assert_eq!(parse_size(text).unwrap(), bytes);
        }
    }

    #[test]
    fn display_reads_back() {
        for secs in [1, 90, 5_400, 30 * 86_400] {
            assert_eq!(parse_secs(&format_secs(secs)).unwrap(), secs);
        }
        assert_eq!(format_secs(5_400), "1h 30m");
        assert_eq!(format_size(1 << 30), "1.0 GiB");
        assert_eq!(format_size(512), "512 B");
        assert_eq!(parse_size(&format_size(3 << 20)).unwrap(), 3 << 20);
        assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_ms(-5), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_ms(1_700_000_000_999), "2023-11-14T22:13:20Z");
    }
}
