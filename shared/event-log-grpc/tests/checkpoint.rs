//! Signed checkpoints: recorded in the log, read back over gRPC, verified against the expected key, the
//! head just before them and the time they were signed; the check a service makes of its log at start.

use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use event_log_grpc::checkpoint::{CheckpointError, StatementVersion};
use event_log_grpc::{CheckpointAudit, CheckpointSigner, LogClient, LogService, SignedCheckpoint};
use tokio_stream::wrappers::TcpListenerStream;
use uuid::Uuid;

#[path = "../../event-log/tests/tampering/mod.rs"]
mod tampering;

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
            trace: None,
        },
    }
}

/// A client of `log`, served over a loopback socket.
async fn serve(log: &EventLog) -> LogClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LogService::new(log.clone(), "awards").into_server())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    LogClient::connect(&format!("http://{address}"), None).await.unwrap()
}

/// Every checkpoint recorded in the log, read over gRPC and checked against the chain the client
/// recomputes: for each, where it was recorded, what it says if it decodes, and why it fails, if it does.
async fn audit_checkpoints(
    log: &EventLog,
    expected_key: Option<[u8; 32]>,
) -> Vec<(u64, Option<SignedCheckpoint>, Option<String>)> {
    let mut audit = CheckpointAudit::new("awards", expected_key);
    let report = serve(log)
        .await
        .verify_observing(|_| {}, |position, hash, record| audit.observe(position, hash, record))
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    let failure = |c: &event_log_grpc::checkpoint::AuditedCheckpoint| c.failure.as_ref().map(ToString::to_string);
    audit.checkpoints().iter().map(|c| (c.event_position, c.checkpoint.clone(), failure(c))).collect()
}

/// [`audit_checkpoints`]: where each checkpoint was recorded and why it fails, if it does.
async fn audit(log: &EventLog, expected_key: Option<[u8; 32]>) -> Vec<(u64, Option<String>)> {
    audit_checkpoints(log, expected_key).await.into_iter().map(|(at, _, failure)| (at, failure)).collect()
}

/// A v1 checkpoint (as logs written before v2 hold) of `position` and `head_hash`, signed with `seed`.
fn sign_v1(seed: &[u8; 32], position: u64, head_hash: event_log::Hash) -> SignedCheckpoint {
    let key = SigningKey::from_bytes(seed);
    let v2 = SignedCheckpoint::sign(&key, "awards", position, head_hash);
    let mut v1 = SignedCheckpoint { version: StatementVersion::V1, ..v2 };
    v1.signature = key.sign(v1.statement().as_bytes()).to_bytes();
    v1
}

/// Appends a `CheckpointSigned` event as an insider with the files could, through the log's own API.
async fn record_as_insider(log: &EventLog, checkpoint: &SignedCheckpoint) {
    let stream = StreamId::new("checkpoint", "awards").unwrap();
    let mut recorded = event();
    recorded.event_type = "CheckpointSigned".into();
    recorded.schema_version = checkpoint.version.schema_version();
    recorded.payload = checkpoint.encode();
    log.append(stream, ExpectedVersion::Any, vec![recorded]).await.unwrap();
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

    let checkpoints: Vec<SignedCheckpoint> =
        audit_checkpoints(&log, None).await.into_iter().map(|(_, checkpoint, _)| checkpoint.unwrap()).collect();
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

#[tokio::test]
async fn an_old_checkpoint_recorded_again_as_the_newest_is_refused_and_v2_covers_the_signing_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let seed = [7u8; 32];
    let signer = CheckpointSigner::new(log.clone(), "awards", &seed);
    let stream = StreamId::new("award", "a-1").unwrap();
    for _ in 0..5 {
        log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
    }
    let old = signer.sign_now().await.unwrap().expect("signed");
    assert_eq!((old.position, old.version), (4, StatementVersion::V2));
    for _ in 0..3 {
        log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
    }
    // The genuine old checkpoint, appended again so that it looks like the newest (position 9).
    record_as_insider(&log, &old).await;
    let public = signer.public_key();
    let found = audit(&log, Some(public)).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[0], (5, None));
    assert_eq!(found[1].0, 9);
    let failure = found[1].1.as_deref().expect("the replayed checkpoint fails");
    assert!(failure.contains("signs position 4, not the head just before it (8)"), "{failure}");

    // A v2 signature covers the signing time: moving it breaks the signature.
    let mut backdated = old.clone();
    backdated.signed_at = Timestamp::from_micros(old.signed_at.as_micros() - 86_400_000_000);
    assert!(matches!(backdated.verify(Some(&public)), Err(CheckpointError::BadSignature { .. })));
    assert!(old.covers_signing_time());

    // A v1 checkpoint (as logs written before v2 hold) still verifies by its v1 statement, but its time is
    // not covered; recorded right after its head it holds.
    let head = log.head().unwrap().unwrap();
    let v1 = sign_v1(&seed, head.position, head.hash);
    assert!(v1.statement().starts_with("grants-checkpoint/v1\nawards\n9\n"));
    v1.verify(Some(&public)).unwrap();
    assert!(!v1.covers_signing_time());
    let mut v1_backdated = v1.clone();
    v1_backdated.signed_at = Timestamp::from_micros(0);
    v1_backdated.verify(Some(&public)).unwrap();
    record_as_insider(&log, &v1).await;
    let found = audit(&log, Some(public)).await;
    assert_eq!(found.last(), Some(&(10, None)));
    // A v2 checkpoint claimed to be v1 (or the reverse) does not verify.
    let mut relabelled = old.clone();
    relabelled.version = StatementVersion::V1;
    assert!(relabelled.verify(Some(&public)).is_err());
}

#[tokio::test]
async fn a_v1_checkpoint_may_stand_a_few_events_after_the_head_it_signs_and_a_v2_may_not() {
    let seed = [7u8; 32];
    let public = event_log_grpc::checkpoint::public_key_of(&seed);
    let dir = tempfile::tempdir().unwrap();
    let stream = StreamId::new("award", "a-1").unwrap();
    {
        let log = EventLog::open(dir.path()).unwrap();
        for _ in 0..5 {
            log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
        }
        // The v1 signer read the head (2) and appended its checkpoint separately: two events came between.
        let signed = log.event(2).unwrap().unwrap();
        record_as_insider(&log, &sign_v1(&seed, 2, signed.hash)).await;
        log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
    }
    // At start, such a checkpoint (the last of its stream, in a log written before the marker) holds.
    assert_eq!(start_check(dir.path(), &seed).unwrap().map(|c| c.position), Some(2));

    let log = EventLog::open(dir.path()).unwrap();
    let hash_of_2 = log.event(2).unwrap().unwrap().hash;
    // A v1 checkpoint still signs the hash the chain holds at its position, and a position before it.
    record_as_insider(&log, &sign_v1(&seed, 3, hash_of_2)).await;
    record_as_insider(&log, &sign_v1(&seed, 8, hash_of_2)).await;
    // A v2 checkpoint signs the head just before it, however genuine its signature.
    let v2 = SignedCheckpoint::sign(&SigningKey::from_bytes(&seed), "awards", 2, hash_of_2);
    record_as_insider(&log, &v2).await;
    let found = audit(&log, Some(public)).await;
    assert_eq!(found.iter().map(|(position, _)| *position).collect::<Vec<_>>(), vec![5, 7, 8, 9]);
    assert_eq!(found[0].1, None);
    let failures: Vec<&str> = found[1..].iter().map(|(_, failure)| failure.as_deref().expect("fails")).collect();
    assert!(failures[0].contains("at position 3, but the chain holds"), "{}", failures[0]);
    assert_eq!(failures[1], "v1 checkpoint recorded at position 8 signs position 8, not one before it");
    assert!(failures[2].contains("signs position 2, not the head just before it (8)"), "{}", failures[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_signed_while_events_keep_arriving_each_sign_the_head_just_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let signer = CheckpointSigner::new(log.clone(), "awards", &[7u8; 32]);
    let stream = StreamId::new("award", "a-1").unwrap();
    log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
    let appender = {
        let log = log.clone();
        tokio::spawn(async move {
            for _ in 0..300 {
                log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
            }
        })
    };
    let mut signed = 0;
    while !appender.is_finished() {
        if signer.sign_now().await.unwrap().is_some() {
            signed += 1;
        }
    }
    appender.await.unwrap();
    let found = audit(&log, Some(signer.public_key())).await;
    assert_eq!(found.len(), signed);
    assert!(found.iter().all(|(_, failure)| failure.is_none()), "{found:?}");
}

/// A log of 10 events, a checkpoint at 10 (signing 9) and 3 more events, in `dir`, closed.
async fn log_with_a_checkpoint(dir: &std::path::Path, seed: &[u8; 32]) {
    let log = EventLog::open(dir).unwrap();
    let stream = StreamId::new("award", "a-1").unwrap();
    for _ in 0..10 {
        log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
    }
    CheckpointSigner::new(log.clone(), "awards", seed).sign_now().await.unwrap().expect("signed");
    for _ in 0..3 {
        log.append(stream.clone(), ExpectedVersion::Any, vec![event()]).await.unwrap();
    }
}

fn start_check(dir: &std::path::Path, seed: &[u8; 32]) -> Result<Option<SignedCheckpoint>, CheckpointError> {
    let previous_keys = [event_log_grpc::checkpoint::public_key_of(&[8u8; 32])];
    CheckpointSigner::new(EventLog::open(dir).unwrap(), "awards", seed)
        .check_log_extends_last_checkpoint(&previous_keys)
}

#[tokio::test]
async fn the_start_check_refuses_a_log_cut_short_or_rewritten_before_its_last_checkpoint() {
    let seed = [7u8; 32];
    let intact = tempfile::tempdir().unwrap();
    log_with_a_checkpoint(intact.path(), &seed).await;
    assert_eq!(start_check(intact.path(), &seed).unwrap().map(|c| c.position), Some(9));
    let error = start_check(intact.path(), &[9u8; 32]).unwrap_err();
    assert!(matches!(error, CheckpointError::UnexpectedKey { .. }), "{error}");
    // After a change of key, a last checkpoint signed with a previous key the service is given is accepted.
    let rotated = tempfile::tempdir().unwrap();
    log_with_a_checkpoint(rotated.path(), &[8u8; 32]).await;
    assert_eq!(start_check(rotated.path(), &seed).unwrap().map(|c| c.position), Some(9));
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(start_check(empty.path(), &seed).unwrap(), None);

    // Event 4 rewritten and the chain rebuilt through the head: consistent in itself, but the checkpoint
    // event (10) no longer links to the signed head.
    let rewritten = tempfile::tempdir().unwrap();
    log_with_a_checkpoint(rewritten.path(), &seed).await;
    tampering::rewrite_and_rechain(rewritten.path(), 4, |record| {
        let mut changed = record.to_vec();
        let at = changed.windows(8).position(|w| w == b"released").unwrap();
        changed[at] = b'R';
        changed
    });
    assert!(EventLog::open(rewritten.path()).unwrap().verify(..).unwrap().is_intact());
    let error = start_check(rewritten.path(), &seed).unwrap_err();
    assert!(matches!(error, CheckpointError::ChainBroken { position: 10, .. }), "{error}");
    assert!(error.to_string().starts_with("the chain after the checkpoint breaks at position 10: "), "{error}");

    // Event 9, the one the checkpoint signs, rewritten alone: the events after it still link to the hash it
    // had, so only recomputing the signed event itself shows that it is not the one signed.
    let signed_rewritten = tempfile::tempdir().unwrap();
    log_with_a_checkpoint(signed_rewritten.path(), &seed).await;
    let signed_hash = {
        let log = EventLog::open(signed_rewritten.path()).unwrap();
        log.event(9).unwrap().unwrap().hash
    };
    tampering::rewrite_alone(signed_rewritten.path(), 9, |record| {
        let mut changed = record.to_vec();
        let at = changed.windows(8).position(|w| w == b"released").unwrap();
        changed[at] = b'R';
        changed
    });
    {
        let log = EventLog::open(signed_rewritten.path()).unwrap();
        assert!(log.verify_after(event_log::Head { position: 9, hash: signed_hash }).unwrap().is_intact());
        assert!(log.verify(..=9).unwrap().is_intact());
    }
    let error = start_check(signed_rewritten.path(), &seed).unwrap_err();
    assert!(matches!(error, CheckpointError::HeadMismatch { position: 9, .. }), "{error}");

    // Cut short before the checkpoint: the marker written with it still names position 10.
    let truncated = tempfile::tempdir().unwrap();
    log_with_a_checkpoint(truncated.path(), &seed).await;
    tampering::truncate_from(truncated.path(), 8);
    let error = start_check(truncated.path(), &seed).unwrap_err();
    assert_eq!(error.to_string(), "the log ends before position 10, where its last checkpoint was recorded");
}
