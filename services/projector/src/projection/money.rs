//! Amounts of the contracts' optional `Money` as the records hold them (minor units and currency code) and
//! as timelines show them.

use contracts::common::v1::Money;

pub(super) fn minor(money: Option<&Money>) -> i64 {
    money.map_or(0, |m| m.minor_units)
}

pub(super) fn currency(money: Option<&Money>) -> String {
    money.map(|m| m.currency.clone()).unwrap_or_default()
}

pub(super) fn money_text(money: Option<&Money>) -> String {
    money.map_or_else(|| "no amount".to_owned(), |m| format!("{} {} (minor units)", m.minor_units, m.currency))
}
