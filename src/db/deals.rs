//! Deals and their history. A state change and its event row are written in one
//! transaction, and only if the deal is still in the state the caller saw, so two tasks
//! racing on one deal cannot both move it.

use std::collections::HashMap;

use sqlx::Row;

use super::{Db, DbError, Result};
use crate::market::state::DealState;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DealRow {
    pub id: String,
    pub role: String,
    pub peer: String,
    pub root_cid: String,
    pub piece_root: String,
    pub piece_size: u64,
    pub proposal: String,
    pub acceptance: Option<String>,
    pub state: DealState,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DealEventRow {
    pub seq: i64,
    pub at: i64,
    pub state: DealState,
    pub reason: Option<String>,
}

fn state_text(state: DealState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse_state(text: &str) -> Result<DealState> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| {
        DbError::CorruptRow {
            table: "deals",
            reason: e.to_string(),
        }
    })
}

impl Db {
    /// Records a new deal in `row.state` with its first event.
    pub async fn insert_deal(&self, row: &DealRow, reason: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_row(&mut tx, row).await?;
        insert_event(&mut tx, &row.id, 0, row.state, reason, self.now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Client: records a new deal with what it may be paid in all and from which channel
    /// (`None` for a free deal), in one transaction.
    pub async fn insert_funded_deal(
        &self,
        row: &DealRow,
        reason: &str,
        channel: Option<&str>,
        total: u64,
    ) -> Result<()> {
        let total = i64::try_from(total).map_err(|_| DbError::OutOfRange(total.to_string()))?;
        let mut tx = self.begin().await?;
        insert_row(&mut tx, row).await?;
        sqlx::query("INSERT INTO deal_funding (deal, channel, total) VALUES ($1, $2, $3)")
            .bind(&row.id)
            .bind(channel)
            .bind(total)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, &row.id, 0, row.state, reason, self.now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Client: per channel, what the unfinished deals with `peer` recorded with their
    /// funding may still be paid (their total less what was paid for them).
    pub async fn committed_per_channel(&self, peer: &str) -> Result<HashMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT f.channel AS channel, \
                    CAST(SUM(f.total - COALESCE(p.paid, 0)) AS BIGINT) AS held \
             FROM deals d JOIN deal_funding f ON f.deal = d.id \
             LEFT JOIN (SELECT deal, SUM(amount) AS paid FROM storage_payments GROUP BY deal) p \
               ON p.deal = d.id \
             WHERE d.role = 'client' AND d.peer = $1 AND f.channel IS NOT NULL \
               AND d.state NOT IN ('expired', 'failed', 'cancelled') \
             GROUP BY f.channel",
        )
        .bind(peer)
        .fetch_all(&self.pool)
        .await?;
        let mut held = HashMap::new();
        for r in rows {
            let channel: String = r.try_get("channel")?;
            let amount: i64 = r.try_get("held")?;
            held.insert(channel, amount.max(0) as u64);
        }
        Ok(held)
    }

    /// Client: the unfinished deals with `peer` that have no funding record (recorded before
    /// there was one).
    pub async fn unfunded_record_deals(&self, peer: &str) -> Result<Vec<DealRow>> {
        let rows = sqlx::query(&format!(
            "{SELECT_DEAL} WHERE role = 'client' AND peer = $1 \
               AND state NOT IN ('expired', 'failed', 'cancelled') \
               AND id NOT IN (SELECT deal FROM deal_funding)"
        ))
        .bind(peer)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deal_row).collect()
    }

    /// Moves a deal from `from` to `to`; returns false (and changes nothing) if it is no
    /// longer in `from`.
    pub async fn transition_deal(
        &self,
        id: &str,
        from: DealState,
        to: DealState,
        reason: &str,
        acceptance: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE deals SET state = $1, updated_at = $2, acceptance = COALESCE($3, acceptance) WHERE id = $4 AND state = $5",
        )
        .bind(state_text(to))
        .bind(self.now_ms())
        .bind(acceptance)
        .bind(id)
        .bind(state_text(from))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let next: i64 = sqlx::query("SELECT CAST(COALESCE(MAX(seq), -1) + 1 AS BIGINT) AS n FROM deal_events WHERE deal = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        insert_event(&mut tx, id, next, to, reason, self.now_ms()).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn get_deal(&self, id: &str) -> Result<Option<DealRow>> {
        let row = sqlx::query(&format!("{SELECT_DEAL} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| deal_row(&r)).transpose()
    }

    /// Deals of one role, newest first; `state` narrows to one state.
    pub async fn list_deals(&self, role: &str, state: Option<DealState>) -> Result<Vec<DealRow>> {
        let rows = match state {
            Some(state) => {
                sqlx::query(&format!(
                    "{SELECT_DEAL} WHERE role = $1 AND state = $2 ORDER BY created_at DESC, id"
                ))
                .bind(role)
                .bind(state_text(state))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "{SELECT_DEAL} WHERE role = $1 ORDER BY created_at DESC, id"
                ))
                .bind(role)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(deal_row).collect()
    }

    pub async fn deal_events(&self, id: &str) -> Result<Vec<DealEventRow>> {
        let rows = sqlx::query(
            "SELECT seq, at, state, reason FROM deal_events WHERE deal = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DealEventRow {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    state: parse_state(&r.try_get::<String, _>("state")?)?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Bytes reserved by a provider's deals that still hold capacity: the figure capacity
    /// accounting restarts from.
    pub async fn reserved_capacity(&self) -> Result<u64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(piece_size), 0) AS BIGINT) AS total FROM deals \
             WHERE role = 'provider' AND state IN ('accepted', 'transferring', 'active')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("total")?.max(0) as u64)
    }
}

async fn insert_row(tx: &mut sqlx::Transaction<'static, sqlx::Any>, row: &DealRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO deals (id, role, peer, root_cid, piece_root, piece_size, proposal, acceptance, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&row.id)
    .bind(&row.role)
    .bind(&row.peer)
    .bind(&row.root_cid)
    .bind(&row.piece_root)
    .bind(row.piece_size as i64)
    .bind(&row.proposal)
    .bind(&row.acceptance)
    .bind(state_text(row.state))
    .bind(row.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const SELECT_DEAL: &str = "SELECT id, role, peer, root_cid, piece_root, piece_size, proposal, acceptance, state, created_at, updated_at FROM deals";

fn deal_row(r: &sqlx::any::AnyRow) -> Result<DealRow> {
    Ok(DealRow {
        id: r.try_get("id")?,
        role: r.try_get("role")?,
        peer: r.try_get("peer")?,
        root_cid: r.try_get("root_cid")?,
        piece_root: r.try_get("piece_root")?,
        piece_size: r.try_get::<i64, _>("piece_size")?.max(0) as u64,
        proposal: r.try_get("proposal")?,
        acceptance: r.try_get("acceptance")?,
        state: parse_state(&r.try_get::<String, _>("state")?)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    deal: &str,
    seq: i64,
    state: DealState,
    reason: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO deal_events (deal, seq, at, state, reason) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(deal)
    .bind(seq)
    .bind(at)
    .bind(state_text(state))
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::DealRow;
    use crate::db::testing::each_backend;
    use crate::db::Db;
    use crate::market::state::DealState;

    fn row(id: &str, size: u64) -> DealRow {
        DealRow {
            id: id.into(),
            role: "provider".into(),
            peer: "12D3".into(),
            root_cid: "bafyroot".into(),
            piece_root: "ab".into(),
            piece_size: size,
            proposal: "a1".into(),
            acceptance: None,
            state: DealState::Accepted,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[tokio::test]
    async fn what_a_channels_unfinished_deals_hold_is_their_totals_less_what_was_paid() {
        each_backend!(|db: Db| async move {
            let client = |id: &str| DealRow {
                role: "client".into(),
                peer: "12D3p".into(),
                ..row(id, 10)
            };
            let on = |channel: &str| Some(channel.to_string());
            for (id, channel, total) in [
                ("a", on("c1"), 100),
                ("b", on("c1"), 50),
                ("c", on("c2"), 7),
            ] {
                db.insert_funded_deal(&client(id), "accepted", channel.as_deref(), total)
                    .await
                    .unwrap();
            }
            db.insert_funded_deal(&client("free"), "accepted", None, 0)
                .await
                .unwrap();
            // Deal "b" ended: it holds nothing. "a" was paid 30 of its 100.
            db.transition_deal("b", DealState::Accepted, DealState::Failed, "gone", None)
                .await
                .unwrap();
            let payment = crate::db::StoragePayment {
                deal: "a".into(),
                period: 0,
                channel: "c1".into(),
                amount: 30,
                seq: 1,
                at: 1,
            };
            assert!(db.record_storage_payment(&payment).await.unwrap());
            let held = db.committed_per_channel("12D3p").await.unwrap();
            assert_eq!(held.get("c1"), Some(&70));
            assert_eq!(held.get("c2"), Some(&7));
            assert_eq!(held.len(), 2);
            assert!(db.committed_per_channel("other").await.unwrap().is_empty());
            // A deal recorded without funding (before the record existed) is listed for the
            // caller to decode; funded ones are not.
            db.insert_deal(&client("old"), "accepted").await.unwrap();
            let older = db.unfunded_record_deals("12D3p").await.unwrap();
            assert_eq!(
                older.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
                ["old"]
            );
        })
    }

    #[tokio::test]
    async fn transitions_are_recorded_once_and_capacity_follows_the_states() {
        each_backend!(|db: Db| async move {
            db.insert_deal(&row("d1", 100), "accepted: policy ok")
                .await
                .unwrap();
            db.insert_deal(&row("d2", 50), "accepted: policy ok")
                .await
                .unwrap();
            assert_eq!(db.reserved_capacity().await.unwrap(), 150);
            assert!(db
                .transition_deal(
                    "d1",
                    DealState::Accepted,
                    DealState::Transferring,
                    "pulling",
                    None
                )
                .await
                .unwrap());
            // A second task that still thinks d1 is accepted changes nothing.
            assert!(!db
                .transition_deal("d1", DealState::Accepted, DealState::Failed, "stale", None)
                .await
                .unwrap());
            assert!(db
                .transition_deal(
                    "d2",
                    DealState::Accepted,
                    DealState::Failed,
                    "client vanished",
                    None
                )
                .await
                .unwrap());
            assert_eq!(
                db.reserved_capacity().await.unwrap(),
                100,
                "a failed deal frees its capacity"
            );
            let events = db.deal_events("d1").await.unwrap();
            let states: Vec<DealState> = events.iter().map(|e| e.state).collect();
            assert_eq!(states, [DealState::Accepted, DealState::Transferring]);
            assert_eq!(
                db.get_deal("d2").await.unwrap().unwrap().state,
                DealState::Failed
            );
            assert_eq!(
                db.list_deals("provider", Some(DealState::Transferring))
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert!(db.get_deal("nope").await.unwrap().is_none());
        });
    }
}
