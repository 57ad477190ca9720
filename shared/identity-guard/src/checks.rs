//! The checks a pattern of the rule table may name (`check = "..."`): what a regular expression cannot say,
//! such as a check digit, a date embedded in an identity number, or how old a date is.

use regex::Captures;

use crate::GuardContext;

/// How many years before the reporting period a full date must be to read as a date of birth.
pub const DATE_OF_BIRTH_YEARS: i32 = 5;

/// A named check of the rule table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Thai 13-digit identification number: the last digit is the mod-11 check digit of the first twelve.
    ThaiIdCheckDigit,
    /// Indonesian NIK (16 digits): province code 11..=94, then district and sub-district, then the
    /// birth date as DDMMYY with 40 added to the day for women.
    IndonesianNikDate,
    /// Malaysian MyKad (12 digits): YYMMDD birth date, a place-of-birth code other than 00, four digits.
    MalaysianMyKadDate,
    /// Vietnamese CCCD (12 digits): province code 001..=096, a sex-and-century digit, the birth year.
    VietnameseCccdProvince,
    /// A full date (groups `day`, `month`, `year`) that is a real day, in a year at least
    /// [`DATE_OF_BIRTH_YEARS`] before the reporting period (Buddhist-era years above 2400 are converted).
    OldDate,
    /// The value is not a numeric date nor a list of years (phone-shaped runs that are not phones).
    NotDateOrYears,
}

impl Check {
    pub(crate) fn from_name(name: &str) -> Option<Check> {
        Some(match name {
            "thai-id-check-digit" => Check::ThaiIdCheckDigit,
            "indonesian-nik-date" => Check::IndonesianNikDate,
            "malaysian-mykad-date" => Check::MalaysianMyKadDate,
            "vietnamese-cccd-province" => Check::VietnameseCccdProvince,
            "old-date" => Check::OldDate,
            "not-date-or-years" => Check::NotDateOrYears,
            _ => return None,
        })
    }

    /// The named groups the check reads.
    pub(crate) fn groups(self) -> &'static [&'static str] {
        match self {
            Check::OldDate => &["day", "month", "year"],
            _ => &["value"],
        }
    }

    pub(crate) fn holds(self, caps: &Captures<'_>, ctx: GuardContext, months: &dyn Fn(&str) -> Option<u32>) -> bool {
        let value = caps.name("value").map_or("", |m| m.as_str());
        match self {
            Check::ThaiIdCheckDigit => thai_id_check_digit(&digits_of(value)),
            Check::IndonesianNikDate => indonesian_nik_date(&digits_of(value)),
            Check::MalaysianMyKadDate => malaysian_mykad_date(&digits_of(value)),
            Check::VietnameseCccdProvince => vietnamese_cccd_province(&digits_of(value)),
            Check::NotDateOrYears => !is_numeric_date(value) && !is_year_list(value),
            Check::OldDate => {
                let group = |name: &str| caps.name(name).map_or("", |m| m.as_str());
                let Some(year) = group("year").parse::<i32>().ok().map(common_era) else { return false };
                let day = group("day").parse::<u32>().unwrap_or(0);
                // A month name, or the number after Vietnamese `tháng`.
                let month_text = caps.name("month").or_else(|| caps.name("mon_num")).map_or("", |m| m.as_str());
                let month = months(month_text).unwrap_or(0);
                let real = |day: u32, month: u32| (1..=31).contains(&day) && (1..=12).contains(&month);
                // Day and month may be in either order in numeric dates (12/03/2004 or 03/12/2004).
                (real(day, month) || real(month, day))
                    && (1900..=ctx.reference_year - DATE_OF_BIRTH_YEARS).contains(&year)
            }
        }
    }
}

/// A Buddhist-era year (Thai, Khmer and Lao calendars: CE + 543) as a common-era year.
pub(crate) fn common_era(year: i32) -> i32 {
    if year >= 2400 { year - 543 } else { year }
}

fn digits_of(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

fn number(digits: &[u32]) -> u32 {
    digits.iter().fold(0, |n, d| n * 10 + d)
}

fn is_real_date(day: u32, month: u32) -> bool {
    (1..=31).contains(&day) && (1..=12).contains(&month)
}

fn thai_id_check_digit(d: &[u32]) -> bool {
    if d.len() != 13 || d[0] == 0 {
        return false;
    }
    let sum: u32 = d[..12].iter().zip((2..=13).rev()).map(|(digit, weight)| digit * weight).sum();
    (11 - sum % 11) % 10 == d[12]
}

fn indonesian_nik_date(d: &[u32]) -> bool {
    if d.len() != 16 {
        return false;
    }
    let day = number(&d[6..8]);
    let day = if day > 40 { day - 40 } else { day };
    (11..=94).contains(&number(&d[0..2])) && is_real_date(day, number(&d[8..10]))
}

fn malaysian_mykad_date(d: &[u32]) -> bool {
    d.len() == 12 && is_real_date(number(&d[4..6]), number(&d[2..4])) && number(&d[6..8]) != 0
}

fn vietnamese_cccd_province(d: &[u32]) -> bool {
    d.len() == 12 && (1..=96).contains(&number(&d[0..3])) && d[3] <= 3
}

fn is_numeric_date(s: &str) -> bool {
    let groups: Vec<&str> = s.split(['/', '.', '-']).map(str::trim).collect();
    groups.len() == 3
        && groups.iter().all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
        && (groups[0].len() == 4 || groups[2].len() == 4 || groups[2].len() == 2)
        && groups[1].len() <= 2
}

fn is_year_list(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .all(|g| g.len() == 4 && (g.starts_with("19") || g.starts_with("20")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thai_check_digit() {
        assert!(thai_id_check_digit(&digits_of("1101700230708")));
        assert!(!thai_id_check_digit(&digits_of("1101700230709")));
    }

    #[test]
    fn embedded_dates() {
        assert!(indonesian_nik_date(&digits_of("3174015203080002")), "a woman born 12 March 2008");
        assert!(!indonesian_nik_date(&digits_of("3174019913080002")));
        assert!(malaysian_mykad_date(&digits_of("080312-10-5678")));
        assert!(!malaysian_mykad_date(&digits_of("081312-10-5678")));
        assert!(vietnamese_cccd_province(&digits_of("001308012345")));
        assert!(!vietnamese_cccd_province(&digits_of("512308012345")));
    }

    #[test]
    fn buddhist_era() {
        assert_eq!(common_era(2547), 2004);
        assert_eq!(common_era(2004), 2004);
    }
}
