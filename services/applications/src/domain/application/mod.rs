//! Applications: drafted, edited, submitted, withdrawn; reviewed; approved or rejected.
//!
//! [`handle`] decides a command (one function per command, in `submission`, `review` and
//! `decision`); [`apply`] folds an event into the [`Application`], converting its protobuf values into
//! domain values once.

mod content;
mod decide;
mod decision;
mod evolve;
mod review;
mod state;
mod submission;

pub use content::Content;
pub use decide::{ApplicationCommand, Context, handle};
pub use evolve::apply;
pub use state::{Application, ApplicationData, ApplicationEvent, Decision, Review, Reviewer, Status};

#[cfg(test)]
mod tests;
