//! The generated protobuf types stay private to this module; the rest of the crate and its users see only
//! the domain types of [`crate::event`] and the conversions here.

#[allow(clippy::all, missing_debug_implementations, rust_2018_idioms)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/grants.eventlog.v1.rs"));
}

use prost::Message;
use uuid::Uuid;

use crate::chain::Hash;
use crate::event::{Actor, EventMetadata, RecordedEvent, Timestamp};
use crate::stream::StreamId;
use crate::trace::TraceContext;

/// Why stored or received bytes are not a valid record.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record is not a valid EventRecord message: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("record field `{field}` is invalid: {rule}")]
    Field { field: &'static str, rule: String },
}

/// The fields of a record before the log has stored it; the log fills in position, version, times and chain.
pub(crate) struct RecordFields<'a> {
    pub position: u64,
    pub stream: &'a StreamId,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub payload: &'a [u8],
    pub metadata: &'a EventMetadata,
    pub recorded_at: Timestamp,
    pub prev_hash: &'a Hash,
}

/// Canonical bytes of a record (see `proto/grants/eventlog/v1/event_record.proto`).
pub(crate) fn encode_record(fields: &RecordFields<'_>) -> Vec<u8> {
    let actor = &fields.metadata.actor;
    pb::EventRecord {
        position: fields.position,
        stream_type: fields.stream.stream_type().to_owned(),
        stream_key: fields.stream.key().to_owned(),
        stream_version: fields.stream_version,
        event_id: fields.event_id.hyphenated().to_string(),
        event_type: fields.event_type.to_owned(),
        schema_version: fields.schema_version,
        payload: fields.payload.to_vec(),
        actor: Some(pb::Actor {
            subject: actor.subject.clone(),
            role: actor.role.clone(),
            organisation: actor.organisation.clone(),
        }),
        correlation_id: fields.metadata.correlation_id.hyphenated().to_string(),
        causation_id: fields.metadata.causation_id.hyphenated().to_string(),
        occurred_at_micros: fields.metadata.occurred_at.as_micros(),
        recorded_at_micros: fields.recorded_at.as_micros(),
        prev_hash: fields.prev_hash.as_bytes().to_vec(),
        // Empty, and so absent from the canonical bytes, for an event recorded without a trace context.
        traceparent: fields.metadata.trace.map(|trace| trace.to_string()).unwrap_or_default(),
    }
    .encode_to_vec()
}

fn parse_uuid(field: &'static str, text: &str) -> Result<Uuid, DecodeError> {
    Uuid::parse_str(text).map_err(|e| DecodeError::Field { field, rule: format!("must be a UUID ({e})") })
}

/// A record's trace context: none when empty. The log writes only well-formed ones, so a value that does
/// not read is an invalid record, not a trace to ignore.
fn parse_traceparent(text: &str) -> Result<Option<TraceContext>, DecodeError> {
    if text.is_empty() {
        return Ok(None);
    }
    TraceContext::parse(text).map(Some).ok_or_else(|| DecodeError::Field {
        field: "traceparent",
        rule: "must be empty or a W3C traceparent `00-<32 hex>-<16 hex>-<2 hex>`".into(),
    })
}

/// What the chain verifier learns of a record besides its link: enough to recognise an event (a signed
/// checkpoint, for example) without decoding the record a second time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedRecord {
    pub position: u64,
    pub stream_type: String,
    pub stream_key: String,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Vec<u8>,
    pub prev_hash: Hash,
}

/// Decodes a record for the chain verifier and tells whether `record` is its canonical encoding. A decoder
/// also accepts fields in another order, repeated, holding default values or unknown, so the same event could
/// be stored under other bytes and another hash; re-encoding the decoded message (prost writes exactly the
/// canonical form) and comparing is the check every verifier can make. `scratch` is reused between calls.
pub(crate) fn decode_for_chain(record: &[u8], scratch: &mut Vec<u8>) -> Result<(CheckedRecord, bool), DecodeError> {
    let decoded = pb::EventRecord::decode(record)?;
    scratch.clear();
    decoded.encode(scratch).map_err(|e| DecodeError::Field { field: "record", rule: e.to_string() })?;
    let canonical = scratch.as_slice() == record;
    let prev_hash = Hash::from_slice(&decoded.prev_hash)
        .ok_or_else(|| DecodeError::Field { field: "prev_hash", rule: "must be 32 bytes".into() })?;
    let checked = CheckedRecord {
        position: decoded.position,
        stream_type: decoded.stream_type,
        stream_key: decoded.stream_key,
        event_type: decoded.event_type,
        schema_version: decoded.schema_version,
        payload: decoded.payload,
        prev_hash,
    };
    Ok((checked, canonical))
}

/// Decodes canonical record bytes together with the hash stored or received beside them.
pub fn decode_record(record: &[u8], hash: Hash) -> Result<RecordedEvent, DecodeError> {
    let r = pb::EventRecord::decode(record)?;
    let stream = StreamId::new(r.stream_type, r.stream_key)
        .map_err(|e| DecodeError::Field { field: "stream", rule: e.to_string() })?;
    let prev_hash = Hash::from_slice(&r.prev_hash)
        .ok_or_else(|| DecodeError::Field { field: "prev_hash", rule: "must be 32 bytes".into() })?;
    let actor = r.actor.unwrap_or_default();
    Ok(RecordedEvent {
        position: r.position,
        stream,
        stream_version: r.stream_version,
        event_id: parse_uuid("event_id", &r.event_id)?,
        event_type: r.event_type,
        schema_version: r.schema_version,
        payload: r.payload,
        metadata: EventMetadata {
            actor: Actor { subject: actor.subject, role: actor.role, organisation: actor.organisation },
            correlation_id: parse_uuid("correlation_id", &r.correlation_id)?,
            causation_id: parse_uuid("causation_id", &r.causation_id)?,
            occurred_at: Timestamp::from_micros(r.occurred_at_micros),
            trace: parse_traceparent(&r.traceparent)?,
        },
        recorded_at: Timestamp::from_micros(r.recorded_at_micros),
        prev_hash,
        hash,
        record_bytes: record.to_vec(),
    })
}

/// The wire envelope of a recorded event: its canonical record bytes, verbatim, and its hash.
pub fn encode_envelope(event: &RecordedEvent) -> Vec<u8> {
    pb::EventEnvelope { record: event.record_bytes.clone(), hash: event.hash.as_bytes().to_vec() }.encode_to_vec()
}

/// Decodes a wire envelope. This checks that the record decodes and that its hash is the hash of its own
/// bytes chained to its `prev_hash`; it cannot check the link to the previous event, which the reader holds.
pub fn decode_envelope(bytes: &[u8]) -> Result<RecordedEvent, DecodeError> {
    let envelope = pb::EventEnvelope::decode(bytes)?;
    decode_envelope_parts(&envelope.record, &envelope.hash)
}

/// Decodes an envelope already taken apart (as gRPC messages carry it), with the same checks as
/// [`decode_envelope`].
pub fn decode_envelope_parts(record: &[u8], hash: &[u8]) -> Result<RecordedEvent, DecodeError> {
    let hash =
        Hash::from_slice(hash).ok_or_else(|| DecodeError::Field { field: "hash", rule: "must be 32 bytes".into() })?;
    let event = decode_record(record, hash)?;
    if Hash::chain(&event.prev_hash, record) != hash {
        return Err(DecodeError::Field { field: "hash", rule: "must equal SHA-256(prev_hash || record)".into() });
    }
    Ok(event)
}
