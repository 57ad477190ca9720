//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use contracts::values::WireError;
use service_runtime::Aggregate;

use crate::domain::application::{self, Application, ApplicationEvent};
use crate::domain::organisation::{self, Organisation, OrganisationEvent};
use crate::domain::round::{self, Round, RoundEvent};

service_runtime::domain_event_codec!(RoundEvent { Opened => "RoundOpened", Closed => "RoundClosed" });
service_runtime::domain_event_codec!(OrganisationEvent { Registered => "OrganisationRegistered", ContactPersonErased => "ContactPersonErased" });
service_runtime::domain_event_codec!(ApplicationEvent {
    Drafted => "ApplicationDrafted",
    Edited => "ApplicationEdited",
    Submitted => "ApplicationSubmitted",
    Withdrawn => "ApplicationWithdrawn",
    ReviewerAssigned => "ReviewerAssigned",
    ConflictOfInterestDeclared => "ConflictOfInterestDeclared",
    ReviewRecorded => "ReviewRecorded",
    Approved => "ApplicationApproved",
    Rejected => "ApplicationRejected",
    TextErased => "ApplicationTextErased",
});

impl Aggregate for Round {
    type Event = RoundEvent;
    const STREAM_TYPE: &'static str = "round";
    fn apply(self, event: &RoundEvent) -> Result<Round, WireError> {
        round::apply(self, event)
    }
}

impl Aggregate for Organisation {
    type Event = OrganisationEvent;
    const STREAM_TYPE: &'static str = "organisation";
    fn apply(self, event: &OrganisationEvent) -> Result<Organisation, WireError> {
        organisation::apply(self, event)
    }
}

impl Aggregate for Application {
    type Event = ApplicationEvent;
    const STREAM_TYPE: &'static str = "application";
    fn apply(self, event: &ApplicationEvent) -> Result<Application, WireError> {
        application::apply(self, event)
    }
}
