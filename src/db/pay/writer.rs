//! The group-commit receipt writer.
//!
//! One task owns receipt writes; any number of tasks reach it through a cheap cloneable
//! [`ReceiptWriter`] handle and a bounded queue. The task takes the first queued request,
//! drains whatever else is waiting (up to [`MAX_BATCH`]) and applies them all, in queue order,
//! in ONE transaction, then commits and only then answers each request.
//!
//! Why: a durable commit costs one fsync of the SQLite WAL (`synchronous=FULL`, the pool's
//! setting, pinned by a test) or of the PostgreSQL WAL, and that fsync, not the SQL, bounds a
//! transaction-per-receipt writer (about 3 000 receipts/s in `benches/receipts.rs` on an SSD,
//! far fewer on disks with slow cache flushes; over 15 000/s through this writer). Batching
//! pays one fsync per batch, and batches grow by themselves with the load: a busy node commits
//! large batches, an idle one commits each receipt at once without waiting for company.
//!
//! Invariants:
//! - Every request gets exactly the outcome `record_receipt` would have given it had the
//!   requests run one after another in queue order: each runs the same optimistic check
//!   inside the batch, so a second receipt for a channel sees the first's update, and a
//!   failed check (stale seq, closed channel) fails that request alone.
//! - An answer is sent only after the commit returned, so an acknowledged receipt survives a
//!   crash; a request whose caller gave up may still be written (as with any commit that
//!   races a crash).
//! - If the batch fails as a whole (an SQL error, a history that contradicts its channel),
//!   it is rolled back and its requests are retried one transaction each, so one bad
//!   request cannot fail its neighbours. If the failure was a commit whose outcome is unknown
//!   (a lost PostgreSQL connection), a receipt that did land is then answered `false`, as a
//!   stale write would be: the channel shows it as latest.

use tokio::sync::{mpsc, oneshot};

use super::{apply_receipt, check_receipt, CheckedReceipt, ReceiptRow};
use crate::db::{Db, DbError, Result};

/// Requests waiting for the writer; senders wait when it is full (back-pressure).
const QUEUE: usize = 1024;
/// Most receipts in one transaction: bounds the time a batch holds the write lock.
pub(super) const MAX_BATCH: usize = 256;

/// A handle to the receipt writer task (cheap to clone). The task stops when the last handle
/// is dropped, after answering everything already queued.
#[derive(Debug, Clone)]
pub struct ReceiptWriter {
    requests: mpsc::Sender<Request>,
}

#[derive(Debug)]
pub(super) struct Request {
    pub(super) receipt: ReceiptRow,
    pub(super) expected_seq: u64,
    pub(super) reply: oneshot::Sender<Result<bool>>,
}

impl ReceiptWriter {
    /// The writer's handle and its task, for the caller to run (the node's task set owns it;
    /// it ends when every handle is dropped or when it is cancelled between batches).
    pub fn new(db: Db) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (requests, queue) = mpsc::channel(QUEUE);
        (ReceiptWriter { requests }, run(db, queue))
    }

    /// [`Db::record_receipt`] through the writer: true once the receipt is committed, false
    /// (nothing written) if the channel is not open at `expected_seq`.
    pub async fn record(&self, receipt: ReceiptRow, expected_seq: u64) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            receipt,
            expected_seq,
            reply,
        };
        self.requests.send(request).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer task is gone (its runtime shut down): sqlx's own error for a dead worker.
fn stopped() -> DbError {
    DbError::Sqlx(sqlx::Error::WorkerCrashed)
}

async fn run(db: Db, mut queue: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // recv_many waits for one request, then takes every other one already queued.
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(&db, &mut batch).await;
    }
}

/// Applies and answers every request in `batch` (left empty).
pub(super) async fn write_batch(db: &Db, batch: &mut Vec<Request>) {
    let mut ready = Vec::with_capacity(batch.len());
    for request in batch.drain(..) {
        // A number the database cannot hold fails its own request before the transaction.
        match check_receipt(&request.receipt, request.expected_seq) {
            Ok(checked) => ready.push((request, checked)),
            Err(e) => {
                let _ = request.reply.send(Err(e));
            }
        }
    }
    if ready.is_empty() {
        return;
    }
    match apply_batch(db, &ready).await {
        Ok(outcomes) => {
            for ((request, _), stored) in ready.into_iter().zip(outcomes) {
                // A caller that gave up no longer listens; its receipt is stored all the same.
                let _ = request.reply.send(Ok(stored));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, receipts = ready.len(), "receipt batch failed; retrying one by one");
            for (request, _) in ready {
                let outcome = db
                    .record_receipt(&request.receipt, request.expected_seq)
                    .await;
                let _ = request.reply.send(outcome);
            }
        }
    }
}

/// One transaction for the whole batch, in queue order; the outcomes in the same order.
async fn apply_batch(db: &Db, ready: &[(Request, CheckedReceipt)]) -> Result<Vec<bool>> {
    let now = db.now_ms();
    let mut tx = db.begin().await?;
    let mut outcomes = Vec::with_capacity(ready.len());
    for (request, checked) in ready {
        outcomes.push(apply_receipt(&mut tx, &request.receipt, checked, now).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}
