//! Wire forms of the domain values (`domain_kernel`'s money, currencies, timestamps, dates), converted in
//! one place. Every conversion from the wire names the field it read (as a dotted path such as
//! `budget_ceiling.currency`) and the rule a bad value breaks.

use domain_kernel::{Currency, Date, InvalidValue, Money, Rejection, Timestamp};

use crate::common::v1 as wire;

/// A wire value that breaks a rule: `field` is the dotted path of the field, `rule` what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {rule}")]
pub struct WireError {
    pub field: String,
    pub rule: String,
}

impl WireError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> WireError {
        WireError { field: field.into(), rule: rule.into() }
    }
}

/// A value the domain refuses is refused on the wire with the same field and rule.
impl From<InvalidValue> for WireError {
    fn from(e: InvalidValue) -> Self {
        WireError { field: e.field, rule: e.rule }
    }
}

/// A malformed wire value is malformed input to the domain.
impl From<WireError> for Rejection {
    fn from(e: WireError) -> Self {
        Rejection::Invalid { field: e.field, rule: e.rule }
    }
}

/// A domain value with a message of its own on the wire.
pub trait WireValue: Sized {
    /// The generated message that carries the value.
    type Wire;

    /// Reads a required field named `field`.
    fn from_wire(field: &str, value: Option<&Self::Wire>) -> Result<Self, WireError>;

    fn to_wire(self) -> Self::Wire;
}

/// A domain value whose field may be left unset.
pub trait OptionalWireValue: WireValue {
    /// Reads an optional field: absent (or all-default, as proto3 writes an unset message) is `None`.
    fn from_wire_optional(field: &str, value: Option<&Self::Wire>) -> Result<Option<Self>, WireError>;
}

impl WireValue for Money {
    type Wire = wire::Money;

    fn from_wire(field: &str, value: Option<&wire::Money>) -> Result<Money, WireError> {
        Money::from_wire_optional(field, value)?.ok_or_else(|| WireError::new(field, "is required"))
    }

    fn to_wire(self) -> wire::Money {
        wire::Money { minor_units: self.minor_units, currency: self.currency.as_str().to_owned() }
    }
}

impl OptionalWireValue for Money {
    fn from_wire_optional(field: &str, value: Option<&wire::Money>) -> Result<Option<Money>, WireError> {
        match value {
            None => Ok(None),
            Some(m) if m.minor_units == 0 && m.currency.is_empty() => Ok(None),
            Some(m) => {
                let currency = Currency::parse(&format!("{field}.currency"), &m.currency)?;
                Ok(Some(Money::new(m.minor_units, currency)))
            }
        }
    }
}

impl WireValue for Timestamp {
    type Wire = prost_types::Timestamp;

    fn from_wire(field: &str, value: Option<&prost_types::Timestamp>) -> Result<Timestamp, WireError> {
        let t = value.ok_or_else(|| WireError::new(field, "is required"))?;
        Ok(Timestamp::from_unix_parts(field, t.seconds, t.nanos)?)
    }

    fn to_wire(self) -> prost_types::Timestamp {
        let (seconds, nanos) = self.to_unix_parts();
        prost_types::Timestamp { seconds, nanos }
    }
}

impl WireValue for Date {
    type Wire = wire::Date;

    fn from_wire(field: &str, value: Option<&wire::Date>) -> Result<Date, WireError> {
        let d = value.ok_or_else(|| WireError::new(field, "is required"))?;
        Ok(Date::from_parts(field, d.year, d.month, d.day)?)
    }

    fn to_wire(self) -> wire::Date {
        wire::Date { year: self.year, month: i32::from(self.month), day: i32::from(self.day) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_round_trips_and_names_the_field() {
        let m = Money::from_wire("amount", Some(&wire::Money { minor_units: 1250, currency: "USD".into() })).unwrap();
        assert_eq!(m.to_wire(), wire::Money { minor_units: 1250, currency: "USD".into() });
        let err = Money::from_wire("amount", Some(&wire::Money { minor_units: 1, currency: "usd".into() }));
        assert_eq!(err.unwrap_err().field, "amount.currency");
        assert_eq!(Money::from_wire("amount", None).unwrap_err().rule, "is required");
        assert_eq!(Money::from_wire_optional("amount", Some(&wire::Money::default())), Ok(None));
    }

    #[test]
    fn timestamps_round_trip_at_microsecond_resolution() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, -2_000_000] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(Timestamp::from_wire("t", Some(&t.to_wire())), Ok(t));
        }
        let bad = prost_types::Timestamp { seconds: 0, nanos: -1 };
        assert_eq!(Timestamp::from_wire("t", Some(&bad)).unwrap_err().field, "t.nanos");
        assert_eq!(Timestamp::from_wire("t", None).unwrap_err().rule, "is required");
    }

    #[test]
    fn dates_are_checked_against_the_calendar() {
        let d = |year, month, day| wire::Date { year, month, day };
        assert!(Date::from_wire("d", Some(&d(2024, 2, 29))).is_ok());
        assert_eq!(Date::from_wire("d", Some(&d(2023, 2, 29))).unwrap_err().field, "d.day");
        assert_eq!(Date::from_wire("d", Some(&d(2023, 13, 1))).unwrap_err().field, "d.month");
        assert_eq!(Date::from_wire("d", Some(&d(2024, 2, 29))).map(Date::to_wire), Ok(d(2024, 2, 29)));
    }

    #[test]
    fn refusals_keep_field_and_rule_from_domain_to_wire_to_rejection() {
        let domain = Currency::parse("payment.paid_amount.currency", "XXX").unwrap_err();
        let on_the_wire = WireError::from(domain.clone());
        assert_eq!(
            (on_the_wire.field.as_str(), on_the_wire.rule.as_str()),
            (domain.field.as_str(), domain.rule.as_str())
        );
        assert_eq!(on_the_wire.to_string(), domain.to_string());
        assert_eq!(Rejection::from(on_the_wire), Rejection::from(domain));
    }
}
