//! `GET /api/v1/status/history?days=N`: the dashboard's series and figures, read-only and
//! without a token like `/api/v1/status`.
//!
//! Per day (UTC, oldest first, every day of the window present): earned and spent (what the
//! day's receipts added), Bitswap bytes in and out, the day's latest disk sample (used, free,
//! capacity) and the challenges answered as a provider. Beside them: the same month by month,
//! all-time totals, payouts, the provider's record as its clients see it, and the node's
//! online state and uptime. Every figure is a database sum or count (`db::history`), plus, for
//! today, the traffic since the sampler's last sample, so the page is never a minute behind.
//!
//! Invariant: `days` is a whole number in `1..=MAX_DAYS`; anything else is a 400 with the
//! reason `bad_days`, before any query runs.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, AppState};
use crate::db::history::{self, day_of, DAY_MS, HOUR_MS};
use crate::db::PayoutRow;
use crate::node::NodeError;

/// The longest window served: a year and a day.
pub const MAX_DAYS: u32 = 366;
/// The window when none is asked for.
pub const DEFAULT_DAYS: u32 = 30;
/// Payouts listed (their count and sum cover all of them).
pub const PAYOUTS_LISTED: u32 = 500;
/// What amounts are counted in.
pub const UNIT: &str = "base units";

#[derive(Debug, Deserialize)]
pub struct Params {
    /// Kept as text so a bad value gets this endpoint's own JSON error.
    days: Option<String>,
}

/// The whole answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct History {
    pub days: u32,
    /// The unit every amount is in.
    pub unit: String,
    pub now: i64,
    pub series: Vec<Day>,
    pub months: Vec<Month>,
    pub totals: Totals,
    pub payouts: Payouts,
    pub provider: ProviderRecord,
    pub node: NodeState,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Day {
    pub day: i64,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub earned: u64,
    pub spent: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub disk_used: Option<u64>,
    pub disk_free: Option<u64>,
    pub capacity: Option<u64>,
    pub answered: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    pub earned: u64,
    pub spent: u64,
}

/// Over the whole database, not the window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// The highest receipts of the channels this node is paid on, summed.
    pub earned: u64,
    /// The highest receipts of the channels this node pays on, summed.
    pub spent: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Challenges answered and rejected as a provider.
    pub answered: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payouts {
    /// `claim` when channels settle on chain, `settlement` on the node's ledger.
    pub kind: String,
    pub count: u64,
    pub total: u64,
    /// The latest [`PAYOUTS_LISTED`], newest first.
    pub recent: Vec<Payout>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payout {
    pub kind: String,
    pub channel: String,
    pub amount: u64,
    pub tx: Option<String>,
    pub at: i64,
}

/// The provider's record in the window, from the challenges its clients sent it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderRecord {
    pub answered: u64,
    pub rejected: u64,
    /// Answered over received; `None` before any challenge.
    pub pass_rate: Option<f64>,
    /// Hours in which it answered a challenge over the hours since its first challenge in the
    /// window: what a client challenging at least hourly saw; `None` before any challenge.
    pub uptime: Option<f64>,
    pub hours_answered: u64,
    pub hours: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeState {
    /// The network is running and at least one peer is connected.
    pub online: bool,
    /// `None` while the network is not running.
    pub peers: Option<u64>,
    /// When this daemon run started (unix ms).
    pub started_at: Option<i64>,
    pub uptime_ms: Option<i64>,
    pub disk_used: u64,
    /// Free space on the block store's disk; `None` off a local disk.
    pub disk_free: Option<u64>,
    /// The ask's capacity; `None` when this node offers no storage.
    pub capacity: Option<u64>,
}

/// Parses `days`: a whole number in `1..=MAX_DAYS`, [`DEFAULT_DAYS`] when absent.
pub fn parse_days(days: Option<&str>) -> Result<u32, ApiError> {
    let Some(text) = days else {
        return Ok(DEFAULT_DAYS);
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_DAYS).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            "bad_days",
            format!("days must be a whole number from 1 to {MAX_DAYS}, not {text:?}"),
        )),
    }
}

pub async fn history(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<History>, ApiError> {
    let days = parse_days(params.days.as_deref())?;
    let node = &state.node;
    let db = node.db();
    let now = db.now_ms();
    let today = day_of(now);
    let from_day = today - i64::from(days) + 1;
    let rows = db.history_days(from_day).await.map_err(NodeError::from)?;
    let mut series = history::dense(from_day, today, rows);
    let months = history::months(&series)
        .into_iter()
        .map(|(month, earned, spent)| Month {
            month,
            earned,
            spent,
        })
        .collect();

    // Traffic since the sampler's last sample, counted into today.
    let run = db.latest_run().await.map_err(NodeError::from)?;
    let net = node.net().running();
    let (pending_in, pending_out) = match (&run, net) {
        (Some(run), Some(net)) => {
            let t = net.traffic();
            (
                t.bytes_in.saturating_sub(run.sampled_in),
                t.bytes_out.saturating_sub(run.sampled_out),
            )
        }
        _ => (0, 0),
    };
    if let Some(last) = series.last_mut() {
        last.bytes_in = last.bytes_in.saturating_add(pending_in);
        last.bytes_out = last.bytes_out.saturating_add(pending_out);
    }

    let all = db.totals().await.map_err(NodeError::from)?;
    let paid = |role: &str| {
        all.paid
            .iter()
            .find(|(r, _)| r == role)
            .map_or(0, |(_, n)| *n)
    };
    let (mut answered_all, mut rejected_all) = (0, 0);
    for (role, outcome, n) in &all.challenges {
        match (role.as_str(), outcome.as_str()) {
            ("prover", "answered") => answered_all += n,
            ("prover", _) => rejected_all += n,
            _ => {}
        }
    }
    let (bytes_in, bytes_out) = db.traffic_totals().await.map_err(NodeError::from)?;
    let totals = Totals {
        earned: paid("payee"),
        spent: paid("payer"),
        bytes_in: bytes_in.saturating_add(pending_in),
        bytes_out: bytes_out.saturating_add(pending_out),
        answered: answered_all,
        rejected: rejected_all,
    };

    let listed = db.payouts(PAYOUTS_LISTED).await.map_err(NodeError::from)?;
    let payouts = Payouts {
        kind: match node.parts().chain {
            Some(_) => "claim",
            None => "settlement",
        }
        .to_string(),
        count: listed.count,
        total: listed.total,
        recent: listed.recent.into_iter().map(payout).collect(),
    };

    let record = db
        .prover_totals(from_day.saturating_mul(DAY_MS))
        .await
        .map_err(NodeError::from)?;
    let provider = provider_record(&record, now);

    let peers = match net {
        Some(net) => {
            let peers = net.peers().await.map_err(NodeError::Net)?;
            let distinct: std::collections::HashSet<_> =
                peers.into_iter().map(|(p, _)| p).collect();
            Some(distinct.len() as u64)
        }
        None => None,
    };
    let started_at = run.map(|r| r.started_at);
    let node_state = NodeState {
        online: peers.is_some_and(|n| n > 0),
        peers,
        started_at,
        uptime_ms: started_at.map(|s| now.saturating_sub(s).max(0)),
        disk_used: node.content().store().used_bytes(),
        disk_free: node.provider().room()?.map(|room| room.free_on_disk),
        capacity: node.provider().ask_terms().await?.map(|t| t.capacity),
    };

    Ok(Json(History {
        days,
        unit: UNIT.to_string(),
        now,
        series: series.into_iter().map(day).collect(),
        months,
        totals,
        payouts,
        provider,
        node: node_state,
    }))
}

/// Pass rate and hourly uptime from the window's answered challenges.
pub fn provider_record(t: &crate::db::ProverTotals, now: i64) -> ProviderRecord {
    let received = t.answered + t.rejected;
    let hours = match t.first_at {
        Some(first) => (now.div_euclid(HOUR_MS) - first.div_euclid(HOUR_MS) + 1).max(1) as u64,
        None => 0,
    };
    let ratio = |n: u64, of: u64| (of > 0).then(|| (n as f64 / of as f64).min(1.0));
    ProviderRecord {
        answered: t.answered,
        rejected: t.rejected,
        pass_rate: ratio(t.answered, received),
        uptime: ratio(t.hours_answered, hours),
        hours_answered: t.hours_answered,
        hours,
    }
}

fn day(d: crate::db::DayRow) -> Day {
    Day {
        day: d.day,
        date: history::date_of(d.day),
        earned: d.earned,
        spent: d.spent,
        bytes_in: d.bytes_in,
        bytes_out: d.bytes_out,
        disk_used: d.disk_used,
        disk_free: d.disk_free,
        capacity: d.capacity,
        answered: d.answered,
        rejected: d.rejected,
    }
}

fn payout(p: PayoutRow) -> Payout {
    Payout {
        kind: p.kind,
        channel: p.channel,
        amount: p.amount,
        tx: p.tx,
        at: p.at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ProverTotals;

    #[test]
    fn days_must_be_a_whole_number_within_the_bound() {
        assert_eq!(parse_days(None).unwrap(), DEFAULT_DAYS);
        assert_eq!(parse_days(Some("1")).unwrap(), 1);
        assert_eq!(parse_days(Some("366")).unwrap(), MAX_DAYS);
        for bad in ["0", "367", "100000", "abc", "-1", "1.5", "", " 7"] {
            let e = parse_days(Some(bad)).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(e.reason, "bad_days", "{bad:?}");
        }
    }

    #[test]
    fn uptime_is_hours_answered_since_the_first_challenge() {
        let none = provider_record(&ProverTotals::default(), 10 * HOUR_MS);
        assert_eq!((none.pass_rate, none.uptime, none.hours), (None, None, 0));
        let t = ProverTotals {
            answered: 9,
            rejected: 1,
            hours_answered: 3,
            first_at: Some(HOUR_MS + 5),
        };
        // Hours 1, 2, 3 and 4 (now) are four hours; three had an answer.
        let r = provider_record(&t, 4 * HOUR_MS + 10);
        assert_eq!(r.hours, 4);
        assert_eq!(r.uptime, Some(0.75));
        assert_eq!(r.pass_rate, Some(0.9));
    }
}
