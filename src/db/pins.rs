//! Pins and the blocks each pin references.

use cid::Cid;
use sqlx::Row;

use super::blocks::parse_cid;
use super::{Db, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PinRow {
    #[serde(serialize_with = "crate::content::cid_text::serialize")]
    pub cid: Cid,
    pub name: Option<String>,
    pub created_at: i64,
}

impl Db {
    /// Pins `root` with the blocks of its DAG, in one transaction: either the pin and all its
    /// references exist, or none do. Re-pinning replaces the reference set.
    pub async fn add_pin(&self, root: &Cid, name: Option<&str>, refs: &[Cid]) -> Result<()> {
        let root_text = root.to_string();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO pins (cid, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (cid) DO UPDATE SET name = COALESCE(excluded.name, pins.name)",
        )
        .bind(&root_text)
        .bind(name)
        .bind(self.now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pin_refs WHERE pin = $1")
            .bind(&root_text)
            .execute(&mut *tx)
            .await?;
        for block in refs {
            sqlx::query("INSERT INTO pin_refs (pin, block) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&root_text)
                .bind(block.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a pin; returns whether it existed. Its blocks become collectable unless another
    /// pin references them.
    pub async fn remove_pin(&self, root: &Cid) -> Result<bool> {
        let root_text = root.to_string();
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM pin_refs WHERE pin = $1")
            .bind(&root_text)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM pins WHERE cid = $1")
            .bind(&root_text)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn list_pins(&self) -> Result<Vec<PinRow>> {
        let rows = sqlx::query("SELECT cid, name, created_at FROM pins ORDER BY created_at, cid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(PinRow {
                    cid: parse_cid("pins", &row.try_get::<String, _>("cid")?)?,
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Whether any pin references `block`.
    pub async fn is_referenced(&self, block: &Cid) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM pin_refs WHERE block = $1")
            .bind(block.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub async fn is_pinned(&self, root: &Cid) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM pins WHERE cid = $1")
            .bind(root.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::content::{Block, HashAlg, RAW};
    use crate::db::testing::each_backend;
    use crate::db::Db;

    #[tokio::test]
    async fn unpinned_blocks_are_collectable_and_pinned_ones_never() {
        each_backend!(|db: Db| async move {
            let a = Block::encode(RAW, HashAlg::Sha2_256, &b"a"[..]);
            let b = Block::encode(RAW, HashAlg::Sha2_256, &b"b"[..]);
            let c = Block::encode(RAW, HashAlg::Sha2_256, &b"c"[..]);
            db.record_blocks(&[(*a.cid(), 1), (*b.cid(), 1), (*c.cid(), 1)])
                .await
                .unwrap();
            db.add_pin(a.cid(), Some("first"), &[*a.cid(), *b.cid()])
                .await
                .unwrap();
            db.add_pin(c.cid(), None, &[*c.cid(), *b.cid()])
                .await
                .unwrap();
            assert!(db.unreferenced_blocks().await.unwrap().is_empty());

            assert!(db.remove_pin(a.cid()).await.unwrap());
            assert!(!db.remove_pin(a.cid()).await.unwrap());
            let free: Vec<_> = db.unreferenced_blocks().await.unwrap();
            assert_eq!(
                free,
                vec![(*a.cid(), 1)],
                "b is still referenced by the second pin"
            );

            let pins = db.list_pins().await.unwrap();
            assert_eq!(pins.len(), 1);
            assert_eq!(pins[0].cid, *c.cid());
            assert!(db.is_pinned(c.cid()).await.unwrap());
        });
    }
}
