//! Retrieval pricing: what serving blocks costs, when a payee asks for payment and when it
//! stops serving, and how much a payer pays for an invoice.
//!
//! Everything is cumulative per peer and channel (bytes served since the channel opened,
//! total charged, total paid), like the receipts themselves, so a lost message never makes
//! either side count twice.

use super::PayError;
use crate::amount::Amount;
use crate::units::GIB;

/// A provider's terms for serving blocks: price per GiB beyond a free allowance, and two debt
/// thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalTerms {
    /// Base units per GiB (2^30 bytes) served beyond `free_bytes`.
    pub price_per_gib: Amount,
    /// Bytes served free to each peer.
    pub free_bytes: u64,
    /// Debt at which the provider asks for payment (and keeps serving).
    pub payment_threshold: Amount,
    /// Debt at which the provider stops serving until paid.
    pub disconnect_threshold: Amount,
}

/// What a provider does about the next block a peer wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Serve,
    /// Serve, and send an invoice for `due`.
    AskPayment {
        due: Amount,
    },
    /// Do not serve until the debt is paid down.
    Refuse {
        debt: Amount,
    },
}

impl RetrievalTerms {
    /// Cumulative charge for `bytes` served:
    /// `ceil(price_per_gib × max(0, bytes − free_bytes) / 2^30)`, computed in 128 bits.
    /// Rounding up means a peer can never fetch a paying byte for free by splitting requests.
    pub fn charge(&self, bytes: u64) -> Result<Amount, PayError> {
        let billable = u128::from(bytes.saturating_sub(self.free_bytes));
        // u64 × u64 always fits in u128; only the result can fail to fit a u64.
        let total = (u128::from(self.price_per_gib.0) * billable).div_ceil(u128::from(GIB));
        u64::try_from(total)
            .map(Amount)
            .map_err(|_| PayError::Overflow)
    }

    /// What the peer owes after `bytes` served and `paid` received: `charge(bytes) − paid`,
    /// 0 if it paid ahead.
    pub fn debt(&self, bytes: u64, paid: Amount) -> Result<Amount, PayError> {
        Ok(Amount(self.charge(bytes)?.0.saturating_sub(paid.0)))
    }

    /// Serve while the debt is under `payment_threshold` (or nothing is owed); ask for
    /// payment from there up to `disconnect_threshold`; refuse at or past it. A zero price
    /// always serves.
    pub fn gate(&self, bytes: u64, paid: Amount) -> Result<Gate, PayError> {
        if self.price_per_gib.0 == 0 {
            return Ok(Gate::Serve);
        }
        let debt = self.debt(bytes, paid)?;
        // A zero payment threshold would otherwise send invoices for nothing.
        if debt.0 == 0 || debt < self.payment_threshold {
            Ok(Gate::Serve)
        } else if debt < self.disconnect_threshold {
            Ok(Gate::AskPayment { due: debt })
        } else {
            Ok(Gate::Refuse { debt })
        }
    }

    /// Payer side: how much to pay now for an invoice. Never more than what the payer itself
    /// measured: `charge(min(invoiced_bytes, received_bytes)) − already_paid`, 0 if ahead.
    pub fn owed_for(
        &self,
        invoiced_bytes: u64,
        received_bytes: u64,
        already_paid: Amount,
    ) -> Result<Amount, PayError> {
        self.debt(invoiced_bytes.min(received_bytes), already_paid)
    }

    /// Refuses terms that contradict themselves.
    pub fn validate(&self) -> Result<(), PayError> {
        if self.payment_threshold > self.disconnect_threshold {
            return Err(PayError::Invalid(
                "payment_threshold is over disconnect_threshold".into(),
            ));
        }
        if self.price_per_gib.0 > 0 && self.disconnect_threshold.0 == 0 {
            return Err(PayError::Invalid(
                "a priced service needs a positive disconnect_threshold".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn terms() -> RetrievalTerms {
        RetrievalTerms {
            price_per_gib: Amount(1024),
            free_bytes: 10 * MIB,
            payment_threshold: Amount(100),
            disconnect_threshold: Amount(200),
        }
    }

    #[test]
    fn the_free_allowance_is_free_and_the_rest_rounds_up() {
        let t = terms();
        assert_eq!(t.charge(0).unwrap(), Amount(0));
        assert_eq!(t.charge(10 * MIB - 1).unwrap(), Amount(0));
        assert_eq!(t.charge(10 * MIB).unwrap(), Amount(0));
        // One byte past the allowance costs a whole unit.
        assert_eq!(t.charge(10 * MIB + 1).unwrap(), Amount(1));
        // 1024 per GiB is exactly 1 per MiB.
        assert_eq!(t.charge(11 * MIB).unwrap(), Amount(1));
        assert_eq!(t.charge(11 * MIB + 1).unwrap(), Amount(2));
        assert_eq!(t.charge(10 * MIB + GIB).unwrap(), Amount(1024));
        let no_allowance = RetrievalTerms { free_bytes: 0, ..t };
        assert_eq!(no_allowance.charge(u64::MAX).unwrap(), Amount(1 << 44));
    }

    #[test]
    fn a_charge_that_does_not_fit_is_an_overflow() {
        let t = RetrievalTerms {
            price_per_gib: Amount(u64::MAX),
            free_bytes: 0,
            ..terms()
        };
        assert_eq!(t.charge(GIB).unwrap(), Amount(u64::MAX));
        assert_eq!(t.charge(GIB + 1).unwrap_err(), PayError::Overflow);
        assert_eq!(
            t.gate(u64::MAX, Amount(0)).unwrap_err().reason(),
            "overflow"
        );
    }

    #[test]
    fn the_gate_moves_at_the_thresholds() {
        let t = terms();
        let bytes = |units: u64| 10 * MIB + units * MIB;
        assert_eq!(t.gate(bytes(0), Amount(0)).unwrap(), Gate::Serve);
        assert_eq!(t.gate(bytes(99), Amount(0)).unwrap(), Gate::Serve);
        assert_eq!(
            t.gate(bytes(100), Amount(0)).unwrap(),
            Gate::AskPayment { due: Amount(100) }
        );
        assert_eq!(
            t.gate(bytes(199), Amount(0)).unwrap(),
            Gate::AskPayment { due: Amount(199) }
        );
        assert_eq!(
            t.gate(bytes(200), Amount(0)).unwrap(),
            Gate::Refuse { debt: Amount(200) }
        );
        // Paying brings the debt back down, and paying ahead leaves none.
        assert_eq!(t.gate(bytes(200), Amount(150)).unwrap(), Gate::Serve);
        assert_eq!(t.debt(bytes(200), Amount(500)).unwrap(), Amount(0));
        let zero_threshold = RetrievalTerms {
            payment_threshold: Amount(0),
            ..t
        };
        assert_eq!(
            zero_threshold.gate(bytes(0), Amount(0)).unwrap(),
            Gate::Serve
        );
        assert_eq!(
            zero_threshold.gate(bytes(1), Amount(0)).unwrap(),
            Gate::AskPayment { due: Amount(1) }
        );
    }

    #[test]
    fn a_zero_price_always_serves() {
        let free = RetrievalTerms {
            price_per_gib: Amount(0),
            free_bytes: 0,
            payment_threshold: Amount(0),
            disconnect_threshold: Amount(0),
        };
        free.validate().unwrap();
        assert_eq!(free.gate(u64::MAX, Amount(0)).unwrap(), Gate::Serve);
    }

    #[test]
    fn a_payer_never_pays_for_more_than_it_received() {
        let t = terms();
        let received = 10 * MIB + 50 * MIB;
        // Invoiced for more than arrived: pay for what arrived.
        assert_eq!(
            t.owed_for(received + GIB, received, Amount(0)).unwrap(),
            Amount(50)
        );
        // Invoiced for less: pay for the invoice.
        assert_eq!(
            t.owed_for(received - 20 * MIB, received, Amount(0))
                .unwrap(),
            Amount(30)
        );
        // Already paid part of it, or all of it.
        assert_eq!(
            t.owed_for(received, received, Amount(45)).unwrap(),
            Amount(5)
        );
        assert_eq!(
            t.owed_for(received, received, Amount(80)).unwrap(),
            Amount(0)
        );
    }

    #[test]
    fn contradictory_terms_are_invalid() {
        terms().validate().unwrap();
        let inverted = RetrievalTerms {
            payment_threshold: Amount(300),
            ..terms()
        };
        assert_eq!(inverted.validate().unwrap_err().reason(), "invalid");
        let never_stops = RetrievalTerms {
            payment_threshold: Amount(0),
            disconnect_threshold: Amount(0),
            ..terms()
        };
        assert_eq!(never_stops.validate().unwrap_err().reason(), "invalid");
    }

    #[test]
    fn terms_encode_as_a_snake_case_map() {
        let bytes = serde_ipld_dagcbor::to_vec(&terms()).unwrap();
        // A map of four entries whose first key (shortest) is `free_bytes`.
        assert_eq!(bytes[0], 0xa4);
        assert_eq!(&bytes[2..12], b"free_bytes");
        let back: RetrievalTerms = serde_ipld_dagcbor::from_slice(&bytes).unwrap();
        assert_eq!(back, terms());
    }
}
