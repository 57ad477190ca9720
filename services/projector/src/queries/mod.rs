//! Answers from read models (any [`View`]: the active generation, or an as-of replay in memory) in the
//! wire shapes of `grants.projector.v1`, one file per answer. Joins across sources happen here (see
//! [`crate::projection`]). Indicator counts leave only through [`program_summary`], suppressed and
//! perturbed.

mod award_totals;
mod obligations;
mod pipeline;
mod portfolio;
mod summary;
mod timeline;

use contracts::common::v1::{Date, Money};

pub use self::obligations::overdue;
pub use self::pipeline::{round_pipeline, round_pipelines};
pub use self::portfolio::{portfolio, portfolios};
pub use self::summary::{SummaryFilter, program_summary};
pub use self::timeline::grant_timeline;
use crate::projection::{Day, read};
use crate::store::{StoreError, View};

pub(crate) fn get<T: serde::de::DeserializeOwned>(view: &impl View, key: &str) -> Result<Option<T>, StoreError> {
    view.get(key)?.map(|bytes| read(&bytes, key)).transpose()
}

pub(crate) fn all<T: serde::de::DeserializeOwned>(
    view: &impl View,
    prefix: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    view.scan(prefix, None)?
        .into_iter()
        .map(|(key, bytes)| {
            let value = read(&bytes, &key)?;
            Ok((key[prefix.len()..].to_owned(), value))
        })
        .collect()
}

pub(crate) fn money(minor_units: i64, currency: &str) -> Option<Money> {
    Some(Money { minor_units, currency: currency.to_owned() })
}

pub fn date_of(day: Day) -> Option<Date> {
    let day = i32::try_from(day).ok()?;
    Some(Date { year: day / 10_000, month: day / 100 % 100, day: day % 100 })
}

pub(crate) fn days_between(from: Day, to: Day) -> u32 {
    let to_date = |d: Day| {
        let d = i32::try_from(d).unwrap_or(0);
        time::Month::try_from(u8::try_from(d / 100 % 100).unwrap_or(1))
            .ok()
            .and_then(|m| time::Date::from_calendar_date(d / 10_000, m, u8::try_from(d % 100).unwrap_or(1)).ok())
    };
    match (to_date(from), to_date(to)) {
        (Some(a), Some(b)) => u32::try_from((b - a).whole_days()).unwrap_or(0),
        _ => 0,
    }
}

pub(crate) fn timestamp(micros: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    })
}
