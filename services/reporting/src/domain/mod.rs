//! The reporting domain, pure: one aggregate per award, its reporting [`schedule`] (obligations and the
//! reports that fulfil them, with every version and review decision). [`schedule::handle`] decides a
//! partner's or reviewer's command, [`schedule::apply`] folds an event, and the `on_*` functions of
//! [`schedule`] decide what the awards service's events (consumed from the bus) mean for the schedule.
//! [`report`] is what a report says, as domain values; [`content`] checks it against the [`catalogue`]
//! and computes financial variances; [`identity_guard`] applies the shared identity guard (crate
//! `identity-guard`) to free text. Nothing here does IO.
//!
//! Why one aggregate per award rather than one per obligation: an `AgreementSigned` must schedule every
//! obligation of the award in one atomic append together with the bus consumer's checkpoint (a reaction
//! appends to one stream), and suspension, termination and variations change all obligations of an award
//! at once. Obligation and report ids are still derived per obligation (UUID v5 of award id and
//! `report_ref`), so they are stable and a duplicated schedule can never create a second one.

pub mod catalogue;
pub mod content;
pub mod dates;
pub mod identity_guard;
pub mod report;
pub mod schedule;

pub(crate) use domain_kernel::field_rules::{check_short_id, check_text};
pub use domain_kernel::{Actor, Rejection, Role};
use uuid::Uuid;

domain_kernel::define_id!(
    /// Identifies an award (as the awards service names it).
    AwardId
);
domain_kernel::define_id!(
    /// Identifies a partner organisation.
    OrganisationId
);

/// Namespace of obligation and report ids (documented in `proto/grants/reporting/v1/types.proto`).
pub const OBLIGATION_ID_NAMESPACE: Uuid = Uuid::from_u128(0x4a6f3b0e_2f7c_5b8e_9d3a_1c2b3d4e5f60);

/// The obligation for an award's reporting requirement `report_ref`.
pub fn obligation_id(award: AwardId, report_ref: &str) -> Uuid {
    Uuid::new_v5(&OBLIGATION_ID_NAMESPACE, format!("{award}/{report_ref}").as_bytes())
}

/// The report that fulfils an obligation (one per obligation, with versions).
pub fn report_id(obligation: Uuid) -> Uuid {
    Uuid::new_v5(&OBLIGATION_ID_NAMESPACE, format!("report/{obligation}").as_bytes())
}

#[cfg(test)]
mod tests;
