//! What the keeper knows of providers (first seen, address, last score), and the reads of
//! the challenge log that scores and repair are computed from. Provider history is never
//! copied: the challenge log is the one record of what each provider proved.

use sqlx::Row;

use crate::db::{Db, DbError, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderRecord {
    pub peer: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub address: Option<String>,
    pub score_permille: Option<i64>,
}
/// One challenge of a deal, as repair reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProofRow {
    pub outcome: String,
    pub reason: Option<String>,
    pub issued_at: i64,
    pub answered_at: Option<i64>,
}
/// Sums over every keep, for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeeperTotals {
    pub keeps: i64,
    pub pinned: i64,
    pub shortfall: i64,
    pub at_risk: i64,
}
impl Db {
    /// Notes a provider as seen now (its first sighting is kept).
    pub async fn see_provider(&self, peer: &str, address: Option<&str>) -> Result<()> {
        sqlx::query(
            "INSERT INTO keeper_providers (peer, first_seen, last_seen, address) VALUES ($1, $2, $2, $3) \
             ON CONFLICT (peer) DO UPDATE SET last_seen = excluded.last_seen, \
             address = COALESCE(excluded.address, keeper_providers.address)",
        )
        .bind(peer)
        .bind(self.now_ms())
        .bind(address)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn provider_record(&self, peer: &str) -> Result<Option<ProviderRecord>> {
        let row = sqlx::query(
            "SELECT peer, first_seen, last_seen, address, score_permille FROM keeper_providers WHERE peer = $1",
        )
        .bind(peer)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ProviderRecord {
                peer: r.try_get("peer")?,
                first_seen: r.try_get("first_seen")?,
                last_seen: r.try_get("last_seen")?,
                address: r.try_get("address")?,
                score_permille: r.try_get("score_permille")?,
            })
        })
        .transpose()
    }

    pub async fn set_provider_score(&self, peer: &str, permille: i64) -> Result<()> {
        sqlx::query("UPDATE keeper_providers SET score_permille = $1 WHERE peer = $2")
            .bind(permille)
            .bind(peer)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Outcomes of the latest `limit` challenges this node issued to `peer`, oldest first.
    pub async fn provider_history(&self, peer: &str, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT outcome FROM challenges WHERE peer = $1 AND role = 'verifier' \
             ORDER BY issued_at DESC, id LIMIT $2",
        )
        .bind(peer)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut outcomes = rows
            .iter()
            .map(|r| r.try_get("outcome").map_err(DbError::from))
            .collect::<Result<Vec<String>>>()?;
        outcomes.reverse();
        Ok(outcomes)
    }

    /// The latest `limit` challenges issued to `peer` for a piece since `since` ms, oldest
    /// first: one deal's proof record.
    pub async fn deal_proofs(
        &self,
        piece_root: &str,
        peer: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<ProofRow>> {
        let rows = sqlx::query(
            "SELECT outcome, reason, issued_at, answered_at FROM challenges \
             WHERE piece_root = $1 AND peer = $2 AND role = 'verifier' AND issued_at >= $3 \
             ORDER BY issued_at DESC, id LIMIT $4",
        )
        .bind(piece_root)
        .bind(peer)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut proofs = rows
            .iter()
            .map(|r| {
                Ok(ProofRow {
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    issued_at: r.try_get("issued_at")?,
                    answered_at: r.try_get("answered_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        proofs.reverse();
        Ok(proofs)
    }

    /// Sums for the metrics.
    pub async fn keeper_totals(&self) -> Result<KeeperTotals> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS keeps, \
             CAST(COALESCE(SUM(CASE WHEN status = 'pinned' THEN 1 ELSE 0 END), 0) AS BIGINT) AS pinned, \
             CAST(COALESCE(SUM(shortfall), 0) AS BIGINT) AS shortfall, \
             CAST(COALESCE(SUM(at_risk), 0) AS BIGINT) AS at_risk FROM keeps",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(KeeperTotals {
            keeps: row.try_get("keeps")?,
            pinned: row.try_get("pinned")?,
            shortfall: row.try_get("shortfall")?,
            at_risk: row.try_get("at_risk")?,
        })
    }
}
