//! The date every page can be shown "as of": `?as_of=YYYY-MM-DD` means everything recorded up to the end of
//! that day (UTC). A day from today on is the live state.

use contracts::projector::v1::{self as pj};
use time::{Date, OffsetDateTime, Time};

/// The point a page is shown at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagePoint {
    Live,
    /// The end of this day (UTC).
    EndOf(Date),
}

/// A bad `as_of` parameter, said in one line naming it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`as_of` must be a date written YYYY-MM-DD, not `{0}`")]
pub struct BadDate(pub String);

impl PagePoint {
    /// The point `as_of` names (absent or empty: live), judged against `today`.
    pub fn parse(as_of: Option<&str>, today: Date) -> Result<PagePoint, BadDate> {
        let text = as_of.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Ok(PagePoint::Live);
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = Date::parse(text, &format).map_err(|_| BadDate(text.chars().take(40).collect()))?;
        Ok(if date >= today { PagePoint::Live } else { PagePoint::EndOf(date) })
    }

    /// The parameter's value, for links that keep the point ("" when live).
    pub fn param(self) -> String {
        match self {
            PagePoint::Live => String::new(),
            PagePoint::EndOf(date) => date_text(date),
        }
    }

    /// The last instant the point includes; `None` when live.
    pub fn until(self) -> Option<OffsetDateTime> {
        match self {
            PagePoint::Live => None,
            PagePoint::EndOf(date) => {
                Some(date.with_time(Time::from_hms_micro(23, 59, 59, 999_999).expect("a valid time")).assume_utc())
            }
        }
    }

    /// The projector's `AsOf` for the point; `None` when live.
    pub fn as_of(self) -> Option<pj::AsOf> {
        self.until().map(at)
    }
}

/// The projector's `AsOf` at one instant.
pub fn at(instant: OffsetDateTime) -> pj::AsOf {
    pj::AsOf { point: Some(pj::Point::RecordedAt(timestamp(instant))) }
}

/// A protobuf timestamp of `instant`.
pub fn timestamp(instant: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.unix_timestamp(),
        nanos: i32::try_from(instant.nanosecond()).unwrap_or_default(),
    }
}

/// The instant of a protobuf timestamp, if it is one.
pub fn instant(timestamp: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    let nanos = i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// `2026-11-30`.
pub fn date_text(date: Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    date.format(&format).unwrap_or_default()
}

/// `2026-11-30 14:05:09 UTC`.
pub fn time_text(instant: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    instant.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// A protobuf timestamp as [`time_text`], or "—" when absent or out of range.
pub fn timestamp_text(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp.and_then(instant).map_or_else(|| "—".to_owned(), time_text)
}

/// A wire date as `2026-11-30`, or "—".
pub fn wire_date_text(date: Option<&contracts::common::v1::Date>) -> String {
    date.map_or_else(|| "—".to_owned(), |d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
}

/// A duration as people say it: "42 s", "5 min", "3 h", "2 days".
pub fn age_text(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn a_past_day_is_its_end_and_today_or_later_is_live() {
        let today = date!(2026 - 11 - 30);
        assert_eq!(PagePoint::parse(None, today), Ok(PagePoint::Live));
        assert_eq!(PagePoint::parse(Some(""), today), Ok(PagePoint::Live));
        assert_eq!(PagePoint::parse(Some("2026-11-30"), today), Ok(PagePoint::Live));
        assert_eq!(PagePoint::parse(Some("2027-01-01"), today), Ok(PagePoint::Live));
        let past = PagePoint::parse(Some("2026-11-02"), today).unwrap();
        assert_eq!(past, PagePoint::EndOf(date!(2026 - 11 - 02)));
        assert_eq!(past.param(), "2026-11-02");
        let until = past.until().unwrap();
        assert_eq!((until.hour(), until.minute(), until.second(), until.microsecond()), (23, 59, 59, 999_999));
        assert!(past.as_of().is_some() && PagePoint::Live.as_of().is_none());
    }

    #[test]
    fn a_bad_date_is_refused_naming_the_parameter() {
        let today = date!(2026 - 11 - 30);
        let error = PagePoint::parse(Some("30/11/2026"), today).unwrap_err();
        assert_eq!(error.to_string(), "`as_of` must be a date written YYYY-MM-DD, not `30/11/2026`");
        assert!(PagePoint::parse(Some("2026-02-30"), today).is_err());
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age_text(5), "5 s");
        assert_eq!(age_text(600), "10 min");
        assert_eq!(age_text(3 * 3600), "3 h");
        assert_eq!(age_text(5 * 86_400), "5 days");
        assert_eq!(age_text(-3), "0 s");
    }
}
