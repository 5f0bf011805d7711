//! Piece commitments this node holds, and the challenge log.

use sqlx::Row;

use super::{Db, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PieceRow {
    pub piece_root: String,
    pub piece_size: u64,
    pub root_cid: String,
    pub created_at: i64,
}

/// One challenge, from either side.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChallengeRow {
    pub id: String,
    pub role: String,
    pub peer: String,
    pub piece_root: String,
    pub piece_size: u64,
    pub period: u64,
    pub samples: u64,
    pub issued_at: i64,
    pub deadline: i64,
    pub answered_at: Option<i64>,
    pub outcome: String,
    pub reason: Option<String>,
    pub latency_ms: Option<i64>,
    pub proof_bytes: Option<i64>,
}

impl Db {
    pub async fn put_piece(&self, piece_root: &str, piece_size: u64, root_cid: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO pieces (piece_root, piece_size, root_cid, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (piece_root) DO NOTHING",
        )
        .bind(piece_root)
        .bind(piece_size as i64)
        .bind(root_cid)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_piece(&self, piece_root: &str) -> Result<Option<PieceRow>> {
        let row = sqlx::query(
            "SELECT piece_root, piece_size, root_cid, created_at FROM pieces WHERE piece_root = $1",
        )
        .bind(piece_root)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(PieceRow {
                piece_root: row.try_get("piece_root")?,
                piece_size: row.try_get::<i64, _>("piece_size")?.max(0) as u64,
                root_cid: row.try_get("root_cid")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Records a challenge's final outcome (one row per challenge; written once it is decided).
    pub async fn record_challenge(&self, c: &ChallengeRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO challenges (id, role, peer, piece_root, piece_size, period, samples, issued_at, \
             deadline, answered_at, outcome, reason, latency_ms, proof_bytes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO UPDATE SET answered_at = excluded.answered_at, outcome = excluded.outcome, \
             reason = excluded.reason, latency_ms = excluded.latency_ms, proof_bytes = excluded.proof_bytes",
        )
        .bind(&c.id)
        .bind(&c.role)
        .bind(&c.peer)
        .bind(&c.piece_root)
        .bind(c.piece_size as i64)
        .bind(c.period as i64)
        .bind(c.samples as i64)
        .bind(c.issued_at)
        .bind(c.deadline)
        .bind(c.answered_at)
        .bind(&c.outcome)
        .bind(&c.reason)
        .bind(c.latency_ms)
        .bind(c.proof_bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn challenges_for(&self, piece_root: &str) -> Result<Vec<ChallengeRow>> {
        let rows = sqlx::query(
            "SELECT id, role, peer, piece_root, piece_size, period, samples, issued_at, deadline, \
             answered_at, outcome, reason, latency_ms, proof_bytes FROM challenges \
             WHERE piece_root = $1 ORDER BY issued_at, id",
        )
        .bind(piece_root)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ChallengeRow {
                    id: row.try_get("id")?,
                    role: row.try_get("role")?,
                    peer: row.try_get("peer")?,
                    piece_root: row.try_get("piece_root")?,
                    piece_size: row.try_get::<i64, _>("piece_size")?.max(0) as u64,
                    period: row.try_get::<i64, _>("period")?.max(0) as u64,
                    samples: row.try_get::<i64, _>("samples")?.max(0) as u64,
                    issued_at: row.try_get("issued_at")?,
                    deadline: row.try_get("deadline")?,
                    answered_at: row.try_get("answered_at")?,
                    outcome: row.try_get("outcome")?,
                    reason: row.try_get("reason")?,
                    latency_ms: row.try_get("latency_ms")?,
                    proof_bytes: row.try_get("proof_bytes")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::ChallengeRow;
    use crate::db::testing::each_backend;
    use crate::db::Db;

    #[tokio::test]
    async fn pieces_and_challenge_outcomes_round_trip() {
        each_backend!(|db: Db| async move {
            db.put_piece("ab", 1024, "bafyroot").await.unwrap();
            assert_eq!(db.get_piece("ab").await.unwrap().unwrap().piece_size, 1024);
            assert!(db.get_piece("cd").await.unwrap().is_none());
            let mut row = ChallengeRow {
                id: "n1".into(),
                role: "verifier".into(),
                peer: "12D3".into(),
                piece_root: "ab".into(),
                piece_size: 1024,
                period: 3,
                samples: 20,
                issued_at: 10,
                deadline: 20,
                answered_at: None,
                outcome: "pending".into(),
                reason: None,
                latency_ms: None,
                proof_bytes: None,
            };
            db.record_challenge(&row).await.unwrap();
            row.outcome = "failed".into();
            row.reason = Some("wrong root".into());
            row.answered_at = Some(15);
            row.latency_ms = Some(5);
            row.proof_bytes = Some(900);
            db.record_challenge(&row).await.unwrap();
            assert_eq!(db.challenges_for("ab").await.unwrap(), vec![row]);
        });
    }
}
