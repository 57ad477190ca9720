//! Starts the real services in this process on loopback ports with their data in temporary directories,
//! stands in for the reporting service, and puts events in place as the consumer would.

// Each test file uses only some of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use contracts::names::service;
use contracts::reporting::v1::ReportAccepted;
use event_bus::{BacklogMonitor, BusConfig, Relay, RelayConfig};
use event_log::{EventLog, EventMetadata, ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use prost::Message;
use service_runtime::EventStore;
use tempfile::TempDir;
use test_support::Running;
use test_support::services::listen;
use tokio_util::sync::CancellationToken;

/// The awards service with its log in `dir/awards`, on the bus at `amqp_uri` if given, filling gaps from
/// `source_logs`.
pub async fn start_awards(dir: TempDir, amqp_uri: Option<String>, source_logs: HashMap<String, String>) -> Running {
    test_support::start_awards!(listen().await, dir, amqp_uri, source_logs)
}

/// The applications service with its data (log and keys) in `dir/applications`.
pub async fn start_applications(dir: TempDir, amqp_uri: Option<String>) -> Running {
    test_support::start_applications!(listen().await, dir, amqp_uri)
}

fn metadata(subject: &str, role: &str) -> EventMetadata {
    EventMetadata {
        actor: event_log::Actor { subject: subject.into(), role: role.into(), organisation: String::new() },
        correlation_id: uuid::Uuid::new_v4(),
        causation_id: uuid::Uuid::new_v4(),
        occurred_at: event_log::Timestamp::now(),
        trace: None,
    }
}

/// Appends one event to `log` and returns it as recorded.
pub async fn append(log: &EventLog, stream: StreamId, event_type: &str, payload: Vec<u8>) -> RecordedEvent {
    let event = NewEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type: event_type.into(),
        schema_version: 1,
        payload,
        metadata: metadata("someone", "reviewer"),
    };
    let result = log.append(stream, ExpectedVersion::Any, vec![event]).await.unwrap();
    log.event(result.first_position).unwrap().unwrap()
}

/// Puts what the consumer would append for `event` (from the applications service) into the awards log in `dir`,
/// with the service stopped: how tests without a broker get an award offered.
pub async fn react_offline(dir: &Path, event: &RecordedEvent) -> bool {
    let log = EventLog::open(awards::service::log_dir(&dir.join(service::AWARDS))).unwrap();
    let reaction = awards::inbound::react(&EventStore::new(log.clone()), service::APPLICATIONS, event)
        .expect("the event is accepted");
    let Some(reaction) = reaction.filter(|reaction| !reaction.events.is_empty()) else { return false };
    let request = event_log::AppendRequest {
        stream: reaction.stream,
        expected: reaction.expected,
        events: reaction.events,
        marker: None,
    };
    log.append_request(request).await.unwrap();
    true
}

/// Stands in for the reporting service until it exists: its own log, published by a relay exactly as the
/// real service will publish it.
pub struct ReportingStandIn {
    pub log: EventLog,
    dir: tempfile::TempDir,
    monitor: BacklogMonitor,
    shutdown: CancellationToken,
    relay: tokio::task::JoinHandle<()>,
}

impl ReportingStandIn {
    pub fn start(amqp_uri: &str) -> ReportingStandIn {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path().join(service::REPORTING)).unwrap();
        let relay = Relay::new(log.clone(), RelayConfig::new(BusConfig::new(amqp_uri), service::REPORTING)).unwrap();
        let monitor = relay.monitor();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let relay = tokio::spawn(async move { relay.run(token).await.expect("relay runs") });
        ReportingStandIn { log, dir, monitor, shutdown, relay }
    }

    /// Records that a report was accepted and waits until the broker confirmed its publication.
    pub async fn accept(&mut self, accepted: &ReportAccepted) -> RecordedEvent {
        let stream = StreamId::new("report", accepted.report_id.clone()).unwrap();
        let event = append(&self.log, stream, "ReportAccepted", accepted.encode_to_vec()).await;
        let published = tokio::time::timeout(Duration::from_secs(20), self.monitor.wait_published(event.position + 1));
        assert!(published.await.unwrap(), "the relay published the acceptance");
        event
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.relay.await.unwrap();
        drop(self.dir);
    }
}
