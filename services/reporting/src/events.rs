//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use contracts::values::WireError;
use service_runtime::Aggregate;

use crate::domain::schedule::{self, ReportingEvent, Schedule};

service_runtime::domain_event_codec!(ReportingEvent {
    Scheduled,
    Rescheduled,
    Disbursement,
    Suspended,
    Resumed,
    Cancelled,
    Submitted,
    RevisionRequested,
    Accepted,
    TextErased,
});

/// Stream type of an award's reporting: `obligations/<award_id>`.
pub const STREAM_TYPE: &str = contracts::names::stream::OBLIGATIONS;

impl Aggregate for Schedule {
    type Event = ReportingEvent;
    const STREAM_TYPE: &'static str = STREAM_TYPE;
    fn apply(self, event: &ReportingEvent) -> Result<Schedule, WireError> {
        schedule::apply(self, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::events::ServiceEvents;
    use service_runtime::DomainEvent;

    #[test]
    fn every_event_of_the_contract_is_a_reporting_event() {
        for event_type in contracts::reporting::v1::ReportingEvent::EVENT_TYPES {
            let decoded = ReportingEvent::decode_payload(event_type, &[]).unwrap();
            assert_eq!(decoded.event_type(), *event_type);
        }
    }
}
