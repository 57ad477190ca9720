//! Events appended to a log reach a consumer exactly once in effect and in order per stream; gaps are
//! filled from the source; the log-appending handler commits its checkpoint with its reaction; the
//! backlog is visible and commands keep succeeding while the broker is unreachable.

mod support;

use std::time::Duration;

use event_bus::{BusConfig, CancellationToken, Consumer, ConsumerConfig, LogHandler, LogReaction, Relay, RelayConfig};
use event_log::{EventLog, ExpectedVersion, StreamId};
use support::*;

const SOURCE: &str = "applications";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_exactly_once_in_order_per_stream() {
    let vhost = Vhost::create("round-trip");
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    let bus = BusConfig::new(vhost.uri(broker_address()));
    let (db, state, handler) = recording_handler(&dir.path().join("consumer"));

    let consumer = Consumer::new(ConsumerConfig::new(bus.clone(), "projector", &[SOURCE]), handler, log.clone())
        .expect("consumer");
    let relay = Relay::new(log.clone(), RelayConfig::new(bus, SOURCE)).expect("relay");
    let mut monitor = relay.monitor();
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(relay.run(shutdown.clone()));

    append_events(&log, 0, 2_000, 8, 20).await;
    wait_until("the consumer to handle 2000 events", Duration::from_secs(60), || {
        sled_checkpoint(&db, SOURCE).expect("checkpoint").next_position == 2_000
    })
    .await;
    assert!(monitor.wait_published(2_000).await);
    // The running relay saves its cursor within its save interval (100 ms), not only when it stops.
    wait_until("the running relay to save its cursor", Duration::from_secs(5), || {
        log.marker("event-bus.relay.cursor").expect("marker") == Some(2_000u64.to_be_bytes().to_vec())
    })
    .await;

    shutdown.cancel();
    consuming.await.expect("consumer task").expect("consumer stops cleanly");
    relaying.await.expect("relay task").expect("relay stops cleanly");

    assert_eq!(count_prefix(&state, APPLIED), 2_000, "every event applied");
    assert_eq!(violations(&state), Vec::<String>::new());
    let backlog = monitor.backlog().expect("backlog");
    assert_eq!((backlog.published_up_to, backlog.head, backlog.depth), (2_000, 2_000, 0));
    assert_eq!(backlog.oldest_unpublished_age, None);
    let cursor = log.marker("event-bus.relay.cursor").expect("marker").expect("cursor stored");
    assert_eq!(cursor, 2_000u64.to_be_bytes().to_vec(), "graceful stop stores the cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_is_filled_from_the_source_and_reactions_carry_the_checkpoint() {
    let vhost = Vhost::create("gap");
    let dir = tempfile::tempdir().expect("temp dir");
    let source_log = EventLog::open(dir.path().join("applications")).expect("log opens");
    let awards_log = EventLog::open(dir.path().join("awards")).expect("log opens");
    let bus = BusConfig::new(vhost.uri(broker_address()));

    let react = |_source: &str, event: &event_log::RecordedEvent| {
        if event.event_type != "ApplicationApproved" {
            return Ok(None);
        }
        let award = StreamId::new("award", event.stream.key()).map_err(|e| event_bus::Rejection::new(e.to_string()))?;
        Ok(Some(LogReaction {
            stream: award,
            expected: ExpectedVersion::Any,
            events: vec![support::event("AwardOffered", event.event_id.as_bytes())],
        }))
    };
    let handler = LogHandler::by_source(awards_log.clone(), react);
    let consumer = Consumer::new(ConsumerConfig::new(bus.clone(), "awards", &[SOURCE]), handler, source_log.clone())
        .expect("consumer");
    let mut progress = consumer.progress();
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    // Connected (and caught up with the still empty source) before anything is published.
    progress.wait_for(|p| p.connected).await.expect("consumer connects");

    // 30 events, every third an approval; the relay starts at position 12, so the consumer first sees a
    // message ahead of a gap of 12 positions and must read them from the source log.
    for n in 0..30 {
        let event_type = if n % 3 == 0 { "ApplicationApproved" } else { "ApplicationEdited" };
        source_log
            .append(stream(n % 4), ExpectedVersion::Any, vec![event(event_type, &[n as u8])])
            .await
            .expect("append");
    }
    source_log.put_marker("event-bus.relay.cursor", 12u64.to_be_bytes().to_vec()).await.expect("cursor");
    let relay = Relay::new(source_log.clone(), RelayConfig::new(bus, SOURCE)).expect("relay");
    let relaying = tokio::spawn(relay.run(shutdown.clone()));

    wait_until("the awards consumer to handle 30 events", Duration::from_secs(30), || {
        log_checkpoint(&awards_log, SOURCE).expect("checkpoint").next_position == 30
    })
    .await;
    shutdown.cancel();
    consuming.await.expect("consumer task").expect("consumer stops cleanly");
    relaying.await.expect("relay task").expect("relay stops cleanly");

    let progress = progress.borrow().clone();
    assert_eq!(progress.filled_from_source, 12, "positions 0..12 came from the source log");
    assert_eq!(progress.handled, 30);
    let reactions: Vec<_> = awards_log.read_all(0).map(|e| e.expect("event")).collect();
    assert_eq!(reactions.len(), 10, "one award per approval, none twice");
    let approvals: Vec<_> =
        source_log.read_all(0).map(|e| e.expect("event")).filter(|e| e.event_type == "ApplicationApproved").collect();
    for (award, approval) in reactions.iter().zip(&approvals) {
        assert_eq!(award.event_type, "AwardOffered");
        assert_eq!(award.payload, approval.event_id.as_bytes(), "reactions follow the source order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_succeed_and_the_backlog_is_visible_while_the_broker_is_unreachable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EventLog::open(dir.path().join("log")).expect("log opens");
    // A port nobody listens on: every connection attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let mut bus = BusConfig::new(format!("amqp://guest:guest@{closed}/%2f"));
    bus.max_backoff = Duration::from_millis(200);
    let relay = Relay::new(log.clone(), RelayConfig::new(bus, SOURCE)).expect("relay");
    let monitor = relay.monitor();
    let shutdown = CancellationToken::new();
    let relaying = tokio::spawn(relay.run(shutdown.clone()));

    append_events(&log, 0, 100, 4, 10).await;
    let backlog = monitor.backlog().expect("backlog");
    assert_eq!((backlog.published_up_to, backlog.head, backlog.depth), (0, 100, 100));
    assert!(backlog.oldest_unpublished_age.is_some());
    assert!(!backlog.connected);

    shutdown.cancel();
    relaying.await.expect("relay task").expect("relay stops while disconnected");
    assert_eq!(log.marker("event-bus.relay.cursor").expect("marker"), None, "nothing was confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_starts_late_catches_up_from_the_source_log() {
    let vhost = Vhost::create("late");
    let dir = tempfile::tempdir().expect("temp dir");
    let source_log = EventLog::open(dir.path().join("applications")).expect("log opens");
    let awards_log = EventLog::open(dir.path().join("awards")).expect("log opens");
    // Published history the consumer's queue never saw: it did not exist yet.
    for n in 0..40 {
        source_log
            .append(stream(n % 4), ExpectedVersion::Any, vec![event("ApplicationEdited", &[n as u8])])
            .await
            .expect("append");
    }
    let handler = LogHandler::by_source(awards_log.clone(), |_: &str, _: &event_log::RecordedEvent| Ok(None));
    let bus = BusConfig::new(vhost.uri(broker_address()));
    let consumer =
        Consumer::new(ConsumerConfig::new(bus, "awards", &[SOURCE]), handler, source_log.clone()).expect("consumer");
    let progress = consumer.progress();
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    wait_until("the late consumer to catch up 40 events", Duration::from_secs(30), || {
        log_checkpoint(&awards_log, SOURCE).expect("checkpoint").next_position == 40
    })
    .await;
    shutdown.cancel();
    consuming.await.expect("consumer task").expect("consumer stops cleanly");
    let progress = progress.borrow().clone();
    assert_eq!((progress.handled, progress.filled_from_source), (40, 40), "all of it read from the source log");
}
