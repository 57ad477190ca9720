//! Connecting with timeouts, overlapping attempts and capped backoff, and declaring the topology. Every
//! broker call goes through [`timed`] so that a half-dead connection can never stall the relay or a
//! consumer.

use std::future::Future;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::tcp::{AMQPUriTcpExt, AsyncTcpStream};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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

/// An open connection, and a second handle on its TCP socket. lapin's I/O thread owns the socket and
/// waits on it for as long as it stays open; a connection given up (an attempt that timed out or lost
/// the race, a session that broke) is shut down through the second handle when this is dropped, so that
/// no thread and no socket outlives it, even when the broker never answers again.
#[derive(Debug)]
pub(crate) struct BrokerConnection {
    connection: Connection,
    _socket: SocketGuard,
}

impl BrokerConnection {
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Closes the connection politely, giving up after the operation timeout: it may be dead already.
    pub(crate) async fn close(self, config: &BusConfig) {
        close(config, &self.connection).await;
    }
}

/// Shuts the socket down when dropped.
#[derive(Debug)]
struct SocketGuard(Option<std::net::TcpStream>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(socket) = &self.0 {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The broker's nodes in the order a relay or a consumer tries them: shuffled once, so that the services
/// of a platform spread over a cluster's nodes, then taken in turn, one per connection attempt, so that the
/// attempt after a node failed goes to another node. One node is simply always that node.
pub(crate) struct Nodes {
    uris: Vec<AMQPUri>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Nodes {
    // Not the URIs: they hold the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nodes").field("count", &self.uris.len()).finish_non_exhaustive()
    }
}

impl Nodes {
    pub(crate) fn new(config: &BusConfig) -> Result<Nodes, BusError> {
        let mut uris = config.uris()?;
        fastrand::shuffle(&mut uris);
        Ok(Nodes { uris, next: AtomicUsize::new(0) })
    }

    /// The node for the next connection attempt.
    pub(crate) fn next(&self) -> &AMQPUri {
        &self.uris[self.next.fetch_add(1, Ordering::Relaxed) % self.uris.len()]
    }
}

/// Opens a connection to the first node of `config` that takes one, trying each once in a shuffled order:
/// for short-lived connections (a probe, the dead-letter tools). The last node's failure if none does.
pub(crate) async fn connect_any(config: &BusConfig, name: &str) -> Result<BrokerConnection, BusError> {
    let nodes = Nodes::new(config)?;
    let mut failure = None;
    for _ in 0..nodes.uris.len() {
        // Boxed: a connection attempt's future is large, and this one is awaited inside others.
        match Box::pin(connect(config, nodes.next(), name)).await {
            Ok(connection) => return Ok(connection),
            Err(e) => failure = Some(e),
        }
    }
    Err(failure.expect("a configuration names at least one node"))
}

/// Opens a connection named `name` (shown in the broker's management views) to the node at `uri`. The TCP
/// connection is made here, where giving up on it closes it at once; lapin only gets the connected socket
/// for the AMQP handshake.
pub(crate) async fn connect(config: &BusConfig, uri: &AMQPUri, name: &str) -> Result<BrokerConnection, BusError> {
    let uri = uri.clone();
    let tls = config.tls.clone();
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
    let attempt = async move {
        let runtime = lapin::runtime::default_runtime()?;
        // The TCP connection first, plain, so that its socket can be shut down from here; then TLS over it
        // for an amqps:// URI.
        let mut plain_uri = uri.clone();
        plain_uri.scheme = AMQPScheme::AMQP;
        let stream = plain_uri.connect_async(&runtime).await?;
        let socket = SocketGuard(match &stream {
            AsyncTcpStream::Plain(plain) => {
                plain.get_ref().as_fd().try_clone_to_owned().ok().map(std::net::TcpStream::from)
            }
            _ => None,
        });
        let stream = match (&uri.scheme, &tls) {
            (AMQPScheme::AMQPS, Some(tls)) => stream.into_tls(&uri.authority.host, tls.lapin_config()).await?,
            _ => stream,
        };
        let handed_over = Arc::new(Mutex::new(Some(stream)));
        let stream_once = async move |_, _| {
            let stream = handed_over.lock().unwrap_or_else(PoisonError::into_inner).take();
            stream.ok_or_else(|| lapin::Error::from(std::io::Error::other("the connection cannot be reopened")))
        };
        let connection = Connection::connector(uri, runtime, stream_once, properties).await?;
        Ok(BrokerConnection { connection, _socket: socket })
    };
    timed("connect", config.connect_timeout, attempt).await
}

/// Connects once to the broker `config` names and closes again: whether it can be reached with that
/// address, those credentials and that TLS. One attempt per node until one connects, each within the
/// connect timeout.
pub async fn probe(config: &BusConfig) -> Result<(), BusError> {
    config.validate()?;
    connect_any(config, "probe").await?.close(config).await;
    Ok(())
}

/// Closes a connection politely, giving up after the operation timeout: it may be dead already.
pub(crate) async fn close(config: &BusConfig, connection: &Connection) {
    let _ = timed("close", config.operation_timeout, connection.close(200, ShortString::from("bye"))).await;
}

/// Runs connection attempts until one succeeds, or until shutdown (`None`). Attempts start after each
/// backoff delay; while one is still running, the next waits for the backoff cap instead, and then
/// starts anyway: an attempt that hangs (a broker that drops packets, or accepts connections and never
/// answers) runs to its own timeouts while the next ones try, so that a broker that is back is found
/// within one backoff cap, not one connect timeout, and a handshake that is merely slow is not raced.
/// Each failure is reported to `failed`; attempts still running when one succeeds are dropped, which
/// closes their sockets.
pub(crate) async fn first_connected<T, A, F>(
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
    mut attempt: A,
    mut failed: impl FnMut(BusError),
) -> Option<T>
where
    A: FnMut() -> F,
    F: Future<Output = Result<T, BusError>>,
{
    let mut running = FuturesUnordered::new();
    let mut last_start = Instant::now();
    let next_start = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(next_start);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return None,
            Some(outcome) = running.next(), if !running.is_empty() => match outcome {
                Ok(opened) => return Some(opened),
                Err(e) => failed(e),
            },
            _ = &mut next_start => {
                let overlap_from = last_start + backoff.cap;
                if !running.is_empty() && Instant::now() < overlap_from {
                    next_start.as_mut().reset(overlap_from);
                    continue;
                }
                running.push(attempt());
                last_start = Instant::now();
                next_start.as_mut().reset(last_start + backoff.next_delay());
            }
        }
    }
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

/// The delays of a relay or a consumer: between connection attempts (capped by `max_backoff`, short, so
/// that a broker that is back is found soon), and before a refused message is published again or a
/// failed event applied again (capped by `retry_backoff`, longer: each retry republishes a window or
/// counts against the messages' delivery limit). Both start over after progress.
#[derive(Debug)]
pub(crate) struct Pacing {
    pub(crate) reconnect: Backoff,
    pub(crate) retry: Backoff,
}

impl Pacing {
    pub(crate) fn new(config: &BusConfig) -> Pacing {
        Pacing { reconnect: Backoff::new(config.max_backoff), retry: Backoff::new(config.retry_backoff) }
    }

    pub(crate) fn progressed(&mut self) {
        self.reconnect.reset();
        self.retry.reset();
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::config::BusConfig;

    /// Sets its flag to false when dropped: whether an attempt is still running.
    struct Running(Arc<AtomicBool>);

    impl Drop for Running {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn an_attempt_that_hangs_does_not_hold_back_the_next() {
        let first_running = Arc::new(AtomicBool::new(true));
        let first_running_when_second_started = Arc::new(AtomicBool::new(false));
        let calls = AtomicUsize::new(0);
        let failures = AtomicUsize::new(0);
        let attempt = || {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            let (running, seen) = (first_running.clone(), first_running_when_second_started.clone());
            async move {
                if call == 0 {
                    // A broker that accepts the connection and never answers: only the connect
                    // timeout ends this attempt.
                    let _running = Running(running);
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    Err(BusError::Timeout { operation: "connect", millis: 3000 })
                } else {
                    seen.store(running.load(Ordering::SeqCst), Ordering::SeqCst);
                    Ok(call)
                }
            }
        };
        let mut backoff = Backoff::new(Duration::from_millis(500));
        let shutdown = CancellationToken::new();
        let connected =
            first_connected(&mut backoff, &shutdown, attempt, |_| _ = failures.fetch_add(1, Ordering::SeqCst)).await;

        assert_eq!(connected, Some(1), "the second attempt connects");
        assert!(
            first_running_when_second_started.load(Ordering::SeqCst),
            "the second attempt started while the first one still hung"
        );
        assert!(!first_running.load(Ordering::SeqCst), "the hanging attempt is dropped once another connected");
        assert_eq!(failures.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn reconnecting_is_paced_closer_than_retrying_and_both_start_over_after_progress() {
        let mut pacing = Pacing::new(&BusConfig::new("amqp://127.0.0.1:5672/%2f"));
        let delays = |backoff: &mut Backoff| (0..8).map(|_| backoff.next_delay().as_millis()).collect::<Vec<_>>();
        assert_eq!(delays(&mut pacing.reconnect), [50, 100, 200, 250, 250, 250, 250, 250]);
        assert_eq!(delays(&mut pacing.retry), [50, 100, 200, 400, 800, 1000, 1000, 1000]);
        pacing.progressed();
        assert_eq!(pacing.reconnect.next_delay(), Duration::from_millis(50));
        assert_eq!(pacing.retry.next_delay(), Duration::from_millis(50));
    }

    #[tokio::test]
    async fn failed_attempts_are_reported_and_shutdown_ends_the_attempts() {
        let failures = AtomicUsize::new(0);
        let attempt = || async { Err::<(), _>(BusError::Refused("connection refused".into())) };
        let mut backoff = Backoff::new(Duration::from_millis(20));
        let shutdown = CancellationToken::new();
        let stopper = shutdown.clone();
        let connecting = first_connected(&mut backoff, &shutdown, attempt, |_| {
            if failures.fetch_add(1, Ordering::SeqCst) == 2 {
                stopper.cancel();
            }
        });
        assert_eq!(connecting.await, None, "nothing connected before shutdown");
        assert_eq!(failures.load(Ordering::SeqCst), 3, "each failure is reported");
    }
}
