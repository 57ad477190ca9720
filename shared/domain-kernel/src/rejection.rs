//! Why the rules refuse a command or query: a pure value that domains return and services map to a status.

use crate::InvalidValue;

/// Why a command or query was refused by the rules. Messages name the field and the rule.
///
/// Each kind stands for one gRPC status code, chosen in the service runtime's one error map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The input is malformed: `INVALID_ARGUMENT`.
    #[error("`{field}` {rule}")]
    Invalid { field: String, rule: String },
    /// A business rule does not allow it in the current state: `FAILED_PRECONDITION`.
    #[error("`{field}` {rule}")]
    Precondition { field: String, rule: String },
    /// The object does not exist (or is not visible to the caller): `NOT_FOUND`.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The object, or a value that must be unique, exists already: `ALREADY_EXISTS`.
    #[error("{what} already exists: {detail}")]
    Duplicate { what: &'static str, detail: String },
    /// The caller may not do this to this object: `PERMISSION_DENIED`.
    #[error("{0}")]
    NotAllowed(String),
}

impl Rejection {
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Rejection {
        Rejection::Invalid { field: field.into(), rule: rule.into() }
    }

    pub fn precondition(field: impl Into<String>, rule: impl Into<String>) -> Rejection {
        Rejection::Precondition { field: field.into(), rule: rule.into() }
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> Rejection {
        Rejection::NotFound { what, id: id.to_string() }
    }

    pub fn duplicate(what: &'static str, detail: impl Into<String>) -> Rejection {
        Rejection::Duplicate { what, detail: detail.into() }
    }
}

impl From<InvalidValue> for Rejection {
    fn from(e: InvalidValue) -> Self {
        Rejection::Invalid { field: e.field, rule: e.rule }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_value_is_an_invalid_input_with_the_same_message() {
        let value = InvalidValue::new("amount.currency", "must be an ISO 4217 code");
        let message = value.to_string();
        let rejection = Rejection::from(value);
        assert_eq!(rejection, Rejection::invalid("amount.currency", "must be an ISO 4217 code"));
        assert_eq!(rejection.to_string(), message);
        assert_eq!(message, "`amount.currency` must be an ISO 4217 code");
    }
}
