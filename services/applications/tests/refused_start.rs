//! A service whose log no longer extends its last signed checkpoint refuses to start before its relay has
//! published any of that log to the real RabbitMQ (127.0.0.1:5672, in a vhost of the test's own).

use std::time::Duration;

use event_bus::lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use event_bus::lapin::types::{FieldTable, ShortString};
use event_bus::lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp};
use event_log_grpc::CheckpointSigner;
use service_runtime::CheckpointConfig;
use test_support::Vhost;
use uuid::Uuid;

#[path = "../../../shared/event-log/tests/tampering/mod.rs"]
mod tampering;

/// Events the applications index passes over (a stream type it does not keep).
fn notes(count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|_| {
            let id = Uuid::new_v4();
            NewEvent {
                event_id: id,
                event_type: "NoteWritten".into(),
                schema_version: 1,
                payload: b"note".to_vec(),
                metadata: EventMetadata {
                    actor: Actor { subject: "tester".into(), role: "admin".into(), organisation: String::new() },
                    correlation_id: id,
                    causation_id: id,
                    occurred_at: Timestamp::now(),
                    trace: None,
                },
            }
        })
        .collect()
}

/// The number of messages in a queue that takes every event the applications service publishes on
/// `channel`'s vhost, declared (with the events exchange and its binding) if it is not there yet.
async fn observed(channel: &Channel) -> u32 {
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    let exchange = ShortString::from("grants.events");
    channel.exchange_declare(exchange.clone(), ExchangeKind::Topic, durable, FieldTable::default()).await.unwrap();
    let queue = ShortString::from("observer");
    let declared =
        channel.queue_declare(queue.clone(), QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    let binding = ShortString::from("applications.#");
    channel.queue_bind(queue, exchange, binding, QueueBindOptions::default(), FieldTable::default()).await.unwrap();
    declared.message_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_no_longer_extends_its_checkpoint_is_refused_before_anything_of_it_is_published() {
    let vhost = Vhost::create();
    let connection = Connection::connect(&vhost.uri(), ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    assert_eq!(observed(&channel).await, 0);
    let data = tempfile::tempdir().unwrap();
    let log_dir = applications::service::log_dir(data.path());
    let seed = [3u8; 32];
    // Many events after the checkpoint, so that checking them takes longer than the relay needs to connect
    // and publish: a service that started its relay before the check would have published by then.
    let after_checkpoint = 3_000;
    let last = {
        let log = EventLog::open(&log_dir).unwrap();
        let stream = StreamId::new("note", "n-1").unwrap();
        log.append(stream.clone(), ExpectedVersion::Any, notes(10)).await.unwrap();
        CheckpointSigner::new(log.clone(), "applications", &seed).sign_now().await.unwrap().expect("signed");
        for _ in 0..after_checkpoint / 1_000 {
            log.append(stream.clone(), ExpectedVersion::Any, notes(1_000)).await.unwrap();
        }
        log.next_position() - 1
    };
    // The event before the head rewritten alone: the head no longer links to it, found only at the end.
    tampering::rewrite_alone(&log_dir, last - 1, |record| {
        let mut changed = record.to_vec();
        let at = changed.windows(4).position(|w| w == b"note").unwrap();
        changed[at] = b'N';
        changed
    });

    let server = service_runtime::ServerConfig {
        checkpoint: Some(CheckpointConfig {
            seed,
            previous_public_keys: Vec::new(),
            interval: Duration::from_secs(3600),
        }),
        ..test_support::services::server_config()
    };
    let config = applications::service::Config {
        data_dir: data.path().to_path_buf(),
        server,
        jwt: test_support::jwt(),
        amqp_uri: Some(vhost.uri()),
    };
    let listener = test_support::services::listen().await;
    let refused = applications::service::run(listener, config, tokio_util::sync::CancellationToken::new())
        .await
        .expect_err("the service refuses to start")
        .to_string();
    assert!(
        refused.starts_with(&format!(
            "refusing to start: the applications log does not extend its last signed checkpoint: the chain after \
             the checkpoint breaks at position {last}: "
        )),
        "{refused}"
    );

    let log = EventLog::open(&log_dir).unwrap();
    let cursor = log.marker(event_bus::RelayConfig::DEFAULT_CURSOR_MARKER).unwrap();
    assert_eq!(cursor, None, "no relay ran");
    assert_eq!(observed(&channel).await, 0, "nothing of the log was published");
}
