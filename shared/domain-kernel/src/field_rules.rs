//! The field rules every service's domain checks the same way, with rejections that name the field and
//! the rule. Pure: domain modules use them without any IO.

use crate::Rejection;

/// The length of a text field in characters, and that it holds no control characters but line breaks and
/// tabs.
pub fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), Rejection> {
    let len = value.chars().count();
    if len < min {
        return Err(if min == 1 {
            Rejection::invalid(field, "is required")
        } else {
            Rejection::invalid(field, format!("must be at least {min} characters"))
        });
    }
    if len > max {
        return Err(Rejection::invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(Rejection::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// A list's length.
pub fn check_count(field: &str, len: usize, min: usize, max: usize) -> Result<(), Rejection> {
    if len < min {
        return Err(Rejection::invalid(field, format!("must hold at least {min}")));
    }
    if len > max {
        return Err(Rejection::invalid(field, format!("must hold at most {max}")));
    }
    Ok(())
}

/// A short identifier chosen by staff (`line_id`, `tranche_id`, `report_ref`): 1 to 64 of a-z, 0-9, '_', '-'.
pub fn check_short_id(field: &str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(Rejection::invalid(field, "is required"));
    }
    if value.len() > 64
        || !value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(Rejection::invalid(field, "must be 1 to 64 characters of a-z, 0-9, '_' and '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<(), Rejection>) -> Option<String> {
        match result {
            Err(Rejection::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(check_text("title", "ok", 1, 10), Ok(()));
        assert_eq!(field_of(check_text("title", "", 1, 10)).as_deref(), Some("title"));
        assert!(check_text("title", "eleven chars", 1, 10).is_err());
        assert!(check_text("title", "bell\u{7}", 1, 10).is_err());
        assert_eq!(check_text("narrative", "line one\nline two", 1, 100), Ok(()));
        assert_eq!(check_count("reasons", 2, 1, 3), Ok(()));
        assert_eq!(field_of(check_count("reasons", 0, 1, 3)).as_deref(), Some("reasons"));
        assert!(check_count("reasons", 4, 1, 3).is_err());
        assert_eq!(check_short_id("tranche_id", "t-1_final"), Ok(()));
        assert!(check_short_id("tranche_id", "T1").is_err());
        assert!(check_short_id("tranche_id", &"a".repeat(65)).is_err());
        assert_eq!(field_of(check_short_id("report_ref", "")).as_deref(), Some("report_ref"));
    }
}
