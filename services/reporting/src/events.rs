//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use contracts::values::WireError;
use service_runtime::Aggregate;

use crate::domain::schedule::{self, ReportingEvent, Schedule};

service_runtime::domain_event_codec!(ReportingEvent {
    Scheduled => "ObligationsScheduled",
    Rescheduled => "ObligationsRescheduled",
    Disbursement => "DisbursementRecorded",
    Suspended => "ObligationsSuspended",
    Resumed => "ObligationsResumed",
    Cancelled => "ObligationsCancelled",
    Submitted => "ReportSubmitted",
    RevisionRequested => "RevisionRequested",
    Accepted => "ReportAccepted",
    TextErased => "ReportTextErased",
});

/// Stream type of an award's reporting: `obligations/<award_id>`.
pub const STREAM_TYPE: &str = "obligations";

impl Aggregate for Schedule {
    type Event = ReportingEvent;
    const STREAM_TYPE: &'static str = STREAM_TYPE;
    fn apply(self, event: &ReportingEvent) -> Result<Schedule, WireError> {
        schedule::apply(self, event)
    }
}
