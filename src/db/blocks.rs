//! Stored blocks and their sizes: the exact record of used space.

use std::collections::HashSet;

use cid::Cid;
use sqlx::Row;

use super::{Db, DbError, Result};

impl Db {
    /// Records blocks the store now holds (already synced to disk). Idempotent.
    /// Records blocks (a CID already recorded is left as it is). Returns the bytes of the rows
    /// this call wrote, so a caller can count exactly what it added.
    pub async fn record_blocks(&self, blocks: &[(Cid, u64)]) -> Result<u64> {
        let mut tx = self.begin().await?;
        let now = self.now_ms();
        let mut written = 0;
        for (cid, size) in blocks {
            let done = sqlx::query(
                "INSERT INTO blocks (cid, size, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (cid) DO NOTHING",
            )
            .bind(cid.to_string())
            .bind(*size as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                written += size;
            }
        }
        tx.commit().await?;
        Ok(written)
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

/// `$1, $2, ... $n`: the placeholders of an `IN` list of `n` values.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// Up to `limit` block rows in CID-text order, after `after` (exclusive): a page of a walk
    /// over every row that holds one page in memory however many rows there are. Rows may be
    /// removed between pages without disturbing the walk.
    pub async fn blocks_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Cid, u64)>> {
        let rows = sqlx::query("SELECT cid, size FROM blocks WHERE cid > $1 ORDER BY cid LIMIT $2")
            .bind(after.unwrap_or(""))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("cid")?;
                let size: i64 = row.try_get("size")?;
                let cid = parse_cid("blocks", &text)?;
                Ok((text, cid, size.max(0) as u64))
            })
            .collect()
    }

    /// Removes the rows of `blocks` in one transaction.
    pub async fn forget_blocks(&self, blocks: &[Cid]) -> Result<()> {
        if blocks.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for cid in blocks {
            sqlx::query("DELETE FROM blocks WHERE cid = $1")
                .bind(cid.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Which of `texts` (CIDs as text) have a block row.
    pub async fn recorded_among(&self, texts: &[String]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        // Well under every engine's limit on bound parameters per statement.
        for chunk in texts.chunks(500) {
            let sql = format!(
                "SELECT cid FROM blocks WHERE cid IN ({})",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for text in chunk {
                query = query.bind(text.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.insert(row.try_get::<String, _>("cid")?);
            }
        }
        Ok(found)
    }

    /// Blocks some pin references that have no block row: what the store should hold for a
    /// pin but does not (lost or torn and removed), in CID-text order, up to `limit` after
    /// `after`.
    pub async fn pinned_without_row(&self, after: Option<&str>, limit: usize) -> Result<Vec<Cid>> {
        let rows = sqlx::query(
            "SELECT DISTINCT block FROM pin_refs r \
             WHERE block > $1 AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.cid = r.block) \
             ORDER BY block LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| parse_cid("pin_refs", &row.try_get::<String, _>("block")?))
            .collect()
    }

    /// Blocks no pin references, in CID-text order, up to `limit` after `after`: one batch of
    /// an incremental garbage collection.
    pub async fn unreferenced_blocks_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(Cid, u64)>> {
        let rows = sqlx::query(
            "SELECT cid, size FROM blocks b \
             WHERE cid > $1 AND NOT EXISTS (SELECT 1 FROM pin_refs r WHERE r.block = b.cid) \
             ORDER BY cid LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
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

    /// Which of `texts` (CIDs as text) some pin references.
    pub async fn referenced_among(&self, texts: &[String]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in texts.chunks(500) {
            let sql = format!(
                "SELECT DISTINCT block FROM pin_refs WHERE block IN ({})",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for text in chunk {
                query = query.bind(text.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.insert(row.try_get::<String, _>("block")?);
            }
        }
        Ok(found)
    }

    /// How many distinct blocks pins reference that have no block row.
    pub async fn pinned_without_row_count(&self) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT block) AS n FROM pin_refs r \
             WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.cid = r.block)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")?.max(0) as u64)
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

    #[tokio::test]
    async fn rows_page_in_order_and_pinned_blocks_without_rows_are_found() {
        each_backend!(|db: Db| async move {
            let blocks: Vec<Block> = (0..7u8)
                .map(|i| Block::encode(RAW, HashAlg::Sha2_256, vec![i; 10]))
                .collect();
            let rows: Vec<_> = blocks.iter().map(|b| (*b.cid(), 10)).collect();
            db.record_blocks(&rows).await.unwrap();

            // Pages of 3 cover every row once, in order, and end empty.
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = db.blocks_page(after.as_deref(), 3).await.unwrap();
                assert!(page.len() <= 3);
                let Some((last, _, _)) = page.last() else {
                    break;
                };
                after = Some(last.clone());
                seen.extend(page.into_iter().map(|(text, cid, size)| {
                    assert_eq!((text, size), (cid.to_string(), 10));
                    cid
                }));
            }
            let mut expected: Vec<_> = blocks.iter().map(|b| *b.cid()).collect();
            expected.sort_by_key(|c| c.to_string());
            assert_eq!(seen, expected);

            let texts: Vec<String> = vec![blocks[0].cid().to_string(), "bafynotacid".into()];
            let found = db.recorded_among(&texts).await.unwrap();
            assert_eq!(found, [blocks[0].cid().to_string()].into());

            db.add_pin(blocks[0].cid(), None, &[*blocks[0].cid(), *blocks[1].cid()])
                .await
                .unwrap();
            assert!(db.pinned_without_row(None, 10).await.unwrap().is_empty());
            db.forget_blocks(&[*blocks[1].cid(), *blocks[2].cid()])
                .await
                .unwrap();
            assert_eq!(db.block_count().await.unwrap(), 5);
            assert_eq!(db.used_bytes().await.unwrap(), 50);
            assert_eq!(
                db.pinned_without_row(None, 10).await.unwrap(),
                vec![*blocks[1].cid()]
            );
            assert_eq!(db.pinned_without_row_count().await.unwrap(), 1);
        });
    }
}
