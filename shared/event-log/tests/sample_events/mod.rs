//! Builders for the events the tests append.

#![allow(dead_code)] // Each test binary uses its own subset.

use event_log::{Actor, EventMetadata, NewEvent, StreamId, Timestamp};
use uuid::Uuid;

pub fn stream(n: u32) -> StreamId {
    StreamId::new("application", format!("app-{n}")).expect("valid stream id")
}

pub fn metadata() -> EventMetadata {
    EventMetadata {
        actor: Actor { subject: "officer-1".into(), role: "program_officer".into(), organisation: String::new() },
        correlation_id: Uuid::from_u128(1),
        causation_id: Uuid::from_u128(2),
        occurred_at: Timestamp::from_micros(1_625_097_600_000_000),
        trace: None,
    }
}

pub fn event(id: Uuid, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_id: id,
        event_type: "ApplicationEdited".into(),
        schema_version: 1,
        payload: payload.to_vec(),
        metadata: metadata(),
    }
}

pub fn new_event(payload: &[u8]) -> NewEvent {
    event(Uuid::new_v4(), payload)
}
