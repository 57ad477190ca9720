//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use contracts::names::stream;
use contracts::values::WireError;
use service_runtime::Aggregate;

use crate::domain::award::{self, Award, AwardEvent};

service_runtime::domain_event_codec!(AwardEvent {
    Offered,
    AgreementSet,
    AgreementSigned,
    ReportConditionMet,
    TrancheReleased,
    BudgetReallocated,
    VariationRequested,
    VariationApproved,
    VariationDeclined,
    Suspended,
    Resumed,
    Terminated,
    Closed,
    TextErased,
    VariationTextErased,
});

impl Aggregate for Award {
    type Event = AwardEvent;
    const STREAM_TYPE: &'static str = stream::AWARD;
    fn apply(self, event: &AwardEvent) -> Result<Award, WireError> {
        award::apply(self, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::awards::v1::AwardsEvent;
    use contracts::events::ServiceEvents;
    use service_runtime::DomainEvent;

    #[test]
    fn every_event_of_the_contract_is_an_award_event() {
        for event_type in AwardsEvent::EVENT_TYPES {
            let decoded = AwardEvent::decode_payload(event_type, &[]).unwrap();
            assert_eq!(decoded.event_type(), *event_type);
        }
    }
}
