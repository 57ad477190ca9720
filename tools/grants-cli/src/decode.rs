//! Decoding recorded events into readable JSON with the contracts' own descriptors: no per-event code, so
//! every event type any service records is readable as soon as it is in `proto/`.

use event_log::RecordedEvent;
use std::collections::HashSet;

use contracts::events::message_name;
use contracts::free_text::FreeTextSchema;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, SerializeOptions};
use serde_json::{Value, json};
use uuid::Uuid;

/// Turns payload bytes into JSON by the event type's protobuf message.
#[derive(Debug)]
pub struct PayloadDecoder {
    pool: DescriptorPool,
    /// Subjects whose free text was erased (see `proto/grants/common/v1/free_text.proto`): text recorded in
    /// clear about them, before free text was sealed, is shown as erased.
    erased: HashSet<Uuid>,
}

impl PayloadDecoder {
    pub fn new() -> anyhow::Result<PayloadDecoder> {
        let mut pool = DescriptorPool::decode(contracts::FILE_DESCRIPTOR_SET)?;
        // The log's own events (signed checkpoints) are defined beside the record contract.
        pool.decode_file_descriptor_set(event_log_grpc::FILE_DESCRIPTOR_SET)?;
        Ok(PayloadDecoder { pool, erased: HashSet::new() })
    }

    /// Notes the subject an erasure event erased, so that what was recorded about it in clear reads as
    /// erased; other events are ignored.
    pub fn note_erasure(&mut self, service: &str, event_type: &str, payload: &[u8]) {
        let schema = FreeTextSchema::contracts();
        let Some(descriptor) = schema.message(&message_name(service, event_type)) else { return };
        if !schema.is_erasure(&descriptor) {
            return;
        }
        if let Ok(message) = DynamicMessage::decode(descriptor, payload)
            && let Ok(Some(scope)) = schema.scope(&message)
        {
            self.erased.insert(scope);
        }
    }

    /// Shows as erased the free text `message` holds in clear about an erased subject; tells whether it
    /// held any. Sealed text is ciphertext here in any case: nothing to do.
    fn redact(&self, message: &mut DynamicMessage) -> bool {
        let schema = FreeTextSchema::contracts();
        if self.erased.is_empty() || !schema.carries_free_text(&message.descriptor()) {
            return false;
        }
        if !schema.scope(message).ok().flatten().is_some_and(|scope| self.erased.contains(&scope)) {
            return false;
        }
        let held_text = !schema.take(&mut message.clone()).is_empty();
        schema.mark_erased(message, false);
        held_text
    }

    /// The payload of an event of `service` as JSON, with the contracts' field names. An event type the
    /// contracts do not know, or a payload that does not decode, is shown as hex with the reason.
    pub fn payload(&self, service: &str, event_type: &str, payload: &[u8]) -> Value {
        self.decode(service, event_type, payload).0
    }

    /// As [`PayloadDecoder::payload`], and whether clear text about an erased subject was shown as erased.
    fn decode(&self, service: &str, event_type: &str, payload: &[u8]) -> (Value, bool) {
        let preferred = message_name(service, event_type);
        let descriptor = self.pool.get_message_by_name(&preferred).or_else(|| {
            self.pool.all_messages().find(|m| m.name() == event_type && m.package_name().starts_with("grants."))
        });
        let undecoded = |reason: String| json!({ "undecoded_hex": encode_hex(payload), "reason": reason });
        let Some(descriptor) = descriptor else {
            return (undecoded(format!("unknown event type {event_type}")), false);
        };
        let mut message = match DynamicMessage::decode(descriptor, payload) {
            Ok(message) => message,
            Err(e) => return (undecoded(e.to_string()), false),
        };
        let redacted = self.redact(&mut message);
        let options = SerializeOptions::new().use_proto_field_name(true).skip_default_fields(false);
        let json = message.serialize_with_options(serde_json::value::Serializer, &options);
        (json.unwrap_or_else(|e| undecoded(e.to_string())), redacted)
    }

    /// One recorded event as a JSON object: its envelope, metadata (`traceparent` and `trace_id` only when it
    /// was recorded with a trace context), hash and decoded payload. The record's
    /// bytes (`record_hex`) are left out of an event whose clear text about an erased subject is shown as
    /// erased: they hold that text.
    pub fn event(&self, service: &str, event: &RecordedEvent) -> Value {
        let (payload, redacted) = self.decode(service, &event.event_type, &event.payload);
        let mut row = json!({
            "service": service,
            "position": event.position,
            "stream_type": event.stream.stream_type(),
            "stream_key": event.stream.key(),
            "stream_version": event.stream_version,
            "event_id": event.event_id.to_string(),
            "event_type": event.event_type,
            "schema_version": event.schema_version,
            "actor": {
                "subject": event.metadata.actor.subject,
                "role": event.metadata.actor.role,
                "organisation": event.metadata.actor.organisation,
            },
            "correlation_id": event.metadata.correlation_id.to_string(),
            "causation_id": event.metadata.causation_id.to_string(),
            "occurred_at": rfc3339(event.metadata.occurred_at.as_micros()),
            "recorded_at": rfc3339(event.recorded_at.as_micros()),
            "prev_hash": event.prev_hash.to_hex(),
            "hash": event.hash.to_hex(),
            "record_hex": encode_hex(event.record_bytes()),
            "payload": payload,
        });
        if let (Some(trace), Some(fields)) = (event.metadata.trace, row.as_object_mut()) {
            fields.insert("traceparent".into(), Value::String(trace.to_string()));
            fields.insert("trace_id".into(), Value::String(trace.trace_id()));
        }
        if redacted && let Some(fields) = row.as_object_mut() {
            fields.remove("record_hex");
        }
        row
    }
}

/// Microseconds since the Unix epoch as RFC 3339 UTC, e.g. `2021-07-01T09:30:00.000000Z`.
pub fn rfc3339(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:06}Z",
        of_day / 3600,
        (of_day % 3600) / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Lowercase hex, the form hashes are shown in everywhere.
fn encode_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::events::EventMessage;
    use contracts::names::service::{APPLICATIONS, AWARDS};

    #[test]
    fn text_recorded_in_clear_about_an_erased_subject_is_shown_erased_before_and_after_the_erasure() {
        use contracts::awards::v1 as aw;
        use prost::Message;
        let award = Uuid::new_v4().to_string();
        let suspended = aw::AwardSuspended { award_id: award.clone(), reason: "in clear".into(), sealed_text: None };
        let mut decoder = PayloadDecoder::new().unwrap();
        let shown = decoder.payload(AWARDS, aw::AwardSuspended::EVENT_TYPE, &suspended.encode_to_vec());
        assert_eq!(shown["reason"], "in clear", "nothing erased yet");
        let erasure = aw::AwardTextErased { award_id: award.clone(), reason: 1, erased_by: "officer-1".into() };
        decoder.note_erasure(AWARDS, aw::AwardTextErased::EVENT_TYPE, &erasure.encode_to_vec());
        let shown = decoder.payload(AWARDS, aw::AwardSuspended::EVENT_TYPE, &suspended.encode_to_vec());
        assert_eq!(shown["reason"], contracts::free_text::ERASED_TEXT);
        let other = aw::AwardSuspended { award_id: Uuid::new_v4().to_string(), ..suspended };
        assert_eq!(
            decoder.payload(AWARDS, aw::AwardSuspended::EVENT_TYPE, &other.encode_to_vec())["reason"],
            "in clear"
        );
    }

    #[tokio::test]
    async fn a_row_whose_clear_text_is_shown_erased_leaves_out_the_record_bytes_that_hold_it() {
        use contracts::awards::v1 as aw;
        use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
        use prost::Message;
        let award = Uuid::new_v4().to_string();
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let suspended = |reason: &str| NewEvent {
            event_id: Uuid::new_v4(),
            event_type: aw::AwardSuspended::EVENT_TYPE.into(),
            schema_version: 1,
            payload: aw::AwardSuspended { award_id: award.clone(), reason: reason.into(), sealed_text: None }
                .encode_to_vec(),
            metadata: EventMetadata {
                actor: Actor {
                    subject: "officer-1".into(),
                    role: "program_officer".into(),
                    organisation: String::new(),
                },
                correlation_id: Uuid::new_v4(),
                causation_id: Uuid::new_v4(),
                occurred_at: Timestamp::now(),
                trace: None,
            },
        };
        let stream = StreamId::new(contracts::names::stream::AWARD, &award).unwrap();
        log.append(stream, ExpectedVersion::Any, vec![suspended("in clear"), suspended("")]).await.unwrap();
        let (in_clear, without_text) = (log.event(0).unwrap().unwrap(), log.event(1).unwrap().unwrap());
        let mut decoder = PayloadDecoder::new().unwrap();
        let row = decoder.event(AWARDS, &in_clear);
        assert_eq!(row["record_hex"], encode_hex(in_clear.record_bytes()), "nothing erased yet");

        let erasure = aw::AwardTextErased { award_id: award.clone(), reason: 1, erased_by: "officer-1".into() };
        decoder.note_erasure(AWARDS, aw::AwardTextErased::EVENT_TYPE, &erasure.encode_to_vec());
        let row = decoder.event(AWARDS, &in_clear);
        assert_eq!(row["payload"]["reason"], contracts::free_text::ERASED_TEXT);
        assert!(row.get("record_hex").is_none(), "{row}");
        assert!(!row.to_string().contains(&encode_hex(b"in clear")), "{row}");
        // An event of the same subject with no text in clear keeps its record bytes.
        let row = decoder.event(AWARDS, &without_text);
        assert_eq!(row["record_hex"], encode_hex(without_text.record_bytes()));
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_625_131_800_000_001), "2021-07-01T09:30:00.000001Z");
        assert_eq!(rfc3339(951_782_400_000_000), "2000-02-29T00:00:00.000000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn payloads_decode_by_their_event_type() {
        use prost::Message;
        let decoder = PayloadDecoder::new().unwrap();
        let closed = contracts::applications::v1::RoundClosed { round_id: "r-1".into(), reason: "budget spent".into() };
        let json = decoder.payload(
            APPLICATIONS,
            contracts::applications::v1::RoundClosed::EVENT_TYPE,
            &closed.encode_to_vec(),
        );
        assert_eq!(json, json!({ "round_id": "r-1", "reason": "budget spent" }));
        let unknown = decoder.payload(APPLICATIONS, "NoSuchEvent", b"\x01");
        assert_eq!(unknown["undecoded_hex"], "01");
    }
}
