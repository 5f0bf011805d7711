//! Paid retrieval. As a server, the [`RetrievalMeter`] counts the bytes Bitswap sends each
//! peer and compares what they owe (beyond the free allowance, at the ask's retrieval price)
//! with what they paid: past the payment threshold it sends an invoice, past the disconnect
//! threshold it withholds blocks until a receipt arrives. As a client, an invoice is paid for
//! no more bytes than this node itself received from that peer, at no more than the price in
//! the peer's signed ask.
//!
//! The meter is in memory on the serving path (it must not wait on the database); counts are
//! written through to `retrieval_accounts` every second and loaded at start, so debts survive
//! restarts.

use std::collections::{HashMap, HashSet};

use std::sync::Mutex;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::mpsc;

use super::Payments;
use crate::amount::Amount;
use crate::db::Db;
use crate::market::wire::{MarketRequest, MarketResponse};
use crate::node::{NodeError, Refusal, Result};
use crate::pay::wire::{Invoice, PayRequest};
use crate::pay::{Gate, RetrievalTerms};

/// How often one peer may be sent an invoice.
const INVOICE_EVERY: Duration = Duration::from_secs(1);
/// Invoices waiting to be sent; more are dropped (the next block sent asks again).
const INVOICE_QUEUE: usize = 64;

#[derive(Debug, Default, Clone, Copy)]
struct Served {
    bytes: u64,
    paid: Amount,
    unflushed: u64,
    invoiced_at: Option<Instant>,
}

/// An invoice to send: who owes, for how many bytes, how much in all.
pub type InvoiceOrder = (PeerId, u64, Amount);

#[derive(Debug)]
pub struct RetrievalMeter {
    terms: Mutex<Option<RetrievalTerms>>,
    peers: Mutex<HashMap<PeerId, Served>>,
    /// Peers served free: providers pulling a deal's data from this client.
    exempt: Mutex<HashSet<PeerId>>,
    invoices: mpsc::Sender<InvoiceOrder>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RetrievalMeter {
    /// A meter and the queue of invoices it orders.
    pub fn new() -> (Self, mpsc::Receiver<InvoiceOrder>) {
        let (invoices, orders) = mpsc::channel(INVOICE_QUEUE);
        let meter = RetrievalMeter {
            terms: Mutex::new(None),
            peers: Mutex::default(),
            exempt: Mutex::default(),
            invoices,
        };
        (meter, orders)
    }

    pub fn set_terms(&self, terms: Option<RetrievalTerms>) {
        *lock(&self.terms) = terms;
    }

    pub fn terms(&self) -> Option<RetrievalTerms> {
        *lock(&self.terms)
    }

    pub fn exempt(&self, peer: PeerId) {
        lock(&self.exempt).insert(peer);
    }

    /// Loads a peer's persisted counts (at start).
    pub fn load(&self, peer: PeerId, bytes: u64, paid: Amount) {
        let mut peers = lock(&self.peers);
        let served = peers.entry(peer).or_default();
        served.bytes = served.bytes.max(bytes);
        served.paid = served.paid.max(paid);
    }

    /// Records what a peer has paid for retrieval in all.
    pub fn credit(&self, peer: PeerId, paid: Amount) {
        let mut peers = lock(&self.peers);
        let served = peers.entry(peer).or_default();
        served.paid = served.paid.max(paid);
    }

    /// Bytes served and paid per peer.
    pub fn snapshot(&self) -> Vec<(PeerId, u64, Amount)> {
        lock(&self.peers)
            .iter()
            .map(|(p, s)| (*p, s.bytes, s.paid))
            .collect()
    }

    /// Takes the bytes counted since the last call, per peer.
    fn take_unflushed(&self) -> Vec<(PeerId, u64)> {
        lock(&self.peers)
            .iter_mut()
            .filter(|(_, s)| s.unflushed > 0)
            .map(|(p, s)| (*p, std::mem::take(&mut s.unflushed)))
            .collect()
    }

    /// Orders an invoice for every peer still owing at least the payment threshold, so a
    /// debt left when a transfer ends is asked for too.
    pub fn sweep(&self) {
        let Some(terms) = self.terms() else { return };
        let exempt = lock(&self.exempt).clone();
        let mut peers = lock(&self.peers);
        for (peer, served) in peers.iter_mut().filter(|(p, _)| !exempt.contains(p)) {
            let owing = matches!(
                terms.gate(served.bytes, served.paid),
                Ok(Gate::AskPayment { .. } | Gate::Refuse { .. })
            );
            if let (true, Ok(due)) = (owing, terms.charge(served.bytes)) {
                self.order_invoice(*peer, served, due);
            }
        }
    }

    fn order_invoice(&self, peer: PeerId, served: &mut Served, due: Amount) {
        if served
            .invoiced_at
            .is_some_and(|at| at.elapsed() < INVOICE_EVERY)
        {
            return;
        }
        served.invoiced_at = Some(Instant::now());
        let _ = self.invoices.try_send((peer, served.bytes, due));
    }
}

impl crate::net::pay::ServeGate for RetrievalMeter {
    fn admit(&self, peer: PeerId, bytes: u64) -> bool {
        let terms = self.terms();
        let exempt = lock(&self.exempt).contains(&peer);
        let mut peers = lock(&self.peers);
        let served = peers.entry(peer).or_default();
        let gate = match terms {
            Some(terms) if !exempt => terms.gate(served.bytes, served.paid),
            _ => Ok(Gate::Serve),
        };
        let admitted = match gate {
            Ok(Gate::Serve) => true,
            Ok(Gate::AskPayment { .. }) => true,
            // Charges too large to count are not served.
            Ok(Gate::Refuse { .. }) | Err(_) => false,
        };
        if admitted {
            served.bytes = served.bytes.saturating_add(bytes);
            served.unflushed = served.unflushed.saturating_add(bytes);
        }
        if let (Some(terms), false) = (terms, exempt) {
            if let Ok(Gate::AskPayment { .. } | Gate::Refuse { .. }) =
                terms.gate(served.bytes, served.paid)
            {
                if let Ok(due) = terms.charge(served.bytes) {
                    self.order_invoice(peer, served, due);
                }
            }
        }
        admitted
    }
}

/// The terms this node serves under: the ask's retrieval price, the config's allowance and
/// thresholds. `None` (serve free) without an ask or at price zero.
pub fn terms_from(
    ask: Option<&crate::node::AskTerms>,
    config: &crate::config::PayConfig,
) -> Option<RetrievalTerms> {
    let price = ask?.retrieval_price_per_gib;
    (price > 0).then_some(RetrievalTerms {
        price_per_gib: Amount(price),
        free_bytes: config.free_bytes,
        payment_threshold: Amount(config.payment_threshold),
        disconnect_threshold: Amount(config.disconnect_threshold),
    })
}

impl Payments {
    /// Loads persisted retrieval accounts and the current terms into the meter.
    pub(crate) async fn load_retrieval(&self) -> Result<()> {
        for account in self.parts.db.list_retrieval_accounts().await? {
            if let (Ok(peer), "payee") = (account.peer.parse(), account.role.as_str()) {
                self.state
                    .meter
                    .load(peer, account.bytes, Amount(account.paid));
            }
        }
        self.refresh_retrieval_terms().await
    }

    pub(crate) async fn refresh_retrieval_terms(&self) -> Result<()> {
        let ask = crate::node::provider::stored_terms(&self.parts.db).await?;
        self.state
            .meter
            .set_terms(terms_from(ask.as_ref(), &self.parts.config.pay));
        Ok(())
    }

    /// Writes the bytes served and received since the last call to the database.
    pub(crate) async fn flush_retrieval(&self) {
        // Held across the writes: two flushes at once would count the same bytes twice.
        let mut received_marks = self.state.received_marks.lock().await;
        for (peer, bytes) in self.state.meter.take_unflushed() {
            if let Err(e) = add_bytes(&self.parts.db, peer, "payee", bytes).await {
                tracing::warn!(%peer, error = %e, "cannot record bytes served");
            }
        }
        let Some(net) = self.parts.net.running() else {
            return;
        };
        for (peer, ledger) in net.ledgers() {
            let mark = received_marks.entry(peer).or_default();
            let delta = ledger.bytes_received.saturating_sub(*mark);
            if delta == 0 {
                continue;
            }
            match add_bytes(&self.parts.db, peer, "payer", delta).await {
                Ok(()) => *mark = ledger.bytes_received,
                Err(e) => tracing::warn!(%peer, error = %e, "cannot record bytes received"),
            }
        }
    }

    /// Sends one invoice ordered by the meter.
    pub(crate) async fn send_invoice(&self, (peer, bytes, due): InvoiceOrder) {
        let (Some(net), Some(terms)) = (self.parts.net.running(), self.state.meter.terms()) else {
            return;
        };
        let channel = self
            .parts
            .db
            .list_channels(Some("payee"), Some(&peer.to_string()))
            .await
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.state == "open"))
            .and_then(|r| r.id.parse().ok());
        let invoice = Invoice {
            channel,
            bytes_served: bytes,
            terms,
            due,
            at: self.parts.clock.now_u64(),
        };
        let _ = self
            .parts
            .db
            .set_retrieval_invoiced(&peer.to_string(), "payee", due.0)
            .await;
        if let Err(e) = net
            .pay(peer, &PayRequest::Invoice(invoice), super::PAY_TIMEOUT)
            .await
        {
            tracing::debug!(%peer, error = %e, "could not send an invoice");
        }
    }

    /// Client: pays a provider's retrieval invoice, for no more bytes than this node received
    /// from it and at no more than its ask's price.
    pub(crate) async fn pay_invoice(self, peer: PeerId, invoice: Invoice) {
        if let Err(e) = self.try_pay_invoice(peer, &invoice).await {
            tracing::warn!(%peer, error = %e, "retrieval invoice not paid");
        }
    }

    async fn try_pay_invoice(&self, peer: PeerId, invoice: &Invoice) -> Result<()> {
        let _one_at_a_time = self.state.invoice_lock.lock().await;
        invoice.terms.validate()?;
        let asked = self.asked_retrieval_price(peer).await?;
        if invoice.terms.price_per_gib > asked {
            return Err(NodeError::refuse(
                Refusal::PriceTooHigh,
                format!(
                    "invoiced at {} per GiB, the ask says {}",
                    invoice.terms.price_per_gib.0, asked.0
                ),
            ));
        }
        self.flush_retrieval().await;
        let account = self
            .parts
            .db
            .retrieval_account(&peer.to_string(), "payer")
            .await?;
        let _ = self
            .parts
            .db
            .set_retrieval_invoiced(&peer.to_string(), "payer", invoice.due.0)
            .await;
        let owed =
            invoice
                .terms
                .owed_for(invoice.bytes_served, account.bytes, Amount(account.paid))?;
        if owed.0 == 0 {
            return Ok(());
        }
        let deposit = self.parts.config.pay.retrieval_deposit;
        if deposit == 0 {
            return Err(NodeError::invalid(
                "retrieval_deposit is 0: this node does not pay retrieval on its own",
            ));
        }
        let channel = self.channel_for(peer, owed.0, deposit).await?;
        self.pay_on(&channel.id, owed, None).await?;
        self.parts
            .db
            .set_retrieval_paid(
                &peer.to_string(),
                "payer",
                account.paid.saturating_add(owed.0),
            )
            .await?;
        Ok(())
    }

    /// The retrieval price in the peer's current signed ask.
    async fn asked_retrieval_price(&self, peer: PeerId) -> Result<Amount> {
        let net = self.parts.net.get()?;
        match net
            .market(peer, &MarketRequest::GetAsk, super::PAY_TIMEOUT)
            .await
        {
            Ok(MarketResponse::Ask(ask)) => {
                let terms = ask.check(self.parts.clock.now_u64())?;
                Ok(terms.retrieval_price_per_gib)
            }
            _ => Err(NodeError::refuse(
                Refusal::NoAsk,
                "the invoicing peer shows no ask",
            )),
        }
    }
}

async fn add_bytes(db: &Db, peer: PeerId, role: &str, bytes: u64) -> crate::db::Result<()> {
    db.add_retrieval_bytes(&peer.to_string(), role, bytes).await
}
