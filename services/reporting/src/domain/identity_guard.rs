//! The identity guard as the reporting domain applies it to every free-text field (narratives, variance
//! explanations, review reasons). The rules, the rule table and the labelled corpus live in the
//! `identity-guard` crate, shared by every service; this adapter only turns its refusal into the
//! domain's [`Rejection`] (`INVALID_ARGUMENT` naming the field, the rule, the pattern and the character
//! position, never the matched text).

pub use identity_guard::GuardContext;

use super::Rejection;

/// Checks one free-text field.
pub fn check(field: &str, text: &str, ctx: GuardContext) -> Result<(), Rejection> {
    identity_guard::check(field, text, ctx)
        .map_err(|refusal| Rejection::invalid(refusal.field.clone(), refusal.reason()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: GuardContext = GuardContext { reference_year: 2026 };

    #[test]
    fn the_error_names_the_field_and_the_rule_but_not_the_value() {
        let error = check("progress.narrative", "Reached on +855 12 345 678.", CTX).unwrap_err();
        let Rejection::Invalid { field, rule } = &error else { panic!("{error:?}") };
        assert_eq!(field, "progress.narrative");
        assert!(rule.contains("rule `phone-number`, at character 11"), "{rule}");
        assert!(!rule.contains("345"), "the refused value is not echoed: {rule}");
        assert!(check("progress.narrative", "We assisted 45 survivors in 2021.", CTX).is_ok());
    }

    #[test]
    fn rules_of_the_regions_languages_reach_the_service() {
        let error = check("reasons[0]", "กรุณาลบ เบอร์ ๐๘๑-๒๓๔-๕๖๗๘ ออก", CTX).unwrap_err();
        let Rejection::Invalid { field, rule } = &error else { panic!("{error:?}") };
        assert_eq!(field, "reasons[0]");
        assert!(rule.contains("rule `phone-number`"), "{rule}");
        assert!(!rule.contains("234") && !rule.contains("๒๓๔"), "the refused value is not echoed: {rule}");
    }
}
