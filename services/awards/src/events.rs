//! Domain events as log payloads: the protobuf message, encoded, with `event_type` = its message name.

use contracts::values::WireError;
use service_runtime::Aggregate;

use crate::domain::award::{self, Award, AwardEvent};

service_runtime::domain_event_codec!(AwardEvent {
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
    TextErased => "AwardTextErased",
    VariationTextErased => "VariationTextErased",
});

impl Aggregate for Award {
    type Event = AwardEvent;
    const STREAM_TYPE: &'static str = "award";
    fn apply(self, event: &AwardEvent) -> Result<Award, WireError> {
        award::apply(self, event)
    }
}
