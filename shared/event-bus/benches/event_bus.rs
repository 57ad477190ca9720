//! Throughput of the bus against ceilings measured in the same run, on the shared broker
//! (127.0.0.1:5672, in a vhost of its own):
//! 1. raw publishing ceiling: lapin publishing persistent messages of the relay's size with confirms,
//!    window 512, to a quorum queue; and the raw consuming ceiling: lapin draining that queue (prefetch
//!    512, one ack per batch, no work);
//! 2. what each part of the relay's route costs: the same raw publishing with the relay's properties and
//!    headers, without each of them in turn, and through a topic, a direct and the default exchange;
//! 3. the relay publishing a log of 100,000 events (window 512);
//! 4. the consumer applying those 100,000 messages with idempotent handling (sled read model, checkpoint
//!    in the same transaction, one flush per batch: the projector's way);
//! 5. the consumer applying them with `LogHandler`, the awards and reporting way: most events ignored, one
//!    in ten reacted to with one event appended to the consuming service's own log.
//!
//! Run with `cargo bench -p event-bus`.

use std::collections::VecDeque;
use std::process::Command;
use std::time::{Duration, Instant};

use event_bus::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use event_bus::lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use event_bus::lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use event_bus::{
    BusConfig, CancellationToken, Checkpoint, Consumer, ConsumerConfig, ConsumerProgress, LogHandler, LogReaction,
    Rejection, Relay, RelayConfig, SourceError, SourceReader,
};
use event_log::{
    Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, RecordedEvent, StreamId, Timestamp, encode_envelope,
};
use futures::FutureExt;
use futures::StreamExt;
use uuid::Uuid;

// The read-model handler of the bus's tests: the benchmark measures the same consumer they check.
#[path = "../tests/support/sled_handler.rs"]
mod sled_handler;
use sled_handler::{SledHandler, sled_checkpoint};

const EVENTS: u64 = 100_000;
/// Messages per route variant and per measurement of the route it is compared with, taken in turns.
const ROUTE_MESSAGES: u64 = 30_000;
const WINDOW: usize = 512;
const PREFETCH: u16 = 512;
const SOURCE: &str = "applications";
/// One consumed event in this many gets a reaction in the `LogHandler` case.
const REACTING_ONE_IN: u64 = 10;

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("rabbitmqctl").args(args).output()?.status;
    anyhow::ensure!(status.success(), "rabbitmqctl {args:?} failed");
    Ok(())
}

struct Vhost(String);

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = rabbitmqctl(&["delete_vhost", &self.0]);
    }
}

fn new_event(event_type: &str, n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: event_type.into(),
        schema_version: 1,
        // A typical small domain event: a few ids and strings.
        payload: format!("{n:0>120}").into_bytes(),
        metadata: EventMetadata {
            actor: Actor { subject: "officer-1".into(), role: "program_officer".into(), organisation: String::new() },
            correlation_id: Uuid::new_v4(),
            causation_id: Uuid::new_v4(),
            occurred_at: Timestamp::now(),
            trace: None,
        },
    }
}

/// Where and what a ceiling run publishes.
struct CeilingRoute<'a> {
    exchange: &'a str,
    routing_key: &'a str,
    /// The quorum queue it lands in, bound to `binding` on `exchange` unless that is the default exchange.
    queue: &'a str,
    binding: &'a str,
    properties: BasicProperties,
}

async fn quorum_queue(channel: &Channel, name: &str) -> anyhow::Result<()> {
    let mut arguments = FieldTable::default();
    arguments.insert(ShortString::from("x-queue-type"), AMQPValue::LongString(LongString::from("quorum")));
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(ShortString::from(name), durable, arguments).await?;
    Ok(())
}

/// Raw lapin: persistent messages with confirms and a window of [`WINDOW`] into a quorum queue, no log
/// and no relay logic. The queue stays, full, for [`raw_consume`] or [`delete_queue`].
async fn raw_publish(uri: &str, body_len: usize, messages: u64, route: CeilingRoute<'_>) -> anyhow::Result<f64> {
    let connection = Connection::connect(uri, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    quorum_queue(&channel, route.queue).await?;
    if !route.exchange.is_empty() {
        channel
            .queue_bind(
                ShortString::from(route.queue),
                ShortString::from(route.exchange),
                ShortString::from(route.binding),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let body = vec![7u8; body_len];
    let mut in_flight = VecDeque::with_capacity(WINDOW);
    let started = Instant::now();
    for _ in 0..messages {
        if in_flight.len() == WINDOW {
            let confirm: event_bus::lapin::PublisherConfirm = in_flight.pop_front().expect("in flight");
            anyhow::ensure!(matches!(confirm.await?, Confirmation::Ack(None)), "raw publish not acked");
        }
        let confirm = channel
            .basic_publish(
                ShortString::from(route.exchange),
                ShortString::from(route.routing_key),
                BasicPublishOptions { mandatory: true, immediate: false },
                &body,
                route.properties.clone(),
            )
            .await?;
        in_flight.push_back(confirm);
    }
    for confirm in in_flight {
        anyhow::ensure!(matches!(confirm.await?, Confirmation::Ack(None)), "raw publish not acked");
    }
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    connection.close(200, ShortString::from("bye")).await?;
    Ok(rate)
}

/// Raw lapin draining `queue` ([`EVENTS`] messages): prefetch [`PREFETCH`], one ack (`multiple`) per batch
/// of whatever has arrived, no work. Deletes the queue afterwards.
async fn raw_consume(uri: &str, queue: &str) -> anyhow::Result<f64> {
    let connection = Connection::connect(uri, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let mut deliveries = channel
        .basic_consume(
            ShortString::from(queue),
            ShortString::from(""),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let mut received = 0;
    while received < EVENTS {
        let mut last = deliveries.next().await.ok_or_else(|| anyhow::anyhow!("consumer cancelled"))??;
        received += 1;
        while let Some(Some(delivery)) = deliveries.next().now_or_never() {
            last = delivery?;
            received += 1;
        }
        last.acker.ack(BasicAckOptions { multiple: true }).await?;
    }
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    delete_queue(&channel, queue).await?;
    connection.close(200, ShortString::from("bye")).await?;
    Ok(rate)
}

/// A ceiling's queue would otherwise weigh on the broker while the next figure is measured.
async fn delete_queue(channel: &Channel, queue: &str) -> anyhow::Result<()> {
    channel.queue_delete(ShortString::from(queue), QueueDeleteOptions::default()).await?;
    Ok(())
}

/// A part of the relay's message that [`without`] leaves out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    Headers,
    Type,
    AppId,
    MessageId,
    Timestamp,
    ContentType,
    Persistent,
}

/// `full` without `omitted`.
fn without(full: &BasicProperties, omitted: &[Part]) -> BasicProperties {
    let keeps = |part| !omitted.contains(&part);
    let mut properties = BasicProperties::default();
    if let Some(mode) = full.delivery_mode().filter(|_| keeps(Part::Persistent)) {
        properties = properties.with_delivery_mode(mode);
    }
    if let Some(value) = full.content_type().clone().filter(|_| keeps(Part::ContentType)) {
        properties = properties.with_content_type(value);
    }
    if let Some(value) = full.message_id().clone().filter(|_| keeps(Part::MessageId)) {
        properties = properties.with_message_id(value);
    }
    if let Some(value) = full.kind().clone().filter(|_| keeps(Part::Type)) {
        properties = properties.with_type(value);
    }
    if let Some(value) = full.app_id().clone().filter(|_| keeps(Part::AppId)) {
        properties = properties.with_app_id(value);
    }
    if let Some(value) = full.timestamp().filter(|_| keeps(Part::Timestamp)) {
        properties = properties.with_timestamp(value);
    }
    if let Some(value) = full.headers().clone().filter(|_| keeps(Part::Headers)) {
        properties = properties.with_headers(value);
    }
    properties
}

/// Exchange, routing key and the binding of the queue.
type Way<'a> = (&'a str, &'a str, &'a str);

/// Raw publishing along variants of the relay's route, each right after the route as the relay publishes
/// it (the first variant), so that the ratio of the two is measured under the same load: which property,
/// header or exchange costs what. Returns each variant's rate and that ratio.
async fn route_costs(uri: &str, body_len: usize, sample: &RecordedEvent) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let connection = Connection::connect(uri, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    for (name, kind) in [("bench.topic", ExchangeKind::Topic), ("bench.direct", ExchangeKind::Direct)] {
        channel.exchange_declare(ShortString::from(name), kind, durable, FieldTable::default()).await?;
    }
    let full = event_bus::message::event_properties(SOURCE, sample);
    let routing_key = event_bus::message::routing_key(SOURCE, &sample.event_type);
    let topic_binding = format!("{SOURCE}.#");
    let topic = ("bench.topic", routing_key.as_str(), topic_binding.as_str());
    let direct = ("bench.direct", SOURCE, SOURCE);
    let default = ("", "bench.route", "");
    let variants: Vec<(String, Way<'_>, Vec<Part>)> = vec![
        ("topic, the relay's properties and headers (the relay's route)".into(), topic, vec![]),
        ("topic, without headers".into(), topic, vec![Part::Headers]),
        ("topic, without type".into(), topic, vec![Part::Type]),
        ("topic, without app_id".into(), topic, vec![Part::AppId]),
        ("topic, without message_id".into(), topic, vec![Part::MessageId]),
        ("topic, without timestamp".into(), topic, vec![Part::Timestamp]),
        ("topic, without content_type".into(), topic, vec![Part::ContentType]),
        ("topic, transient (delivery mode 1 unset)".into(), topic, vec![Part::Persistent]),
        ("direct (key = service), the relay's properties".into(), direct, vec![]),
        ("default exchange, the relay's properties".into(), default, vec![]),
        (
            "topic, nothing but persistent".into(),
            topic,
            vec![Part::Headers, Part::Type, Part::AppId, Part::MessageId, Part::Timestamp, Part::ContentType],
        ),
    ];
    let mut rates = Vec::with_capacity(variants.len());
    let relays_way = variants[0].1;
    for (label, (exchange, routing_key, binding), omitted) in variants.iter().skip(1) {
        let (relay_exchange, relay_key, relay_binding) = relays_way;
        let route = CeilingRoute {
            exchange: relay_exchange,
            routing_key: relay_key,
            queue: "bench.route",
            binding: relay_binding,
            properties: full.clone(),
        };
        let relays = raw_publish(uri, body_len, ROUTE_MESSAGES, route).await?;
        delete_queue(&channel, "bench.route").await?;
        let properties = without(&full, omitted);
        let route = CeilingRoute { exchange, routing_key, queue: "bench.route", binding, properties };
        let rate = raw_publish(uri, body_len, ROUTE_MESSAGES, route).await?;
        delete_queue(&channel, "bench.route").await?;
        rates.push((label.clone(), rate, rate / relays));
    }
    connection.close(200, ShortString::from("bye")).await?;
    Ok(rates)
}

async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "timed out after {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Publishes the whole of `log` with a relay of its own cursor (`cursor`), and returns its rate.
async fn relay_all(log: &EventLog, bus: &BusConfig, cursor: &str) -> anyhow::Result<f64> {
    let mut config = RelayConfig::new(bus.clone(), SOURCE);
    config.cursor_marker = cursor.to_owned();
    let relay = Relay::new(log.clone(), config)?;
    let mut monitor = relay.monitor();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let relaying = tokio::spawn(relay.run(shutdown.clone()));
    anyhow::ensure!(monitor.wait_published(EVENTS).await, "relay stopped");
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    relaying.await??;
    Ok(rate)
}

/// What awards and reporting do with a consumed event: ignore most without reading their log; for one in
/// [`REACTING_ONE_IN`], load the stream the reaction goes to (as `EventStore::react` loads the aggregate)
/// and append one event to it.
fn awards_like(log: &EventLog, event: &RecordedEvent) -> event_bus::ReactionResult {
    if !event.position.is_multiple_of(REACTING_ONE_IN) {
        return Ok(None);
    }
    let stream =
        StreamId::new("award", event.event_id.simple().to_string()).map_err(|e| Rejection::new(e.to_string()))?;
    let version = log.stream_version(&stream).map_err(|e| Rejection::new(e.to_string()))?;
    let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
    Ok(Some(LogReaction { stream, expected, events: vec![new_event("AwardOffered", event.position)] }))
}

/// Runs a consumer of the bench queue with `handler` until `done` (given its progress), and returns its
/// rate.
async fn consume_all<H: event_bus::Handler + Sync + 'static>(
    bus: &BusConfig,
    handler: H,
    log: &EventLog,
    mut done: impl FnMut(&ConsumerProgress) -> bool,
) -> anyhow::Result<(f64, H)> {
    let consumer =
        Consumer::new(ConsumerConfig::new(bus.clone(), "bench", &[SOURCE]), handler, QueueOnly(log.clone()))?;
    let progress = consumer.progress();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    wait_for(Duration::from_secs(300), || done(&progress.borrow())).await?;
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    let handler = consuming.await??;
    Ok((rate, handler))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let vhost = Vhost(format!("event-bus-bench-{}", Uuid::new_v4().simple()));
    rabbitmqctl(&["add_vhost", &vhost.0])?;
    rabbitmqctl(&["set_permissions", "-p", &vhost.0, "guest", ".*", ".*", ".*"])?;
    let uri = format!("amqp://guest:guest@127.0.0.1:5672/{}", vhost.0);
    let dir = tempfile::tempdir()?;

    println!("preparing a log of {EVENTS} events ...");
    let log = EventLog::open(dir.path().join("log"))?;
    for batch in 0..(EVENTS / 1_000) {
        let stream = StreamId::new("application", format!("app-{}", batch % 50))?;
        let events = (0..1_000).map(|i| new_event("ApplicationEdited", batch * 1_000 + i)).collect();
        log.append(stream, ExpectedVersion::Any, events).await?;
    }
    let sample = log.event(0)?.expect("first event");
    let body_len = encode_envelope(&sample).len();

    println!("raw ceilings ...");
    let plain = BasicProperties::default().with_delivery_mode(2);
    let route =
        CeilingRoute { exchange: "", routing_key: "bench.raw", queue: "bench.raw", binding: "", properties: plain };
    let raw = raw_publish(&uri, body_len, EVENTS, route).await?;
    let raw_consumed = raw_consume(&uri, "bench.raw").await?;
    println!("route costs ...");
    let routes = route_costs(&uri, body_len, &sample).await?;

    // The consumer declares its queue and bindings; it is stopped so that the relay's messages wait.
    let bus = BusConfig::new(uri.clone());
    let db = sled::open(dir.path().join("consumer"))?;
    let state = db.open_tree("read-model")?;
    let handler = SledHandler::new(db.clone(), state.clone(), |event, tree| {
        tree.insert(event.stream.to_string().as_bytes(), &event.stream_version.to_be_bytes()[..])?;
        Ok::<(), sled::transaction::ConflictableTransactionError<Rejection>>(())
    })?;
    let (_, handler) = consume_all(&bus, handler, &log, |progress| progress.connected).await?;

    println!("relay and consumers ...");
    let relay_rate = relay_all(&log, &bus, RelayConfig::DEFAULT_CURSOR_MARKER).await?;
    let (sled_rate, _) =
        consume_all(&bus, handler, &log, |_| sled_checkpoint(&db, SOURCE).is_ok_and(|c| c.next_position == EVENTS))
            .await?;

    // The same events again, from a cursor of their own, for the consumer that appends to its own log.
    let relay_again = relay_all(&log, &bus, "bench.relay.again").await?;
    let awards = EventLog::open(dir.path().join("awards"))?;
    let reacting = awards.clone();
    let handler =
        LogHandler::by_source(awards.clone(), move |_: &str, event: &RecordedEvent| awards_like(&reacting, event));
    let checkpoint_key = Checkpoint::key_for(SOURCE);
    let (log_rate, _) = consume_all(&bus, handler, &log, |_| {
        let stored = awards.marker(&checkpoint_key).ok().flatten();
        stored.and_then(|bytes| Checkpoint::decode(SOURCE, &bytes).ok()).is_some_and(|c| c.next_position == EVENTS)
    })
    .await?;
    anyhow::ensure!(awards.next_position() == EVENTS / REACTING_ONE_IN, "one reaction per {REACTING_ONE_IN} events");

    // And once more for a handler that does nothing: what the consumer itself costs.
    let relay_third = relay_all(&log, &bus, "bench.relay.third").await?;
    let (bare_rate, _) = consume_all(&bus, Idle::default(), &log, |progress| progress.handled == EVENTS).await?;

    println!("message body: {body_len} bytes (protobuf envelope); {EVENTS} messages each; ratios to the raw ceilings");
    println!("raw publishing (persistent, confirms, window {WINDOW}, quorum queue):  {raw:>9.0} msg/s  1.00");
    println!("raw consuming (prefetch {PREFETCH}, one ack per batch, no work):       {raw_consumed:>9.0} msg/s  1.00");
    println!(
        "relay (log -> exchange -> quorum queue), 3 times:                  {relay_rate:>9.0} msg/s  {:.2}",
        relay_rate / raw
    );
    for again in [relay_again, relay_third] {
        println!(
            "                                                                 {again:>9.0} msg/s  {:.2}",
            again / raw
        );
    }
    println!(
        "raw publishing along variants of the relay's route ({ROUTE_MESSAGES} messages; ratio to the relay's route just before):"
    );
    for (label, rate, ratio) in &routes {
        println!("  {label:<55} {rate:>9.0} msg/s  {ratio:.2}");
    }
    println!(
        "consumer, sled read model (projector-like):   {sled_rate:>9.0} msg/s  {:.2} of raw publishing  {:.2} of raw consuming",
        sled_rate / raw,
        sled_rate / raw_consumed
    );
    println!(
        "consumer, LogHandler (awards-like, 1 in {REACTING_ONE_IN} reacts): {log_rate:>9.0} msg/s  {:.2} of raw publishing  {:.2} of raw consuming  {:.2} of the sled consumer",
        log_rate / raw,
        log_rate / raw_consumed,
        log_rate / sled_rate
    );
    println!(
        "consumer, handler doing nothing:              {bare_rate:>9.0} msg/s  {:.2} of raw publishing  {:.2} of raw consuming",
        bare_rate / raw,
        bare_rate / raw_consumed
    );
    Ok(())
}

/// A handler that applies nothing and keeps its checkpoints in memory: the consumer's own cost.
#[derive(Default)]
struct Idle(std::collections::HashMap<String, Checkpoint>);

impl event_bus::Handler for Idle {
    fn checkpoint(&mut self, source: &str) -> Result<Checkpoint, event_bus::HandlerError> {
        Ok(self.0.get(source).cloned().unwrap_or_else(|| Checkpoint::start(source)))
    }

    async fn handle(&mut self, _: &RecordedEvent, checkpoint: &Checkpoint) -> Result<(), event_bus::HandlerError> {
        self.0.insert(checkpoint.source.clone(), checkpoint.clone());
        Ok(())
    }

    async fn commit_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), event_bus::HandlerError> {
        self.0.insert(checkpoint.source.clone(), checkpoint.clone());
        Ok(())
    }
}

/// The source log for gap filling, but reporting no head: consumers then skip their catch-up from the log on
/// connect, so the benchmark measures what it names, consuming through the queue.
struct QueueOnly(EventLog);

impl SourceReader for QueueOnly {
    async fn read_range(
        &mut self,
        source: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<event_log::RecordedEvent>, SourceError> {
        SourceReader::read_range(&mut self.0, source, from, to).await
    }

    async fn head(&mut self, _source: &str) -> Result<u64, SourceError> {
        Ok(0)
    }
}
