//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use prost::Message;
use service_runtime::{Aggregate, DomainEvent};

use crate::domain::application::{self, Application, ApplicationEvent};
use crate::domain::organisation::{self, Organisation, OrganisationEvent};
use crate::domain::round::{self, Round, RoundEvent};

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

event_codec!(RoundEvent { Opened => "RoundOpened", Closed => "RoundClosed" });
event_codec!(OrganisationEvent { Registered => "OrganisationRegistered", ContactPersonErased => "ContactPersonErased" });
event_codec!(ApplicationEvent {
    Drafted => "ApplicationDrafted",
    Edited => "ApplicationEdited",
    Submitted => "ApplicationSubmitted",
    Withdrawn => "ApplicationWithdrawn",
    ReviewerAssigned => "ReviewerAssigned",
    ConflictOfInterestDeclared => "ConflictOfInterestDeclared",
    ReviewRecorded => "ReviewRecorded",
    Approved => "ApplicationApproved",
    Rejected => "ApplicationRejected",
});

impl Aggregate for Round {
    type Event = RoundEvent;
    const STREAM_TYPE: &'static str = "round";
    fn apply(self, event: &RoundEvent) -> Round {
        round::apply(self, event)
    }
}

impl Aggregate for Organisation {
    type Event = OrganisationEvent;
    const STREAM_TYPE: &'static str = "organisation";
    fn apply(self, event: &OrganisationEvent) -> Organisation {
        organisation::apply(self, event)
    }
}

impl Aggregate for Application {
    type Event = ApplicationEvent;
    const STREAM_TYPE: &'static str = "application";
    fn apply(self, event: &ApplicationEvent) -> Application {
        application::apply(self, event)
    }
}
