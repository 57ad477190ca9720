//! The services' events as types: one enum per service package with a variant per event message of its
//! `events.proto`, decoded once from a recorded event's `event_type` and payload.
//!
//! The list of events is not written here: the build script reads it from the compiled descriptors
//! (every message of an `events.proto` that no other message of that file embeds), so an event added to
//! the contract is a new variant, and every consumer that matches exhaustively fails to compile until it
//! says what the event means to it.

use prost::Message;

/// A protobuf message recorded as an event: its `event_type` in the log is [`EventMessage::EVENT_TYPE`].
pub trait EventMessage: Message + Default {
    /// The message name, e.g. `ApplicationApproved`.
    const EVENT_TYPE: &'static str;
}

/// The events one service records, as one enum.
pub trait ServiceEvents: Sized {
    /// The service whose log records these events (see [`crate::names::service`]).
    const SERVICE: &'static str;

    /// Every event type of the service, in the order its `events.proto` declares them.
    const EVENT_TYPES: &'static [&'static str];

    /// Decodes a recorded event: `Ok(None)` for an event type this version of the contract does not
    /// know (a newer producer), an error naming the type for a payload that does not decode.
    fn decode(event_type: &str, payload: &[u8]) -> Result<Option<Self>, UndecodableEvent>;

    /// The event's type name, as recorded.
    fn event_type(&self) -> &'static str;
}

/// A payload that does not decode as the message its event type names.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`payload` of {event_type} does not decode: {source}")]
pub struct UndecodableEvent {
    pub event_type: &'static str,
    #[source]
    pub source: prost::DecodeError,
}

/// The full protobuf name of the message of `event_type` in the log of `service`: each service's events
/// are in its own package, `grants.<service>.v1`.
pub fn message_name(service: &str, event_type: &str) -> String {
    format!("grants.{service}.v1.{event_type}")
}

/// Decodes `payload` as the message `M`, naming `M` when it does not decode.
pub fn decode_message<M: EventMessage>(payload: &[u8]) -> Result<M, UndecodableEvent> {
    M::decode(payload).map_err(|source| UndecodableEvent { event_type: M::EVENT_TYPE, source })
}

/// Defines, from the list the build script writes, each service's event enum.
macro_rules! event_catalogue {
    ($($service:ident($enum:ident) = $package:ident { $($event:ident),* $(,)? }),* $(,)?) => {
        $(
            #[doc = concat!("Every event of `grants.", stringify!($package), ".v1`, one variant per message of its `events.proto`.")]
            // Decoded once and matched by value: boxing the larger messages would only burden every match.
            #[allow(clippy::large_enum_variant)]
            #[derive(Clone, Debug, PartialEq)]
            pub enum $enum {
                $($event(crate::$package::v1::$event),)*
            }

            $(
                impl EventMessage for crate::$package::v1::$event {
                    const EVENT_TYPE: &'static str = stringify!($event);
                }
            )*

            impl ServiceEvents for $enum {
                const SERVICE: &'static str = stringify!($package);
                const EVENT_TYPES: &'static [&'static str] = &[$(stringify!($event)),*];

                fn decode(event_type: &str, payload: &[u8]) -> Result<Option<Self>, UndecodableEvent> {
                    match event_type {
                        $(stringify!($event) => decode_message(payload).map($enum::$event).map(Some),)*
                        _ => Ok(None),
                    }
                }

                fn event_type(&self) -> &'static str {
                    match self {
                        $($enum::$event(_) => stringify!($event),)*
                    }
                }
            }
        )*
    };
}

include!(concat!(env!("OUT_DIR"), "/event_catalogue.rs"));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::service;

    #[test]
    fn every_event_of_the_contracts_is_listed_and_no_part_of_an_event_is() {
        let round = crate::applications::v1::RoundClosed { round_id: "r-1".into(), reason: "spent".into() };
        let decoded = ApplicationsEvent::decode("RoundClosed", &round.encode_to_vec()).unwrap();
        assert_eq!(decoded, Some(ApplicationsEvent::RoundClosed(round)));
        assert_eq!(crate::awards::v1::TrancheReleased::EVENT_TYPE, "TrancheReleased");
        // Parts of events are not events.
        assert_eq!(AwardsEvent::decode("GatingReport", &[]).unwrap(), None);
        assert_eq!(ReportingEvent::decode("DueDateExtension", &[]).unwrap(), None);
        assert_eq!(
            (ApplicationsEvent::SERVICE, AwardsEvent::SERVICE, ReportingEvent::SERVICE),
            (service::APPLICATIONS, service::AWARDS, service::REPORTING)
        );
    }

    #[test]
    fn the_event_enums_hold_every_top_level_event_message_of_the_descriptors() {
        let pool = prost_reflect::DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let file = |package: &str| pool.get_file_by_name(&format!("grants/{package}/v1/events.proto")).unwrap();
        let event_types = |package: &str| match package {
            "applications" => ApplicationsEvent::EVENT_TYPES,
            "awards" => AwardsEvent::EVENT_TYPES,
            _ => ReportingEvent::EVENT_TYPES,
        };
        let listed =
            |package: &str| file(package).messages().filter(|m| event_types(package).contains(&m.name())).count();
        assert_eq!(listed("applications"), 14);
        assert_eq!(ApplicationsEvent::EVENT_TYPES.len(), 14);
        assert_eq!(AwardsEvent::EVENT_TYPES.len(), listed("awards"));
        assert_eq!(ReportingEvent::EVENT_TYPES.len(), listed("reporting"));
        assert_eq!(listed("awards"), file("awards").messages().count() - 1, "all but GatingReport");
        assert_eq!(listed("reporting"), file("reporting").messages().count() - 1, "all but DueDateExtension");
    }

    #[test]
    fn an_event_s_message_is_named_by_its_service_s_package() {
        let pool = prost_reflect::DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let name = message_name(AwardsEvent::SERVICE, crate::awards::v1::AwardOffered::EVENT_TYPE);
        assert_eq!(pool.get_message_by_name(&name).map(|m| m.name().to_owned()).as_deref(), Some("AwardOffered"));
    }

    #[test]
    fn an_undecodable_payload_names_its_type_and_keeps_the_cause() {
        let error = AwardsEvent::decode("AwardSuspended", &[0x0a, 0x05, b'a']).unwrap_err();
        assert_eq!(error.event_type, "AwardSuspended");
        assert!(error.to_string().starts_with("`payload` of AwardSuspended does not decode: "), "{error}");
        assert!(std::error::Error::source(&error).is_some());
    }
}
