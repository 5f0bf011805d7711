//! Erasure-coded keeps' records: a keep's manifest (its CID, the erasure root, and its bytes),
//! one row per slot (CID, piece commitment, whether a copy is pinned here, how many copies
//! were refused), and which slot each of the keep's deals holds (`keep_deals.slot`).
//!
//! Invariants: a keep has its manifest and all its slot rows, or none of them (written in one
//! transaction, and only while the keep exists); slot rows are never rewritten but for their
//! `local` flag and failure count; a slot deal is a keep deal like any other (`keep_deals`),
//! so cancelling, ending and deleting a keep's deals covers slot deals too.

use sqlx::Row;

use super::{Db, DbError, KeepDealRow, Result};

/// A keep's manifest, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepErasureRow {
    pub keep: String,
    pub k: u32,
    pub m: u32,
    /// The erasure root: the manifest's CID.
    pub manifest: String,
    /// The manifest's DAG-CBOR bytes (checked against `manifest` whenever they are read back).
    pub manifest_bytes: Vec<u8>,
    pub created_at: i64,
}

/// One slot of a keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeepSlotRow {
    pub index: u32,
    pub cid: String,
    /// Hex BLAKE3 root of the slot's piece.
    pub piece_root: String,
    pub piece_size: u64,
    /// A copy is pinned here.
    pub local: bool,
    /// Copies refused because their bytes did not match the manifest.
    pub failures: u64,
}

/// A keep deal with the slot it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotDealRow {
    pub deal: KeepDealRow,
    /// `None` for a full replica's deal.
    pub slot: Option<u32>,
}

fn corrupt(reason: impl std::fmt::Display) -> DbError {
    DbError::CorruptRow {
        table: "keep_slots",
        reason: reason.to_string(),
    }
}

fn unsigned(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(format!("{what} is {value}")))
}

fn small(value: i64, what: &str) -> Result<u32> {
    u32::try_from(value).map_err(|_| corrupt(format!("{what} is {value}")))
}

impl Db {
    /// Records a keep's manifest and its slots in one transaction; false if the keep is gone
    /// or already has a manifest (nothing is written then).
    pub async fn insert_keep_erasure(
        &self,
        row: &KeepErasureRow,
        slots: &[KeepSlotRow],
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "INSERT INTO keep_erasure (keep, k, m, manifest, manifest_bytes, created_at) \
             SELECT id, $1, $2, $3, $4, $5 FROM keeps WHERE id = $6 \
             ON CONFLICT (keep) DO NOTHING",
        )
        .bind(i64::from(row.k))
        .bind(i64::from(row.m))
        .bind(&row.manifest)
        .bind(hex::encode(&row.manifest_bytes))
        .bind(self.now_ms())
        .bind(&row.keep)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for slot in slots {
            sqlx::query(
                "INSERT INTO keep_slots (keep, idx, cid, piece_root, piece_size, local, failures) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
            )
            .bind(&row.keep)
            .bind(i64::from(slot.index))
            .bind(&slot.cid)
            .bind(&slot.piece_root)
            .bind(
                i64::try_from(slot.piece_size).map_err(|_| {
                    DbError::OutOfRange(format!("slot piece size {}", slot.piece_size))
                })?,
            )
            .bind(i64::from(slot.local))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A keep's manifest, if it has one.
    pub async fn keep_erasure(&self, keep: &str) -> Result<Option<KeepErasureRow>> {
        let row = sqlx::query(
            "SELECT keep, k, m, manifest, manifest_bytes, created_at FROM keep_erasure \
             WHERE keep = $1",
        )
        .bind(keep)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let bytes: String = r.try_get("manifest_bytes")?;
        Ok(Some(KeepErasureRow {
            keep: r.try_get("keep")?,
            k: small(r.try_get("k")?, "k")?,
            m: small(r.try_get("m")?, "m")?,
            manifest: r.try_get("manifest")?,
            manifest_bytes: hex::decode(bytes).map_err(corrupt)?,
            created_at: r.try_get("created_at")?,
        }))
    }

    /// A keep's slots, by index.
    pub async fn keep_slots(&self, keep: &str) -> Result<Vec<KeepSlotRow>> {
        let rows = sqlx::query(
            "SELECT idx, cid, piece_root, piece_size, local, failures FROM keep_slots \
             WHERE keep = $1 ORDER BY idx",
        )
        .bind(keep)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeepSlotRow {
                    index: small(r.try_get("idx")?, "idx")?,
                    cid: r.try_get("cid")?,
                    piece_root: r.try_get("piece_root")?,
                    piece_size: unsigned(r.try_get("piece_size")?, "piece_size")?,
                    local: r.try_get::<i64, _>("local")? != 0,
                    failures: unsigned(r.try_get("failures")?, "failures")?,
                })
            })
            .collect()
    }

    /// Notes whether a copy of slot `index` is pinned here.
    pub async fn set_slot_local(&self, keep: &str, index: u32, local: bool) -> Result<()> {
        sqlx::query("UPDATE keep_slots SET local = $1 WHERE keep = $2 AND idx = $3")
            .bind(i64::from(local))
            .bind(keep)
            .bind(i64::from(index))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Counts a copy of slot `index` refused for not matching the manifest.
    pub async fn count_slot_failure(&self, keep: &str, index: u32) -> Result<()> {
        sqlx::query("UPDATE keep_slots SET failures = failures + 1 WHERE keep = $1 AND idx = $2")
            .bind(keep)
            .bind(i64::from(index))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a deal made for slot `slot` of a keep; false if the keep is gone.
    pub async fn add_slot_deal(
        &self,
        keep: &str,
        deal: &str,
        peer: &str,
        slot: u32,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO keep_deals (keep, deal, peer, state, created_at, slot) \
             SELECT id, $1, $2, 'live', $3, $4 FROM keeps WHERE id = $5 \
             ON CONFLICT (keep, deal) DO NOTHING",
        )
        .bind(deal)
        .bind(peer)
        .bind(self.now_ms())
        .bind(i64::from(slot))
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The blocks pin `root` references.
    pub async fn pin_refs(&self, root: &cid::Cid) -> Result<Vec<cid::Cid>> {
        let rows = sqlx::query("SELECT block FROM pin_refs WHERE pin = $1")
            .bind(root.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get("block")?;
                text.parse().map_err(|e| DbError::CorruptRow {
                    table: "pin_refs",
                    reason: format!("{text:?}: {e}"),
                })
            })
            .collect()
    }

    /// A keep's deals with the slot each holds, oldest first.
    pub async fn slot_deals(&self, keep: &str) -> Result<Vec<SlotDealRow>> {
        let rows = sqlx::query(
            "SELECT deal, peer, state, reason, created_at, ended_at, slot FROM keep_deals \
             WHERE keep = $1 ORDER BY created_at, deal",
        )
        .bind(keep)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SlotDealRow {
                    deal: KeepDealRow {
                        deal: r.try_get("deal")?,
                        peer: r.try_get("peer")?,
                        state: r.try_get("state")?,
                        reason: r.try_get("reason")?,
                        created_at: r.try_get("created_at")?,
                        ended_at: r.try_get("ended_at")?,
                    },
                    slot: r
                        .try_get::<Option<i64>, _>("slot")?
                        .map(|s| small(s, "slot"))
                        .transpose()?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::KeepRow;
    use crate::keeper::{KeepStatus, Policy};

    fn keep(id: &str) -> KeepRow {
        KeepRow {
            id: id.into(),
            cid: "bafkqaaa".into(),
            name: None,
            origins: Vec::new(),
            meta: [("erasure".to_string(), "2+1".to_string())].into(),
            policy: Policy {
                replicas: 1,
                duration_secs: 3600,
                max_price_per_gib_month: None,
                challenge_period_secs: 60,
            },
            status: KeepStatus::Queued,
            status_details: None,
            healthy: 0,
            shortfall: 0,
            at_risk: 0,
            local_pin: false,
            owns_pin: false,
            piece_root: None,
            piece_size: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn slot(index: u32) -> KeepSlotRow {
        KeepSlotRow {
            index,
            cid: format!("slot-{index}"),
            piece_root: format!("{index:064x}"),
            piece_size: 1000 + u64::from(index),
            local: true,
            failures: 0,
        }
    }

    async fn slots_round_trip(db: Db) {
        assert!(db.keep_erasure("k1").await.unwrap().is_none());
        let row = KeepErasureRow {
            keep: "k1".into(),
            k: 2,
            m: 1,
            manifest: "bafyreimanifest".into(),
            manifest_bytes: vec![0xa1, 0x00, 0xff],
            created_at: 0,
        };
        let slots = [slot(0), slot(1), slot(2)];
        // No keep yet: nothing is written.
        assert!(!db.insert_keep_erasure(&row, &slots).await.unwrap());
        db.insert_keep(&keep("k1")).await.unwrap();
        assert!(db.insert_keep_erasure(&row, &slots).await.unwrap());
        // A second manifest for the same keep is refused.
        assert!(!db.insert_keep_erasure(&row, &slots).await.unwrap());
        let stored = db.keep_erasure("k1").await.unwrap().unwrap();
        assert_eq!(
            (stored.k, stored.m, stored.manifest_bytes),
            (2, 1, vec![0xa1, 0x00, 0xff])
        );
        assert_eq!(db.keep_slots("k1").await.unwrap(), slots.to_vec());

        db.set_slot_local("k1", 1, false).await.unwrap();
        db.count_slot_failure("k1", 2).await.unwrap();
        let now = db.keep_slots("k1").await.unwrap();
        assert!(!now[1].local && now[0].local);
        assert_eq!(now[2].failures, 1);

        assert!(db.add_slot_deal("k1", "d1", "peer-a", 2).await.unwrap());
        assert!(db.add_keep_deal("k1", "d0", "peer-b").await.unwrap());
        assert!(!db.add_slot_deal("gone", "d2", "peer-a", 0).await.unwrap());
        let deals = db.slot_deals("k1").await.unwrap();
        let by_deal: Vec<(&str, Option<u32>)> = deals
            .iter()
            .map(|d| (d.deal.deal.as_str(), d.slot))
            .collect();
        assert!(by_deal.contains(&("d1", Some(2))) && by_deal.contains(&("d0", None)));
        // Slot deals are keep deals: listed, ended and deleted with the keep's.
        assert_eq!(db.keep_deals("k1").await.unwrap().len(), 2);

        assert!(db.delete_keep("k1").await.unwrap());
        assert!(db.keep_erasure("k1").await.unwrap().is_none());
        assert!(db.keep_slots("k1").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn slots_round_trip_on_every_backend() {
        crate::db::testing::each_backend!(slots_round_trip);
    }
}
