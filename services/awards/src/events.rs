//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use prost::Message;
use service_runtime::{Aggregate, DomainEvent};

use crate::domain::award::{self, Award, AwardEvent};

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

event_codec!(AwardEvent {
    Offered => "AwardOffered",
    AgreementSet => "AgreementSet",
    AgreementSigned => "AgreementSigned",
    ReportConditionMet => "ReportConditionMet",
    TrancheReleased => "TrancheReleased",
    BudgetReallocated => "BudgetReallocated",
    VariationRequested => "VariationRequested",
    VariationApproved => "VariationApproved",
    VariationDeclined => "VariationDeclined",
    Suspended => "AwardSuspended",
    Resumed => "AwardResumed",
    Terminated => "AwardTerminated",
    Closed => "AwardClosed",
});

impl Aggregate for Award {
    type Event = AwardEvent;
    const STREAM_TYPE: &'static str = "award";
    fn apply(self, event: &AwardEvent) -> Award {
        award::apply(self, event)
    }
}
