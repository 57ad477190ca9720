//! The applications domain: pure, synchronous aggregates. Each has `handle(&state, command, ...) ->
//! Result<Vec<Event>, Rejection>` and `apply(state, &event) -> state`; nothing here does IO.
//!
//! Events are the protobuf messages of `grants.applications.v1` (plain data), so what the domain decides
//! is exactly what is stored and published.

pub mod application;
pub mod organisation;
pub mod round;

pub use service_runtime::{Actor, Rejection, Role};

contracts::define_id!(
    /// Identifies a funding round.
    RoundId
);
contracts::define_id!(
    /// Identifies a registered organisation.
    OrganisationId
);
contracts::define_id!(
    /// Identifies an application.
    ApplicationId
);

/// Checks the length of a text field in characters.
pub(crate) fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), Rejection> {
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

/// Checks a list's length.
pub(crate) fn check_count(field: &str, len: usize, min: usize, max: usize) -> Result<(), Rejection> {
    if len < min {
        return Err(Rejection::invalid(field, format!("must hold at least {min}")));
    }
    if len > max {
        return Err(Rejection::invalid(field, format!("must hold at most {max}")));
    }
    Ok(())
}
