//! Typed identifiers: UUID newtypes with one spelling, so that a string id names one object everywhere.

use uuid::Uuid;

use crate::InvalidValue;

/// Parses an identifier held in a string field: a UUID in its canonical spelling, lowercase and hyphenated.
///
/// One spelling only, so that a string id names one object wherever it is compared, stored or used as a
/// key: an upper-case or braced spelling is refused rather than quietly read as the same UUID (a retried
/// request in another spelling would otherwise be a new request).
pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, InvalidValue> {
    const RULE: &str = "must be a UUID in lowercase hyphenated form (8-4-4-4-12 hexadecimal digits, a-f lower case)";
    if value.is_empty() {
        return Err(InvalidValue::new(field, "is required"));
    }
    let lowercase = value.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if value.len() != 36 || !lowercase {
        return Err(InvalidValue::new(field, RULE));
    }
    Uuid::try_parse(value).map_err(|_| InvalidValue::new(field, RULE))
}

/// Defines a typed identifier: a UUID newtype parsed from and written as a string (see [`parse_uuid`]).
/// The defining crate depends on `uuid` itself, as it builds ids from UUIDs.
#[macro_export]
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// Parses the id from a string field named `field`.
            pub fn parse(field: &str, value: &str) -> Result<$name, $crate::InvalidValue> {
                $crate::parse_uuid(field, value).map($name)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::define_id!(
        /// An id for the tests of the macro.
        SampleId
    );

    #[test]
    fn ids_are_checked() {
        assert!(parse_uuid("id", "not-a-uuid").is_err());
        assert_eq!(parse_uuid("id", "").unwrap_err().rule, "is required");
        assert!(parse_uuid("id", "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab").is_ok());
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
    fn a_defined_id_parses_naming_its_field_and_displays_in_its_one_spelling() {
        let spelling = "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab";
        let id = SampleId::parse("sample_id", spelling).unwrap();
        assert_eq!(id.to_string(), spelling);
        assert_eq!(SampleId::parse("sample_id", "x").unwrap_err().field, "sample_id");
    }
}
