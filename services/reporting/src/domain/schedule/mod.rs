//! An award's reporting schedule: its obligations (scheduled from the signed agreement, adjusted by
//! variations, suspension and termination) and the report of each obligation with every submitted
//! version and review decision.
//!
//! [`handle`] decides a partner's or reviewer's command (submission in `submission`, review in
//! `decide`); the `on_*` functions of `reactions` decide what the awards service's events mean for the
//! schedule; [`apply`] folds an event into the [`Schedule`].

mod decide;
mod evolve;
mod reactions;
mod state;
mod submission;

pub use decide::{Command, Context, MAX_REASON, MAX_REASONS, Submission, handle};
pub use evolve::apply;
pub use reactions::{
    on_agreement_signed, on_budget_reallocated, on_resumed, on_suspended, on_terminated, on_tranche_released,
    on_variation_approved,
};
pub use state::{ObligationState, ObligationTerms, ReportingEvent, Review, Schedule, ScheduleData, Status, Version};
