//! The applications domain: pure, synchronous aggregates. Each has `handle(&state, command, ...) ->
//! Result<Vec<Event>, Rejection>` and `apply(state, &event) -> Result<state, WireError>`, which reads the
//! event's values into domain values once and names the value it cannot read; nothing here does IO.
//!
//! Events are the protobuf messages of `grants.applications.v1` (plain data), so what the domain decides
//! is exactly what is stored and published.

pub mod application;
pub mod organisation;
pub mod round;

pub(crate) use domain_kernel::field_rules::{check_count, check_text};
pub use domain_kernel::{Actor, Rejection, Role};

domain_kernel::define_id!(
    /// Identifies a funding round.
    RoundId
);
domain_kernel::define_id!(
    /// Identifies a registered organisation.
    OrganisationId
);
domain_kernel::define_id!(
    /// Identifies an application.
    ApplicationId
);
