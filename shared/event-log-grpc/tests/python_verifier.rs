//! The independent Python verifier (`tests/python-verifier/verify_log.py`, written from the .proto files
//! alone) must agree with the Rust client on an intact log and on a tampered one. This proves that the
//! canonical encoding and the chain are documented well enough for anyone to check them.
//!
//! The verifier's dependencies (grpcio-tools from PyPI) are installed into a virtual environment under the
//! target directory on first use.

use std::path::Path;
use std::process::Command;

use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use event_log_grpc::{LogClient, LogService};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use uuid::Uuid;

#[path = "../../../tests/python-verifier/python_env.rs"]
mod python_env;

use python_env::python;

#[path = "../../event-log/tests/tampering/mod.rs"]
mod tampering;

fn event(i: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: if i.is_multiple_of(2) { "ReviewRecorded" } else { "ApplicationSubmitted" }.into(),
        schema_version: 1 + (i % 3) as u32,
        // Varied payloads: empty, binary, long, non-ASCII text.
        payload: match i % 4 {
            0 => Vec::new(),
            1 => (0..=255u8).collect(),
            2 => vec![b'x'; 5000],
            _ => "Hỗ trợ pháp lý miễn phí — ກົດໝາຍ".as_bytes().to_vec(),
        },
        metadata: EventMetadata {
            actor: Actor {
                subject: format!("user-{i}"),
                role: "reviewer".into(),
                organisation: if i.is_multiple_of(5) { String::new() } else { "org-ñ".into() },
            },
            correlation_id: Uuid::new_v4(),
            causation_id: Uuid::new_v4(),
            occurred_at: Timestamp::from_micros(if i.is_multiple_of(7) {
                -1_000_000
            } else {
                1_625_097_600_000_000 + i as i64
            }),
            // Records with and without the trace context (field 15), which is left out when empty.
            trace: (!i.is_multiple_of(3)).then(event_log::TraceContext::start),
        },
    }
}

struct Verdicts {
    python_exit: i32,
    python: serde_json::Value,
    rust: event_log::VerifyReport,
}

async fn verify_both(dir: &Path) -> Verdicts {
    let log = EventLog::open(dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LogService::new(log, "applications").into_server())
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
    let mut client = LogClient::connect(&format!("http://{address}"), None).await.unwrap();
    let rust = client.verify(|_| {}).await.unwrap();
    let python = python();
    let script = python_env::verifier_script();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).args(["--address", &address.to_string()]).output().unwrap()
    })
    .await
    .unwrap();
    // Stop the server and wait for it, so that the log is closed before the test touches its files.
    drop(client);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let python = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("verifier printed {stdout:?} ({e}); stderr: {}", String::from_utf8_lossy(&output.stderr))
    });
    Verdicts { python_exit: output.status.code().unwrap_or(-1), python, rust }
}

#[tokio::test]
async fn python_and_rust_verifiers_agree_on_intact_and_tampered_logs() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for i in 0..300 {
            let stream = StreamId::new("application", format!("a-{}", i % 11)).unwrap();
            log.append(stream, ExpectedVersion::Any, vec![event(i)]).await.unwrap();
        }
    }

    let intact = verify_both(dir.path()).await;
    assert!(intact.rust.is_intact());
    assert_eq!(intact.python_exit, 0, "{}", intact.python);
    assert_eq!(intact.python["verified_events"], 300);
    assert_eq!(intact.python["head_position"], 299);
    assert_eq!(intact.python["head_hash"], intact.rust.last_verified.unwrap().hash.to_hex());

    // Change one payload byte of the event at position 122 behind the log's back.
    tampering::change_record(dir.path(), 122, |record| {
        let at = record.windows(5).position(|w| w == b"xxxxx").expect("event 122 has the long payload");
        record[at] = b'y';
    });
    let tampered = verify_both(dir.path()).await;
    assert_eq!(tampered.rust.first_mismatch.as_ref().map(|m| m.position), Some(122));
    assert_eq!(tampered.python_exit, 1, "{}", tampered.python);
    assert_eq!(tampered.python["first_mismatch"], 122);
    assert_eq!(tampered.python["verified_events"], 122);
}

#[tokio::test]
async fn python_and_rust_verifiers_agree_that_a_record_in_another_field_order_is_tampering() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for i in 0..40 {
            let stream = StreamId::new("application", format!("a-{}", i % 3)).unwrap();
            log.append(stream, ExpectedVersion::Any, vec![event(i)]).await.unwrap();
        }
    }
    // The same event with its fields written in another order, and the chain rebuilt from there: every
    // hash and link matches, only the bytes are not the canonical encoding the contract requires.
    let original = tampering::record_at(dir.path(), 23);
    tampering::rewrite_and_rechain(dir.path(), 23, tampering::first_field_moved_to_end);
    assert_ne!(tampering::record_at(dir.path(), 23), original);

    let verdicts = verify_both(dir.path()).await;
    let rust = verdicts.rust.first_mismatch.expect("the Rust verifier finds the tampering");
    assert_eq!(rust.position, 23);
    assert!(rust.reason.contains("not in canonical encoding"), "{}", rust.reason);
    assert_eq!(verdicts.rust.verified, 23);
    assert_eq!(verdicts.python_exit, 1, "{}", verdicts.python);
    assert_eq!(verdicts.python["first_mismatch"], 23);
    assert_eq!(verdicts.python["verified_events"], 23);
    assert!(verdicts.python["reason"].as_str().unwrap().contains("not in canonical encoding"));
}
