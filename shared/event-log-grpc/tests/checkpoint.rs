//! Signed checkpoints: recorded in the log, read back over gRPC, verified against the expected key.

use std::time::Duration;

use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use event_log_grpc::checkpoint::CheckpointError;
use event_log_grpc::{CheckpointSigner, LogClient, LogService, SignedCheckpoint};
use tokio_stream::wrappers::TcpListenerStream;
use uuid::Uuid;

fn event() -> NewEvent {
    let id = Uuid::new_v4();
    NewEvent {
        event_id: id,
        event_type: "TrancheReleased".into(),
        schema_version: 1,
        payload: b"released".to_vec(),
        metadata: EventMetadata {
            actor: Actor { subject: "finance-1".into(), role: "finance_officer".into(), organisation: String::new() },
            correlation_id: id,
            causation_id: id,
            occurred_at: Timestamp::now(),
        },
    }
}

#[tokio::test]
async fn checkpoints_sign_new_heads_only_and_verify_against_the_expected_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let seed = [7u8; 32];
    let signer = CheckpointSigner::new(log.clone(), "awards", &seed);
    assert_eq!(signer.sign_now().await.unwrap(), None, "nothing to sign in an empty log");

    let stream = StreamId::new("award", "a-1").unwrap();
    for _ in 0..5 {
        log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
    }
    let first = signer.sign_now().await.unwrap().expect("signed");
    assert_eq!((first.position, first.head_hash), (4, log.event(4).unwrap().unwrap().hash));
    assert_eq!(signer.sign_now().await.unwrap(), None, "the head is the checkpoint itself: nothing new");
    log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();

    // `run` signs the new head at once and again at shutdown only if something new arrived.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(
        CheckpointSigner::new(log.clone(), "awards", &seed).run(Duration::from_secs(3600), shutdown.clone()),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    running.await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LogService::new(log.clone(), "awards").into_server())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let mut client = LogClient::connect(&format!("http://{address}"), None).await.unwrap();
    let checkpoints: Vec<SignedCheckpoint> =
        client.signed_checkpoints("awards").await.unwrap().into_iter().map(Result::unwrap).collect();
    assert_eq!(checkpoints.iter().map(|c| c.position).collect::<Vec<_>>(), vec![4, 6]);
    let public = signer.public_key();
    for checkpoint in &checkpoints {
        checkpoint.verify(Some(&public)).unwrap();
        assert_eq!(checkpoint.head_hash, log.event(checkpoint.position).unwrap().unwrap().hash);
    }

    let mut forged = checkpoints[1].clone();
    forged.position = 5;
    assert!(matches!(forged.verify(Some(&public)), Err(CheckpointError::BadSignature { .. })));
    let other = CheckpointSigner::new(log.clone(), "awards", &[9u8; 32]).public_key();
    assert!(matches!(checkpoints[0].verify(Some(&other)), Err(CheckpointError::UnexpectedKey { .. })));
    assert!(log.verify(..).unwrap().is_intact());
}
