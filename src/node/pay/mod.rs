//! The payment service, both sides: channels this node opens and pays through (payer), channels others
//! opened to it and the receipts it keeps (payee), storage paid per passed challenge period,
//! and retrieval metered per byte with a free allowance and two thresholds.
//!
//! Invariants kept here: a payee acknowledges a receipt only after the receipt writer has
//! committed it (so an acknowledged receipt survives a crash, and a payer's retry of it is
//! answered `duplicate`); a payer records each receipt it signs before sending it, so it never
//! signs two different receipts with one sequence number; amounts are integers with checked
//! arithmetic. Settlement goes through [`crate::pay::Settlement`]; the backend is the node's
//! own ledger ([`LedgerSettlement`]) unless `[chain]` is configured, and then channels are
//! escrowed in the chain's contract and cashed there ([`ChainSettlement`], `chain.rs`,
//! `claims.rs`).

mod balance;
mod chain;
mod claims;
mod enforce;
mod payee;
mod payer;
mod retrieval;
mod settle;

pub use balance::Balance;
pub(crate) use chain::binding_of;
pub use chain::{ClaimOutcome, CloseStart, WalletView, Withdrawal};
pub(crate) use payer::refuse_if_closing;
pub use payer::Payment;
pub use retrieval::{InvoiceOrder, RetrievalMeter};
pub use settle::{ChainSettlement, LedgerSettlement};

use std::sync::Arc;
use std::time::Duration;

use super::parts::Parts;
use super::{NodeError, Result};
use crate::amount::Amount;
use crate::db::{ChannelRow, ReceiptWriter};
use crate::pay::Channel;

/// Invoices from peers waiting to be paid at once.
const INVOICES_WAITING: usize = 8;
/// How long a payment request may take.
const PAY_TIMEOUT: Duration = Duration::from_secs(10);

/// Channels, receipts and the retrieval meter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Payments {
    parts: Parts,
    state: Arc<PayState>,
    /// Invoices the retrieval meter orders, taken once by the daemon's invoice task.
    invoice_orders: Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<InvoiceOrder>>>>,
}

/// The payment machinery, shared by the service's clones.
#[derive(Debug)]
struct PayState {
    /// The one writer of received receipts (group commit).
    writer: ReceiptWriter,
    /// Bytes served to each peer and what they paid, consulted by the Bitswap server.
    meter: std::sync::Arc<RetrievalMeter>,
    /// Serializes the receipts this node signs, so sequence numbers never repeat.
    sign_lock: tokio::sync::Mutex<()>,
    /// When the provider last checked its deals for payment.
    enforced_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// Serializes funding deals from channels, from choosing a channel to recording the deal.
    funding_lock: tokio::sync::Mutex<()>,
    /// Invoices waiting to be paid; past it, more are refused (`busy`) until one is done.
    invoice_slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// Serializes retrieval invoices, so two cannot both be paid for the same bytes.
    invoice_lock: tokio::sync::Mutex<()>,
    /// Per peer, the Bitswap ledger's bytes received already written to the database.
    received_marks: tokio::sync::Mutex<std::collections::HashMap<libp2p::PeerId, u64>>,
    /// The claim loop's memory (one pass at a time).
    claims: tokio::sync::Mutex<claims::ClaimWatch>,
}

impl Payments {
    pub fn new(parts: Parts) -> Self {
        let (meter, orders) = RetrievalMeter::new();
        let (writer, writing) = ReceiptWriter::new(parts.db.clone());
        parts.tasks.spawn(writing);
        let state = PayState {
            writer,
            meter: std::sync::Arc::new(meter),
            sign_lock: Default::default(),
            invoice_lock: Default::default(),
            funding_lock: Default::default(),
            invoice_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(INVOICES_WAITING)),
            enforced_at: Default::default(),
            received_marks: Default::default(),
            claims: Default::default(),
        };
        Payments {
            parts,
            state: Arc::new(state),
            invoice_orders: Arc::new(std::sync::Mutex::new(Some(orders))),
        }
    }

    /// The Bitswap server's gate: bytes served per peer against what they paid.
    pub fn meter(&self) -> std::sync::Arc<RetrievalMeter> {
        self.state.meter.clone()
    }

    /// Held from choosing a channel for a deal to recording the deal, so two deals cannot
    /// both count the same deposit.
    pub(crate) async fn funding_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.state.funding_lock.lock().await
    }

    /// The queue of invoices the retrieval meter orders (once: the daemon's task takes it).
    pub(crate) fn take_invoice_orders(&self) -> Option<tokio::sync::mpsc::Receiver<InvoiceOrder>> {
        self.invoice_orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

fn key_hex(key: &[u8; 32]) -> String {
    hex::encode(key)
}

fn parse_key(text: &str) -> Result<[u8; 32]> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| NodeError::internal(format!("stored key {text:?} is not 32 hex bytes")))
}

/// The domain view of a stored channel.
fn channel_of(row: &ChannelRow) -> Result<Channel> {
    Ok(Channel {
        id: row
            .id
            .parse()
            .map_err(|_| NodeError::internal(format!("stored channel id {:?}", row.id)))?,
        payer: parse_key(&row.payer)?,
        payee: parse_key(&row.payee)?,
        deposit: Amount(row.deposit),
        paid: Amount(row.paid),
        seq: row.seq,
        closed: row.state != "open",
    })
}
