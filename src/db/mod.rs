//! The node's database: what must survive a restart.
//!
//! sqlx over the `Any` driver, so one code path serves the embedded SQLite default (WAL) and a
//! PostgreSQL server selected by URL. The schema lives in `migrations/` (portable SQL, `$N`
//! placeholders) and is applied at start. Owns: the record of stored blocks and their sizes
//! (the source of truth for used space), pins, and each pin's block references for GC.

mod asks;
mod blocks;
mod deals;
mod erasure;
pub mod history;
mod keeper;
mod pay;
mod peers;
mod pins;
mod proofs;
mod totals;

pub use deals::{DealEventRow, DealRow};
pub use erasure::{KeepErasureRow, KeepSlotRow, SlotDealRow};
pub use history::{DayRow, PayoutRow, Payouts, ProverTotals, RunRow, Sample};
pub use keeper::{
    KeepDealRow, KeepEventRow, KeepHealthRow, KeepQuery, KeepRow, KeeperTotals, ProofRow,
    ProviderRecord,
};
pub use pay::{ChannelRow, ReceiptRow, ReceiptWriter, RetrievalAccount, StoragePayment};
pub use pins::PinRow;
pub use proofs::{ChallengeRow, PieceRow};
pub use totals::{LatencyTotals, Totals, PROOF_LATENCY_BUCKETS_MS};

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?} (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    #[error("corrupt row in {table}: {reason}")]
    CorruptRow { table: &'static str, reason: String },
    /// A u64 above i64::MAX: the database stores integers as signed 64-bit.
    #[error("value out of range for the database: {0}")]
    OutOfRange(String),
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle to the database (a connection pool; cheap to clone).
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// SQLite: write transactions take the write lock when they begin (see [`Db::begin`]).
    is_sqlite: bool,
    /// The time every row's timestamp is taken from.
    clock: crate::clock::Clock,
}

impl Db {
    /// Connects to `url` (`sqlite://path` creates the file; `postgres://...`) and migrates.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_clock(url, crate::clock::Clock::system()).await
    }

    /// Like [`Db::connect`], with the clock the rows' timestamps come from.
    pub async fn connect_with_clock(url: &str, clock: crate::clock::Clock) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        if !is_sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(DbError::UnsupportedUrl(url.to_string()));
        }
        let url = if is_sqlite && !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_string()
        };
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 4 } else { 8 })
            .connect_with(options)
            .await?;
        if is_sqlite {
            // WAL lets readers run beside the writer; the setting persists in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        MIGRATOR.run(&pool).await?;
        Ok(Db {
            pool,
            is_sqlite,
            clock,
        })
    }

    /// Begins a transaction that may write.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes
    /// cannot wait for another writer (SQLite answers `database is locked` at once, without
    /// the busy timeout, since waiting could deadlock), so concurrent API calls failed. An
    /// immediate one takes the write lock first and waits its turn under the busy timeout.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(if self.is_sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            self.pool.begin().await?
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The clock this database stamps rows with.
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.clock
    }

    /// Milliseconds since the Unix epoch by this database's clock, the unit of every
    /// timestamp in the database.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub async fn close(&self) {
        // SQLite deletes the WAL when its last connection closes, but the pool's connections
        // close together, and when two close at once neither is the last: the WAL stays. One
        // more connection, opened and closed alone after the pool, is the last for sure.
        if self.is_sqlite {
            // Most of the closing work done now, while waiting is cheap: the WAL copied into
            // the database and emptied.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "could not checkpoint the WAL at close");
            }
        }
        let file = match self.is_sqlite {
            true => sqlx::query_scalar::<_, String>(
                "SELECT file FROM pragma_database_list WHERE name = 'main'",
            )
            .fetch_one(&self.pool)
            .await
            .ok(),
            false => None,
        };
        self.pool.close().await;
        if let Some(file) = file.filter(|f| !f.is_empty()) {
            use sqlx::Connection;
            if let Ok(last) = sqlx::AnyConnection::connect(&format!("sqlite://{file}")).await {
                let _ = last.close().await;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Every database test runs against SQLite, and against PostgreSQL when
    //! `CAIRN_TEST_POSTGRES_URL` names a server (CI sets it; a CI run without it fails).
    use super::Db;

    pub async fn sqlite() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        (Db::connect(&url).await.unwrap(), dir)
    }

    /// A fresh, empty PostgreSQL database, or `None` when no server is configured.
    pub async fn postgres() -> Option<Db> {
        let Ok(admin_url) = std::env::var("CAIRN_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("CI").is_err(),
                "CI must set CAIRN_TEST_POSTGRES_URL so the database tests run on PostgreSQL too"
            );
            eprintln!("CAIRN_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!("cairn_test_{:016x}", rand::random::<u64>());
        let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        Some(Db::connect(&format!("{base}/{name}")).await.unwrap())
    }

    /// Runs `body` against every configured backend.
    macro_rules! each_backend {
        ($body:expr) => {{
            let (db, _dir) = $crate::db::testing::sqlite().await;
            ($body)(db).await;
            if let Some(db) = $crate::db::testing::postgres().await {
                ($body)(db).await;
            }
        }};
    }
    pub(crate) use each_backend;
}
