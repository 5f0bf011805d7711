//! Amounts of money: integers in base units, with checked arithmetic, as prices, deposits,
//! receipts and balances carry them. Nothing here rounds, wraps or saturates: a sum that does
//! not fit is an error ([`AmountOverflow`]).

/// An amount in base units.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Amount(pub u64);

/// A sum of amounts over `u64::MAX` base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount overflow")]
pub struct AmountOverflow;

impl AmountOverflow {
    /// Stable machine-readable reason, the same the market and payments give.
    pub fn reason(&self) -> &'static str {
        "overflow"
    }
}

/// An amount over [`Amount::MAX`], the largest the database keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} of {value} is over the largest amount kept, {}", Amount::MAX.0)]
pub struct AmountTooLarge {
    pub what: &'static str,
    pub value: u64,
}

impl Amount {
    /// The largest amount Cairn keeps. The database stores integers as signed 64-bit, so every
    /// entry (API, config, a peer's message) refuses more instead of failing, or wrapping,
    /// when it is written.
    pub const MAX: Amount = Amount(i64::MAX as u64);

    /// `value` as an amount, if it is at most [`Amount::MAX`]; `what` names it in the error.
    pub fn recordable(value: u64, what: &'static str) -> Result<Amount, AmountTooLarge> {
        if value > Self::MAX.0 {
            return Err(AmountTooLarge { what, value });
        }
        Ok(Amount(value))
    }

    pub fn checked_add(self, other: Amount) -> Result<Amount, AmountOverflow> {
        self.0
            .checked_add(other.0)
            .map(Amount)
            .ok_or(AmountOverflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_or_refused() {
        assert_eq!(Amount(2).checked_add(Amount(3)), Ok(Amount(5)));
        assert_eq!(
            Amount(u64::MAX).checked_add(Amount(0)),
            Ok(Amount(u64::MAX))
        );
        let e = Amount(u64::MAX).checked_add(Amount(1)).unwrap_err();
        assert_eq!((e, e.reason()), (AmountOverflow, "overflow"));
    }

    #[test]
    fn an_amount_is_a_bare_integer_on_the_wire() {
        assert_eq!(serde_json::to_string(&Amount(42)).unwrap(), "42");
        assert_eq!(serde_ipld_dagcbor::to_vec(&Amount(42)).unwrap(), [0x18, 42]);
    }
}
