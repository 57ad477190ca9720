//! What the reporting service does with the awards service's events, consumed from the bus: a signed
//! agreement schedules obligations; variations and reallocations replace the schedule and the budget;
//! released tranches count towards the unspent balance; suspension, resumption and termination hold,
//! extend or cancel open obligations.
//!
//! [`react`] is the closure of the bus's `LogHandler`: its reaction is appended to this service's own log
//! with the consumer's checkpoint in the same atomic append, so an event is applied exactly once whatever
//! the broker redelivers. The appended events are derived deterministically from the consumed one (ids,
//! metadata, and the effective date from its `occurred_at`), and every decision recognises what it
//! already did (a schedule that exists, a variation applied, a tranche recorded, a suspension in force),
//! so even a duplicate that slipped past the checkpoint changes nothing.

use contracts::awards::v1::AwardsEvent as Awards;
use contracts::events::ServiceEvents;
use contracts::names::service;
use domain_kernel::Timestamp;
use event_bus::{LogReaction, Rejection as BusRejection};
use event_log::RecordedEvent;
use service_runtime::EventStore;
use service_runtime::bus::refusal;

use crate::domain::schedule::{self, ReportingEvent, Schedule};
use crate::domain::{AwardId, Rejection, dates};

/// The source services the reporting consumer binds (`<source>.#`).
pub const SOURCES: [&str; 1] = [service::AWARDS];

/// The reaction to one event consumed from `source`: `None` for events the service does not care about
/// (decided without reading the log), a reaction without events for duplicates (it names the stream it
/// read); a rejection (the event goes to the dead-letter queue with the reason) for events
/// that break a rule, for example a suspension of an award whose agreement was never signed, and for an
/// event of a source the service does not consume.
pub fn react(store: &EventStore, source: &str, event: &RecordedEvent) -> Result<Option<LogReaction>, BusRejection> {
    let refuse = |e: &dyn std::fmt::Display| refusal(event, e);
    if source != service::AWARDS {
        return Err(refuse(&format_args!("{} does not consume events of `{source}`", service::REPORTING)));
    }
    let Some(consumed) = Awards::decode(&event.event_type, &event.payload).map_err(|e| refuse(&e))? else {
        return Ok(None);
    };
    let on = dates::date_of(Timestamp::from_micros(event.metadata.occurred_at.as_micros()));
    let react = |award_id: &str, decide: &dyn Fn(&Schedule) -> Result<Vec<ReportingEvent>, Rejection>| {
        let award_id = AwardId::parse("award_id", award_id).map_err(|e| refuse(&e))?;
        store.react::<Schedule>(event, service::REPORTING, &award_id.to_string(), decide)
    };
    match consumed {
        Awards::AgreementSigned(e) => react(&e.award_id, &|s| schedule::on_agreement_signed(s, &e)),
        Awards::VariationApproved(e) => react(&e.award_id, &|s| schedule::on_variation_approved(s, &e, on)),
        Awards::BudgetReallocated(e) => react(&e.award_id, &|s| schedule::on_budget_reallocated(s, &e, on)),
        Awards::TrancheReleased(e) => react(&e.award_id, &|s| schedule::on_tranche_released(s, &e)),
        Awards::AwardSuspended(e) => react(&e.award_id, &|s| schedule::on_suspended(s, &e, on)),
        Awards::AwardResumed(e) => react(&e.award_id, &|s| schedule::on_resumed(s, &e, on)),
        Awards::AwardTerminated(e) => react(&e.award_id, &|s| schedule::on_terminated(s, &e, on)),
        Awards::AwardOffered(_)
        | Awards::AgreementSet(_)
        | Awards::ReportConditionMet(_)
        | Awards::VariationRequested(_)
        | Awards::VariationDeclined(_)
        | Awards::AwardClosed(_)
        | Awards::AwardTextErased(_)
        | Awards::VariationTextErased(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use contracts::awards::v1::AgreementSigned;
    use contracts::events::EventMessage;
    use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId};
    use prost::Message;
    use uuid::Uuid;

    use super::*;

    #[tokio::test]
    async fn an_event_of_a_source_reporting_does_not_consume_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::new(EventLog::open(dir.path()).unwrap());
        let signed = NewEvent {
            event_id: Uuid::new_v4(),
            event_type: AgreementSigned::EVENT_TYPE.into(),
            schema_version: 1,
            payload: AgreementSigned::default().encode_to_vec(),
            metadata: EventMetadata {
                actor: Actor::default(),
                correlation_id: Uuid::new_v4(),
                causation_id: Uuid::new_v4(),
                occurred_at: event_log::Timestamp::now(),
                trace: None,
            },
        };
        store.log().append(StreamId::new("award", "1").unwrap(), ExpectedVersion::Any, vec![signed]).await.unwrap();
        let consumed = store.log().event(0).unwrap().unwrap();

        let refused = react(&store, service::APPLICATIONS, &consumed).unwrap_err();
        assert!(refused.0.contains("reporting does not consume events of `applications`"), "{refused}");
        let refused = react(&store, service::AWARDS, &consumed).unwrap_err();
        assert!(refused.0.contains("award_id"), "read as a signed agreement: {refused}");
    }
}
