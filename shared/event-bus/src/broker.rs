//! Connecting with timeouts and capped backoff, and declaring the topology. Every broker call goes through
//! [`timed`] so that a half-dead connection can never stall the relay or a consumer.

use std::future::Future;
use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::config::{BusConfig, ConsumerConfig};
use crate::error::BusError;

/// Runs one broker operation under a deadline.
pub(crate) async fn timed<T>(
    operation: &'static str,
    limit: Duration,
    future: impl Future<Output = lapin::Result<T>>,
) -> Result<T, BusError> {
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(BusError::Broker { operation, source }),
        Err(_) => Err(BusError::Timeout { operation, millis: limit.as_millis() }),
    }
}

/// Opens a connection named `name` (shown in the broker's management views).
pub(crate) async fn connect(config: &BusConfig, name: &str) -> Result<Connection, BusError> {
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
    timed("connect", config.connect_timeout, Connection::connect(&config.amqp_uri, properties)).await
}

/// Closes a connection politely, giving up after the operation timeout: it may be dead already.
pub(crate) async fn close(config: &BusConfig, connection: &Connection) {
    let _ = timed("close", config.operation_timeout, connection.close(200, ShortString::from("bye"))).await;
}

/// Exponential delays from 50 ms, capped, so that a broker coming back is noticed within the cap.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);

    pub(crate) fn new(cap: Duration) -> Backoff {
        Backoff { next: Self::FIRST.min(cap), cap }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.cap);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST.min(self.cap);
    }
}

fn long(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.to_owned()))
}

fn arguments(entries: Vec<(&str, AMQPValue)>) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in entries {
        table.insert(ShortString::from(key), value);
    }
    table
}

/// The events exchange: what a relay needs.
pub(crate) async fn declare_events_exchange(config: &BusConfig, channel: &Channel) -> Result<(), BusError> {
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    timed(
        "exchange.declare",
        config.operation_timeout,
        channel.exchange_declare(
            ShortString::from(config.events_exchange.as_str()),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        ),
    )
    .await
}

/// Everything a consumer needs: both exchanges, its quorum queue bound to each whole source service, and
/// its quorum dead-letter queue. Declaring an existing object with the same arguments changes nothing.
pub(crate) async fn declare_consumer_topology(config: &ConsumerConfig, channel: &Channel) -> Result<(), BusError> {
    let bus = &config.bus;
    let limit = bus.operation_timeout;
    declare_events_exchange(bus, channel).await?;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    timed(
        "exchange.declare",
        limit,
        channel.exchange_declare(
            ShortString::from(bus.dead_letter_exchange.as_str()),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        ),
    )
    .await?;

    let queue_options = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    let dead_letter_arguments = arguments(vec![("x-queue-type", long("quorum"))]);
    timed(
        "queue.declare",
        limit,
        channel.queue_declare(
            ShortString::from(config.dead_letter_queue.as_str()),
            queue_options,
            dead_letter_arguments,
        ),
    )
    .await?;
    timed(
        "queue.bind",
        limit,
        channel.queue_bind(
            ShortString::from(config.dead_letter_queue.as_str()),
            ShortString::from(bus.dead_letter_exchange.as_str()),
            ShortString::from(config.queue.as_str()),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;

    // At-least-once dead-lettering (RabbitMQ 3.10+) only works with reject-publish overflow: the broker
    // keeps a dead-lettered message until the dead-letter queue has confirmed it.
    let inbox_arguments = arguments(vec![
        ("x-queue-type", long("quorum")),
        ("x-delivery-limit", AMQPValue::LongLongInt(i64::from(config.delivery_limit))),
        ("x-dead-letter-exchange", long(&bus.dead_letter_exchange)),
        ("x-dead-letter-routing-key", long(&config.queue)),
        ("x-dead-letter-strategy", long("at-least-once")),
        ("x-overflow", long("reject-publish")),
    ]);
    timed(
        "queue.declare",
        limit,
        channel.queue_declare(ShortString::from(config.queue.as_str()), queue_options, inbox_arguments),
    )
    .await?;
    for source in &config.sources {
        timed(
            "queue.bind",
            limit,
            channel.queue_bind(
                ShortString::from(config.queue.as_str()),
                ShortString::from(bus.events_exchange.as_str()),
                ShortString::from(format!("{source}.#")),
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
    }
    Ok(())
}
