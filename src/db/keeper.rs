//! The keeper's records: keeps (pin requests with their policy and last computed health),
//! the deals made for each, the keeper's decisions as events, and what this node knows of
//! providers (first seen, last score). Provider history itself is the challenge log.
//!
//! Invariants: a keep's `created_at` is unique (the Pinning Service API paginates on it);
//! a keep deal leaves `live` once, with its reason; children are deleted with their keep in
//! one transaction (SQLite does not enforce the schema's cascades by default).
//!
//! `providers` reads what scores and repair need: provider records, the challenge log.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Db, DbError, Result};
use crate::keeper::{KeepStatus, Policy};

/// A keep, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeepRow {
    pub id: String,
    pub cid: String,
    pub name: Option<String>,
    pub origins: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub policy: Policy,
    pub status: KeepStatus,
    pub status_details: Option<String>,
    pub healthy: u64,
    pub shortfall: u64,
    pub at_risk: u64,
    pub local_pin: bool,
    pub owns_pin: bool,
    pub piece_root: Option<String>,
    pub piece_size: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeepDealRow {
    pub deal: String,
    pub peer: String,
    /// `live`, `dropped`, `released` or `ended`.
    pub state: String,
    pub reason: Option<String>,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeepEventRow {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

/// Filters applied in SQL; name and meta matching are the caller's.
#[derive(Debug, Clone, Default)]
pub struct KeepQuery {
    pub cids: Vec<String>,
    pub statuses: Vec<KeepStatus>,
    /// Created strictly before / after, ms.
    pub before: Option<i64>,
    pub after: Option<i64>,
}

const SELECT_KEEP: &str = "SELECT id, cid, name, origins, meta, replicas, duration_secs, \
    max_price_per_gib_month, challenge_period_secs, status, status_details, healthy, shortfall, \
    at_risk, local_pin, owns_pin, piece_root, piece_size, created_at, updated_at FROM keeps";

fn corrupt(reason: impl std::fmt::Display) -> DbError {
    DbError::CorruptRow {
        table: "keeps",
        reason: reason.to_string(),
    }
}

fn keep_row(r: &sqlx::any::AnyRow) -> Result<KeepRow> {
    let count = |name: &str| -> Result<u64> { Ok(r.try_get::<i64, _>(name)?.max(0) as u64) };
    let status: String = r.try_get("status")?;
    Ok(KeepRow {
        id: r.try_get("id")?,
        cid: r.try_get("cid")?,
        name: r.try_get("name")?,
        origins: serde_json::from_str(&r.try_get::<String, _>("origins")?).map_err(corrupt)?,
        meta: serde_json::from_str(&r.try_get::<String, _>("meta")?).map_err(corrupt)?,
        policy: Policy {
            replicas: u32::try_from(count("replicas")?).map_err(corrupt)?,
            duration_secs: count("duration_secs")?,
            max_price_per_gib_month: r
                .try_get::<Option<i64>, _>("max_price_per_gib_month")?
                .map(|p| p.max(0) as u64),
            challenge_period_secs: count("challenge_period_secs")?,
        },
        status: KeepStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status:?}")))?,
        status_details: r.try_get("status_details")?,
        healthy: count("healthy")?,
        shortfall: count("shortfall")?,
        at_risk: count("at_risk")?,
        local_pin: r.try_get::<i64, _>("local_pin")? != 0,
        owns_pin: r.try_get::<i64, _>("owns_pin")? != 0,
        piece_root: r.try_get("piece_root")?,
        piece_size: r
            .try_get::<Option<i64>, _>("piece_size")?
            .map(|s| s.max(0) as u64),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(corrupt)
}

impl Db {
    /// Records a new keep; its `created_at` becomes unique (one ms later than the newest if
    /// two land in the same ms). Returns the row as stored.
    pub async fn insert_keep(&self, keep: &KeepRow) -> Result<KeepRow> {
        self.write_keep(keep, None).await
    }

    /// Records `keep` in place of keep `old` in one transaction: `old`'s deals become
    /// `keep`'s, and `old` is deleted with its events. Nobody ever sees both, or neither.
    pub async fn replace_keep_row(&self, old: &str, keep: &KeepRow) -> Result<KeepRow> {
        self.write_keep(keep, Some(old)).await
    }

    async fn write_keep(&self, keep: &KeepRow, replaces: Option<&str>) -> Result<KeepRow> {
        let mut last_error = None;
        for _ in 0..5 {
            let mut tx = self.begin().await?;
            let newest: Option<i64> = sqlx::query("SELECT MAX(created_at) AS m FROM keeps")
                .fetch_one(&mut *tx)
                .await?
                .try_get("m")?;
            let created = keep.created_at.max(newest.map_or(i64::MIN, |m| m + 1));
            let p = &keep.policy;
            let done = sqlx::query(
                "INSERT INTO keeps (id, cid, name, origins, meta, replicas, duration_secs, \
                 max_price_per_gib_month, challenge_period_secs, status, status_details, healthy, \
                 shortfall, at_risk, local_pin, owns_pin, piece_root, piece_size, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)",
            )
            .bind(&keep.id)
            .bind(&keep.cid)
            .bind(&keep.name)
            .bind(json(&keep.origins)?)
            .bind(json(&keep.meta)?)
            .bind(i64::from(p.replicas))
            .bind(p.duration_secs as i64)
            .bind(p.max_price_per_gib_month.map(|m| m as i64))
            .bind(p.challenge_period_secs as i64)
            .bind(keep.status.as_str())
            .bind(&keep.status_details)
            .bind(keep.healthy as i64)
            .bind(keep.shortfall as i64)
            .bind(keep.at_risk as i64)
            .bind(i64::from(keep.local_pin))
            .bind(i64::from(keep.owns_pin))
            .bind(&keep.piece_root)
            .bind(keep.piece_size.map(|s| s as i64))
            .bind(created)
            .execute(&mut *tx)
            .await;
            match done {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    last_error = Some(sqlx::Error::Database(e));
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            if let Some(old) = replaces {
                for table in ["keep_deals", "keep_erasure", "keep_slots"] {
                    sqlx::query(&format!("UPDATE {table} SET keep = $1 WHERE keep = $2"))
                        .bind(&keep.id)
                        .bind(old)
                        .execute(&mut *tx)
                        .await?;
                }
                for table in ["keep_events", "keeps"] {
                    let column = if table == "keeps" { "id" } else { "keep" };
                    sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
                        .bind(old)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            return self
                .get_keep(&keep.id)
                .await?
                .ok_or_else(|| corrupt("a keep vanished as it was written"));
        }
        Err(last_error.map_or_else(|| corrupt("no unique created_at"), DbError::from))
    }

    pub async fn get_keep(&self, id: &str) -> Result<Option<KeepRow>> {
        let row = sqlx::query(&format!("{SELECT_KEEP} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(keep_row).transpose()
    }

    /// Keeps matching the SQL-level filters, newest first.
    pub async fn query_keeps(&self, q: &KeepQuery) -> Result<Vec<KeepRow>> {
        let rows = sqlx::query(&format!(
            "{SELECT_KEEP} WHERE created_at < $1 AND created_at > $2 ORDER BY created_at DESC"
        ))
        .bind(q.before.unwrap_or(i64::MAX))
        .bind(q.after.unwrap_or(i64::MIN))
        .fetch_all(&self.pool)
        .await?;
        let mut keeps = Vec::new();
        for row in &rows {
            let keep = keep_row(row)?;
            if (q.cids.is_empty() || q.cids.contains(&keep.cid))
                && (q.statuses.is_empty() || q.statuses.contains(&keep.status))
            {
                keeps.push(keep);
            }
        }
        Ok(keeps)
    }

    pub async fn set_keep_policy(&self, id: &str, p: &Policy) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE keeps SET replicas = $1, duration_secs = $2, max_price_per_gib_month = $3, \
             challenge_period_secs = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(i64::from(p.replicas))
        .bind(p.duration_secs as i64)
        .bind(p.max_price_per_gib_month.map(|m| m as i64))
        .bind(p.challenge_period_secs as i64)
        .bind(self.now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that the DAG is pinned here, and its piece.
    pub async fn set_keep_local(
        &self,
        id: &str,
        owns_pin: bool,
        piece_root: &str,
        piece_size: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE keeps SET local_pin = 1, owns_pin = $1, piece_root = $2, piece_size = $3, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(i64::from(owns_pin))
        .bind(piece_root)
        .bind(piece_size as i64)
        .bind(self.now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a keep's computed health. `failed` is final: a keep that failed is never
    /// moved back by a pass that read it before it failed.
    pub async fn set_keep_health(&self, id: &str, h: &KeepHealthRow<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE keeps SET status = $1, status_details = $2, healthy = $3, shortfall = $4, \
             at_risk = $5, updated_at = $6 WHERE id = $7 AND status <> 'failed'",
        )
        .bind(h.status.as_str())
        .bind(h.details)
        .bind(h.healthy as i64)
        .bind(h.shortfall as i64)
        .bind(h.at_risk as i64)
        .bind(self.now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a keep with its deals' records and events; returns whether it existed.
    pub async fn delete_keep(&self, id: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        for table in ["keep_deals", "keep_events", "keep_slots", "keep_erasure"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE keep = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM keeps WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a deal made for a keep; false if the keep is gone (removed meanwhile).
    pub async fn add_keep_deal(&self, keep: &str, deal: &str, peer: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO keep_deals (keep, deal, peer, state, created_at) \
             SELECT id, $1, $2, 'live', $3 FROM keeps WHERE id = $4 \
             ON CONFLICT (keep, deal) DO NOTHING",
        )
        .bind(deal)
        .bind(peer)
        .bind(self.now_ms())
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends a live keep deal (`dropped`, `released`, `ended`); false if it was not live.
    pub async fn end_keep_deal(
        &self,
        keep: &str,
        deal: &str,
        state: &str,
        reason: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE keep_deals SET state = $1, reason = $2, ended_at = $3 \
             WHERE keep = $4 AND deal = $5 AND state = 'live'",
        )
        .bind(state)
        .bind(reason)
        .bind(self.now_ms())
        .bind(keep)
        .bind(deal)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Live deals that keeps of `cid` other than `except` hold, each once, oldest link first:
    /// what another pin request of the same CID may share (`keeper::share`).
    pub async fn shared_deals(&self, cid: &str, except: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT kd.deal AS deal, kd.peer AS peer, MIN(kd.created_at) AS first \
             FROM keep_deals kd JOIN keeps k ON k.id = kd.keep \
             WHERE k.cid = $1 AND kd.keep <> $2 AND kd.state = 'live' \
             GROUP BY kd.deal, kd.peer ORDER BY first, kd.deal",
        )
        .bind(cid)
        .bind(except)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("deal")?, r.try_get("peer")?)))
            .collect()
    }

    /// Whether a keep other than `except` still holds `deal` live (so it must not be
    /// cancelled on `except`'s account).
    pub async fn deal_held_elsewhere(&self, deal: &str, except: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM keep_deals WHERE deal = $1 AND keep <> $2 AND state = 'live'",
        )
        .bind(deal)
        .bind(except)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(n > 0)
    }

    /// A keep's deals, oldest first.
    pub async fn keep_deals(&self, keep: &str) -> Result<Vec<KeepDealRow>> {
        let rows = sqlx::query(
            "SELECT deal, peer, state, reason, created_at, ended_at FROM keep_deals \
             WHERE keep = $1 ORDER BY created_at, deal",
        )
        .bind(keep)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeepDealRow {
                    deal: r.try_get("deal")?,
                    peer: r.try_get("peer")?,
                    state: r.try_get("state")?,
                    reason: r.try_get("reason")?,
                    created_at: r.try_get("created_at")?,
                    ended_at: r.try_get("ended_at")?,
                })
            })
            .collect()
    }

    /// Records a keeper decision (nothing if the keep is gone). The sequence number is taken
    /// in the insert itself; two writers racing for one keep retry.
    pub async fn add_keep_event(&self, keep: &str, kind: &str, detail: &str) -> Result<()> {
        let mut outcome = Ok(());
        for _ in 0..3 {
            outcome = sqlx::query(
                "INSERT INTO keep_events (keep, seq, at, kind, detail) \
                 SELECT $1, CAST(COALESCE(MAX(seq), -1) + 1 AS BIGINT), $2, $3, $4 FROM keep_events \
                 WHERE keep = $1 HAVING EXISTS (SELECT 1 FROM keeps WHERE id = $1)",
            )
            .bind(keep)
            .bind(self.now_ms())
            .bind(kind)
            .bind(detail)
            .execute(&self.pool)
            .await
            .map(drop);
            if outcome.is_ok() {
                break;
            }
        }
        Ok(outcome?)
    }

    /// A keep's latest `limit` events, oldest first.
    pub async fn keep_events(&self, keep: &str, limit: i64) -> Result<Vec<KeepEventRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, detail FROM keep_events WHERE keep = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(keep)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut events = rows
            .iter()
            .map(|r| {
                Ok(KeepEventRow {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        events.reverse();
        Ok(events)
    }
}

/// What [`Db::set_keep_health`] stores.
#[derive(Debug, Clone)]
pub struct KeepHealthRow<'a> {
    pub status: KeepStatus,
    pub details: &'a str,
    pub healthy: u64,
    pub shortfall: u64,
    pub at_risk: u64,
}

mod providers;

pub use providers::{KeeperTotals, ProofRow, ProviderRecord};

#[cfg(test)]
mod tests;
