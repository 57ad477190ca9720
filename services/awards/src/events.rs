//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use contracts::names::stream;
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
    fn apply(self, event: &AwardEvent) -> Award {
        award::apply(self, event)
    }
}
