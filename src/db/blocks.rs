//! Stored blocks and their sizes: the exact record of used space.

use cid::Cid;
use sqlx::Row;

use super::{Db, DbError, Result};

impl Db {
    /// Records blocks the store now holds (already synced to disk). Idempotent.
    pub async fn record_blocks(&self, blocks: &[(Cid, u64)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let now = self.now_ms();
        for (cid, size) in blocks {
            sqlx::query(
                "INSERT INTO blocks (cid, size, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (cid) DO NOTHING",
            )
            .bind(cid.to_string())
            .bind(*size as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn forget_block(&self, cid: &Cid) -> Result<()> {
        sqlx::query("DELETE FROM blocks WHERE cid = $1")
            .bind(cid.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Total bytes of all recorded blocks.
    pub async fn used_bytes(&self) -> Result<u64> {
        let row = sqlx::query("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total FROM blocks")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("total")?.max(0) as u64)
    }

    pub async fn block_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM blocks")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")?.max(0) as u64)
    }

    /// Blocks no pin references: what garbage collection may remove.
    pub async fn unreferenced_blocks(&self) -> Result<Vec<(Cid, u64)>> {
        let rows = sqlx::query(
            "SELECT cid, size FROM blocks b \
             WHERE NOT EXISTS (SELECT 1 FROM pin_refs r WHERE r.block = b.cid)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("cid")?;
                let size: i64 = row.try_get("size")?;
                Ok((parse_cid("blocks", &text)?, size.max(0) as u64))
            })
            .collect()
    }
}

pub(super) fn parse_cid(table: &'static str, text: &str) -> Result<Cid> {
    Cid::try_from(text).map_err(|e| DbError::CorruptRow {
        table,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use crate::content::{Block, HashAlg, RAW};
    use crate::db::testing::each_backend;
    use crate::db::Db;

    #[tokio::test]
    async fn used_bytes_is_exact_and_idempotent() {
        each_backend!(|db: Db| async move {
            let a = Block::encode(RAW, HashAlg::Sha2_256, &b"aaaa"[..]);
            let b = Block::encode(RAW, HashAlg::Blake3, &b"bb"[..]);
            db.record_blocks(&[(*a.cid(), 4), (*b.cid(), 2)])
                .await
                .unwrap();
            db.record_blocks(&[(*a.cid(), 4)]).await.unwrap();
            assert_eq!(db.used_bytes().await.unwrap(), 6);
            db.forget_block(a.cid()).await.unwrap();
            assert_eq!(db.used_bytes().await.unwrap(), 2);
            assert_eq!(db.block_count().await.unwrap(), 1);
        });
    }
}
