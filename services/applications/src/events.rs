//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use contracts::names::stream;
use contracts::values::WireError;
use service_runtime::Aggregate;

use crate::domain::application::{self, Application, ApplicationEvent};
use crate::domain::organisation::{self, Organisation, OrganisationEvent};
use crate::domain::round::{self, Round, RoundEvent};

service_runtime::domain_event_codec!(RoundEvent { Opened, Closed });
service_runtime::domain_event_codec!(OrganisationEvent { Registered, ContactPersonErased });
service_runtime::domain_event_codec!(ApplicationEvent {
    Drafted,
    Edited,
    Submitted,
    Withdrawn,
    ReviewerAssigned,
    ConflictOfInterestDeclared,
    ReviewRecorded,
    Approved,
    Rejected,
    TextErased,
});

impl Aggregate for Round {
    type Event = RoundEvent;
    const STREAM_TYPE: &'static str = stream::ROUND;
    fn apply(self, event: &RoundEvent) -> Result<Round, WireError> {
        round::apply(self, event)
    }
}

impl Aggregate for Organisation {
    type Event = OrganisationEvent;
    const STREAM_TYPE: &'static str = stream::ORGANISATION;
    fn apply(self, event: &OrganisationEvent) -> Result<Organisation, WireError> {
        organisation::apply(self, event)
    }
}

impl Aggregate for Application {
    type Event = ApplicationEvent;
    const STREAM_TYPE: &'static str = stream::APPLICATION;
    fn apply(self, event: &ApplicationEvent) -> Result<Application, WireError> {
        application::apply(self, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::applications::v1::ApplicationsEvent;
    use contracts::events::ServiceEvents;
    use service_runtime::DomainEvent;

    #[test]
    fn every_event_of_the_contract_is_recorded_by_exactly_one_aggregate() {
        for event_type in ApplicationsEvent::EVENT_TYPES {
            let recorders = [
                RoundEvent::decode_payload(event_type, &[]).is_ok(),
                OrganisationEvent::decode_payload(event_type, &[]).is_ok(),
                ApplicationEvent::decode_payload(event_type, &[]).is_ok(),
            ];
            assert_eq!(recorders.iter().filter(|r| **r).count(), 1, "{event_type}");
        }
    }
}
