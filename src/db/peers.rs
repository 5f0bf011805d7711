//! Peers' addresses as the node last knew them: written from the network's address book for
//! the peers this node has deals with, read back at start. A row is a hint for dialling,
//! never proof of identity (the connection's handshake checks the peer id).

use sqlx::Row;

use crate::db::{Db, DbError, Result};

impl Db {
    /// Replaces the saved addresses of each `(peer, addrs)`.
    pub async fn save_peer_addresses(&self, entries: &[(String, Vec<String>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        let mut tx = self.begin().await?;
        for (peer, addrs) in entries {
            let json = serde_json::to_string(addrs).map_err(|e| DbError::CorruptRow {
                table: "peer_addresses",
                reason: e.to_string(),
            })?;
            sqlx::query(
                "INSERT INTO peer_addresses (peer, addrs, saved_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (peer) DO UPDATE SET addrs = excluded.addrs, saved_at = excluded.saved_at",
            )
            .bind(peer)
            .bind(json)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The `limit` most recently saved peers' addresses, newest first.
    pub async fn peer_addresses(&self, limit: i64) -> Result<Vec<(String, Vec<String>)>> {
        let rows = sqlx::query(
            "SELECT peer, addrs FROM peer_addresses ORDER BY saved_at DESC, peer LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let peer: String = r.try_get("peer")?;
                let json: String = r.try_get("addrs")?;
                let addrs = serde_json::from_str(&json).map_err(|e| DbError::CorruptRow {
                    table: "peer_addresses",
                    reason: format!("{peer}: {e}"),
                })?;
                Ok((peer, addrs))
            })
            .collect()
    }

    /// Every peer this node has a deal with that is not over (either role).
    pub async fn deal_peers(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT peer FROM deals WHERE state NOT IN ('expired', 'failed', 'cancelled')",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|r| Ok(r.try_get("peer")?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saved_addresses_read_back_newest_first_and_replace_older_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (clock, time) = crate::clock::Clock::manual(1_000);
        let url = format!("sqlite://{}", dir.path().join("db").display());
        let db = Db::connect_with_clock(&url, clock).await.unwrap();
        db.save_peer_addresses(&[("a".into(), vec!["/ip4/127.0.0.1/tcp/1".into()])])
            .await
            .unwrap();
        time.advance(std::time::Duration::from_secs(1));
        db.save_peer_addresses(&[
            ("b".into(), vec!["/ip4/127.0.0.1/tcp/2".into()]),
            (
                "a".into(),
                vec!["/ip4/127.0.0.1/tcp/3".into(), "/ip4/127.0.0.1/tcp/4".into()],
            ),
        ])
        .await
        .unwrap();
        let saved = db.peer_addresses(10).await.unwrap();
        assert_eq!(saved.len(), 2);
        assert_eq!(
            saved.iter().find(|(p, _)| p == "a").unwrap().1,
            vec![
                "/ip4/127.0.0.1/tcp/3".to_string(),
                "/ip4/127.0.0.1/tcp/4".into()
            ]
        );
        assert_eq!(db.peer_addresses(1).await.unwrap().len(), 1);
    }
}
