//! The log service over TLS and mutual TLS, with real sockets and certificates of a development CA:
//! `LogClient` verifies a log through a server that requires client certificates when it shows one of
//! that CA; a client without a certificate, or with one of another CA, is refused at the handshake; and a
//! server whose certificate has expired is refused by the client.

use std::path::{Path, PathBuf};

use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use event_log_grpc::{ClientError, LogClient, LogService};
use tls::dev::DevCa;
use tls::{ClientTls, ServerTls};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A CA, a server certificate and a client certificate of it, as files.
struct Certificates {
    dir: tempfile::TempDir,
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
}

fn certificates() -> Certificates {
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::new("test CA").unwrap();
    let ca_file = ca.write(dir.path(), "ca").unwrap();
    let server = ca.issue("applications").unwrap().write(dir.path(), "applications").unwrap();
    let client = ca.issue("auditor").unwrap().write(dir.path(), "auditor").unwrap();
    Certificates { dir, ca: ca_file, server, client }
}

fn log_with_events(dir: &Path) -> EventLog {
    let log = EventLog::open(dir).unwrap();
    let id = Uuid::new_v4();
    let event = NewEvent {
        event_id: id,
        event_type: "ApplicationSubmitted".into(),
        schema_version: 1,
        payload: b"submitted".to_vec(),
        metadata: EventMetadata {
            actor: Actor { subject: "applicant-1".into(), role: "applicant".into(), organisation: String::new() },
            correlation_id: id,
            causation_id: id,
            occurred_at: Timestamp::now(),
            trace: None,
        },
    };
    let stream = StreamId::new("application", "a-1").unwrap();
    futures::executor::block_on(log.append(stream, ExpectedVersion::Any, vec![event])).unwrap();
    log
}

/// Serves `log` with `tls` on a loopback port until `stop`; its `https://` URL.
async fn serve(log: EventLog, tls: &ServerTls, stop: CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let server = tonic::transport::Server::builder()
        .tls_config(tls.tonic_config())
        .unwrap()
        .add_service(LogService::new(log, "applications").into_server())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop.cancelled_owned());
    tokio::spawn(server);
    url
}

fn mutual(certs: &Certificates) -> ServerTls {
    ServerTls::from_flags(Some(&certs.server.0), Some(&certs.server.1), Some(&certs.ca)).unwrap().unwrap()
}

fn client_tls(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> ClientTls {
    ClientTls::from_flags(Some(ca), identity.map(|i| i.0.as_path()), identity.map(|i| i.1.as_path())).unwrap().unwrap()
}

/// Connecting and reading the head, the first call: where a refused handshake shows at the latest.
async fn head(url: &str, tls: &ClientTls) -> Result<u64, ClientError> {
    let mut client = LogClient::connect_with(url, Some("token"), Some(tls)).await?;
    Ok(client.head().await?.next_position)
}

/// A refusal by the TLS layer: a failed connection, or a call failed by the transport beneath it, never
/// an answer of the service.
fn assert_refused_by_transport(result: Result<u64, ClientError>) -> String {
    let error = result.expect_err("refused");
    let shown = format!("{error}: {:?}", std::error::Error::source(&error));
    match &error {
        ClientError::Connect { .. } => {}
        // The call failed beneath it: its cause is the transport's error (what the client reads depends on
        // timing: the server's handshake alert, a closed connection or a broken pipe), never an answer.
        ClientError::Status(status) => {
            let cause = std::error::Error::source(status);
            assert!(cause.is_some_and(|c| c.downcast_ref::<tonic::transport::Error>().is_some()), "{status:?}");
            assert!(
                matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled),
                "a transport failure, not an answer: {status:?}"
            );
        }
        other => panic!("not a transport refusal: {other:?}"),
    }
    shown
}

#[tokio::test]
async fn a_client_with_a_certificate_of_the_ca_verifies_the_log_over_mutual_tls() {
    let certs = certificates();
    let stop = CancellationToken::new();
    let url = serve(log_with_events(&certs.dir.path().join("log")), &mutual(&certs), stop.clone()).await;

    let mut client =
        LogClient::connect_with(&url, None, Some(&client_tls(&certs.ca, Some(&certs.client)))).await.unwrap();
    let report = client.verify(|_| {}).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified, 1);
    // The same server by its name rather than its address: the certificate names both.
    let by_name = url.replace("127.0.0.1", "localhost");
    assert_eq!(head(&by_name, &client_tls(&certs.ca, Some(&certs.client))).await.unwrap(), 1);
    stop.cancel();
}

#[tokio::test]
async fn clients_without_a_certificate_or_with_one_of_another_ca_are_refused_at_the_handshake() {
    let certs = certificates();
    let stop = CancellationToken::new();
    let url = serve(log_with_events(&certs.dir.path().join("log")), &mutual(&certs), stop.clone()).await;

    assert_refused_by_transport(head(&url, &client_tls(&certs.ca, None)).await);
    // Another CA's certificate for the same names: the server does not know its issuer.
    let other = DevCa::new("another CA").unwrap();
    let stranger = other.issue("auditor").unwrap().write(certs.dir.path(), "stranger").unwrap();
    assert_refused_by_transport(head(&url, &client_tls(&certs.ca, Some(&stranger))).await);

    // A client trusting another CA refuses this server.
    let other_ca = other.write(certs.dir.path(), "other-ca").unwrap();
    let distrusted = assert_refused_by_transport(head(&url, &client_tls(&other_ca, Some(&certs.client))).await);
    assert!(distrusted.contains("UnknownIssuer"), "{distrusted}");
    // And the server still serves a client it admits.
    assert_eq!(head(&url, &client_tls(&certs.ca, Some(&certs.client))).await.unwrap(), 1);
    stop.cancel();
}

#[tokio::test]
async fn a_server_certificate_that_has_expired_is_refused_by_the_client() {
    let certs = certificates();
    let ca = DevCa::new("expiring CA").unwrap();
    let ca_file = ca.write(certs.dir.path(), "expiring-ca").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = ca
        .issue_valid("applications", now - time::Duration::days(30), now - time::Duration::days(1))
        .unwrap()
        .write(certs.dir.path(), "expired")
        .unwrap();
    let tls = ServerTls::from_flags(Some(&expired.0), Some(&expired.1), None).unwrap().unwrap();
    let stop = CancellationToken::new();
    let url = serve(log_with_events(&certs.dir.path().join("log")), &tls, stop.clone()).await;

    let refused = assert_refused_by_transport(head(&url, &client_tls(&ca_file, None)).await);
    assert!(refused.to_lowercase().contains("expired"), "the cause is named: {refused}");
    stop.cancel();
}

#[tokio::test]
async fn plaintext_and_tls_are_never_mixed_up() {
    let certs = certificates();
    let tls = client_tls(&certs.ca, None);
    let http = LogClient::connect_with("http://127.0.0.1:1", None, Some(&tls)).await.unwrap_err();
    assert!(http.to_string().contains("is http:// but TLS is configured"), "{http}");
    let https = LogClient::connect_with("https://127.0.0.1:1", None, None).await.unwrap_err();
    assert!(https.to_string().contains("is https:// but no CA is configured"), "{https}");
}
