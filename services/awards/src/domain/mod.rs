//! The awards domain: one pure aggregate, the award. [`award::handle`] decides a command and
//! [`award::apply`] folds an event (reading its values into domain values once, or naming the value it
//! cannot read); [`award::offer`] and [`award::accept_report`] decide what the events of other services
//! (consumed from the bus) mean for an award. [`terms`] holds the agreement's terms, their rules, budget
//! reallocations and what a variation changes. Nothing here does IO.
//!
//! Events are the protobuf messages of `grants.awards.v1`, so what the domain decides is exactly what is
//! stored and published.

pub mod award;
pub mod terms;

use domain_kernel::Money;
pub(crate) use domain_kernel::field_rules::{check_count, check_short_id, check_text};
pub use domain_kernel::{Actor, Rejection, Role};
use uuid::Uuid;

domain_kernel::define_id!(
    /// Identifies an award: derived from its application's id ([`AwardId::for_application`]).
    AwardId
);
domain_kernel::define_id!(
    /// Identifies the application an award was offered for.
    ApplicationId
);
domain_kernel::define_id!(
    /// Identifies a funding round.
    RoundId
);
domain_kernel::define_id!(
    /// Identifies a partner organisation.
    OrganisationId
);

/// Namespace of award ids (documented in `proto/grants/awards/v1/events.proto`).
pub const AWARD_ID_NAMESPACE: Uuid = Uuid::from_u128(0xb50490f9_bbab_5315_a862_39862181f947);

impl AwardId {
    /// The award of an application: UUID v5 of the application id, so a duplicated `ApplicationApproved`
    /// (redelivered, or republished with another event id) lands on the same stream.
    pub fn for_application(application: ApplicationId) -> AwardId {
        AwardId(Uuid::new_v5(&AWARD_ID_NAMESPACE, application.0.as_bytes()))
    }
}

/// Sums amounts of one currency; `None` on overflow or mixed currencies.
pub(crate) fn sum<'a>(zero: Money, amounts: impl IntoIterator<Item = &'a Money>) -> Option<Money> {
    amounts.into_iter().try_fold(zero, |total, m| total.checked_add(*m))
}

#[cfg(test)]
mod tests;
