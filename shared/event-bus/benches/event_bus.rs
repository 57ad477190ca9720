//! Throughput of the bus against a ceiling measured in the same run, on the shared broker
//! (127.0.0.1:5672, in a vhost of its own):
//! 1. raw ceiling: lapin publishing persistent messages of the relay's size with confirms, window 512, to
//!    a quorum queue;
//! 2. the relay publishing a log of 100,000 events (window 512);
//! 3. the consumer applying those 100,000 messages with idempotent handling (sled read model, checkpoint
//!    in the same transaction, one flush per batch).
//!
//! Run with `cargo bench -p event-bus`.

use std::collections::VecDeque;
use std::process::Command;
use std::time::{Duration, Instant};

use event_bus::lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use event_bus::lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use event_bus::lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use event_bus::{
    BusConfig, CancellationToken, Consumer, ConsumerConfig, Rejection, Relay, RelayConfig, SourceError, SourceReader,
};
use event_log::{Actor, EventLog, EventMetadata, ExpectedVersion, NewEvent, StreamId, Timestamp, encode_envelope};
use uuid::Uuid;

// The read-model handler of the bus's tests: the benchmark measures the same consumer they check.
#[path = "../tests/support/sled_handler.rs"]
mod sled_handler;
use sled_handler::{SledHandler, sled_checkpoint};

const EVENTS: u64 = 100_000;
const WINDOW: usize = 512;
const SOURCE: &str = "applications";

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

fn new_event(n: u64) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "ApplicationEdited".into(),
        schema_version: 1,
        // A typical small domain event: a few ids and strings.
        payload: format!("{n:0>120}").into_bytes(),
        metadata: EventMetadata {
            actor: Actor { subject: "officer-1".into(), role: "program_officer".into(), organisation: String::new() },
            correlation_id: Uuid::new_v4(),
            causation_id: Uuid::new_v4(),
            occurred_at: Timestamp::now(),
        },
    }
}

/// Where and what a ceiling run publishes.
struct CeilingRoute<'a> {
    exchange: &'a str,
    routing_key: &'a str,
    /// The quorum queue it lands in, bound to `routing_key` on `exchange` unless that is the default
    /// exchange.
    queue: &'a str,
    properties: BasicProperties,
}

/// Raw lapin: persistent messages with confirms and a window of [`WINDOW`] into a quorum queue, no log
/// and no relay logic.
async fn raw_ceiling(uri: &str, body_len: usize, route: CeilingRoute<'_>) -> anyhow::Result<f64> {
    let connection = Connection::connect(uri, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut arguments = FieldTable::default();
    arguments.insert(ShortString::from("x-queue-type"), AMQPValue::LongString(LongString::from("quorum")));
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(ShortString::from(route.queue), durable, arguments).await?;
    if !route.exchange.is_empty() {
        channel
            .queue_bind(
                ShortString::from(route.queue),
                ShortString::from(route.exchange),
                ShortString::from(route.routing_key),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let body = vec![7u8; body_len];
    let mut in_flight = VecDeque::with_capacity(WINDOW);
    let started = Instant::now();
    for _ in 0..EVENTS {
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
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    // Its messages would otherwise weigh on the broker while the next figure is measured.
    channel.queue_delete(ShortString::from(route.queue), QueueDeleteOptions::default()).await?;
    connection.close(200, ShortString::from("bye")).await?;
    Ok(rate)
}

async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "timed out after {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
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
        let events = (0..1_000).map(|i| new_event(batch * 1_000 + i)).collect();
        log.append(stream, ExpectedVersion::Any, events).await?;
    }
    let sample = log.event(0)?.expect("first event");
    let body_len = encode_envelope(&sample).len();

    let plain = BasicProperties::default().with_delivery_mode(2);
    let route = CeilingRoute { exchange: "", routing_key: "bench.raw", queue: "bench.raw", properties: plain };
    let raw = raw_ceiling(&uri, body_len, route).await?;

    // The consumer declares its queue and bindings; it is stopped so that the relay's messages wait.
    let bus = BusConfig::new(uri.clone());
    let consumer_config = ConsumerConfig::new(bus.clone(), "bench", &[SOURCE]);
    let db = sled::open(dir.path().join("consumer"))?;
    let state = db.open_tree("read-model")?;
    let handler = SledHandler::new(db.clone(), state.clone(), |event, tree| {
        tree.insert(event.stream.to_string().as_bytes(), &event.stream_version.to_be_bytes()[..])?;
        Ok::<(), sled::transaction::ConflictableTransactionError<Rejection>>(())
    })?;
    let consumer = Consumer::new(consumer_config, handler, QueueOnly(log.clone()))?;
    let progress = consumer.progress();
    let stop_declaring = CancellationToken::new();
    let declaring = tokio::spawn(consumer.run(stop_declaring.clone()));
    wait_for(Duration::from_secs(30), || progress.borrow().connected).await?;
    stop_declaring.cancel();
    let handler = declaring.await??;

    let relay = Relay::new(log.clone(), RelayConfig::new(bus.clone(), SOURCE))?;
    let mut monitor = relay.monitor();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let relaying = tokio::spawn(relay.run(shutdown.clone()));
    anyhow::ensure!(monitor.wait_published(EVENTS).await, "relay stopped");
    let relay_rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    relaying.await??;

    // The same raw publishing, but along the relay's route (topic exchange, routing key, the relay's
    // properties and headers) into a queue of its own: what the broker alone charges for that route.
    let shaped = raw_ceiling(
        &uri,
        body_len,
        CeilingRoute {
            exchange: &bus.events_exchange,
            routing_key: "ceiling.ApplicationEdited",
            queue: "bench.shaped",
            properties: event_bus::message::event_properties("ceiling", &sample),
        },
    )
    .await?;

    let consumer = Consumer::new(ConsumerConfig::new(bus, "bench", &[SOURCE]), handler, QueueOnly(log.clone()))?;
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    wait_for(Duration::from_secs(300), || {
        sled_checkpoint(&db, SOURCE).map(|c| c.next_position == EVENTS).unwrap_or(false)
    })
    .await?;
    let consumer_rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    consuming.await??;

    println!("message body: {body_len} bytes (protobuf envelope); {EVENTS} messages each");
    println!("raw ceiling (lapin, persistent, confirms, window {WINDOW}, quorum queue): {raw:>9.0} msg/s  1.00");
    println!(
        "relay (log -> exchange -> quorum queue, window {WINDOW}):             {relay_rate:>9.0} msg/s  {:.2}",
        relay_rate / raw
    );
    println!(
        "  raw along the relay's route (topic exchange, headers):        {shaped:>9.0} msg/s  {:.2}",
        shaped / raw
    );
    println!(
        "  relay against that route's ceiling:                                          {:.2}",
        relay_rate / shaped
    );
    println!(
        "consumer (quorum queue -> sled read model, idempotent):         {consumer_rate:>9.0} msg/s  {:.2}",
        consumer_rate / raw
    );
    Ok(())
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
