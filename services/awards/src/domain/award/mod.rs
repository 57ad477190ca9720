//! Awards: offered from an approved application, agreement set and signed, tranches released when their
//! reports are accepted, varied, suspended, resumed, terminated, closed.
//!
//! [`handle`] decides a command (one function per command, in `agreement`, `tranche`, `variation` and
//! `lifecycle`); [`offer`] and [`accept_report`] decide what other services' events mean for an award;
//! [`apply`] folds an event into the [`Award`], converting its protobuf values into domain values once.

mod agreement;
mod decide;
mod evolve;
mod lifecycle;
mod payment;
mod reactions;
mod state;
mod tranche;
mod variation;

pub use decide::{AwardCommand, Context, handle};
pub use evolve::apply;
pub use payment::{Payment, check_rate};
pub use reactions::{accept_report, offer};
pub use state::{Acceptance, Award, AwardData, AwardEvent, Release, Status, Variation, VariationStatus};
