//! What the awards service does with other services' events, consumed from the bus: an approved
//! application opens an award offer, an accepted report meets a reporting requirement.
//!
//! [`react`] is the closure of the bus's `LogHandler`: its reaction is appended to this service's own log
//! with the consumer's checkpoint in the same atomic append, so an event is applied exactly once whatever
//! the broker redelivers. The appended events are derived deterministically from the consumed one (ids,
//! metadata), and the award id from the application id, so even a duplicate that slipped past the
//! checkpoint (for example the same approval published twice under different event ids) finds the award
//! already there and changes nothing.

use contracts::applications::v1::ApplicationsEvent as Applications;
use contracts::events::PlatformEvent;
use contracts::names::service;
use contracts::reporting::v1::ReportingEvent as Reporting;
use event_bus::{LogReaction, Rejection as BusRejection};
use event_log::RecordedEvent;
use service_runtime::EventStore;
use service_runtime::bus::refusal;

use crate::domain::award::{self, Award, AwardEvent};
use crate::domain::{ApplicationId, AwardId, Rejection};

/// The source services the awards consumer binds (`<source>.#`).
pub const SOURCES: [&str; 2] = [service::APPLICATIONS, service::REPORTING];

/// The reaction to one consumed event: `None` for events the service does not care about and for
/// duplicates; a rejection (the event goes to the dead-letter queue with the reason) for events that
/// break a rule, for example a report acceptance for a requirement the award does not have.
pub fn react(store: &EventStore, event: &RecordedEvent) -> Result<Option<LogReaction>, BusRejection> {
    let refuse = |e: &dyn std::fmt::Display| refusal(event, e);
    let Some(consumed) = PlatformEvent::decode(&event.event_type, &event.payload).map_err(|e| refuse(&e))? else {
        return Ok(None);
    };
    let react = |award_id: AwardId, decide: &dyn Fn(&Award) -> Result<Vec<AwardEvent>, Rejection>| {
        store.react::<Award>(event, service::AWARDS, &award_id.to_string(), decide)
    };
    match consumed {
        PlatformEvent::Applications(Applications::ApplicationApproved(approved)) => {
            let application =
                ApplicationId::parse("application_id", &approved.application_id).map_err(|e| refuse(&e))?;
            react(AwardId::for_application(application), &|award| award::offer(award, &approved))
        }
        PlatformEvent::Reporting(Reporting::ReportAccepted(accepted)) => {
            let award_id = AwardId::parse("award_id", &accepted.award_id).map_err(|e| refuse(&e))?;
            react(award_id, &|award| award::accept_report(award, &accepted))
        }
        PlatformEvent::Applications(
            Applications::RoundOpened(_)
            | Applications::RoundClosed(_)
            | Applications::OrganisationRegistered(_)
            | Applications::ContactPersonErased(_)
            | Applications::ApplicationDrafted(_)
            | Applications::ApplicationEdited(_)
            | Applications::ApplicationSubmitted(_)
            | Applications::ApplicationWithdrawn(_)
            | Applications::ReviewerAssigned(_)
            | Applications::ConflictOfInterestDeclared(_)
            | Applications::ReviewRecorded(_)
            | Applications::ApplicationRejected(_)
            | Applications::ApplicationTextErased(_),
        )
        | PlatformEvent::Reporting(
            Reporting::ObligationsScheduled(_)
            | Reporting::ObligationsRescheduled(_)
            | Reporting::DisbursementRecorded(_)
            | Reporting::ObligationsSuspended(_)
            | Reporting::ObligationsResumed(_)
            | Reporting::ObligationsCancelled(_)
            | Reporting::ReportSubmitted(_)
            | Reporting::RevisionRequested(_)
            | Reporting::ReportTextErased(_),
        )
        // Not a source: the service's own events never come back to it.
        | PlatformEvent::Awards(_) => Ok(None),
    }
}
