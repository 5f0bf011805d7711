//! The dashboard's history: per-day series computed by the database, and the samples only a
//! running node can take (Bitswap bytes each way, disk used and free, capacity).
//!
//! Owns `history_days` (one row per UTC day: bytes added by each sample, the day's latest disk
//! figures), `node_runs` (one row per daemon run, for uptime and so a sample adds only the
//! traffic since the previous one) and `payouts` (claims made on chain). Earnings, spending and
//! answered challenges per day are grouped from the receipts and challenges tables themselves,
//! so they need no sample and agree with the totals.
//!
//! Invariants: a day is `at.div_euclid(DAY_MS)` everywhere (SQL divides non-negative BIGINTs,
//! which is the same); every figure is a database `SUM`/`COUNT`, never a count of a capped
//! list; every query runs on SQLite and PostgreSQL (sums cast to BIGINT).

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Db, DbError, Result};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour, the unit of the provider's uptime.
pub const HOUR_MS: i64 = 3_600_000;

/// The UTC day (days since the Unix epoch) of a Unix-ms time.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// The proleptic Gregorian (year, month, day) of a day number (Howard Hinnant's
/// `civil_from_days`).
pub fn civil(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_of(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM` of a day number.
pub fn month_of(day: i64) -> String {
    let (y, m, _) = civil(day);
    format!("{y:04}-{m:02}")
}

/// What the sampler read from the running node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Bitswap bytes received since this run's host started (a counter).
    pub bytes_in: u64,
    /// Bitswap bytes sent since this run's host started (a counter).
    pub bytes_out: u64,
    pub disk_used: u64,
    pub disk_free: Option<u64>,
    pub capacity: Option<u64>,
}

/// One daemon run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRow {
    pub started_at: i64,
    pub last_seen: i64,
    pub sampled_in: u64,
    pub sampled_out: u64,
}

/// One day of history; days without any activity are all zeros (see [`dense`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DayRow {
    pub day: i64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The day's latest disk sample; `None` on a day the node took none.
    pub disk_used: Option<u64>,
    pub disk_free: Option<u64>,
    pub capacity: Option<u64>,
    /// Base units received (payee channels' receipts stored that day).
    pub earned: u64,
    /// Base units paid (payer channels' receipts signed that day).
    pub spent: u64,
    /// Challenges this node answered as a provider that day, and those it rejected.
    pub answered: u64,
    pub rejected: u64,
}

/// One payout to this node: a claim on chain or a ledger channel settled at close.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayoutRow {
    /// `claim` or `settlement`.
    pub kind: String,
    pub channel: String,
    pub amount: u64,
    /// The claim's transaction hash.
    pub tx: Option<String>,
    pub at: i64,
}

/// Every payout's count and sum, and the most recent ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payouts {
    pub count: u64,
    pub total: u64,
    pub recent: Vec<PayoutRow>,
}

/// The challenges this node answered as a provider since a time: what its clients saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProverTotals {
    pub answered: u64,
    pub rejected: u64,
    /// Distinct hours in which it answered at least one challenge.
    pub hours_answered: u64,
    /// Its first challenge in the window.
    pub first_at: Option<i64>,
}

fn count(value: i64) -> u64 {
    value.max(0) as u64
}

fn to_db(what: &str, value: u64) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| DbError::OutOfRange(format!("{what} {value} exceeds {}", i64::MAX)))
}

fn opt_to_db(what: &str, value: Option<u64>) -> Result<Option<i64>> {
    value.map(|v| to_db(what, v)).transpose()
}

/// Every day from `from` to `to` (inclusive), the rows given where there are some.
pub fn dense(from: i64, to: i64, rows: Vec<DayRow>) -> Vec<DayRow> {
    let mut by_day: BTreeMap<i64, DayRow> = rows.into_iter().map(|r| (r.day, r)).collect();
    (from..=to)
        .map(|day| {
            by_day.remove(&day).unwrap_or(DayRow {
                day,
                ..DayRow::default()
            })
        })
        .collect()
}

/// Earned and spent per calendar month (`YYYY-MM`), oldest first.
pub fn months(days: &[DayRow]) -> Vec<(String, u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for d in days {
        let month = out.entry(month_of(d.day)).or_default();
        month.0 = month.0.saturating_add(d.earned);
        month.1 = month.1.saturating_add(d.spent);
    }
    out.into_iter().map(|(m, (e, s))| (m, e, s)).collect()
}

impl Db {
    /// Records the start of a daemon run (now); returns its key.
    pub async fn start_run(&self) -> Result<i64> {
        let now = self.now_ms();
        sqlx::query(
            "INSERT INTO node_runs (started_at, last_seen, sampled_in, sampled_out) \
             VALUES ($1, $1, 0, 0) ON CONFLICT (started_at) DO NOTHING",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(now)
    }

    /// The most recent run (the current one, while a daemon runs).
    pub async fn latest_run(&self) -> Result<Option<RunRow>> {
        let row = sqlx::query(
            "SELECT started_at, last_seen, sampled_in, sampled_out FROM node_runs \
             ORDER BY started_at DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RunRow {
                started_at: r.try_get("started_at")?,
                last_seen: r.try_get("last_seen")?,
                sampled_in: count(r.try_get("sampled_in")?),
                sampled_out: count(r.try_get("sampled_out")?),
            })
        })
        .transpose()
    }

    /// Adds one sample of run `run` to today's row (the traffic since the run's previous
    /// sample; the disk figures replace the day's), in one transaction.
    pub async fn record_sample(&self, run: i64, sample: &Sample) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
        let row =
            sqlx::query("SELECT sampled_in, sampled_out FROM node_runs WHERE started_at = $1")
                .bind(run)
                .fetch_optional(&mut *tx)
                .await?;
        let (seen_in, seen_out) = match row {
            Some(r) => (
                count(r.try_get("sampled_in")?),
                count(r.try_get("sampled_out")?),
            ),
            None => (0, 0),
        };
        // A counter below what was sampled cannot happen within a run; take it as new.
        let delta = |now: u64, seen: u64| now.checked_sub(seen).unwrap_or(now);
        let (add_in, add_out) = (
            delta(sample.bytes_in, seen_in),
            delta(sample.bytes_out, seen_out),
        );
        sqlx::query(
            "INSERT INTO history_days \
             (day, bytes_in, bytes_out, disk_used, disk_free, capacity, samples, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7) \
             ON CONFLICT (day) DO UPDATE SET \
             bytes_in = history_days.bytes_in + excluded.bytes_in, \
             bytes_out = history_days.bytes_out + excluded.bytes_out, \
             disk_used = excluded.disk_used, disk_free = excluded.disk_free, \
             capacity = excluded.capacity, samples = history_days.samples + 1, \
             updated_at = excluded.updated_at",
        )
        .bind(day_of(now))
        .bind(to_db("bytes in", add_in)?)
        .bind(to_db("bytes out", add_out)?)
        .bind(to_db("disk used", sample.disk_used)?)
        .bind(opt_to_db("disk free", sample.disk_free)?)
        .bind(opt_to_db("capacity", sample.capacity)?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO node_runs (started_at, last_seen, sampled_in, sampled_out) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (started_at) DO UPDATE SET \
             last_seen = excluded.last_seen, sampled_in = excluded.sampled_in, \
             sampled_out = excluded.sampled_out",
        )
        .bind(run)
        .bind(now)
        .bind(to_db("bytes in", sample.bytes_in)?)
        .bind(to_db("bytes out", sample.bytes_out)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every day from `from_day` on that has a sample, receipts or answered challenges.
    pub async fn history_days(&self, from_day: i64) -> Result<Vec<DayRow>> {
        let from_ms = from_day.saturating_mul(DAY_MS);
        let mut days: BTreeMap<i64, DayRow> = BTreeMap::new();

        let sampled = sqlx::query(
            "SELECT day, bytes_in, bytes_out, disk_used, disk_free, capacity FROM history_days \
             WHERE day >= $1",
        )
        .bind(from_day)
        .fetch_all(&self.pool)
        .await?;
        for r in sampled {
            let d: i64 = r.try_get("day")?;
            let row = days.entry(d).or_insert_with(|| empty_day(d));
            row.bytes_in = count(r.try_get("bytes_in")?);
            row.bytes_out = count(r.try_get("bytes_out")?);
            row.disk_used = Some(count(r.try_get("disk_used")?));
            row.disk_free = r.try_get::<Option<i64>, _>("disk_free")?.map(count);
            row.capacity = r.try_get::<Option<i64>, _>("capacity")?.map(count);
        }
        // Each receipt is cumulative on its channel: what it adds is its amount less the
        // channel's previous receipt's.
        let paid = sqlx::query(
            "SELECT role, day, CAST(SUM(delta) AS BIGINT) AS n FROM ( \
               SELECT c.role AS role, r.stored_at / 86400000 AS day, \
                 r.amount - COALESCE(LAG(r.amount) OVER \
                   (PARTITION BY r.channel ORDER BY r.seq), 0) AS delta \
               FROM receipts r JOIN channels c ON c.id = r.channel \
             ) t WHERE day >= $1 GROUP BY role, day",
        )
        .bind(from_day)
        .fetch_all(&self.pool)
        .await?;
        for r in paid {
            let d: i64 = r.try_get("day")?;
            let role: String = r.try_get("role")?;
            let n = count(r.try_get("n")?);
            let row = days.entry(d).or_insert_with(|| empty_day(d));
            match role.as_str() {
                "payee" => row.earned = n,
                _ => row.spent = n,
            }
        }
        let proved = sqlx::query(
            "SELECT issued_at / 86400000 AS day, outcome, CAST(COUNT(*) AS BIGINT) AS n \
             FROM challenges WHERE role = 'prover' AND issued_at >= $1 \
             GROUP BY issued_at / 86400000, outcome",
        )
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        for r in proved {
            let d: i64 = r.try_get("day")?;
            let outcome: String = r.try_get("outcome")?;
            let n = count(r.try_get("n")?);
            let row = days.entry(d).or_insert_with(|| empty_day(d));
            match outcome.as_str() {
                "answered" => row.answered += n,
                _ => row.rejected += n,
            }
        }
        Ok(days.into_values().collect())
    }

    /// Bitswap bytes each way over every sampled day.
    pub async fn traffic_totals(&self) -> Result<(u64, u64)> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE(SUM(bytes_in), 0) AS BIGINT) AS i, \
             CAST(COALESCE(SUM(bytes_out), 0) AS BIGINT) AS o FROM history_days",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((count(r.try_get("i")?), count(r.try_get("o")?)))
    }

    /// Records a claim made on chain (once per transaction).
    pub async fn record_payout(&self, tx: &str, channel: &str, amount: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO payouts (tx, channel, amount, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tx) DO NOTHING",
        )
        .bind(tx)
        .bind(channel)
        .bind(to_db("payout", amount)?)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Payouts to this node: claims on chain and ledger channels it was paid on that closed
    /// with a settlement; the count and sum of all of them, and the latest `limit`.
    pub async fn payouts(&self, limit: u32) -> Result<Payouts> {
        const SETTLED: &str = "FROM channels WHERE role = 'payee' AND state = 'closed' \
                               AND settled IS NOT NULL";
        let claims = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM payouts",
        )
        .fetch_one(&self.pool)
        .await?;
        let settled = sqlx::query(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(settled), 0) AS BIGINT) AS total {SETTLED}"
        ))
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(&format!(
            "SELECT kind, channel, amount, tx, at FROM ( \
               SELECT 'claim' AS kind, channel, amount, tx, at FROM payouts \
               UNION ALL \
               SELECT 'settlement' AS kind, id AS channel, settled AS amount, \
                 CAST(NULL AS TEXT) AS tx, updated_at AS at {SETTLED} \
             ) p ORDER BY at DESC, channel LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut recent = Vec::with_capacity(rows.len());
        for r in rows {
            recent.push(PayoutRow {
                kind: r.try_get("kind")?,
                channel: r.try_get("channel")?,
                amount: count(r.try_get("amount")?),
                tx: r.try_get("tx")?,
                at: r.try_get("at")?,
            });
        }
        let n = |r: &sqlx::any::AnyRow, c: &str| -> Result<u64> { Ok(count(r.try_get(c)?)) };
        Ok(Payouts {
            count: n(&claims, "n")? + n(&settled, "n")?,
            total: n(&claims, "total")?.saturating_add(n(&settled, "total")?),
            recent,
        })
    }

    /// The challenges answered as a provider issued at or after `since_ms`.
    pub async fn prover_totals(&self, since_ms: i64) -> Result<ProverTotals> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), 0) \
               AS BIGINT) AS answered, \
             CAST(COUNT(*) AS BIGINT) AS n, MIN(issued_at) AS first_at, \
             CAST(COUNT(DISTINCT CASE WHEN outcome = 'answered' THEN issued_at / 3600000 END) \
               AS BIGINT) AS hours \
             FROM challenges WHERE role = 'prover' AND issued_at >= $1",
        )
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        let answered = count(r.try_get("answered")?);
        let all = count(r.try_get("n")?);
        Ok(ProverTotals {
            answered,
            rejected: all.saturating_sub(answered),
            hours_answered: count(r.try_get("hours")?),
            first_at: r.try_get("first_at")?,
        })
    }
}

fn empty_day(day: i64) -> DayRow {
    DayRow {
        day,
        ..DayRow::default()
    }
}

#[cfg(test)]
mod tests;
