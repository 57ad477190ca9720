//! A data directory written by an earlier version, with the event log at its root beside the keys, is
//! moved into `log/` when the service starts: every event is there afterwards and the chain verifies.

use std::collections::HashMap;

use domain_kernel::Role;
use event_log::{EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId};
use test_support::services::listen;
use test_support::token;

fn recorded_earlier(n: u32) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::new_v4(),
        event_type: "RecordedEarlier".into(),
        schema_version: 1,
        payload: n.to_be_bytes().to_vec(),
        metadata: EventMetadata {
            actor: event_log::Actor {
                subject: "officer-1".into(),
                role: "program_officer".into(),
                organisation: String::new(),
            },
            correlation_id: uuid::Uuid::new_v4(),
            causation_id: uuid::Uuid::new_v4(),
            occurred_at: event_log::Timestamp::now(),
            trace: None,
        },
    }
}

#[tokio::test]
async fn a_log_at_the_root_of_the_data_directory_moves_into_log_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("reporting");
    {
        let log = EventLog::open(&data_dir).unwrap();
        let stream = StreamId::new("earlier", "1").unwrap();
        log.append(stream, ExpectedVersion::NoStream, (0..3).map(recorded_earlier).collect()).await.unwrap();
    }
    std::fs::create_dir(data_dir.join("personal-data-keys")).unwrap();

    let server = test_support::start_reporting!(listen().await, dir, None, HashMap::new());
    let auditor = token(Role::Auditor, "auditor-1", None);
    let mut client = event_log_grpc::LogClient::connect(&server.url(), Some(&auditor)).await.unwrap();
    assert_eq!(client.head().await.unwrap().next_position, 3, "the service serves the moved log");
    let dir = server.stop().await;

    let data_dir = dir.path().join("reporting");
    assert!(!data_dir.join("db").exists() && !data_dir.join("conf").exists(), "nothing left at the root");
    let log = EventLog::open(reporting::service::log_dir(&data_dir)).unwrap();
    assert_eq!(log.next_position(), 3);
    let report = log.verify(..).unwrap();
    assert_eq!((report.verified, report.first_mismatch.is_none()), (3, true), "{report:?}");
    let payloads: Vec<Vec<u8>> = log.read_all(0).map(|e| e.unwrap().payload).collect();
    assert_eq!(payloads, (0..3u32).map(|n| n.to_be_bytes().to_vec()).collect::<Vec<_>>());
}
