//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use prost::Message;
use service_runtime::{Aggregate, DomainEvent};

use crate::domain::schedule::{self, ReportingEvent, Schedule};

macro_rules! event_codec {
    ($enum:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl DomainEvent for $enum {
            fn event_type(&self) -> &'static str {
                match self { $($enum::$variant(_) => $name),* }
            }

            fn encode_payload(&self) -> Vec<u8> {
                match self { $($enum::$variant(e) => e.encode_to_vec()),* }
            }

            fn decode_payload(event_type: &str, payload: &[u8]) -> Result<Self, String> {
                match event_type {
                    $($name => Message::decode(payload).map($enum::$variant).map_err(|e| format!("{}: {e}", $name)),)*
                    other => Err(format!("unknown event type `{other}`")),
                }
            }
        }
    };
}

event_codec!(ReportingEvent {
    Scheduled => "ObligationsScheduled",
    Rescheduled => "ObligationsRescheduled",
    Disbursement => "DisbursementRecorded",
    Suspended => "ObligationsSuspended",
    Resumed => "ObligationsResumed",
    Cancelled => "ObligationsCancelled",
    Submitted => "ReportSubmitted",
    RevisionRequested => "RevisionRequested",
    Accepted => "ReportAccepted",
});

/// Stream type of an award's reporting: `obligations/<award_id>`.
pub const STREAM_TYPE: &str = "obligations";

impl Aggregate for Schedule {
    type Event = ReportingEvent;
    const STREAM_TYPE: &'static str = STREAM_TYPE;
    fn apply(self, event: &ReportingEvent) -> Schedule {
        schedule::apply(self, event)
    }
}
