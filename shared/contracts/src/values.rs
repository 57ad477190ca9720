//! Domain values and their wire forms, converted in one place. Every conversion from the wire names the
//! field it read (as a dotted path such as `budget_ceiling.currency`) and the rule a bad value breaks.

use std::fmt;

use uuid::Uuid;

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

/// Parses an identifier held in a string field: a UUID in its canonical spelling, lowercase and hyphenated.
///
/// One spelling only, so that a string id names one object wherever it is compared, stored or used as a
/// key: an upper-case or braced spelling is refused rather than quietly read as the same UUID (a retried
/// request in another spelling would otherwise be a new request).
pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, WireError> {
    const RULE: &str = "must be a UUID in lowercase hyphenated form (8-4-4-4-12 hexadecimal digits, a-f lower case)";
    if value.is_empty() {
        return Err(WireError::new(field, "is required"));
    }
    let lowercase = value.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if value.len() != 36 || !lowercase {
        return Err(WireError::new(field, RULE));
    }
    Uuid::try_parse(value).map_err(|_| WireError::new(field, RULE))
}

/// Defines a typed identifier: a UUID newtype parsed from and written as a string field.
#[macro_export]
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// Parses the id from a wire field named `field`.
            pub fn parse(field: &str, value: &str) -> Result<$name, $crate::values::WireError> {
                $crate::values::parse_uuid(field, value).map($name)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }
    };
}

/// An ISO 4217 alphabetic code of a currency in use: three upper-case letters that the standard's list
/// (the `iso_currency` crate's copy of it) names as a current currency. Codes that are not money (gold,
/// SDR, testing `XTS`, no-currency `XXX`), fund codes and superseded currencies are refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(field: &str, value: &str) -> Result<Currency, WireError> {
        let [a, b, c] = value.as_bytes() else {
            return Err(WireError::new(field, "must be an ISO 4217 code of three upper-case letters"));
        };
        if ![a, b, c].iter().all(|x| x.is_ascii_uppercase()) {
            return Err(WireError::new(field, "must be an ISO 4217 code of three upper-case letters"));
        }
        match iso_currency::Currency::from_code(value) {
            Some(known) if !known.is_special() && !known.is_fund() && known.is_superseded().is_none() => {
                Ok(Currency([*a, *b, *c]))
            }
            Some(_) => Err(WireError::new(field, format!("`{value}` is not a currency in use (ISO 4217)"))),
            None => Err(WireError::new(field, format!("`{value}` is not an ISO 4217 currency code"))),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
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

    /// The sum, or `None` if the currencies differ or the sum overflows.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        self.minor_units.checked_add(other.minor_units).map(|m| Money::new(m, self.currency))
    }

    /// Reads a required money field.
    pub fn from_wire(field: &str, value: Option<&wire::Money>) -> Result<Money, WireError> {
        Money::from_wire_optional(field, value)?.ok_or_else(|| WireError::new(field, "is required"))
    }

    /// Reads an optional money field: absent (or all-default) is `None`.
    pub fn from_wire_optional(field: &str, value: Option<&wire::Money>) -> Result<Option<Money>, WireError> {
        match value {
            None => Ok(None),
            Some(m) if m.minor_units == 0 && m.currency.is_empty() => Ok(None),
            Some(m) => {
                let currency = Currency::parse(&format!("{field}.currency"), &m.currency)?;
                Ok(Some(Money::new(m.minor_units, currency)))
            }
        }
    }

    pub fn to_wire(self) -> wire::Money {
        wire::Money { minor_units: self.minor_units, currency: self.currency.as_str().to_owned() }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (minor units)", self.currency, self.minor_units)
    }
}

/// A point in time in microseconds since the Unix epoch (UTC), the resolution of the event log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub i64);

/// Earliest and latest accepted instants: years 1900 to 9999.
const MIN_SECONDS: i64 = -2_208_988_800;
const MAX_SECONDS: i64 = 253_402_300_799;

impl Timestamp {
    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    pub fn now() -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(micros)
    }

    pub fn from_wire(field: &str, value: Option<&prost_types::Timestamp>) -> Result<Timestamp, WireError> {
        let t = value.ok_or_else(|| WireError::new(field, "is required"))?;
        if !(0..1_000_000_000).contains(&t.nanos) {
            return Err(WireError::new(format!("{field}.nanos"), "must be 0 to 999999999"));
        }
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&t.seconds) {
            return Err(WireError::new(format!("{field}.seconds"), "must be within the years 1900 to 9999"));
        }
        Ok(Timestamp(t.seconds * 1_000_000 + i64::from(t.nanos / 1_000)))
    }

    pub fn to_wire(self) -> prost_types::Timestamp {
        let seconds = self.0.div_euclid(1_000_000);
        let nanos = i32::try_from(self.0.rem_euclid(1_000_000) * 1_000).unwrap_or(0);
        prost_types::Timestamp { seconds, nanos }
    }
}

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn from_wire(field: &str, value: Option<&wire::Date>) -> Result<Date, WireError> {
        let d = value.ok_or_else(|| WireError::new(field, "is required"))?;
        if !(1900..=9999).contains(&d.year) {
            return Err(WireError::new(format!("{field}.year"), "must be 1900 to 9999"));
        }
        if !(1..=12).contains(&d.month) {
            return Err(WireError::new(format!("{field}.month"), "must be 1 to 12"));
        }
        let leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
        let days = match d.month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if !(1..=days).contains(&d.day) {
            return Err(WireError::new(format!("{field}.day"), format!("must be 1 to {days} for that month")));
        }
        // Ranges were checked above.
        Ok(Date { year: d.year, month: d.month as u8, day: d.day as u8 })
    }

    pub fn to_wire(self) -> wire::Date {
        wire::Date { year: self.year, month: i32::from(self.month), day: i32::from(self.day) }
    }
}

/// An ISO 3166-1 alpha-2 country code: two upper-case letters that the standard's list (the `celes`
/// crate's copy of it) assigns to a country. User-assigned codes (`XX`, `ZZ`, `AA`, `QM`..`QZ`) and
/// unassigned ones are refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    pub fn parse(field: &str, value: &str) -> Result<Country, WireError> {
        let [a, b] = value.as_bytes() else {
            return Err(WireError::new(field, "must be an ISO 3166-1 alpha-2 code of two upper-case letters"));
        };
        if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
            return Err(WireError::new(field, "must be an ISO 3166-1 alpha-2 code of two upper-case letters"));
        }
        match celes::Country::from_alpha2(value) {
            Ok(_) => Ok(Country([*a, *b])),
            Err(_) => {
                Err(WireError::new(field, format!("`{value}` is not an assigned ISO 3166-1 alpha-2 country code")))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
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
    fn money_never_adds_across_currencies() {
        let usd = Currency::parse("c", "USD").unwrap();
        let aud = Currency::parse("c", "AUD").unwrap();
        assert_eq!(Money::new(1, usd).checked_add(Money::new(2, aud)), None);
        assert_eq!(Money::new(i64::MAX, usd).checked_add(Money::new(1, usd)), None);
        assert_eq!(Money::new(1, usd).checked_add(Money::new(2, usd)), Some(Money::new(3, usd)));
    }

    #[test]
    fn timestamps_round_trip_at_microsecond_resolution() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, -2_000_000] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(Timestamp::from_wire("t", Some(&t.to_wire())), Ok(t));
        }
        let bad = prost_types::Timestamp { seconds: 0, nanos: -1 };
        assert_eq!(Timestamp::from_wire("t", Some(&bad)).unwrap_err().field, "t.nanos");
    }

    #[test]
    fn dates_are_checked_against_the_calendar() {
        let d = |year, month, day| wire::Date { year, month, day };
        assert!(Date::from_wire("d", Some(&d(2024, 2, 29))).is_ok());
        assert_eq!(Date::from_wire("d", Some(&d(2023, 2, 29))).unwrap_err().field, "d.day");
        assert_eq!(Date::from_wire("d", Some(&d(2023, 13, 1))).unwrap_err().field, "d.month");
    }

    #[test]
    fn ids_and_countries_are_checked() {
        assert!(parse_uuid("id", "not-a-uuid").is_err());
        assert_eq!(parse_uuid("id", "").unwrap_err().rule, "is required");
        assert!(parse_uuid("id", "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab").is_ok());
        assert!(Country::parse("c", "KH").is_ok());
        assert!(Country::parse("c", "kh").is_err());
        assert!(Country::parse("c", "KHM").is_err());
    }

    #[test]
    fn ids_have_one_spelling() {
        let upper = "6F1C2D3E-0A4B-5C6D-8E9F-0123456789AB";
        assert!(parse_uuid("id", upper).unwrap_err().rule.contains("lowercase"));
        assert!(parse_uuid("id", "{6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab}").is_err());
        assert!(parse_uuid("id", "6f1c2d3e0a4b5c6d8e9f0123456789ab").is_err());
        assert!(parse_uuid("id", "6f1c2d3e-0a4b-5c6d-8e9f-0123456789aG").is_err());
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
    fn countries_come_from_the_iso_3166_list() {
        for code in ["KH", "ID", "LA", "MM", "PH", "TH", "VN", "MY", "SG", "BN", "TL", "AU"] {
            assert!(Country::parse("c", code).is_ok(), "{code}");
        }
        for code in ["XX", "ZZ", "AA", "QZ", "UK"] {
            let error = Country::parse("eligible_countries[0]", code).unwrap_err();
            assert!(error.rule.contains("not an assigned ISO 3166-1"), "{code}: {}", error.rule);
        }
    }
}
