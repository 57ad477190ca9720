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
use contracts::events::ServiceEvents;
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

/// What one consumed event makes of the awards log.
type Reaction = Result<Option<LogReaction>, BusRejection>;

/// The reaction to one event consumed from `source`: `None` for events the service does not care about
/// (decided without reading the log), a reaction without events for duplicates (it names the stream it
/// read); a rejection (the event goes to the dead-letter queue with the reason) for events
/// that break a rule, for example a report acceptance for a requirement the award does not have, and for
/// an event of a source the service does not consume.
pub fn react(store: &EventStore, source: &str, event: &RecordedEvent) -> Reaction {
    match source {
        service::APPLICATIONS => on_applications(store, event),
        service::REPORTING => on_reporting(store, event),
        other => Err(refusal(event, &format_args!("{} does not consume events of `{other}`", service::AWARDS))),
    }
}

/// `event` decoded by the contract of the service `E` names; `None` for a type it does not know.
fn decoded<E: ServiceEvents>(event: &RecordedEvent) -> Result<Option<E>, BusRejection> {
    E::decode(&event.event_type, &event.payload).map_err(|e| refusal(event, &e))
}

/// The decision about the award `award_id`, as a reaction to `event`.
fn react_on(
    store: &EventStore,
    event: &RecordedEvent,
    award_id: AwardId,
    decide: &dyn Fn(&Award) -> Result<Vec<AwardEvent>, Rejection>,
) -> Reaction {
    store.react::<Award>(event, service::AWARDS, &award_id.to_string(), decide)
}

fn on_applications(store: &EventStore, event: &RecordedEvent) -> Reaction {
    let Some(consumed) = decoded::<Applications>(event)? else { return Ok(None) };
    match consumed {
        Applications::ApplicationApproved(approved) => {
            let application =
                ApplicationId::parse("application_id", &approved.application_id).map_err(|e| refusal(event, &e))?;
            react_on(store, event, AwardId::for_application(application), &|award| award::offer(award, &approved))
        }
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
        | Applications::ApplicationTextErased(_) => Ok(None),
    }
}

fn on_reporting(store: &EventStore, event: &RecordedEvent) -> Reaction {
    let Some(consumed) = decoded::<Reporting>(event)? else { return Ok(None) };
    match consumed {
        Reporting::ReportAccepted(accepted) => {
            let award_id = AwardId::parse("award_id", &accepted.award_id).map_err(|e| refusal(event, &e))?;
            react_on(store, event, award_id, &|award| award::accept_report(award, &accepted))
        }
        Reporting::ObligationsScheduled(_)
        | Reporting::ObligationsRescheduled(_)
        | Reporting::DisbursementRecorded(_)
        | Reporting::ObligationsSuspended(_)
        | Reporting::ObligationsResumed(_)
        | Reporting::ObligationsCancelled(_)
        | Reporting::ReportSubmitted(_)
        | Reporting::RevisionRequested(_)
        | Reporting::ReportTextErased(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use contracts::applications::v1::ApplicationApproved;
    use contracts::events::EventMessage;
    use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
    use prost::Message;
    use uuid::Uuid;

    use super::*;

    /// An approval with no application id, as the applications service would have published it.
    async fn approval_without_id(log: &EventLog) -> RecordedEvent {
        let event = NewEvent {
            event_id: Uuid::new_v4(),
            event_type: ApplicationApproved::EVENT_TYPE.into(),
            schema_version: 1,
            payload: ApplicationApproved::default().encode_to_vec(),
            metadata: EventMetadata {
                actor: Actor::default(),
                correlation_id: Uuid::new_v4(),
                causation_id: Uuid::new_v4(),
                occurred_at: Timestamp::now(),
                trace: None,
            },
        };
        log.append(StreamId::new("application", "1").unwrap(), ExpectedVersion::Any, vec![event]).await.unwrap();
        log.event(0).unwrap().unwrap()
    }

    #[tokio::test]
    async fn an_event_is_read_by_the_contract_of_the_source_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::new(EventLog::open(dir.path()).unwrap());
        let approval = approval_without_id(store.log()).await;

        let refused = react(&store, service::APPLICATIONS, &approval).unwrap_err();
        assert!(refused.0.contains("application_id"), "read as an approval: {refused}");
        // Reporting's contract has no event of that name: nothing to do.
        assert!(react(&store, service::REPORTING, &approval).unwrap().is_none());
        let refused = react(&store, service::PROJECTOR, &approval).unwrap_err();
        assert!(refused.0.contains("awards does not consume events of `projector`"), "{refused}");
    }
}
