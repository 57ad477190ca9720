//! Money: integer minor units of a currency in use, with checked arithmetic that never mixes currencies.

use std::fmt;

use crate::InvalidValue;

/// An ISO 4217 alphabetic code of a currency in use: three upper-case letters that the standard's list
/// (the `iso_currency` crate's copy of it) names as a current currency. Codes that are not money (gold,
/// SDR, testing `XTS`, no-currency `XXX`), fund codes and superseded currencies are refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Reads the code held in the field named `field`.
    pub fn parse(field: &str, value: &str) -> Result<Currency, InvalidValue> {
        let [a, b, c] = value.as_bytes() else {
            return Err(InvalidValue::new(field, "must be an ISO 4217 code of three upper-case letters"));
        };
        if ![a, b, c].iter().all(|x| x.is_ascii_uppercase()) {
            return Err(InvalidValue::new(field, "must be an ISO 4217 code of three upper-case letters"));
        }
        match iso_currency::Currency::from_code(value) {
            Some(known) if !known.is_special() && !known.is_fund() && known.is_superseded().is_none() => {
                Ok(Currency([*a, *b, *c]))
            }
            Some(_) => Err(InvalidValue::new(field, format!("`{value}` is not a currency in use (ISO 4217)"))),
            None => Err(InvalidValue::new(field, format!("`{value}` is not an ISO 4217 currency code"))),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The number of decimal places of its minor unit, as ISO 4217 gives it (2 for USD, 0 for JPY).
    pub fn exponent(&self) -> u32 {
        iso_currency::Currency::from_code(self.as_str()).and_then(|c| c.exponent()).map_or(0, u32::from)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// An amount in integer minor units of a currency. Arithmetic is checked and never mixes currencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor_units: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor_units: i64, currency: Currency) -> Money {
        Money { minor_units, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor_units: 0, currency }
    }

    pub fn is_positive(&self) -> bool {
        self.minor_units > 0
    }

    /// The amount in major units as an exact decimal string, by the currency's ISO 4217 exponent:
    /// 350000 USD minor units is "3500.00", 1200 JPY "1200".
    pub fn decimal(&self) -> String {
        let exponent = self.currency.exponent();
        if exponent == 0 {
            return self.minor_units.to_string();
        }
        let scale = 10i128.pow(exponent);
        let units = i128::from(self.minor_units);
        let sign = if units < 0 { "-" } else { "" };
        let (whole, fraction) = (units.abs() / scale, units.abs() % scale);
        format!("{sign}{whole}.{fraction:0width$}", width = exponent as usize)
    }

    /// The sum, or `None` if the currencies differ or the sum overflows.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        self.minor_units.checked_add(other.minor_units).map(|m| Money::new(m, self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (minor units)", self.currency, self.minor_units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_in_major_units_exactly() {
        let usd = Currency::parse("", "USD").unwrap();
        let jpy = Currency::parse("", "JPY").unwrap();
        assert_eq!(Money::new(350_000, usd).decimal(), "3500.00");
        assert_eq!(Money::new(-5, usd).decimal(), "-0.05");
        assert_eq!(Money::new(1200, jpy).decimal(), "1200");
    }

    #[test]
    fn money_never_adds_across_currencies() {
        let usd = Currency::parse("c", "USD").unwrap();
        let aud = Currency::parse("c", "AUD").unwrap();
        assert_eq!(Money::new(1, usd).checked_add(Money::new(2, aud)), None);
        assert_eq!(Money::new(i64::MAX, usd).checked_add(Money::new(1, usd)), None);
        assert_eq!(Money::new(1, usd).checked_add(Money::new(2, usd)), Some(Money::new(3, usd)));
    }

    #[test]
    fn currencies_come_from_the_iso_4217_list() {
        for code in ["AUD", "USD", "THB", "KHR", "LAK", "MMK", "PHP", "IDR", "VND", "MYR", "EUR", "JPY"] {
            assert!(Currency::parse("c", code).is_ok(), "{code}");
        }
        for (code, rule) in [
            ("ZZZ", "not an ISO 4217 currency code"),
            ("ABC", "not an ISO 4217 currency code"),
            ("XXX", "not a currency in use"),
            ("XTS", "not a currency in use"),
            ("XAU", "not a currency in use"),
            ("HRK", "not a currency in use"),
            ("USN", "not a currency in use"),
            ("usd", "three upper-case letters"),
        ] {
            let error = Currency::parse("payment.paid_amount.currency", code).unwrap_err();
            assert_eq!(error.field, "payment.paid_amount.currency");
            assert!(error.rule.contains(rule), "{code}: {}", error.rule);
        }
    }

    #[test]
    fn a_currency_knows_its_minor_unit() {
        assert_eq!(Currency::parse("", "USD").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("", "JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("", "KWD").unwrap().exponent(), 3);
    }

    #[test]
    fn money_shows_its_currency_and_minor_units() {
        let thb = Currency::parse("c", "THB").unwrap();
        assert_eq!(Money::new(1250, thb).to_string(), "THB 1250 (minor units)");
        assert_eq!(format!("{thb:?}"), "Currency(THB)");
        assert!(!Money::zero(thb).is_positive());
    }
}
