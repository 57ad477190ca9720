//! Amounts as people read them: minor units in the currency's own decimals (ISO 4217, through the domain
//! kernel), thousands grouped, the code after the figure.

use domain_kernel::{Currency, Money};

/// `1234567` USD as "12,345.67 USD"; an unknown code shows its minor units as they are.
pub fn text(minor_units: i64, currency: &str) -> String {
    format!("{} {currency}", figure(minor_units, currency))
}

/// `1234567` USD as "12,345.67": the kernel's exact decimal with its thousands grouped.
pub fn figure(minor_units: i64, currency: &str) -> String {
    let decimal = match Currency::parse("currency", currency) {
        Ok(currency) => Money::new(minor_units, currency).decimal(),
        Err(_) => minor_units.to_string(),
    };
    let (sign, unsigned) = decimal.split_at(usize::from(decimal.starts_with('-')));
    match unsigned.split_once('.') {
        Some((whole, fraction)) => format!("{sign}{}.{fraction}", group_thousands(whole)),
        None => format!("{sign}{}", group_thousands(unsigned)),
    }
}

/// A wire `Money` as [`text`], or "—" when absent.
pub fn wire_text(money: Option<&contracts::common::v1::Money>) -> String {
    money.map_or_else(|| "—".to_owned(), |m| text(m.minor_units, &m.currency))
}

/// The amount in whole currency units, for chart scales.
pub fn major(minor_units: i64, currency: &str) -> f64 {
    let exponent = Currency::parse("currency", currency).map(|c| c.exponent()).unwrap_or(0);
    minor_units as f64 / 10f64.powi(i32::try_from(exponent).unwrap_or(0))
}

/// "1234567" as "1,234,567".
pub fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_use_the_currencys_decimals() {
        assert_eq!(text(1_234_567, "USD"), "12,345.67 USD");
        assert_eq!(text(5, "USD"), "0.05 USD");
        assert_eq!(text(-150, "EUR"), "-1.50 EUR");
        assert_eq!(text(1_500_000, "JPY"), "1,500,000 JPY");
        assert_eq!(text(1_234, "BHD"), "1.234 BHD");
        assert_eq!(text(0, "USD"), "0.00 USD");
        assert_eq!(major(250_050, "USD"), 2500.5);
        assert_eq!(group_thousands("100"), "100");
        assert_eq!(group_thousands("1000"), "1,000");
    }
}
