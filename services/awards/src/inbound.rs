//! What the awards service does with other services' events, consumed from the bus: an approved
//! application opens an award offer, an accepted report meets a reporting requirement.
//!
//! [`react`] is the closure of the bus's `LogHandler`: its reaction is appended to this service's own log
//! with the consumer's checkpoint in the same atomic append, so an event is applied exactly once whatever
//! the broker redelivers. The appended events are derived deterministically from the consumed one (ids,
//! metadata), and the award id from the application id, so even a duplicate that slipped past the
//! checkpoint (for example the same approval published twice under different event ids) finds the award
//! already there and changes nothing.

use contracts::applications::v1::ApplicationApproved;
use contracts::reporting::v1::ReportAccepted;
use event_bus::{LogReaction, Rejection as BusRejection};
use event_log::RecordedEvent;
use prost::Message;
use service_runtime::EventStore;
use service_runtime::command::stream_id;

use crate::domain::award::{self, Award};
use crate::domain::{ApplicationId, AwardId};

/// The source services the awards consumer binds (`<source>.#`).
pub const SOURCES: [&str; 2] = ["applications", "reporting"];

/// The reaction to one consumed event: `None` for events the service does not care about and for
/// duplicates; a rejection (the event goes to the dead-letter queue with the reason) for events that
/// break a rule, for example a report acceptance for a requirement the award does not have.
pub fn react(store: &EventStore, event: &RecordedEvent) -> Result<Option<LogReaction>, BusRejection> {
    let refuse = |e: String| BusRejection::new(format!("{} at position {}: {e}", event.event_type, event.position));
    let (award_id, decided) = match event.event_type.as_str() {
        "ApplicationApproved" => {
            let approved = ApplicationApproved::decode(event.payload.as_slice()).map_err(|e| refuse(e.to_string()))?;
            let application =
                ApplicationId::parse("application_id", &approved.application_id).map_err(|e| refuse(e.to_string()))?;
            let award_id = AwardId::for_application(application);
            let loaded = load(store, award_id).map_err(refuse)?;
            (award_id, award::offer(&loaded.0, &approved).map(|events| (loaded.1, events)))
        }
        "ReportAccepted" => {
            let accepted = ReportAccepted::decode(event.payload.as_slice()).map_err(|e| refuse(e.to_string()))?;
            let award_id = AwardId::parse("award_id", &accepted.award_id).map_err(|e| refuse(e.to_string()))?;
            let loaded = load(store, award_id).map_err(refuse)?;
            (award_id, award::accept_report(&loaded.0, &accepted).map(|events| (loaded.1, events)))
        }
        _ => return Ok(None),
    };
    let (stream_version, events) = decided.map_err(|e| refuse(e.to_string()))?;
    if events.is_empty() {
        return Ok(None);
    }
    let stream = stream_id("award", &award_id.to_string()).map_err(|e| refuse(e.to_string()))?;
    let reaction = store.reaction(event, "awards", stream, stream_version, &events);
    Ok(Some(reaction.map_err(|e| refuse(e.to_string()))?))
}

fn load(store: &EventStore, id: AwardId) -> Result<(Award, Option<u64>), String> {
    let loaded = store.load::<Award>(&id.to_string()).map_err(|e| format!("cannot read award {id}: {e}"))?;
    Ok((loaded.state, loaded.stream_version))
}
