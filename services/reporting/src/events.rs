//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

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
    fn apply(self, event: &ReportingEvent) -> Schedule {
        schedule::apply(self, event)
    }
}
