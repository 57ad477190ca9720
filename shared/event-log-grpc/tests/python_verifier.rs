//! The independent Python verifier (`tests/python-verifier/verify_log.py`, written from the .proto files
//! alone) must agree with the Rust client on an intact log and on a tampered one. This proves that the
//! canonical encoding and the chain are documented well enough for anyone to check them. It also verifies
//! a log over mutual TLS, and is refused without its client certificate.
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

/// What the service serves with and the verifier connects with, as files of one development CA.
struct Tls {
    _dir: tempfile::TempDir,
    server: tls::ServerTls,
    /// `--tls-ca`, `--tls-cert`, `--tls-key`.
    verifier_args: Vec<String>,
}

fn mutual_tls(with_client_certificate: bool) -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let ca = tls::dev::DevCa::new("test CA").unwrap();
    let ca_file = ca.write(dir.path(), "ca").unwrap();
    let (cert, key) = ca.issue("applications").unwrap().write(dir.path(), "applications").unwrap();
    let server = tls::ServerTls::from_flags(Some(&cert), Some(&key), Some(&ca_file)).unwrap().unwrap();
    let mut verifier_args = vec!["--tls-ca".to_owned(), ca_file.display().to_string()];
    if with_client_certificate {
        let (cert, key) = ca.issue("auditor").unwrap().write(dir.path(), "auditor").unwrap();
        verifier_args.extend(["--tls-cert".to_owned(), cert.display().to_string()]);
        verifier_args.extend(["--tls-key".to_owned(), key.display().to_string()]);
    }
    Tls { _dir: dir, server, verifier_args }
}

/// A log in `dir` of `events` sample events over `streams` application streams.
async fn write_log(dir: &Path, events: usize, streams: usize) {
    let log = EventLog::open(dir).unwrap();
    for i in 0..events {
        let stream = StreamId::new("application", format!("a-{}", i % streams)).unwrap();
        log.append(stream, ExpectedVersion::Any, vec![event(i)]).await.unwrap();
    }
}

struct Verdicts {
    python_exit: i32,
    python: serde_json::Value,
    rust: event_log::VerifyReport,
}

async fn verify_both(dir: &Path) -> Verdicts {
    verify_both_over(dir, None).await
}

/// Both verifiers' verdicts on the log in `dir`, served over `tls` when given (the Rust client then shows
/// a certificate of the same CA; the verifier the files it is given).
async fn verify_both_over(dir: &Path, tls: Option<&Tls>) -> Verdicts {
    let log = EventLog::open(dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut builder = match tls {
        Some(tls) => tonic::transport::Server::builder().tls_config(tls.server.tonic_config()).unwrap(),
        None => tonic::transport::Server::builder(),
    };
    let server = tokio::spawn(
        builder.add_service(LogService::new(log, "applications").into_server()).serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            async {
                let _ = stopped.await;
            },
        ),
    );
    let mut client = match tls {
        Some(tls) => {
            // The service's own certificate, shown as a client's: it is of the same CA.
            let client = tls::ClientTls {
                ca: tls.server.client_ca.clone().unwrap(),
                identity: Some(tls.server.identity.clone()),
            };
            LogClient::connect_with(&format!("https://localhost:{}", address.port()), None, Some(&client))
                .await
                .unwrap()
        }
        None => LogClient::connect(&format!("http://{address}"), None).await.unwrap(),
    };
    let rust = client.verify(|_| {}).await.unwrap();
    let python = python();
    let script = python_env::verifier_script();
    let tls_args = tls.map(|tls| tls.verifier_args.clone()).unwrap_or_default();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).args(["--address", &address.to_string()]).args(tls_args).output().unwrap()
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
    write_log(dir.path(), 300, 11).await;

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

#[tokio::test]
async fn the_python_verifier_verifies_a_log_over_mutual_tls_and_is_refused_without_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 20, 3).await;
    let verified = verify_both_over(dir.path(), Some(&mutual_tls(true))).await;
    assert!(verified.rust.is_intact());
    assert_eq!(verified.python_exit, 0, "{}", verified.python);
    assert_eq!(verified.python["verified_events"], 20);
    assert_eq!(verified.python["head_hash"], verified.rust.last_verified.unwrap().hash.to_hex());

    let refused = verify_both_over(dir.path(), Some(&mutual_tls(false))).await;
    assert_eq!(refused.python_exit, 2, "could not check: {}", refused.python);
    assert!(refused.python["error"].as_str().is_some_and(|e| e.starts_with("could not check")), "{}", refused.python);
}
