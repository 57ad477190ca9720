//! A value that breaks a rule, with the field it came from, so that every refusal can name both.

/// A value that breaks a rule: `field` is the dotted path of the field (such as `budget_ceiling.currency`),
/// `rule` what the value must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {rule}")]
pub struct InvalidValue {
    pub field: String,
    pub rule: String,
}

impl InvalidValue {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> InvalidValue {
        InvalidValue { field: field.into(), rule: rule.into() }
    }
}
