//! Countries: assigned ISO 3166-1 alpha-2 codes, checked against the standard's own list.

use std::fmt;

use crate::InvalidValue;

/// An ISO 3166-1 alpha-2 country code: two upper-case letters that the standard's list (the `celes`
/// crate's copy of it) assigns to a country. User-assigned codes (`XX`, `ZZ`, `AA`, `QM`..`QZ`) and
/// unassigned ones are refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Reads the code held in the field named `field`.
    pub fn parse(field: &str, value: &str) -> Result<Country, InvalidValue> {
        let [a, b] = value.as_bytes() else {
            return Err(InvalidValue::new(field, "must be an ISO 3166-1 alpha-2 code of two upper-case letters"));
        };
        if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
            return Err(InvalidValue::new(field, "must be an ISO 3166-1 alpha-2 code of two upper-case letters"));
        }
        match celes::Country::from_alpha2(value) {
            Ok(_) => Ok(Country([*a, *b])),
            Err(_) => {
                Err(InvalidValue::new(field, format!("`{value}` is not an assigned ISO 3166-1 alpha-2 country code")))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The country's short English name, as the standard's list gives it (`Cambodia` for KH).
    pub fn name(&self) -> String {
        celes::Country::from_alpha2(self.as_str()).map_or_else(|_| self.as_str().to_owned(), |c| c.long_name.to_owned())
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
    fn countries_are_two_upper_case_letters() {
        assert!(Country::parse("c", "KH").is_ok());
        assert!(Country::parse("c", "kh").is_err());
        assert!(Country::parse("c", "KHM").is_err());
    }

    #[test]
    fn a_country_is_named_as_the_standard_names_it() {
        assert_eq!(Country::parse("c", "KH").unwrap().name(), "Cambodia");
        assert_eq!(Country::parse("c", "TH").unwrap().name(), "Thailand");
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
