//! Calendar arithmetic on [`Date`]s (days since the Unix epoch, proleptic Gregorian calendar), enough
//! for due dates, overdue days and suspensions without a date library.

use domain_kernel::{Date, Timestamp};

/// Days since 1970-01-01.
pub fn days(d: Date) -> i64 {
    // Howard Hinnant's days_from_civil.
    let y = i64::from(d.year) - i64::from(d.month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(d.month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `n` days after 1970-01-01.
pub fn from_days(n: i64) -> Date {
    let z = n + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Every value is in range for dates of years 1900 to 9999.
    Date { year: year as i32, month: month as u8, day: day as u8 }
}

pub fn add_days(d: Date, n: i64) -> Date {
    from_days(days(d) + n)
}

/// The UTC date of an instant.
pub fn date_of(t: Timestamp) -> Date {
    from_days(t.as_micros().div_euclid(86_400_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_over_leap_years_and_month_ends() {
        let d = |year, month, day| Date { year, month, day };
        assert_eq!(days(d(1970, 1, 1)), 0);
        assert_eq!(days(d(2024, 3, 1)) - days(d(2024, 2, 28)), 2);
        assert_eq!(days(d(2023, 3, 1)) - days(d(2023, 2, 28)), 1);
        for n in (-30_000..40_000).step_by(17) {
            assert_eq!(days(from_days(n)), n);
        }
        assert_eq!(add_days(d(2026, 12, 31), 1), d(2027, 1, 1));
        assert_eq!(date_of(Timestamp::from_micros(86_400_000_000 * 365 - 1)), d(1970, 12, 31));
    }
}
