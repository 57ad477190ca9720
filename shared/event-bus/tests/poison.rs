//! Undecodable messages and events the handler rejects go to the dead-letter queue with their reason while
//! the good ones around them are applied; dead letters can be listed, shown and replayed (through the API
//! and the `bus-admin` command), and a replay is applied exactly once.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use event_bus::lapin::options::BasicPublishOptions;
use event_bus::lapin::types::ShortString;
use event_bus::lapin::{BasicProperties, Connection, ConnectionProperties};
use event_bus::{
    BusConfig, BusError, CancellationToken, Consumer, ConsumerConfig, DeadLetters, Rejection, Relay, RelayConfig,
    SledHandler, sled_checkpoint,
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

    // The command line sees the same dead letters, and reports a bad id in one line.
    let admin = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bus-admin"))
            .env_remove("BUS_AMQP_URI")
            .args(["--amqp-url", &uri, "--consumer", "projector"])
            .args(args)
            .output()
            .expect("bus-admin runs")
    };
    let list = admin(&["dead-letters", "list"]);
    assert!(list.status.success());
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains(&poison[1].id) && list.contains("garbage-2") && list.contains("4 dead letter(s)"), "{list}");
    let show = admin(&["dead-letters", "show", &poison[1].id]);
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("rejected: poison is refused"), "{show}");
    // Headers read as text and times as RFC 3339 in UTC, not as byte arrays and microseconds.
    let line = |key: &str| show.lines().find(|l| l.starts_with(key)).unwrap_or_default().to_owned();
    assert!(line("header stream-id ").ends_with(" application/poisoned"), "{show}");
    for time in ["dead-lettered ", "recorded ", "header x-dead-lettered-at "] {
        let value = line(time).rsplit(' ').next().unwrap_or_default().to_owned();
        assert!(value.len() > 20 && value.starts_with("20") && value.ends_with('Z'), "{time}in {show}");
    }
    assert!(!show.contains("LongString") && !show.contains("µs"), "{show}");
    // The broker is named as the services name it; the variable read before is refused, not ignored.
    let by_variable = Command::new(env!("CARGO_BIN_EXE_bus-admin"))
        .env("GRANTS_AMQP_URL", &uri)
        .env_remove("BUS_AMQP_URI")
        .args(["--consumer", "projector", "dead-letters", "list"])
        .output()
        .expect("bus-admin runs");
    assert!(String::from_utf8_lossy(&by_variable.stdout).contains("4 dead letter(s)"));
    let retired = Command::new(env!("CARGO_BIN_EXE_bus-admin"))
        .env("BUS_AMQP_URI", &uri)
        .args(["--consumer", "projector", "dead-letters", "list"])
        .output()
        .expect("bus-admin runs");
    let stderr = String::from_utf8_lossy(&retired.stderr);
    assert!(!retired.status.success() && stderr.trim().lines().count() == 1, "{stderr}");
    assert!(stderr.contains("GRANTS_AMQP_URL"), "{stderr}");
    let missing = admin(&["dead-letters", "show", "no-such-id"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no dead letter with message id no-such-id"), "{stderr}");

    // Once the handler accepts poison, replays apply each poison event exactly once.
    refuse_poison.store(false, Ordering::SeqCst);
    dead_letters.replay(&poison[0].id).await.expect("replay through the API");
    let replay = admin(&["dead-letters", "replay", &poison[1].id]);
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
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
