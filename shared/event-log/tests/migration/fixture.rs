//! The appends that wrote the format-1 fixture (`format-1.tar.gz`), rebuilt exactly: fixed event ids and
//! contents, so that retrying them after migration must return their first results.

#![allow(dead_code)] // The writer of the fixture and the migration test use different parts.

use event_log::{Actor, AppendRequest, EventMetadata, ExpectedVersion, Marker, NewEvent, StreamId, Timestamp};
use uuid::Uuid;

/// One step of the fixture: an append, or a marker put outside any append.
pub enum Step {
    Append(AppendRequest),
    PutMarker(Marker),
}

/// Payload of the one event large enough for sled to keep in a blob file of its own.
pub const LARGE_PAYLOAD_LEN: usize = 140 * 1024;

fn event(n: u32, payload: Vec<u8>) -> NewEvent {
    NewEvent {
        event_id: Uuid::from_u128(0xF1_0000 + u128::from(n)),
        event_type: if n.is_multiple_of(3) { "ApplicationSubmitted" } else { "ApplicationEdited" }.into(),
        schema_version: 1 + n % 2,
        payload,
        metadata: EventMetadata {
            actor: Actor {
                subject: format!("officer-{}", n % 4),
                role: "program_officer".into(),
                organisation: String::new(),
            },
            correlation_id: Uuid::from_u128(0xC0_0000 + u128::from(n / 5)),
            causation_id: Uuid::from_u128(0xCA_0000 + u128::from(n)),
            occurred_at: Timestamp::from_micros(1_700_000_000_000_000 + i64::from(n) * 1_000),
            trace: None,
        },
    }
}

fn stream(n: u32) -> StreamId {
    let stream_type = if n.is_multiple_of(2) { "application" } else { "award" };
    StreamId::new(stream_type, format!("fixture-{n}")).expect("valid stream id")
}

/// About four hundred events over seven streams, in appends of one to five events, every expectation,
/// markers with appends and alone, and one event over 128 KiB.
pub fn steps() -> Vec<Step> {
    const STREAMS: u32 = 7;
    let mut versions: Vec<Option<u64>> = vec![None; STREAMS as usize];
    let mut steps = Vec::new();
    let mut n = 0u32;
    for i in 0..150u32 {
        let s = (i * 5 + i / 7) % STREAMS;
        let count = 1 + (i % 5) as u64 % 3 + u64::from(i % 11 == 0) * 2;
        let events: Vec<NewEvent> = (0..count)
            .map(|_| {
                n += 1;
                let payload = if n == 200 {
                    vec![b'L'; LARGE_PAYLOAD_LEN]
                } else {
                    format!("event {n} of stream {s}: {}", "x".repeat((n % 40) as usize)).into_bytes()
                };
                event(n, payload)
            })
            .collect();
        let current = versions[s as usize];
        let expected = match (i % 4, current) {
            (_, None) if i % 2 == 0 => ExpectedVersion::NoStream,
            (0, Some(v)) => ExpectedVersion::Exact(v),
            (1, Some(_)) => ExpectedVersion::StreamExists,
            _ => ExpectedVersion::Any,
        };
        let marker =
            (i % 6 == 0).then(|| Marker { name: format!("consumer/{}", i % 4), value: i.to_be_bytes().to_vec() });
        versions[s as usize] = Some(current.map_or(count - 1, |v| v + count));
        steps.push(Step::Append(AppendRequest { stream: stream(s), expected, events, marker }));
        if i % 25 == 24 {
            steps.push(Step::PutMarker(Marker {
                name: format!("relay/{}", i / 25),
                value: format!("cursor {i}").into_bytes(),
            }));
        }
    }
    steps
}

/// Every stream the fixture appends to.
pub fn streams() -> Vec<StreamId> {
    (0..7).map(stream).collect()
}
