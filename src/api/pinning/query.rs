//! `GET /pins` query parameters, checked into filters (each bad value is a 400 with its own
//! reason), and the spec's RFC 3339 timestamps.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::PinError;
use crate::db::{KeepQuery, KeepRow};
use crate::keeper::KeepStatus;

/// Most results one list returns, and the default.
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 10;
/// Longest name filter (the spec's `maxLength`).
const MAX_NAME: usize = 255;
/// Most CIDs one `cid` filter may name.
const MAX_CID_FILTER: usize = 10;

/// `meta` must be an object of strings.
pub(super) fn string_map(
    meta: BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, PinError> {
    meta.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(PinError::bad(
                "INVALID_META",
                format!("meta {k:?} must be a string, not {other}"),
            )),
        })
        .collect()
}

/// `GET /pins` filters, checked.
#[derive(Debug)]
pub(super) struct ListFilter {
    pub(super) query: KeepQuery,
    name: Option<(String, String)>,
    meta: BTreeMap<String, String>,
    pub(super) limit: usize,
}

pub(super) fn list_filter(params: Vec<(String, String)>) -> Result<ListFilter, PinError> {
    let mut filter = ListFilter {
        query: KeepQuery {
            statuses: vec![KeepStatus::Pinned],
            ..Default::default()
        },
        name: None,
        meta: BTreeMap::new(),
        limit: DEFAULT_LIMIT,
    };
    let mut matching = "exact".to_string();
    for (key, value) in params {
        match key.as_str() {
            "cid" => {
                let cids: Vec<&str> = value.split(',').filter(|c| !c.is_empty()).collect();
                if cids.is_empty() || cids.len() > MAX_CID_FILTER {
                    return Err(PinError::bad(
                        "INVALID_CID",
                        format!("cid takes 1 to {MAX_CID_FILTER} CIDs"),
                    ));
                }
                for cid in cids {
                    let cid = crate::content::parse_cid(cid)
                        .map_err(|e| PinError::bad("INVALID_CID", e.to_string()))?;
                    filter.query.cids.push(cid.to_string());
                }
            }
            "name" if value.len() > MAX_NAME => {
                return Err(PinError::bad("INVALID_NAME", "name is over 255 bytes"));
            }
            "name" => filter.name = Some((value, String::new())),
            "match" if ["exact", "iexact", "partial", "ipartial"].contains(&value.as_str()) => {
                matching = value;
            }
            "match" => {
                return Err(PinError::bad(
                    "INVALID_MATCH",
                    format!("match is exact, iexact, partial or ipartial, not {value:?}"),
                ))
            }
            "status" => {
                filter.query.statuses = value
                    .split(',')
                    .map(|s| {
                        KeepStatus::parse(s).ok_or_else(|| {
                            PinError::bad("INVALID_STATUS", format!("{s:?} is not a status"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "before" => filter.query.before = Some(parse_time("before", &value)?),
            "after" => filter.query.after = Some(parse_time("after", &value)?),
            "limit" => {
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        PinError::bad(
                            "INVALID_LIMIT",
                            format!("limit must be 1 to {MAX_LIMIT}, not {value:?}"),
                        )
                    })?;
            }
            "meta" => {
                let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(&value)
                    .map_err(|e| {
                        PinError::bad("INVALID_META", format!("meta must be a JSON object: {e}"))
                    })?;
                filter.meta = string_map(map)?;
            }
            // Parameters outside the spec are ignored, as HTTP APIs usually do.
            _ => {}
        }
    }
    if let Some((_, how)) = filter.name.as_mut() {
        *how = matching;
    }
    Ok(filter)
}

impl ListFilter {
    pub(super) fn admits(&self, keep: &KeepRow) -> bool {
        let name_ok = match (&self.name, &keep.name) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((want, how)), Some(name)) => match how.as_str() {
                "iexact" => name.to_lowercase() == want.to_lowercase(),
                "partial" => name.contains(want.as_str()),
                "ipartial" => name.to_lowercase().contains(&want.to_lowercase()),
                _ => name == want,
            },
        };
        name_ok && self.meta.iter().all(|(k, v)| keep.meta.get(k) == Some(v))
    }
}

/// RFC 3339 (`2020-07-27T17:32:28.276Z`, or with a `+01:00` offset) to Unix ms.
fn parse_time(field: &str, text: &str) -> Result<i64, PinError> {
    let bad = || {
        PinError::bad(
            "INVALID_TIMESTAMP",
            format!("{field}: {text:?} is not an RFC 3339 timestamp"),
        )
    };
    // `±HH:MM` at the end, read only as ASCII: slicing elsewhere could split a character.
    let offset = text
        .len()
        .checked_sub(6)
        .and_then(|i| Some((text.get(..i)?, text.get(i..)?.as_bytes())));
    let (base, offset_secs) = match offset {
        Some((base, &[sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]))
            if [h1, h2, m1, m2].iter().all(u8::is_ascii_digit) =>
        {
            let number = |a: u8, b: u8| i64::from(a - b'0') * 10 + i64::from(b - b'0');
            let secs = number(h1, h2) * 3600 + number(m1, m2) * 60;
            (format!("{base}Z"), if sign == b'-' { -secs } else { secs })
        }
        _ => (text.to_string(), 0),
    };
    let at = humantime::parse_rfc3339(&base).map_err(|_| bad())?;
    let ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| bad())?
        .as_millis() as i64;
    Ok(ms - offset_secs * 1000)
}

pub(super) fn format_time(ms: i64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keeper::KeepStatus;
    use axum::http::StatusCode;

    #[test]
    fn timestamps_parse_with_z_or_an_offset_and_format_with_millis() {
        let at = parse_time("before", "2020-07-27T17:32:28.276Z").unwrap();
        assert_eq!(format_time(at), "2020-07-27T17:32:28.276Z");
        assert_eq!(
            parse_time("before", "2020-07-27T19:32:28.276+02:00").unwrap(),
            at
        );
        assert_eq!(
            parse_time("before", "2020-07-27T16:32:28.276-01:00").unwrap(),
            at
        );
        for bad in [
            "yesterday",
            "2020-07-27",
            "2020-07-27T17:32:28.276+2:000",
            "",
            "ééééééé",
            "2020-07-27T17:32:28é+0:00",
            "2020-07-27T17:32:28.276+0a:00",
        ] {
            assert!(parse_time("before", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_filters_default_to_pinned_and_refuse_bad_values() {
        let params = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let f = list_filter(params(&[])).unwrap();
        assert_eq!((f.query.statuses, f.limit), (vec![KeepStatus::Pinned], 10));
        let f = list_filter(params(&[("status", "queued,failed"), ("limit", "1000")])).unwrap();
        assert_eq!(f.query.statuses, [KeepStatus::Queued, KeepStatus::Failed]);
        for (key, value, reason) in [
            ("limit", "0", "INVALID_LIMIT"),
            ("limit", "1001", "INVALID_LIMIT"),
            ("limit", "ten", "INVALID_LIMIT"),
            ("status", "done", "INVALID_STATUS"),
            ("match", "fuzzy", "INVALID_MATCH"),
            ("meta", "{\"a\":1}", "INVALID_META"),
            ("meta", "[]", "INVALID_META"),
            ("cid", "nope", "INVALID_CID"),
            ("after", "soon", "INVALID_TIMESTAMP"),
        ] {
            let err = list_filter(params(&[(key, value)])).unwrap_err();
            assert_eq!(
                (err.status, err.reason.as_str()),
                (StatusCode::BAD_REQUEST, reason)
            );
        }
    }
}
