//! Totals over whole tables, for `/metrics` and the status page: counts and sums computed by
//! the database (`GROUP BY`), never by reading a capped list, so a figure never freezes at a
//! page size. Every query runs on SQLite and PostgreSQL (sums are cast to BIGINT, which both
//! decode as `i64`).

use sqlx::Row;

use super::{Db, Result};

/// Upper bounds (ms) of the proof latency histogram's buckets; the `+Inf` bucket is the count.
pub const PROOF_LATENCY_BUCKETS_MS: [i64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/// A count per (role, state or outcome).
pub type Counts = Vec<(String, String, u64)>;

/// Answered challenges' latency, by role: cumulative counts per bucket of
/// [`PROOF_LATENCY_BUCKETS_MS`], the count and the sum (ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyTotals {
    pub role: String,
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_ms: u64,
}

/// Everything `/metrics` reads from the database, in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Deals by (role, state).
    pub deals: Counts,
    /// Challenges by (role, outcome): `verifier` rows are this node's audits of its providers,
    /// `prover` rows the challenges it answered.
    pub challenges: Counts,
    pub proof_latency: Vec<LatencyTotals>,
    /// Payment channels by (role, state).
    pub channels: Counts,
    /// Receipts stored, by channel role (`payee`: received, `payer`: signed).
    pub receipts: Vec<(String, u64)>,
    /// The highest receipts' cumulative amounts summed, by channel role: `payee` is what this
    /// node earned, `payer` what it spent.
    pub paid: Vec<(String, u64)>,
    pub pins: u64,
}

fn count(value: i64) -> u64 {
    value.max(0) as u64
}

impl Db {
    pub async fn totals(&self) -> Result<Totals> {
        Ok(Totals {
            deals: self
                .counts("SELECT role, state AS kind, COUNT(*) AS n FROM deals GROUP BY role, state")
                .await?,
            challenges: self.challenge_counts().await?,
            proof_latency: self.proof_latency().await?,
            channels: self
                .counts(
                    "SELECT role, state AS kind, COUNT(*) AS n FROM channels GROUP BY role, state",
                )
                .await?,
            receipts: self
                .sums(
                    "SELECT c.role AS role, CAST(COUNT(*) AS BIGINT) AS n FROM receipts r \
                     JOIN channels c ON c.id = r.channel GROUP BY c.role",
                )
                .await?,
            paid: self
                .sums(
                    "SELECT role, CAST(COALESCE(SUM(paid), 0) AS BIGINT) AS n FROM channels \
                     GROUP BY role",
                )
                .await?,
            pins: {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM pins")
                    .fetch_one(&self.pool)
                    .await?;
                count(row.try_get("n")?)
            },
        })
    }

    /// Challenges by (role, outcome), over the whole table.
    pub async fn challenge_counts(&self) -> Result<Counts> {
        self.counts(
            "SELECT role, outcome AS kind, COUNT(*) AS n FROM challenges GROUP BY role, outcome",
        )
        .await
    }

    async fn counts(&self, sql: &str) -> Result<Counts> {
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push((
                row.try_get("role")?,
                row.try_get("kind")?,
                count(row.try_get("n")?),
            ));
        }
        out.sort();
        Ok(out)
    }

    async fn sums(&self, sql: &str) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push((row.try_get("role")?, count(row.try_get("n")?)));
        }
        out.sort();
        Ok(out)
    }

    async fn proof_latency(&self) -> Result<Vec<LatencyTotals>> {
        // The bucket bounds are constants, not input: written into the SQL.
        let buckets: String = PROOF_LATENCY_BUCKETS_MS
            .iter()
            .enumerate()
            .map(|(i, le)| {
                format!(
                    ", CAST(SUM(CASE WHEN latency_ms <= {le} THEN 1 ELSE 0 END) AS BIGINT) AS b{i}"
                )
            })
            .collect();
        let sql = format!(
            "SELECT role, CAST(COUNT(*) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(latency_ms), 0) AS BIGINT) AS total{buckets} \
             FROM challenges WHERE latency_ms IS NOT NULL GROUP BY role"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut buckets = Vec::with_capacity(PROOF_LATENCY_BUCKETS_MS.len());
            for i in 0..PROOF_LATENCY_BUCKETS_MS.len() {
                buckets.push(count(row.try_get::<i64, _>(format!("b{i}").as_str())?));
            }
            out.push(LatencyTotals {
                role: row.try_get("role")?,
                buckets,
                count: count(row.try_get("n")?),
                sum_ms: count(row.try_get("total")?),
            });
        }
        out.sort_by(|a, b| a.role.cmp(&b.role));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::db::testing::each_backend;
    use crate::db::Db;

    async fn challenge(db: &Db, id: usize, role: &str, outcome: &str, latency: Option<i64>) {
        sqlx::query(
            "INSERT INTO challenges (id, role, peer, piece_root, piece_size, period, samples, \
             issued_at, deadline, answered_at, outcome, reason, latency_ms, proof_bytes) \
             VALUES ($1, $2, 'peer', 'root', 1024, $3, 8, 0, 1000, NULL, $4, NULL, $5, NULL)",
        )
        .bind(format!("{role}-{id}"))
        .bind(role)
        .bind(id as i64)
        .bind(outcome)
        .bind(latency)
        .execute(db.pool())
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn totals_count_every_row_not_a_page_of_them() {
        each_backend!(|db: Db| async move {
            let empty = db.totals().await.unwrap();
            assert!(empty.challenges.is_empty() && empty.proof_latency.is_empty());
            assert_eq!(empty.pins, 0);
            // More than any API page (100 challenges per deal).
            for i in 0..321 {
                challenge(&db, i, "verifier", "passed", Some((i % 40) as i64 * 10)).await;
            }
            for i in 0..7 {
                challenge(&db, i, "prover", "answered", Some(3)).await;
            }
            challenge(&db, 900, "verifier", "late", Some(9_000)).await;
            challenge(&db, 901, "verifier", "unreachable", None).await;
            let totals = db.totals().await.unwrap();
            let get = |role: &str, outcome: &str| {
                totals
                    .challenges
                    .iter()
                    .find(|(r, o, _)| r == role && o == outcome)
                    .map(|c| c.2)
            };
            assert_eq!(get("verifier", "passed"), Some(321));
            assert_eq!(get("verifier", "late"), Some(1));
            assert_eq!(get("verifier", "unreachable"), Some(1));
            assert_eq!(get("prover", "answered"), Some(7));
            let verifier = &totals.proof_latency[1];
            assert_eq!(verifier.role, "verifier");
            // The unreachable one has no latency: not observed.
            assert_eq!(verifier.count, 322);
            let sum: u64 = (0..321u64).map(|i| (i % 40) * 10).sum::<u64>() + 9_000;
            assert_eq!(verifier.sum_ms, sum);
            // <= 5 ms: latency 0, which one in 40 has.
            let zeros = (0..321).filter(|i| i % 40 == 0).count() as u64;
            assert_eq!(verifier.buckets[0], zeros);
            // <= 5000 ms: all but the late one.
            assert_eq!(*verifier.buckets.last().unwrap(), 321);
            assert!(verifier.buckets.windows(2).all(|w| w[0] <= w[1]));
            let prover = &totals.proof_latency[0];
            assert_eq!((prover.count, prover.sum_ms, prover.buckets[0]), (7, 21, 7));
        });
    }
}
