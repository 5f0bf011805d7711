//! Payments: channels, their receipt history, retrieval accounting and storage payments.
//!
//! Owns the `channels`, `receipts`, `retrieval_accounts` and `storage_payments` tables
//! (migration 0005; a payer's on-chain close, `closes_at` and `refund`, migration 0009).
//! Signatures are checked by the caller; this module keeps the numbers consistent:
//! - A channel's `seq`, `paid` and `last_receipt` are those of the highest receipt in its
//!   history, because a receipt is appended and mirrored into the channel in one transaction.
//! - A receipt is accepted only on an open channel still at the caller's `expected_seq`, with a
//!   higher `seq` and an amount no lower than what is already paid: two tasks racing on one
//!   channel cannot both advance it, and `paid` never goes down.
//! - Retrieval `paid` and `invoiced` only rise; retrieval `bytes` only grow.
//! - A storage period is paid at most once per deal.
//! - Every u64 is stored as BIGINT; a value above `i64::MAX` is refused with
//!   [`DbError::OutOfRange`] rather than wrapped.
//!
//! [`ReceiptWriter`] batches receipts from many tasks into one transaction per batch.

#[cfg(test)]
mod tests;
mod writer;

pub use writer::ReceiptWriter;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, DbError, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelRow {
    pub id: String,
    pub role: String,
    pub peer: String,
    pub payer: String,
    pub payee: String,
    pub deposit: u64,
    pub paid: u64,
    pub seq: u64,
    pub state: String,
    pub open_signed: String,
    pub last_receipt: Option<String>,
    pub close_signed: Option<String>,
    pub settled: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// On chain, payer side: the chain time (unix s) from which the payer may withdraw, once
    /// it started the close (migration 0009); the channel is then `closing`.
    pub closes_at: Option<u64>,
    /// On chain, payer side: what the withdrawal returned.
    pub refund: Option<u64>,
}

impl ChannelRow {
    /// The state shown to users: `open`, `closing` (a close started on chain, the challenge
    /// window running) or `closed`.
    pub fn status(&self) -> &str {
        if self.state == "open" && self.closes_at.is_some() {
            "closing"
        } else {
            &self.state
        }
    }

    /// Whether the channel may take new deals and receipts.
    pub fn is_usable(&self) -> bool {
        self.status() == "open"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReceiptRow {
    pub channel: String,
    pub seq: u64,
    pub amount: u64,
    pub deal: Option<String>,
    pub at: i64,
    pub signed: String,
    pub stored_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RetrievalAccount {
    pub peer: String,
    pub role: String,
    pub bytes: u64,
    pub paid: u64,
    pub invoiced: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoragePayment {
    pub deal: String,
    pub period: i64,
    pub channel: String,
    pub amount: u64,
    pub seq: u64,
    pub at: i64,
}

impl Db {
    /// Records a new channel; false (nothing written) if its id exists already.
    pub async fn insert_channel(&self, row: &ChannelRow) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO channels (id, role, peer, payer, payee, deposit, paid, seq, state, open_signed, \
             last_receipt, close_signed, settled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.role)
        .bind(&row.peer)
        .bind(&row.payer)
        .bind(&row.payee)
        .bind(to_db("deposit", row.deposit)?)
        .bind(to_db("paid", row.paid)?)
        .bind(to_db("seq", row.seq)?)
        .bind(&row.state)
        .bind(&row.open_signed)
        .bind(&row.last_receipt)
        .bind(&row.close_signed)
        .bind(row.settled.map(|s| to_db("settled", s)).transpose()?)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn get_channel(&self, id: &str) -> Result<Option<ChannelRow>> {
        let row = sqlx::query(&format!("{SELECT_CHANNEL} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| channel_row(&r)).transpose()
    }

    /// Channels, newest first; `role` and `peer` each narrow the list when given.
    pub async fn list_channels(
        &self,
        role: Option<&str>,
        peer: Option<&str>,
    ) -> Result<Vec<ChannelRow>> {
        // The WHERE clause is built from the filters present rather than `$1 IS NULL OR ...`,
        // whose untyped NULL parameter PostgreSQL may refuse to infer.
        let mut filters = Vec::new();
        let mut values = Vec::new();
        for (column, value) in [("role", role), ("peer", peer)] {
            if let Some(value) = value {
                values.push(value);
                filters.push(format!("{column} = ${}", values.len()));
            }
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        };
        let sql = format!("{SELECT_CHANNEL}{filter} ORDER BY created_at DESC, id");
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(channel_row).collect()
    }

    /// Appends a receipt to the history and makes it the channel's latest, in one
    /// transaction, only if the channel is still open and still at `expected_seq` (and the
    /// receipt moves it forward); returns false and writes nothing otherwise.
    pub async fn record_receipt(&self, receipt: &ReceiptRow, expected_seq: u64) -> Result<bool> {
        let checked = check_receipt(receipt, expected_seq)?;
        if !checked.advances() {
            return Ok(false);
        }
        let mut tx = self.begin().await?;
        // On false or error the transaction is dropped, which rolls it back.
        let stored = apply_receipt(&mut tx, receipt, &checked, self.now_ms()).await?;
        if stored {
            tx.commit().await?;
        }
        Ok(stored)
    }

    /// A channel's receipt history, by seq ascending.
    pub async fn receipts(&self, channel: &str) -> Result<Vec<ReceiptRow>> {
        let rows = sqlx::query(
            "SELECT channel, seq, amount, deal, at, signed, stored_at FROM receipts \
             WHERE channel = $1 ORDER BY seq",
        )
        .bind(channel)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReceiptRow {
                    channel: r.try_get("channel")?,
                    seq: from_db("receipts", "seq", r.try_get("seq")?)?,
                    amount: from_db("receipts", "amount", r.try_get("amount")?)?,
                    deal: r.try_get("deal")?,
                    at: r.try_get("at")?,
                    signed: r.try_get("signed")?,
                    stored_at: r.try_get("stored_at")?,
                })
            })
            .collect()
    }

    /// Moves an open channel to closed; false if it is already closed or unknown.
    pub async fn close_channel(
        &self,
        id: &str,
        close_signed: Option<&str>,
        settled: u64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE channels SET state = 'closed', close_signed = $1, settled = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'open'",
        )
        .bind(close_signed)
        .bind(to_db("settled", settled)?)
        .bind(self.now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks an open channel `closing` from chain time `closes_at` on; false if it is closed,
    /// closing already or unknown.
    pub async fn mark_channel_closing(&self, id: &str, closes_at: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE channels SET closes_at = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'open' AND closes_at IS NULL",
        )
        .bind(to_db("closes_at", closes_at)?)
        .bind(self.now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Closes a channel the payer withdrew from: the payee was paid `paid_out`, the payer got
    /// `refund` back. False if it is closed already or unknown.
    pub async fn record_withdrawal(&self, id: &str, paid_out: u64, refund: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE channels SET state = 'closed', settled = $1, refund = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'open'",
        )
        .bind(to_db("settled", paid_out)?)
        .bind(to_db("refund", refund)?)
        .bind(self.now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The retrieval account of `peer` in `role`; all zeros if there is none yet.
    pub async fn retrieval_account(&self, peer: &str, role: &str) -> Result<RetrievalAccount> {
        let row = sqlx::query(&format!("{SELECT_ACCOUNT} WHERE peer = $1 AND role = $2"))
            .bind(peer)
            .bind(role)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => account_row(&row),
            None => Ok(RetrievalAccount {
                peer: peer.to_string(),
                role: role.to_string(),
                bytes: 0,
                paid: 0,
                invoiced: 0,
            }),
        }
    }

    /// Adds `bytes` to the account, creating it if needed; refuses a total above `i64::MAX`.
    pub async fn add_retrieval_bytes(&self, peer: &str, role: &str, bytes: u64) -> Result<()> {
        // The guard keeps the sum in range: SQLite would silently turn an overflowing integer
        // sum into a REAL, PostgreSQL would fail with a less telling error.
        let done = sqlx::query(
            "INSERT INTO retrieval_accounts (peer, role, bytes, paid, invoiced, updated_at) \
             VALUES ($1, $2, $3, 0, 0, $4) \
             ON CONFLICT (peer, role) DO UPDATE SET bytes = retrieval_accounts.bytes + excluded.bytes, \
             updated_at = excluded.updated_at \
             WHERE retrieval_accounts.bytes <= $5 - excluded.bytes",
        )
        .bind(peer)
        .bind(role)
        .bind(to_db("bytes", bytes)?)
        .bind(self.now_ms())
        .bind(i64::MAX)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::OutOfRange(format!(
                "retrieval bytes of {peer} ({role}) plus {bytes} exceed {}",
                i64::MAX
            )));
        }
        Ok(())
    }

    /// Raises the retrieval amount paid to `paid`; a lower value changes nothing.
    pub async fn set_retrieval_paid(&self, peer: &str, role: &str, paid: u64) -> Result<()> {
        self.raise_retrieval(peer, role, Raised::Paid, paid).await
    }

    /// Raises the last amount invoiced to `invoiced`; a lower value changes nothing.
    pub async fn set_retrieval_invoiced(
        &self,
        peer: &str,
        role: &str,
        invoiced: u64,
    ) -> Result<()> {
        self.raise_retrieval(peer, role, Raised::Invoiced, invoiced)
            .await
    }

    async fn raise_retrieval(
        &self,
        peer: &str,
        role: &str,
        column: Raised,
        value: u64,
    ) -> Result<()> {
        let (column, paid, invoiced) = match column {
            Raised::Paid => ("paid", "$3", "0"),
            Raised::Invoiced => ("invoiced", "0", "$3"),
        };
        // `WHERE excluded > current` rather than MAX()/GREATEST(), which differ by backend.
        sqlx::query(&format!(
            "INSERT INTO retrieval_accounts (peer, role, bytes, paid, invoiced, updated_at) \
             VALUES ($1, $2, 0, {paid}, {invoiced}, $4) \
             ON CONFLICT (peer, role) DO UPDATE SET {column} = excluded.{column}, \
             updated_at = excluded.updated_at \
             WHERE excluded.{column} > retrieval_accounts.{column}"
        ))
        .bind(peer)
        .bind(role)
        .bind(to_db(column, value)?)
        .bind(self.now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every retrieval account, by peer then role.
    pub async fn list_retrieval_accounts(&self) -> Result<Vec<RetrievalAccount>> {
        let rows = sqlx::query(&format!("{SELECT_ACCOUNT} ORDER BY peer, role"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_row).collect()
    }

    /// Records what was paid for one storage period; false if that period is already paid.
    pub async fn record_storage_payment(&self, p: &StoragePayment) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO storage_payments (deal, period, channel, amount, seq, at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (deal, period) DO NOTHING",
        )
        .bind(&p.deal)
        .bind(p.period)
        .bind(&p.channel)
        .bind(to_db("amount", p.amount)?)
        .bind(to_db("seq", p.seq)?)
        .bind(p.at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A deal's storage payments, by period.
    pub async fn storage_payments(&self, deal: &str) -> Result<Vec<StoragePayment>> {
        let rows = sqlx::query(
            "SELECT deal, period, channel, amount, seq, at FROM storage_payments \
             WHERE deal = $1 ORDER BY period",
        )
        .bind(deal)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoragePayment {
                    deal: r.try_get("deal")?,
                    period: r.try_get("period")?,
                    channel: r.try_get("channel")?,
                    amount: from_db("storage_payments", "amount", r.try_get("amount")?)?,
                    seq: from_db("storage_payments", "seq", r.try_get("seq")?)?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// The total paid for a deal's storage.
    pub async fn storage_paid(&self, deal: &str) -> Result<u64> {
        // PostgreSQL's SUM(BIGINT) is NUMERIC: cast back so both backends return BIGINT.
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM storage_payments \
             WHERE deal = $1",
        )
        .bind(deal)
        .fetch_one(&self.pool)
        .await?;
        from_db("storage_payments", "total", row.try_get("total")?)
    }
}

impl Db {
    /// The total paid for each deal's storage, for every deal paid anything (one query where
    /// [`Db::storage_paid`] per deal would be one per deal).
    pub async fn storage_paid_per_deal(&self) -> Result<std::collections::HashMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT deal, CAST(SUM(amount) AS BIGINT) AS total FROM storage_payments \
             GROUP BY deal",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let total = from_db("storage_payments", "total", row.try_get("total")?)?;
                Ok((row.try_get::<String, _>("deal")?, total))
            })
            .collect()
    }
}

/// The retrieval columns that only rise.
#[derive(Debug, Clone, Copy)]
enum Raised {
    Paid,
    Invoiced,
}

/// A receipt's integers, converted once so a batch can refuse one request on its own.
#[derive(Debug, Clone, Copy)]
struct CheckedReceipt {
    seq: i64,
    amount: i64,
    expected_seq: i64,
}

impl CheckedReceipt {
    /// A receipt at or below the channel's seq is a replay or a duplicate: never written.
    fn advances(&self) -> bool {
        self.seq > self.expected_seq
    }
}

fn check_receipt(receipt: &ReceiptRow, expected_seq: u64) -> Result<CheckedReceipt> {
    Ok(CheckedReceipt {
        seq: to_db("receipt seq", receipt.seq)?,
        amount: to_db("receipt amount", receipt.amount)?,
        expected_seq: to_db("expected seq", expected_seq)?,
    })
}

/// Writes one receipt inside the caller's transaction: advances the channel if it is open, at
/// `expected_seq` and not paid more already, then appends the history row. Returns false
/// having written nothing when the channel check fails. An error leaves the channel updated,
/// so the caller must roll the transaction back.
async fn apply_receipt(
    conn: &mut sqlx::AnyConnection,
    receipt: &ReceiptRow,
    checked: &CheckedReceipt,
    now: i64,
) -> Result<bool> {
    if !checked.advances() {
        return Ok(false);
    }
    // The channel row goes first: on PostgreSQL its row lock serializes writers of the same
    // channel, and a stale writer's WHERE is re-checked against the committed row.
    let advanced = sqlx::query(
        "UPDATE channels SET seq = $1, paid = $2, last_receipt = $3, updated_at = $4 \
         WHERE id = $5 AND seq = $6 AND state = 'open' AND paid <= $2",
    )
    .bind(checked.seq)
    .bind(checked.amount)
    .bind(&receipt.signed)
    .bind(now)
    .bind(&receipt.channel)
    .bind(checked.expected_seq)
    .execute(&mut *conn)
    .await?;
    if advanced.rows_affected() == 0 {
        return Ok(false);
    }
    // The history only holds seqs up to the channel's, so a conflict means the two disagree;
    // DO NOTHING keeps a PostgreSQL transaction usable so the caller can report it.
    let appended = sqlx::query(
        "INSERT INTO receipts (channel, seq, amount, deal, at, signed, stored_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel, seq) DO NOTHING",
    )
    .bind(&receipt.channel)
    .bind(checked.seq)
    .bind(checked.amount)
    .bind(&receipt.deal)
    .bind(receipt.at)
    .bind(&receipt.signed)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if appended.rows_affected() == 0 {
        return Err(DbError::CorruptRow {
            table: "receipts",
            reason: format!(
                "channel {} already holds seq {} above its latest {}",
                receipt.channel, receipt.seq, checked.expected_seq
            ),
        });
    }
    Ok(true)
}

const SELECT_CHANNEL: &str =
    "SELECT id, role, peer, payer, payee, deposit, paid, seq, state, open_signed, \
     last_receipt, close_signed, settled, created_at, updated_at, closes_at, refund FROM channels";

const SELECT_ACCOUNT: &str = "SELECT peer, role, bytes, paid, invoiced FROM retrieval_accounts";

fn channel_row(r: &AnyRow) -> Result<ChannelRow> {
    Ok(ChannelRow {
        id: r.try_get("id")?,
        role: r.try_get("role")?,
        peer: r.try_get("peer")?,
        payer: r.try_get("payer")?,
        payee: r.try_get("payee")?,
        deposit: from_db("channels", "deposit", r.try_get("deposit")?)?,
        paid: from_db("channels", "paid", r.try_get("paid")?)?,
        seq: from_db("channels", "seq", r.try_get("seq")?)?,
        state: r.try_get("state")?,
        open_signed: r.try_get("open_signed")?,
        last_receipt: r.try_get("last_receipt")?,
        close_signed: r.try_get("close_signed")?,
        settled: r
            .try_get::<Option<i64>, _>("settled")?
            .map(|s| from_db("channels", "settled", s))
            .transpose()?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        closes_at: r
            .try_get::<Option<i64>, _>("closes_at")?
            .map(|s| from_db("channels", "closes_at", s))
            .transpose()?,
        refund: r
            .try_get::<Option<i64>, _>("refund")?
            .map(|s| from_db("channels", "refund", s))
            .transpose()?,
    })
}

fn account_row(r: &AnyRow) -> Result<RetrievalAccount> {
    Ok(RetrievalAccount {
        peer: r.try_get("peer")?,
        role: r.try_get("role")?,
        bytes: from_db("retrieval_accounts", "bytes", r.try_get("bytes")?)?,
        paid: from_db("retrieval_accounts", "paid", r.try_get("paid")?)?,
        invoiced: from_db("retrieval_accounts", "invoiced", r.try_get("invoiced")?)?,
    })
}

fn to_db(what: &str, value: u64) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| DbError::OutOfRange(format!("{what} {value} exceeds {}", i64::MAX)))
}

fn from_db(table: &'static str, column: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| DbError::CorruptRow {
        table,
        reason: format!("negative {column}: {value}"),
    })
}
