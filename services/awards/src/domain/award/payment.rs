//! How a tranche was paid: the amount paid, and for a payment in another currency than the award's the
//! exchange rate, its source and its value date.

use contracts::awards::v1 as pb;
use contracts::values::{WireError, WireValue};
use domain_kernel::{Date, Money};

use crate::domain::{Rejection, check_text};

/// A payment, as decoded from the wire (format checked, rules are checked when a tranche is released).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub paid_amount: Money,
    pub exchange_rate: String,
    pub rate_source: String,
    pub rate_value_date: Option<Date>,
    pub payment_reference: String,
}

impl Payment {
    pub fn from_wire(field: &str, p: Option<&pb::Payment>) -> Result<Payment, WireError> {
        let p = p.ok_or_else(|| WireError::new(field, "is required"))?;
        Ok(Payment {
            paid_amount: Money::from_wire(&format!("{field}.paid_amount"), p.paid_amount.as_ref())?,
            exchange_rate: p.exchange_rate.clone(),
            rate_source: p.rate_source.clone(),
            rate_value_date: match &p.rate_value_date {
                None => None,
                Some(d) => Some(Date::from_wire(&format!("{field}.rate_value_date"), Some(d))?),
            },
            payment_reference: p.payment_reference.clone(),
        })
    }

    pub fn to_wire(&self) -> pb::Payment {
        pb::Payment {
            paid_amount: Some(self.paid_amount.to_wire()),
            exchange_rate: self.exchange_rate.clone(),
            rate_source: self.rate_source.clone(),
            rate_value_date: self.rate_value_date.map(Date::to_wire),
            payment_reference: self.payment_reference.clone(),
        }
    }

    /// A payment in the award's currency pays exactly the tranche; in another currency it records the rate,
    /// its source and its value date.
    pub(super) fn check(&self, tranche_amount: Money) -> Result<(), Rejection> {
        check_text("payment.payment_reference", &self.payment_reference, 0, 200)?;
        if !self.paid_amount.is_positive() {
            return Err(Rejection::invalid("payment.paid_amount", "must be positive"));
        }
        if self.paid_amount.currency == tranche_amount.currency {
            return self.check_in_award_currency(tranche_amount);
        }
        check_rate("payment.exchange_rate", &self.exchange_rate)?;
        check_text("payment.rate_source", &self.rate_source, 1, 200)?;
        if self.rate_value_date.is_none() {
            return Err(Rejection::invalid(
                "payment.rate_value_date",
                "is required for a payment in another currency than the award's",
            ));
        }
        Ok(())
    }

    fn check_in_award_currency(&self, tranche_amount: Money) -> Result<(), Rejection> {
        if self.paid_amount != tranche_amount {
            return Err(Rejection::precondition(
                "payment.paid_amount",
                format!("must equal the tranche's amount {} when paid in the award's currency", tranche_amount),
            ));
        }
        if !self.exchange_rate.is_empty() || !self.rate_source.is_empty() || self.rate_value_date.is_some() {
            return Err(Rejection::invalid(
                "payment.exchange_rate",
                "must be empty (with `rate_source` and `rate_value_date`) for a payment in the award's currency",
            ));
        }
        Ok(())
    }
}

/// An exchange rate is a positive decimal string: digits, an optional '.', at most 12 fractional digits.
/// Kept as text so that what the finance system used is recorded exactly, never through a float.
pub fn check_rate(field: &str, rate: &str) -> Result<(), Rejection> {
    let rule = "must be a positive decimal such as \"36.125\" (at most 18 integer and 12 fractional digits)";
    let (int, frac) = rate.split_once('.').unwrap_or((rate, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = !int.is_empty()
        && int.len() <= 18
        && frac.len() <= 12
        && digits(int)
        && digits(frac)
        && !(rate.contains('.') && frac.is_empty());
    if !well_formed || rate.bytes().all(|b| b == b'0' || b == b'.') {
        return Err(Rejection::invalid(field, rule));
    }
    Ok(())
}
