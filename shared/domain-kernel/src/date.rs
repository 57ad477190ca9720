//! Calendar dates, checked against the calendar when read from outside.

use crate::InvalidValue;

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// The date of the given parts of the field named `field`: a year 1900 to 9999 and a day that the
    /// month has in that year. A refusal names the part (`{field}.day`).
    pub fn from_parts(field: &str, year: i32, month: i32, day: i32) -> Result<Date, InvalidValue> {
        if !(1900..=9999).contains(&year) {
            return Err(InvalidValue::new(format!("{field}.year"), "must be 1900 to 9999"));
        }
        let Some(month) = u8::try_from(month).ok().filter(|m| (1..=12).contains(m)) else {
            return Err(InvalidValue::new(format!("{field}.month"), "must be 1 to 12"));
        };
        let days = days_in_month(year, month);
        match u8::try_from(day).ok().filter(|d| (1..=days).contains(d)) {
            Some(day) => Ok(Date { year, month, day }),
            None => Err(InvalidValue::new(format!("{field}.day"), format!("must be 1 to {days} for that month"))),
        }
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked_against_the_calendar() {
        assert_eq!(Date::from_parts("d", 2024, 2, 29), Ok(Date { year: 2024, month: 2, day: 29 }));
        assert_eq!(Date::from_parts("d", 2023, 2, 29).unwrap_err().field, "d.day");
        assert_eq!(Date::from_parts("d", 2023, 2, 29).unwrap_err().rule, "must be 1 to 28 for that month");
        assert!(Date::from_parts("d", 2000, 2, 29).is_ok());
        assert!(Date::from_parts("d", 1900, 2, 29).is_err());
        assert_eq!(Date::from_parts("d", 2023, 13, 1).unwrap_err().field, "d.month");
        assert_eq!(Date::from_parts("d", 2023, 256 + 1, 1).unwrap_err().field, "d.month");
        assert_eq!(Date::from_parts("d", 1899, 1, 1).unwrap_err().field, "d.year");
        assert_eq!(Date::from_parts("d", 2023, 4, 31).unwrap_err().field, "d.day");
        assert_eq!(Date::from_parts("d", 2023, 1, 256 + 1).unwrap_err().field, "d.day");
    }
}
