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

use contracts::awards::v1 as awards;
use domain_kernel::Timestamp;
use event_bus::{LogReaction, Rejection as BusRejection};
use event_log::RecordedEvent;
use prost::Message;
use service_runtime::EventStore;
use service_runtime::command::stream_id;

use crate::domain::schedule::{self, ReportingEvent, Schedule};
use crate::domain::{AwardId, Rejection, dates};
use crate::events::STREAM_TYPE;

/// The source services the reporting consumer binds (`<source>.#`).
pub const SOURCES: [&str; 1] = ["awards"];

fn decode<M: Message + Default>(event: &RecordedEvent) -> Result<M, String> {
    M::decode(event.payload.as_slice()).map_err(|e| e.to_string())
}

/// The reaction to one consumed event: `None` for events the service does not care about and for
/// duplicates; a rejection (the event goes to the dead-letter queue with the reason) for events that
/// break a rule, for example a suspension of an award whose agreement was never signed.
pub fn react(store: &EventStore, event: &RecordedEvent) -> Result<Option<LogReaction>, BusRejection> {
    let refuse = |e: String| BusRejection::new(format!("{} at position {}: {e}", event.event_type, event.position));
    let on = dates::date_of(Timestamp::from_micros(event.metadata.occurred_at.as_micros()));
    type Decide = Box<dyn FnOnce(&Schedule) -> Result<Vec<ReportingEvent>, Rejection>>;
    let (award_id, decide): (String, Decide) = match event.event_type.as_str() {
        "AgreementSigned" => {
            let e: awards::AgreementSigned = decode(event).map_err(refuse)?;
            (e.award_id.clone(), Box::new(move |s| schedule::on_agreement_signed(s, &e)))
        }
        "VariationApproved" => {
            let e: awards::VariationApproved = decode(event).map_err(refuse)?;
            (e.award_id.clone(), Box::new(move |s| schedule::on_variation_approved(s, &e, on)))
        }
        "BudgetReallocated" => {
            let e: awards::BudgetReallocated = decode(event).map_err(refuse)?;
            (e.award_id.clone(), Box::new(move |s| schedule::on_budget_reallocated(s, &e, on)))
        }
        "TrancheReleased" => {
            let e: awards::TrancheReleased = decode(event).map_err(refuse)?;
            (e.award_id.clone(), Box::new(move |s| schedule::on_tranche_released(s, &e)))
        }
        "AwardSuspended" => {
            let e: awards::AwardSuspended = decode(event).map_err(refuse)?;
            (e.award_id.clone(), Box::new(move |s| schedule::on_suspended(s, &e, on)))
        }
        "AwardResumed" => {
            let e: awards::AwardResumed = decode(event).map_err(refuse)?;
            (e.award_id.clone(), Box::new(move |s| schedule::on_resumed(s, &e, on)))
        }
        "AwardTerminated" => {
            let e: awards::AwardTerminated = decode(event).map_err(refuse)?;
            (e.award_id.clone(), Box::new(move |s| schedule::on_terminated(s, &e, on)))
        }
        _ => return Ok(None),
    };
    let award_id = AwardId::parse("award_id", &award_id).map_err(|e| refuse(e.to_string()))?;
    let loaded = store
        .load::<Schedule>(&award_id.to_string())
        .map_err(|e| refuse(format!("cannot read the reporting of award {award_id}: {e}")))?;
    let events = decide(&loaded.state).map_err(|e| refuse(e.to_string()))?;
    if events.is_empty() {
        return Ok(None);
    }
    let stream = stream_id(STREAM_TYPE, &award_id.to_string()).map_err(|e| refuse(e.to_string()))?;
    let reaction = store.reaction(event, "reporting", stream, loaded.stream_version, &events);
    Ok(Some(reaction.map_err(|e| refuse(e.to_string()))?))
}
