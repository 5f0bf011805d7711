//! The provider's ask terms (one row).

use sqlx::Row;

use super::{Db, Result};

impl Db {
    pub async fn put_ask_terms(&self, terms_json: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO ask_terms (id, terms, updated_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET terms = excluded.terms, updated_at = excluded.updated_at",
        )
        .bind(terms_json)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn ask_terms(&self) -> Result<Option<String>> {
        let row = sqlx::query("SELECT terms FROM ask_terms WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("terms")).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::db::testing::each_backend;
    use crate::db::Db;

    #[tokio::test]
    async fn terms_are_replaced_not_duplicated() {
        each_backend!(|db: Db| async move {
            assert!(db.ask_terms().await.unwrap().is_none());
            db.put_ask_terms("{\"a\":1}").await.unwrap();
            db.put_ask_terms("{\"a\":2}").await.unwrap();
            assert_eq!(db.ask_terms().await.unwrap().unwrap(), "{\"a\":2}");
        });
    }
}
