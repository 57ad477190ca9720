//! Logs for the command line to read: events of one application appended straight to a log.

use contracts::applications::v1::ApplicationWithdrawn;
use contracts::names::stream;
use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use prost::Message;

/// The application every event is about.
pub const APPLICATION: &str = "6f1c2d3e-0a4b-5c6d-8e9f-0123456789ab";

/// Appends `count` `ApplicationWithdrawn` events of [`APPLICATION`] to `log`, in appends of 100, each with
/// a `reason` of `reason {i} ` and `reason_bytes` more bytes.
pub async fn append(log: &EventLog, count: usize, reason_bytes: usize) {
    let application_stream = StreamId::new(stream::APPLICATION, APPLICATION).unwrap();
    let indexes: Vec<usize> = (0..count).collect();
    for chunk in indexes.chunks(100) {
        let events = chunk
            .iter()
            .map(|i| NewEvent {
                event_id: uuid::Uuid::new_v4(),
                event_type: "ApplicationWithdrawn".into(),
                schema_version: 1,
                payload: ApplicationWithdrawn {
                    application_id: APPLICATION.into(),
                    round_id: uuid::Uuid::nil().to_string(),
                    organisation_id: uuid::Uuid::nil().to_string(),
                    reason: format!("reason {i} {}", "x".repeat(reason_bytes)),
                    sealed_text: None,
                }
                .encode_to_vec(),
                metadata: EventMetadata {
                    actor: Actor { subject: "partner-1".into(), role: "partner".into(), organisation: String::new() },
                    correlation_id: uuid::Uuid::new_v4(),
                    causation_id: uuid::Uuid::new_v4(),
                    occurred_at: Timestamp::now(),
                    trace: None,
                },
            })
            .collect();
        log.append(application_stream.clone(), ExpectedVersion::Any, events).await.unwrap();
    }
}
