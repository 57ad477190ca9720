//! `LogHandler` holds its commits back until `sync`: one in-order append per batch. What a failed commit
//! leaves (what came before it, with its checkpoints, and nothing after), reactions decided again when a
//! held-back reaction changes what they read, and a refused reaction reported for its own event; and, on
//! the broker, a consumer whose batch fails in the middle acknowledges only what is durable, losing and
//! doubling nothing.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use event_bus::{
    BusConfig, CancellationToken, Checkpoint, Consumer, ConsumerConfig, Handler, HandlerError, LogHandler, LogReaction,
    ReactionResult, Relay, RelayConfig, SourceError, SourceReader,
};
use event_log::{EventLog, ExpectedVersion, RecordedEvent, StreamId};
use support::*;

/// The stream a source event's reaction goes to: `award/<key of the source stream>`.
fn target(event: &RecordedEvent) -> StreamId {
    StreamId::new("award", event.stream.key()).expect("stream id")
}

/// Reacts like a service: an `Approved` event appends `Offered` (its payload: the source position) to its
/// target, at the version the target stands at in `log`; a `Resumed` event appends `Resumed` only if the
/// target's last event is `Suspended` (and otherwise names the target, having decided nothing); a
/// `Suspended` event appends `Suspended`; anything else is ignored without reading the log.
fn react_in(log: &EventLog, event: &RecordedEvent) -> ReactionResult {
    let stream = target(event);
    let version = log.stream_version(&stream).expect("stream version");
    let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
    let decided = match event.event_type.as_str() {
        "Approved" => vec![support::event("Offered", &event.position.to_be_bytes())],
        "Suspended" => vec![support::event("Suspended", &event.position.to_be_bytes())],
        "Resumed" => {
            let last = version.map(|v| log.read_stream(&stream, v).next().expect("last").expect("event"));
            if last.is_some_and(|last| last.event_type == "Suspended") {
                vec![support::event("Resumed", &event.position.to_be_bytes())]
            } else {
                Vec::new()
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(LogReaction { stream, expected, events: decided }))
}

/// A source log (`applications`) and the consuming service's log (`awards`), in a directory of their own.
fn logs() -> (tempfile::TempDir, EventLog, EventLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = EventLog::open(dir.path().join("applications")).expect("log opens");
    let log = EventLog::open(dir.path().join("awards")).expect("log opens");
    (dir, source, log)
}

/// A handler appending to `log` what [`react_in`] decides on it.
fn reacting_handler(log: &EventLog) -> LogHandler<impl FnMut(&str, &RecordedEvent) -> ReactionResult + Send + use<>> {
    let reacting = log.clone();
    LogHandler::by_source(log.clone(), move |_: &str, e: &RecordedEvent| react_in(&reacting, e))
}

/// Appends `(stream key, event type)` to `log` and returns the recorded events.
async fn source_events(log: &EventLog, events: &[(&str, &str)]) -> Vec<RecordedEvent> {
    let mut recorded = Vec::new();
    for (key, event_type) in events {
        let stream = StreamId::new("application", *key).expect("stream id");
        let result = log.append(stream, ExpectedVersion::Any, vec![event(event_type, &[])]).await.expect("append");
        recorded.push(log.event(result.first_position).expect("read").expect("event"));
    }
    recorded
}

/// Hands `events` to `handler` as the consumer does, each with the checkpoint after it.
async fn handle_all<H: Handler>(handler: &mut H, events: &[RecordedEvent]) {
    for event in events {
        let next = handler.checkpoint(SOURCE).expect("checkpoint").handled(event.position);
        handler.handle(event, &next).await.expect("handled");
    }
}

fn stored_checkpoint(log: &EventLog) -> u64 {
    log_checkpoint(log, SOURCE).expect("checkpoint").next_position
}

/// The (event type, payload position) of each event of `stream` in `log`.
fn stream_events(log: &EventLog, stream: &StreamId) -> Vec<(String, Option<u64>)> {
    log.read_stream(stream, 0)
        .map(|e| {
            let e = e.expect("event");
            let position = <[u8; 8]>::try_from(e.payload.as_slice()).ok().map(u64::from_be_bytes);
            (e.event_type, position)
        })
        .collect()
}

#[tokio::test]
async fn a_conflict_in_the_middle_of_a_batch_keeps_what_came_before_and_nothing_after() {
    let (_dir, source, log) = logs();
    let events = source_events(
        &source,
        &[("a", "Approved"), ("a", "Edited"), ("b", "Approved"), ("c", "Approved"), ("c", "Edited"), ("d", "Approved")],
    )
    .await;
    let mut handler = reacting_handler(&log);

    handle_all(&mut handler, &events).await;
    assert_eq!(log.next_position(), 0, "held back until sync");
    assert_eq!(handler.checkpoint(SOURCE).expect("checkpoint").next_position, 6, "the handler's own view");
    // A command of the consuming service moves `c` before the batch is committed.
    log.append(target(&events[3]), ExpectedVersion::Any, vec![event("Concurrent", &[])]).await.expect("append");

    let failed = handler.sync().await.expect_err("the reaction to c conflicts");
    assert!(matches!(failed, HandlerError::Uncommitted(_)), "{failed:?}");
    assert_eq!(stored_checkpoint(&log), 3, "durable up to the reaction before the conflict");
    assert_eq!(handler.checkpoint(SOURCE).expect("checkpoint").next_position, 3, "read back from the log");
    assert_eq!(stream_events(&log, &target(&events[0])), [("Offered".to_owned(), Some(0))]);
    assert_eq!(stream_events(&log, &target(&events[2])), [("Offered".to_owned(), Some(2))]);
    assert!(stream_events(&log, &target(&events[5])).is_empty(), "nothing after the conflict");

    // Redelivered from the durable checkpoint: decided again on the moved stream.
    handle_all(&mut handler, &events[3..]).await;
    handler.sync().await.expect("committed");
    assert_eq!(stored_checkpoint(&log), 6);
    assert_eq!(
        stream_events(&log, &target(&events[3])),
        [("Concurrent".to_owned(), None), ("Offered".to_owned(), Some(3))]
    );
    assert_eq!(stream_events(&log, &target(&events[5])), [("Offered".to_owned(), Some(5))]);
    assert_eq!(log.next_position(), 5, "each reaction once, and the concurrent event");
}

#[tokio::test]
async fn a_reaction_to_a_stream_with_one_held_back_is_decided_again_on_the_committed_state() {
    let (_dir, source, log) = logs();
    // The second approval of `a` reads the first one's reaction; the resumption of `b` decides nothing
    // unless it reads the held-back suspension.
    let events = source_events(
        &source,
        &[("a", "Approved"), ("b", "Suspended"), ("a", "Approved"), ("c", "Edited"), ("b", "Resumed")],
    )
    .await;
    let mut handler = reacting_handler(&log);

    handle_all(&mut handler, &events).await;
    handler.sync().await.expect("committed");

    assert_eq!(stored_checkpoint(&log), 5);
    let offers = stream_events(&log, &target(&events[0]));
    assert_eq!(offers, [("Offered".to_owned(), Some(0)), ("Offered".to_owned(), Some(2))]);
    let b = stream_events(&log, &target(&events[1]));
    assert_eq!(b, [("Suspended".to_owned(), Some(1)), ("Resumed".to_owned(), Some(4))]);
}

#[tokio::test]
async fn a_refused_reaction_fails_the_batch_once_then_is_refused_alone() {
    let (_dir, source, log) = logs();
    let events = source_events(&source, &[("a", "Approved"), ("b", "Broken"), ("c", "Approved")]).await;
    let reacting = log.clone();
    let mut handler = LogHandler::by_source(log.clone(), move |_: &str, e: &RecordedEvent| {
        if e.event_type == "Broken" {
            // The log refuses an event without a schema version.
            let mut broken = event("Offered", &[]);
            broken.schema_version = 0;
            return Ok(Some(LogReaction { stream: target(e), expected: ExpectedVersion::Any, events: vec![broken] }));
        }
        react_in(&reacting, e)
    });

    handle_all(&mut handler, &events).await;
    let failed = handler.sync().await.expect_err("the log refuses the broken reaction");
    assert!(matches!(failed, HandlerError::Uncommitted(_)), "{failed:?}");
    assert!(failed.to_string().contains("position 1"), "names the event: {failed}");
    assert_eq!(stored_checkpoint(&log), 1);

    // Redelivered: the refused reaction is tried alone, and its refusal is the event's own.
    let next = handler.checkpoint(SOURCE).expect("checkpoint").handled(1);
    let refused = handler.handle(&events[1], &next).await.expect_err("refused");
    assert!(matches!(&refused, HandlerError::Rejected(reason) if reason.contains("schema_version")), "{refused:?}");
    // The consumer dead-letters it and records the position as handled, then goes on.
    let dead_lettered = handler.checkpoint(SOURCE).expect("checkpoint").dead_lettered(1);
    handler.commit_checkpoint(&dead_lettered).await.expect("committed");
    handle_all(&mut handler, &events[2..]).await;
    handler.sync().await.expect("committed");

    let stored = log_checkpoint(&log, SOURCE).expect("checkpoint");
    assert_eq!((stored.next_position, stored.skipped.iter().copied().collect::<Vec<_>>()), (3, vec![1]));
    assert_eq!(log.next_position(), 2, "the offers to a and c");
}

#[tokio::test]
async fn ignored_events_cost_one_marker_per_batch_and_reactions_are_bounded() {
    let (_dir, source, log) = logs();
    let kinds: Vec<(String, &str)> =
        (0..10).map(|n| (format!("s{n}"), if n % 2 == 0 { "Approved" } else { "Edited" })).collect();
    let kinds: Vec<(&str, &str)> = kinds.iter().map(|(key, kind)| (key.as_str(), *kind)).collect();
    let events = source_events(&source, &kinds).await;
    let mut handler = reacting_handler(&log).with_max_pending(2);

    handle_all(&mut handler, &events[..1]).await;
    handle_all(&mut handler, &events[1..2]).await;
    assert_eq!(log.next_position(), 0);
    handle_all(&mut handler, &events[2..]).await;
    assert_eq!(log.next_position(), 4, "committed two reactions at a time");
    // The events after the last reaction committed were ignored: its marker carries them too.
    assert_eq!(stored_checkpoint(&log), 8, "with the newest checkpoint");
    handler.sync().await.expect("committed");
    assert_eq!((log.next_position(), stored_checkpoint(&log)), (5, 10));

    let ignored = source_events(&source, &[("x", "Edited"), ("y", "Edited")]).await;
    handle_all(&mut handler, &ignored).await;
    assert_eq!(stored_checkpoint(&log), 10, "held back");
    handler.sync().await.expect("committed");
    assert_eq!((log.next_position(), stored_checkpoint(&log)), (5, 12), "a marker alone");
}

/// The source log for gap filling, reporting no head: the consumer takes every event from its queue.
struct QueueOnly(EventLog);

impl SourceReader for QueueOnly {
    async fn read_range(&mut self, source: &str, from: u64, to: u64) -> Result<Vec<RecordedEvent>, SourceError> {
        SourceReader::read_range(&mut self.0, source, from, to).await
    }

    async fn head(&mut self, _source: &str) -> Result<u64, SourceError> {
        Ok(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_whose_batch_conflicts_in_the_middle_acks_only_what_is_durable() {
    const EVENTS: usize = 600;
    const CONFLICTING: u64 = 301;
    let vhost = Vhost::create("batch-conflict");
    let (_dir, source, log) = logs();
    let bus = BusConfig::new(vhost.uri(broker_address()));

    let reacting = log.clone();
    let conflicted = Arc::new(AtomicBool::new(false));
    let conflicting = conflicted.clone();
    let react = move |_: &str, e: &RecordedEvent| {
        let reaction = react_in(&reacting, e);
        if e.position == CONFLICTING && !conflicting.swap(true, Ordering::SeqCst) {
            // A command of the consuming service moves the stream after the reaction was decided.
            let concurrent = reacting.append(target(e), ExpectedVersion::Any, vec![event("Concurrent", &[])]);
            let handle = tokio::runtime::Handle::current();
            tokio::task::block_in_place(|| handle.block_on(concurrent)).expect("concurrent append");
        }
        reaction
    };
    let handler = LogHandler::by_source(log.clone(), react);
    let config = ConsumerConfig::new(bus.clone(), "awards", &[SOURCE]);

    // Declare the queue, then fill it, so that the consumer takes full batches.
    let consumer = Consumer::new(config.clone(), handler, QueueOnly(source.clone())).expect("consumer");
    let mut progress = consumer.progress();
    let stop = CancellationToken::new();
    let declaring = tokio::spawn(consumer.run(stop.clone()));
    progress.wait_for(|p| p.connected).await.expect("consumer connects");
    stop.cancel();
    let handler = declaring.await.expect("consumer task").expect("consumer stops cleanly");

    for n in 0..EVENTS {
        let kind = if n % 2 == 1 { "Approved" } else { "Edited" };
        source.append(stream(n % 6), ExpectedVersion::Any, vec![event(kind, &[])]).await.expect("append");
    }
    let relay = Relay::new(source.clone(), RelayConfig::new(bus, SOURCE)).expect("relay");
    let mut monitor = relay.monitor();
    let shutdown = CancellationToken::new();
    let relaying = tokio::spawn(relay.run(shutdown.clone()));
    assert!(monitor.wait_published(EVENTS as u64).await);

    let consumer = Consumer::new(config, handler, QueueOnly(source.clone())).expect("consumer");
    let progress = consumer.progress();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    wait_until("the consumer to handle every event", Duration::from_secs(60), || {
        log_checkpoint(&log, SOURCE).expect("checkpoint").next_position == EVENTS as u64
    })
    .await;
    shutdown.cancel();
    consuming.await.expect("consumer task").expect("consumer stops cleanly");
    relaying.await.expect("relay task").expect("relay stops cleanly");

    assert!(conflicted.load(Ordering::SeqCst));
    let progress = progress.borrow().clone();
    assert!(progress.retries >= 1, "the conflict handed messages back: {progress:?}");
    assert_eq!(progress.dead_lettered, 0);
    let stored = log_checkpoint(&log, SOURCE).expect("checkpoint");
    let last = source.read_all(EVENTS as u64 - 1).next().expect("the last event").expect("reads");
    assert_eq!(
        stored,
        Checkpoint { next_position: EVENTS as u64, last_hash: Some(last.hash), ..Checkpoint::start(SOURCE) }
    );
    // Each approval offered once, in source order per stream, the concurrent event where it landed.
    let mut offers = 0;
    for n in 0..6 {
        let key = stream(n).key().to_owned();
        let events = stream_events(&log, &StreamId::new("award", key).expect("stream id"));
        let positions: Vec<u64> =
            events.iter().filter(|(kind, _)| kind == "Offered").map(|(_, p)| p.expect("a position")).collect();
        let expected: Vec<u64> = (0..EVENTS as u64).filter(|p| p % 2 == 1 && p % 6 == n as u64).collect();
        assert_eq!(positions, expected, "stream {n}");
        offers += positions.len();
    }
    assert_eq!(offers, EVENTS / 2);
    assert_eq!(log.next_position(), EVENTS as u64 / 2 + 1, "every offer once, and the concurrent event");
}
