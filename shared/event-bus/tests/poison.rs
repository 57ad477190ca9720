//! Undecodable messages and events the handler rejects go to the dead-letter queue with their reason while
//! the good ones around them are applied; dead letters can be listed, shown and replayed through the API
//! (the `grants bus` command's own test does the same through it), and a replay is applied exactly once.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use event_bus::lapin::options::BasicPublishOptions;
use event_bus::lapin::types::ShortString;
use event_bus::lapin::{BasicProperties, Connection, ConnectionProperties};
use event_bus::{
    BusConfig, BusError, CancellationToken, Consumer, ConsumerConfig, DeadLetters, Rejection, Relay, RelayConfig,
};
use event_log::{EventLog, ExpectedVersion, StreamId};
use sled::transaction::ConflictableTransactionError;
use support::*;

const SOURCE: &str = "applications";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_the_dead_letter_queue_and_replays_apply_once() {
    let vhost = Vhost::create("poison");
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    let uri = vhost.uri(broker_address());
    let bus = BusConfig::new(uri.clone());
    let config = ConsumerConfig::new(bus.clone(), "projector", &[SOURCE]);

    // The handler refuses poison until the test lifts the ban, as a fixed handler would after a release.
    let refuse_poison = Arc::new(AtomicBool::new(true));
    let refuse = refuse_poison.clone();
    let db = sled::open(dir.path().join("consumer")).expect("db");
    let state = db.open_tree("read-model").expect("tree");
    let handler = SledHandler::new(db.clone(), state.clone(), move |event, tree| {
        if event.event_type == "Poison" && refuse.load(Ordering::SeqCst) {
            return Err(ConflictableTransactionError::Abort(Rejection::new("poison is refused")));
        }
        let mut cured = event.clone();
        cured.event_type = "Cured".into();
        recording_apply(&cured, tree)
    })
    .expect("handler");
    let consumer = Consumer::new(config.clone(), handler, log.clone()).expect("consumer");
    let progress = consumer.progress();
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    wait_until("the consumer to connect", Duration::from_secs(20), || progress.borrow().connected).await;

    // Garbage published straight to the exchange, before and between real events.
    let connection = Connection::connect(&uri, ConnectionProperties::default()).await.expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    let garbage = |n: u8| {
        let channel = channel.clone();
        async move {
            channel
                .basic_publish(
                    ShortString::from("grants.events"),
                    ShortString::from(format!("{SOURCE}.Garbage")),
                    BasicPublishOptions::default(),
                    &[0xff, n, 0xff, 0x00],
                    BasicProperties::default().with_message_id(ShortString::from(format!("garbage-{n}"))),
                )
                .await
                .expect("publish")
                .await
                .expect("published");
        }
    };
    garbage(1).await;

    let poison_stream = StreamId::new("application", "poisoned").expect("stream");
    append_events(&log, 0, 10, 2, 5).await;
    let first_poison = log
        .append(poison_stream.clone(), ExpectedVersion::Any, vec![event("Poison", b"1")])
        .await
        .expect("append")
        .first_position;
    append_events(&log, 10, 10, 2, 5).await;
    let second_poison = log
        .append(poison_stream, ExpectedVersion::Any, vec![event("Poison", b"2")])
        .await
        .expect("append")
        .first_position;
    let relay = Relay::new(log.clone(), RelayConfig::new(bus, SOURCE)).expect("relay");
    let mut monitor = relay.monitor();
    let relaying = tokio::spawn(relay.run(shutdown.clone()));
    assert!(monitor.wait_published(22).await);
    garbage(2).await;

    wait_until("good events applied and four dead letters", Duration::from_secs(30), || {
        sled_checkpoint(&db, SOURCE).expect("checkpoint").next_position == 22 && progress.borrow().dead_lettered == 4
    })
    .await;
    assert_eq!(count_prefix(&state, APPLIED), 20, "the good events around the poison are applied");
    let checkpoint = sled_checkpoint(&db, SOURCE).expect("checkpoint");
    assert_eq!(checkpoint.skipped.iter().copied().collect::<Vec<_>>(), vec![first_poison, second_poison]);

    let dead_letters = DeadLetters::new(config.clone());
    let listed = dead_letters.list().await.expect("list");
    assert_eq!(listed.len(), 4);
    let garbage_letters: Vec<_> = listed.iter().filter(|l| l.id.starts_with("garbage-")).collect();
    assert_eq!(garbage_letters.len(), 2);
    assert!(garbage_letters.iter().all(|l| l.reason.starts_with("undecodable")), "{garbage_letters:?}");
    let poison: Vec<_> = listed.iter().filter(|l| l.reason == "rejected: poison is refused").collect();
    assert_eq!(poison.iter().map(|l| l.position).collect::<Vec<_>>(), vec![Some(first_poison), Some(second_poison)]);
    let shown = dead_letters.show(&poison[0].id).await.expect("show");
    let event = shown.event().expect("a poison event decodes");
    assert_eq!((event.position, event.event_type.as_str()), (first_poison, "Poison"));
    assert_eq!(shown.source.as_deref(), Some(SOURCE));

    // Once the handler accepts poison, replays apply each poison event exactly once.
    refuse_poison.store(false, Ordering::SeqCst);
    dead_letters.replay(&poison[0].id).await.expect("replay through the API");
    dead_letters.replay(&poison[1].id).await.expect("replay through the API");
    wait_until("both replays applied", Duration::from_secs(30), || count_prefix(&state, APPLIED) == 22).await;
    assert!(matches!(dead_letters.replay(&poison[0].id).await, Err(BusError::DeadLetterNotFound(_))));
    let remaining = dead_letters.list().await.expect("list");
    assert_eq!(remaining.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), vec!["garbage-1", "garbage-2"]);
    assert!(sled_checkpoint(&db, SOURCE).expect("checkpoint").skipped.is_empty());

    shutdown.cancel();
    consuming.await.expect("consumer task").expect("consumer stops cleanly");
    relaying.await.expect("relay task").expect("relay stops cleanly");
    assert_eq!(count_prefix(&state, APPLIED), 22);
    assert_eq!(violations(&state), Vec::<String>::new());
    let _ = connection.close(200, ShortString::from("bye")).await;
}
