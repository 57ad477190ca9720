//! How a recorded event looks on the wire: body, properties and headers. Consumers in any language can
//! read the headers without decoding the body; the body is the protobuf `EventEnvelope`.

use event_log::{RecordedEvent, TraceContext};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// Header names. Numbers are AMQP long-long integers, everything else a long string. The source service
/// travels in the `app_id` property and the event type in `type`, not again as headers: every byte of a
/// message is written to each quorum queue's log, so nothing is carried twice beyond the headers the
/// contract asks for.
pub mod header {
    /// `<stream type>/<stream key>`.
    pub const STREAM_ID: &str = "stream-id";
    pub const STREAM_VERSION: &str = "stream-version";
    /// Position in the source service's log.
    pub const GLOBAL_POSITION: &str = "global-position";
    pub const SCHEMA_VERSION: &str = "schema-version";
    pub const CORRELATION_ID: &str = "correlation-id";
    /// The event's chained hash, lowercase hex.
    pub const HASH: &str = "hash";
    /// The W3C trace context the event was recorded in (`00-<32 hex trace id>-<16 hex span id>-<2 hex
    /// flags>`), as its record's `traceparent` holds it; absent when the event has none. A consumer
    /// continues the trace: what it records in reaction carries the same trace id and a span id of its own.
    pub const TRACEPARENT: &str = "traceparent";
    /// The full event type, only on the rare event whose type is longer than the 255 bytes the `type`
    /// property holds.
    pub const EVENT_TYPE: &str = "event-type";
    /// Why a message was dead-lettered by the consumer.
    pub const DEAD_LETTER_REASON: &str = "x-dead-letter-reason";
    /// Microseconds since the Unix epoch when the consumer dead-lettered the message.
    pub const DEAD_LETTERED_AT: &str = "x-dead-lettered-at";
    /// The routing key the message had before it was dead-lettered.
    pub const ORIGINAL_ROUTING_KEY: &str = "x-original-routing-key";
    /// Set on a dead letter sent back to its consumer queue: the consumer applies it even though the
    /// position was skipped when it was dead-lettered.
    pub const REPLAYED: &str = "x-replayed";
    /// Set by the broker when it dead-letters a message (delivery limit reached).
    pub const BROKER_DEATH_REASON: &str = "x-first-death-reason";
}

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// Longest AMQP short string (routing keys, the `type` and `message_id` properties).
const SHORT_STRING_MAX: usize = 255;

/// `<service>.<EventType>`, cut at 255 bytes: consumers bind `<service>.#`, so a cut key still routes.
pub fn routing_key(service: &str, event_type: &str) -> String {
    truncate(format!("{service}.{event_type}"), SHORT_STRING_MAX)
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn long(value: impl Into<String>) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.into()))
}

fn number(value: u64) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Properties of the message that carries `event` from `service`'s log.
pub fn event_properties(service: &str, event: &RecordedEvent) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(ShortString::from(header::STREAM_ID), long(event.stream.to_string()));
    headers.insert(ShortString::from(header::STREAM_VERSION), number(event.stream_version));
    headers.insert(ShortString::from(header::GLOBAL_POSITION), number(event.position));
    headers.insert(ShortString::from(header::SCHEMA_VERSION), number(u64::from(event.schema_version)));
    headers.insert(
        ShortString::from(header::CORRELATION_ID),
        long(event.metadata.correlation_id.hyphenated().to_string()),
    );
    headers.insert(ShortString::from(header::HASH), long(event.hash.to_string()));
    if let Some(trace) = event.metadata.trace {
        headers.insert(ShortString::from(header::TRACEPARENT), long(trace.to_string()));
    }
    if event.event_type.len() > SHORT_STRING_MAX {
        headers.insert(ShortString::from(header::EVENT_TYPE), long(event.event_type.clone()));
    }
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type(ShortString::from("application/x-protobuf"))
        .with_message_id(ShortString::from(event.event_id.hyphenated().to_string()))
        .with_type(ShortString::from(truncate(event.event_type.clone(), SHORT_STRING_MAX)))
        .with_app_id(ShortString::from(service))
        .with_timestamp(u64::try_from(event.recorded_at.as_micros() / 1_000_000).unwrap_or(0))
        .with_headers(headers)
}

/// A header as text, whatever string type the sender used.
pub fn text_header(properties: &BasicProperties, name: &str) -> Option<String> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// A header as an unsigned number, whatever integer type the sender used.
pub fn number_header(properties: &BasicProperties, name: &str) -> Option<u64> {
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::Timestamp(n) => Some(*n),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        _ => None,
    }
}

pub(crate) fn bool_header(properties: &BasicProperties, name: &str) -> bool {
    matches!(properties.headers().as_ref().and_then(|h| h.inner().get(name)), Some(AMQPValue::Boolean(true)))
}

/// The source service of a delivery: its `app_id`, else the first word of its routing key.
pub(crate) fn source_of(properties: &BasicProperties, routing_key: &str) -> Option<String> {
    source_service(properties).or_else(|| routing_key.split('.').next().filter(|s| !s.is_empty()).map(str::to_owned))
}

/// The service whose log a message comes from, as its relay set it.
pub fn source_service(properties: &BasicProperties) -> Option<String> {
    properties.app_id().as_ref().map(|id| id.as_str().to_owned()).filter(|id| !id.is_empty())
}

/// The full event type of a message: its header when the type was too long for the `type` property.
pub fn event_type(properties: &BasicProperties) -> Option<String> {
    text_header(properties, header::EVENT_TYPE).or_else(|| properties.kind().as_ref().map(|t| t.as_str().to_owned()))
}

/// The trace context of a message: its `traceparent` header, when there is one that reads.
pub fn trace_context(properties: &BasicProperties) -> Option<TraceContext> {
    text_header(properties, header::TRACEPARENT).and_then(|value| TraceContext::parse(&value))
}

/// `properties` with `entries` added to (or replacing) its headers and the `removed` headers gone.
pub(crate) fn with_headers(
    properties: &BasicProperties,
    entries: Vec<(&str, AMQPValue)>,
    removed: &[&str],
) -> BasicProperties {
    let mut headers = properties.headers().as_ref().map(|h| h.inner().clone()).unwrap_or_default();
    for key in removed {
        headers.remove(*key);
    }
    for (key, value) in entries {
        headers.insert(ShortString::from(key), value);
    }
    properties.clone().with_headers(FieldTable::from(headers))
}

pub(crate) fn text_value(value: impl Into<String>) -> AMQPValue {
    long(value)
}

pub(crate) fn number_value(value: u64) -> AMQPValue {
    number(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_are_cut_at_a_character_boundary() {
        assert_eq!(routing_key("awards", "AwardOffered"), "awards.AwardOffered");
        let long_type = "é".repeat(200);
        let key = routing_key("awards", &long_type);
        assert!(key.len() <= 255);
        assert!(key.starts_with("awards.é"));
    }

    #[tokio::test]
    async fn the_trace_context_travels_in_its_own_header_when_the_event_has_one() {
        use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
        let trace = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let event = |trace| NewEvent {
            event_id: uuid::Uuid::new_v4(),
            event_type: "AwardOffered".into(),
            schema_version: 1,
            payload: Vec::new(),
            metadata: EventMetadata {
                actor: Actor::default(),
                correlation_id: uuid::Uuid::new_v4(),
                causation_id: uuid::Uuid::new_v4(),
                occurred_at: Timestamp::now(),
                trace,
            },
        };
        let stream = StreamId::new("award", "a").unwrap();
        log.append(stream, ExpectedVersion::Any, vec![event(Some(trace)), event(None)]).await.unwrap();
        let recorded: Vec<_> = log.read_all(0).map(Result::unwrap).collect();
        let traced = event_properties("awards", &recorded[0]);
        assert_eq!(text_header(&traced, header::TRACEPARENT), Some(trace.to_string()));
        assert_eq!(trace_context(&traced), Some(trace));
        let untraced = event_properties("awards", &recorded[1]);
        assert_eq!(text_header(&untraced, header::TRACEPARENT), None);
        let malformed = with_headers(&traced, vec![(header::TRACEPARENT, long("00-zz"))], &[]);
        assert_eq!(trace_context(&malformed), None, "a malformed header is ignored");
    }

    #[test]
    fn numbers_are_read_from_any_integer_type() {
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from("a"), AMQPValue::LongLongInt(7));
        headers.insert(ShortString::from("b"), AMQPValue::ShortShortUInt(3));
        headers.insert(ShortString::from("c"), AMQPValue::LongInt(-1));
        let properties = BasicProperties::default().with_headers(headers);
        assert_eq!(number_header(&properties, "a"), Some(7));
        assert_eq!(number_header(&properties, "b"), Some(3));
        assert_eq!(number_header(&properties, "c"), None);
        assert_eq!(number_header(&properties, "missing"), None);
    }
}
