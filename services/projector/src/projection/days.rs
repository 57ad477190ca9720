//! Calendar days as the read models hold them (`yyyymmdd`), from contract dates, protobuf timestamps and
//! log times, all in UTC.

use contracts::common::v1::Date;

/// A calendar day as `yyyymmdd`: ordered like dates, readable in a dump.
pub type Day = u32;

pub fn day(date: Option<&Date>) -> Option<Day> {
    let d = date?;
    let (y, m, dd) = (u32::try_from(d.year).ok()?, u32::try_from(d.month).ok()?, u32::try_from(d.day).ok()?);
    Some(y * 10_000 + m * 100 + dd)
}

/// The UTC day of a protobuf timestamp.
pub(super) fn day_of_timestamp(ts: Option<&prost_types::Timestamp>) -> Option<Day> {
    let ts = ts?;
    let dt = time::OffsetDateTime::from_unix_timestamp(ts.seconds).ok()?;
    Some(day_of(dt.date()))
}

pub fn day_of(date: time::Date) -> Day {
    let year = u32::try_from(date.year()).unwrap_or(0);
    year * 10_000 + u32::from(u8::from(date.month())) * 100 + u32::from(date.day())
}

/// The UTC day of a log time.
pub fn day_of_micros(micros: i64) -> Day {
    let dt = time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    day_of(dt.date())
}
