//! A source service restored from a backup that lacked events its consumers had already applied: its
//! relay publishes its log again from the start, and its new events take positions a consumer has already
//! handled. The consumer acks those as duplicates (it cannot tell them apart by position), but the first
//! event past its checkpoint does not link to the event it applied before: it is dead-lettered as
//! diverged, where an operator sees it, instead of being applied on top of a history the source no longer
//! has.

mod support;

use std::time::Duration;

use event_bus::{BusConfig, CancellationToken, Consumer, ConsumerConfig, DeadLetters, Relay, RelayConfig};
use event_log::{CopiedEvent, EventLog, ExpectedVersion, StreamId};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_source_that_lost_applied_events_is_dead_lettered_where_it_diverges() {
    let vhost = Vhost::create("diverged");
    let dir = tempfile::tempdir().expect("temp dir");
    let original = EventLog::open(dir.path().join("original")).expect("log opens");
    let bus = BusConfig::new(vhost.uri(broker_address()));
    let config = ConsumerConfig::new(bus.clone(), "projector", &[SOURCE]);
    let (db, state, handler) = recording_handler(&dir.path().join("consumer"));
    let consumer = Consumer::new(config.clone(), handler, original.clone()).expect("consumer");
    let progress = consumer.progress();
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));

    // The consumer applies the original log's 20 events.
    append_events(&original, 0, 20, 2, 5).await;
    let stop_original = CancellationToken::new();
    let relaying = tokio::spawn(
        Relay::new(original.clone(), RelayConfig::new(bus.clone(), SOURCE)).expect("relay").run(stop_original.clone()),
    );
    wait_until("the original's 20 events applied", Duration::from_secs(30), || {
        sled_checkpoint(&db, SOURCE).expect("checkpoint").next_position == 20
    })
    .await;
    assert!(sled_checkpoint(&db, SOURCE).expect("checkpoint").last_hash.is_some(), "the last hash is kept");
    stop_original.cancel();
    relaying.await.expect("relay task").expect("relay stops cleanly");

    // The source is lost and restored from a copy holding its first 15 events; it then records 10 of its
    // own at positions 15 to 24, five of them where the consumer applied the lost ones.
    let restored = EventLog::open(dir.path().join("restored")).expect("log opens");
    let copied: Vec<CopiedEvent> =
        original.read_all(0).take(15).map(|event| CopiedEvent::from(&event.expect("reads"))).collect();
    restored.append_copied(copied).await.expect("the copy is written");
    for n in 0..10 {
        let stream = StreamId::new("application", format!("restored-{n}")).expect("stream id");
        restored.append(stream, ExpectedVersion::NoStream, vec![event("ApplicationSubmitted", b"new")]).await.unwrap();
    }
    let stop_restored = CancellationToken::new();
    let relay = Relay::new(restored.clone(), RelayConfig::new(bus.clone(), SOURCE)).expect("relay");
    let mut monitor = relay.monitor();
    let relaying = tokio::spawn(relay.run(stop_restored.clone()));
    assert!(monitor.wait_published(25).await, "the restored log is published from its start");

    wait_until("every position handled, one dead-lettered", Duration::from_secs(30), || {
        sled_checkpoint(&db, SOURCE).expect("checkpoint").next_position == 25 && progress.borrow().dead_lettered == 1
    })
    .await;
    let letters = DeadLetters::new(config.clone()).list().await.expect("list");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].position, Some(20));
    assert!(letters[0].reason.starts_with("diverged: applications's event at position 20"), "{}", letters[0].reason);
    assert_eq!(sled_checkpoint(&db, SOURCE).expect("checkpoint").skipped.into_iter().collect::<Vec<_>>(), vec![20]);
    // Positions 15 to 19 of the restored log were taken for the lost events (the dead letter's reason says
    // that this may have happened); after the dead letter, the restored log's events are applied again.
    assert_eq!(count_prefix(&state, APPLIED), 20 + 4);
    assert_eq!(violations(&state), Vec::<String>::new());

    shutdown.cancel();
    stop_restored.cancel();
    consuming.await.expect("consumer task").expect("consumer stops cleanly");
    relaying.await.expect("relay task").expect("relay stops cleanly");
}
