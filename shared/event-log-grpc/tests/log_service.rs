//! The log service over a real loopback socket: reads, live subscription, head, and client-side
//! verification that names a tampered position.

use std::net::SocketAddr;

use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use event_log_grpc::{LogClient, LogService};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use uuid::Uuid;

fn event(payload: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "RoundOpened".into(),
        schema_version: 1,
        payload: payload.as_bytes().to_vec(),
        metadata: EventMetadata {
            actor: Actor { subject: "officer".into(), role: "program_officer".into(), organisation: String::new() },
            correlation_id: Uuid::new_v4(),
            causation_id: Uuid::new_v4(),
            occurred_at: Timestamp::now(),
            trace: None,
        },
    }
}

async fn serve(log: EventLog) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            // The encoding limit every service's server has.
            .add_service(
                LogService::new(log, "applications")
                    .into_server()
                    .max_encoding_message_size(event_log_grpc::MIN_MESSAGE_BYTES),
            )
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (address, stop)
}

#[tokio::test]
async fn reads_follow_and_verify_a_log_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let stream = StreamId::new("round", "r1").unwrap();
    for i in 0..600 {
        log.append(stream.clone(), ExpectedVersion::Any, vec![event(&format!("event {i}"))]).await.unwrap();
    }
    let (address, _stop) = serve(log.clone()).await;
    let mut client = LogClient::connect(&format!("http://{address}"), Some("token")).await.unwrap();

    let head = client.head().await.unwrap();
    assert_eq!(head.service, "applications");
    assert_eq!(head.next_position, 600);
    assert_eq!(head.head_hash, Some(log.head().unwrap().unwrap().hash));

    let range = client.read_range(100, 400).await.unwrap();
    assert_eq!(range.len(), 300);
    assert!(range.iter().enumerate().all(|(i, e)| e.position == 100 + i as u64));
    assert_eq!(range[0].payload, b"event 100");

    let whole: Vec<_> = client.read_all(0).await.unwrap().collect().await;
    assert_eq!(whole.len(), 600);
    let in_stream = client.read_stream("round", "r1", 598).await.unwrap();
    assert_eq!(in_stream.iter().map(|e| e.stream_version).collect::<Vec<_>>(), vec![598, 599]);

    let mut live = Box::pin(client.subscribe(595).await.unwrap());
    for expected in 595..600 {
        assert_eq!(live.next().await.unwrap().unwrap().position, expected);
    }
    log.append(stream.clone(), ExpectedVersion::Any, vec![event("live")]).await.unwrap();
    let next = live.next().await.unwrap().unwrap();
    assert_eq!((next.position, next.payload.as_slice()), (600, b"live".as_slice()));

    let mut batches_seen = 0;
    let report = client.verify(|_| batches_seen += 1).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified, 601);
    assert!(batches_seen >= 3, "progress is reported per batch");

    let error = client.read_stream("", "r1", 0).await.unwrap_err();
    assert!(error.to_string().contains("stream_type"), "{error}");
}

#[tokio::test]
async fn client_side_verification_names_a_tampered_position() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for i in 0..50 {
            let payload = if i == 17 { "ALTER-ME".to_owned() } else { format!("event {i}") };
            log.append(StreamId::new("award", "a1").unwrap(), ExpectedVersion::Any, vec![event(&payload)])
                .await
                .unwrap();
        }
    }
    {
        let db = event_log::open_sled_when_unlocked(dir.path()).unwrap();
        for name in db.tree_names() {
            let tree = db.open_tree(name).unwrap();
            for entry in tree.iter() {
                let (key, value) = entry.unwrap();
                if let Some(at) = value.windows(8).position(|w| w == b"ALTER-ME") {
                    let mut altered = value.to_vec();
                    altered[at] = b'a';
                    tree.insert(key, altered).unwrap();
                }
            }
        }
        db.flush().unwrap();
    }
    let log = EventLog::open(dir.path()).unwrap();
    let (address, _stop) = serve(log).await;
    let mut client = LogClient::connect(&format!("http://{address}"), None).await.unwrap();
    let report = client.verify(|_| {}).await.unwrap();
    assert_eq!(report.first_mismatch.map(|m| m.position), Some(17));
    assert_eq!(report.verified, 17);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_of_large_events_is_read_and_verified_over_grpc() {
    // 120 events of 200 KB, about what a service accepts at most (a round with long texts and many
    // criteria): 256 of them would be 50 MB, far over the server's message limit, if batched by count.
    const EVENTS: usize = 120;
    const PAYLOAD_BYTES: usize = 200 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let stream = StreamId::new("round", "large").unwrap();
    for chunk in 0..EVENTS / 10 {
        let events = (0..10)
            .map(|i| {
                let mut large = event(&format!("event {}", chunk * 10 + i));
                large.payload.resize(PAYLOAD_BYTES, b'x');
                large
            })
            .collect();
        log.append(stream.clone(), ExpectedVersion::Any, events).await.unwrap();
    }
    let (address, _stop) = serve(log.clone()).await;
    let mut client = LogClient::connect(&format!("http://{address}"), Some("token")).await.unwrap();

    let whole: Vec<_> = client.read_all(0).await.unwrap().map(Result::unwrap).collect().await;
    assert_eq!(whole.len(), EVENTS);
    assert!(whole.iter().all(|e| e.payload.len() == PAYLOAD_BYTES));
    assert_eq!(client.read_range(100, 120).await.unwrap().len(), 20);
    assert_eq!(client.read_stream("round", "large", 0).await.unwrap().len(), EVENTS);
    let mut live = Box::pin(client.subscribe(0).await.unwrap());
    for expected in 0..EVENTS as u64 {
        assert_eq!(live.next().await.unwrap().unwrap().position, expected);
    }

    let report = client.verify(|_| {}).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified, EVENTS as u64);
}
