//! Events as writers hand them in and as readers get them back.

use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use crate::chain::Hash;
use crate::stream::StreamId;
use crate::trace::TraceContext;

/// A point in time, in microseconds since the Unix epoch (UTC): the resolution the log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
        Timestamp(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }
}

/// Who caused an event (see `Actor` in the record contract).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Actor {
    pub subject: String,
    pub role: String,
    pub organisation: String,
}

/// What the writer says about an event besides its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMetadata {
    pub actor: Actor,
    pub correlation_id: Uuid,
    pub causation_id: Uuid,
    pub occurred_at: Timestamp,
    /// The trace context of the span that recorded the event (W3C `traceparent`); `None` for events
    /// recorded without one, as every event written before the log kept it.
    pub trace: Option<TraceContext>,
}

/// An event to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Chosen by the writer; a retry reuses it so that the append is idempotent.
    pub event_id: Uuid,
    /// Past tense, for example `ApplicationSubmitted`.
    pub event_type: String,
    /// Version of the payload's schema, starting at 1.
    pub schema_version: u32,
    pub payload: Vec<u8>,
    pub metadata: EventMetadata,
}

/// An event as the log recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: u64,
    pub stream: StreamId,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Vec<u8>,
    pub metadata: EventMetadata,
    pub recorded_at: Timestamp,
    pub prev_hash: Hash,
    pub hash: Hash,
    /// The canonical bytes the hash was computed over, verbatim.
    pub(crate) record_bytes: Vec<u8>,
}

impl RecordedEvent {
    /// The canonical record bytes: what `hash` covers, after `prev_hash`.
    pub fn record_bytes(&self) -> &[u8] {
        &self.record_bytes
    }

    /// Whether this stored event is the same fact as `new` (same id, type, schema, payload and metadata).
    pub(crate) fn is_same_fact_as(&self, new: &NewEvent) -> bool {
        self.event_id == new.event_id
            && self.event_type == new.event_type
            && self.schema_version == new.schema_version
            && self.payload == new.payload
            && self.metadata == new.metadata
    }
}
