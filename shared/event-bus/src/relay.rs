//! The relay: publishes a service's log, in position order, from a durable cursor. The log is the outbox,
//! so commands never wait for the broker; the relay catches up whenever the broker is reachable.
//!
//! Up to `window` messages are in flight. Confirms are consumed in publish order and the cursor moves only
//! over a contiguous prefix of acks without a return. A nack, a return, a timeout or a lost connection
//! sends the relay back to the first unconfirmed position (go-back-N): consumers may see a message twice,
//! never out of order on the wire, and never miss one.

use std::collections::VecDeque;
use std::time::Duration;

use event_log::{EventLog, RecordedEvent, Subscription, Timestamp, encode_envelope};
use futures::StreamExt;
use futures::stream::BoxStream;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Confirmation, Connection, Event, PublisherConfirm};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::broker::{self, BrokerConnection, Nodes, Pacing, timed};
use crate::config::{BrokerAddress, RelayConfig};
use crate::error::BusError;
use crate::message::{event_properties, routing_key};
use crate::outage::{Outage, seconds};

/// What has not reached the broker yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// Every position below this one is confirmed by the broker.
    pub published_up_to: u64,
    /// The log's next position: events below it are durable.
    pub head: u64,
    /// Durable events not yet confirmed.
    pub depth: u64,
    /// How long ago the oldest unconfirmed event was recorded; `None` when the backlog is empty.
    pub oldest_unpublished_age: Option<Duration>,
    /// Whether the relay currently has a broker connection.
    pub connected: bool,
}

impl Backlog {
    /// What waits in `log` while no relay runs, from the cursor stored under `cursor_marker` (normally
    /// [`RelayConfig::DEFAULT_CURSOR_MARKER`]).
    pub fn stored(log: &EventLog, cursor_marker: &str) -> Result<Backlog, BusError> {
        backlog_of(log, read_cursor(log, cursor_marker)?, false)
    }
}

fn backlog_of(log: &EventLog, published_up_to: u64, connected: bool) -> Result<Backlog, BusError> {
    let head = log.next_position();
    let oldest_unpublished_age = match log.event(published_up_to)? {
        Some(event) => {
            let micros = Timestamp::now().as_micros().saturating_sub(event.recorded_at.as_micros());
            Some(Duration::from_micros(u64::try_from(micros).unwrap_or(0)))
        }
        None => None,
    };
    Ok(Backlog {
        published_up_to,
        head,
        depth: head.saturating_sub(published_up_to),
        oldest_unpublished_age,
        connected,
    })
}

/// Watches a relay's progress; cheap to clone, usable while the relay runs and after it stopped.
#[derive(Clone, Debug)]
pub struct BacklogMonitor {
    log: EventLog,
    confirmed: watch::Receiver<u64>,
    connected: watch::Receiver<bool>,
}

impl BacklogMonitor {
    /// The first position not yet confirmed.
    pub fn published_up_to(&self) -> u64 {
        *self.confirmed.borrow()
    }

    pub fn backlog(&self) -> Result<Backlog, BusError> {
        backlog_of(&self.log, self.published_up_to(), *self.connected.borrow())
    }

    /// Waits until every position below `position` is confirmed; false if the relay went away first.
    pub async fn wait_published(&mut self, position: u64) -> bool {
        self.confirmed.wait_for(|confirmed| *confirmed >= position).await.is_ok()
    }

    /// Waits until the relay's connection state is `connected`; false if the relay went away first.
    pub async fn wait_connected(&mut self, connected: bool) -> bool {
        self.connected.wait_for(|state| *state == connected).await.is_ok()
    }
}

/// Publishes one service's event log to the events exchange.
#[derive(Debug)]
pub struct Relay {
    log: EventLog,
    config: RelayConfig,
    nodes: Nodes,
    confirmed: watch::Sender<u64>,
    connected: watch::Sender<bool>,
}

struct InFlight {
    position: u64,
    confirm: PublisherConfirm,
    deadline: Instant,
}

enum SessionEnd {
    /// Shutdown was requested and outstanding confirms were awaited.
    Stopped,
    /// The connection or channel is no longer usable.
    Broken(BusError),
}

/// What a session publishes on and reports to.
struct Publishing<'a> {
    channel: &'a Channel,
    /// The connection's errors and blocks.
    news: &'a mut BoxStream<'static, ConnectionNews>,
    shutdown: &'a CancellationToken,
    /// The cursor's saver.
    persist: &'a watch::Sender<u64>,
    pacing: &'a mut Pacing,
    health: &'a mut Health,
}

/// How a pass from the cursor ended.
enum Pass {
    /// The broker refused a message: publish again from the cursor after a pause.
    Refused,
    /// The session is over.
    Ended(SessionEnd),
}

/// What the broker said about the oldest message in flight.
enum Confirmed {
    Ack,
    /// Nacked or returned as unroutable, with how.
    Refused(String),
    /// The channel cannot confirm any more.
    Broken(BusError),
}

enum Step {
    Stop,
    Confirm(Result<lapin::Result<Confirmation>, tokio::time::error::Elapsed>),
    Event(Option<Result<RecordedEvent, event_log::StorageError>>),
}

impl Relay {
    /// A relay for `log`, resuming from the cursor stored in it.
    pub fn new(log: EventLog, config: RelayConfig) -> Result<Relay, BusError> {
        config.validate()?;
        let cursor = read_cursor(&log, &config.cursor_marker)?;
        let nodes = Nodes::new(&config.bus)?;
        Ok(Relay { log, config, nodes, confirmed: watch::channel(cursor).0, connected: watch::channel(false).0 })
    }

    pub fn monitor(&self) -> BacklogMonitor {
        BacklogMonitor {
            log: self.log.clone(),
            confirmed: self.confirmed.subscribe(),
            connected: self.connected.subscribe(),
        }
    }

    /// Publishes until `shutdown` is cancelled, then waits for outstanding confirms, stores the cursor and
    /// closes the connection. Broker and network failures are retried forever; only a failure of the
    /// local log ends the relay with an error.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), BusError> {
        let (persist_tx, persist_rx) = watch::channel(*self.confirmed.borrow());
        let persister = tokio::spawn(persist_cursor(
            self.log.clone(),
            self.config.cursor_marker.clone(),
            self.config.cursor_save_interval,
            persist_rx,
        ));
        let result = self.publish_until_stopped(&shutdown, &persist_tx).await;
        drop(persist_tx);
        let persisted = persister.await.map_err(BusError::CursorWriter);
        let result = result.and(persisted.and_then(|saved| saved));
        if let Err(e) = &result {
            error!(
                service = %self.config.service,
                error = %e,
                "relay gave up: the log's events are no longer published until the service restarts"
            );
        }
        result
    }

    async fn publish_until_stopped(
        &self,
        shutdown: &CancellationToken,
        persist: &watch::Sender<u64>,
    ) -> Result<(), BusError> {
        let bus = &self.config.bus;
        let mut pacing = Pacing::new(bus);
        let mut health = Health::new(&self.config);
        let name = format!("{}-relay", self.config.service);
        while !shutdown.is_cancelled() {
            let cannot_connect = |e: BusError| health.failed(self, &e);
            let opened =
                broker::first_connected(&mut pacing.reconnect, shutdown, || self.open(&name), cannot_connect).await;
            let Some((connection, channel)) = opened else { break };
            self.connected.send_replace(true);
            health.connected(self.published_up_to());
            let mut news = connection_news(connection.connection());
            let on = Publishing {
                channel: &channel,
                news: &mut news,
                shutdown,
                persist,
                pacing: &mut pacing,
                health: &mut health,
            };
            let end = self.session(on).await;
            self.connected.send_replace(false);
            match end {
                Ok(SessionEnd::Broken(e)) => {
                    // No polite close: it could wait for a broker that no longer answers. Dropping the
                    // connection shuts its socket down.
                    drop(connection);
                    debug!(error = %e, at = self.published_up_to(), "relay lost its connection; republishing from the cursor");
                    health.failed(self, &e);
                    pause(pacing.reconnect.next_delay(), shutdown).await;
                }
                Ok(SessionEnd::Stopped) => {
                    connection.close(bus).await;
                    break;
                }
                Err(e) => {
                    connection.close(bus).await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn published_up_to(&self) -> u64 {
        *self.confirmed.borrow()
    }

    async fn open(&self, name: &str) -> Result<(BrokerConnection, Channel), BusError> {
        let bus = &self.config.bus;
        let connection = broker::connect(bus, self.nodes.next(), name).await?;
        let setup = async {
            let channel =
                timed("channel.open", bus.operation_timeout, connection.connection().create_channel()).await?;
            timed("confirm.select", bus.operation_timeout, channel.confirm_select(ConfirmSelectOptions::default()))
                .await?;
            broker::declare_events_exchange(bus, &channel).await?;
            Ok::<_, BusError>(channel)
        };
        match setup.await {
            Ok(channel) => Ok((connection, channel)),
            Err(e) => {
                connection.close(bus).await;
                Err(e)
            }
        }
    }

    /// Publishes on one channel until it breaks or shutdown is requested. `Err` only for log failures.
    /// After the broker refuses a message it pauses, then publishes again from the cursor.
    async fn session(&self, mut on: Publishing<'_>) -> Result<SessionEnd, BusError> {
        loop {
            match self.publish_from_cursor(&mut on).await? {
                Pass::Ended(end) => return Ok(end),
                // The later messages' confirms were abandoned: they are published again, in order.
                Pass::Refused => {
                    if pause(on.pacing.retry.next_delay(), on.shutdown).await {
                        return Ok(SessionEnd::Stopped);
                    }
                }
            }
        }
    }

    /// One pass from the cursor: publishes events as the window allows and follows their confirms in
    /// order, until the broker refuses a message, the connection breaks or shutdown is requested.
    async fn publish_from_cursor(&self, on: &mut Publishing<'_>) -> Result<Pass, BusError> {
        let Publishing { channel, news, shutdown, persist, pacing, health } = on;
        let mut next = self.published_up_to();
        let mut events: Subscription = self.log.subscribe(next);
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(self.config.window);
        loop {
            let window_open = in_flight.len() < self.config.window;
            let step = tokio::select! {
                biased;
                _ = shutdown.cancelled() => Step::Stop,
                // Without this an idle relay would notice a lost connection only at its next publish.
                Some(news) = news.next() => match news {
                    ConnectionNews::Broken(e) => return Ok(Pass::Ended(SessionEnd::Broken(e))),
                    ConnectionNews::Blocked(reason) => {
                        health.failed(self, &format!("the broker blocks publishing ({reason})"));
                        continue;
                    }
                },
                confirm = first_confirm(&mut in_flight), if !in_flight.is_empty() => Step::Confirm(confirm),
                event = events.next(), if window_open => Step::Event(event),
            };
            match step {
                Step::Stop => {
                    self.drain(in_flight, persist).await;
                    return Ok(Pass::Ended(SessionEnd::Stopped));
                }
                Step::Event(delivered) => {
                    let event = expect_position(delivered, next)?;
                    match self.publish(channel, &event).await {
                        Ok(published) => in_flight.push_back(published),
                        Err(e) => return Ok(Pass::Ended(SessionEnd::Broken(e))),
                    }
                    next += 1;
                }
                Step::Confirm(outcome) => match confirmation(outcome, self.config.bus.confirm_timeout) {
                    Confirmed::Ack => {
                        let done = in_flight.pop_front().map_or(next, |f| f.position + 1);
                        self.advance(done, persist);
                        pacing.progressed();
                        health.progressed(done);
                    }
                    Confirmed::Refused(refused) => {
                        let position = in_flight.front().map_or(next, |f| f.position);
                        health
                            .failed(self, &format!("the broker refused the message at position {position}: {refused}"));
                        return Ok(Pass::Refused);
                    }
                    Confirmed::Broken(e) => return Ok(Pass::Ended(SessionEnd::Broken(e))),
                },
            }
        }
    }

    /// Publishes `event`, mandatory (an unroutable message comes back as a refusal); an error breaks the
    /// session.
    async fn publish(&self, channel: &Channel, event: &RecordedEvent) -> Result<InFlight, BusError> {
        let bus = &self.config.bus;
        let body = encode_envelope(event);
        let confirm = timed(
            "basic.publish",
            bus.operation_timeout,
            channel.basic_publish(
                ShortString::from(bus.events_exchange.as_str()),
                ShortString::from(routing_key(&self.config.service, &event.event_type)),
                BasicPublishOptions { mandatory: true, immediate: false },
                &body,
                event_properties(&self.config.service, event),
            ),
        )
        .await?;
        Ok(InFlight { position: event.position, confirm, deadline: Instant::now() + bus.confirm_timeout })
    }

    /// Every position below `done` is confirmed: the cursor moves (and is saved in its own time).
    fn advance(&self, done: u64, persist: &watch::Sender<u64>) {
        self.confirmed.send_replace(done);
        persist.send_replace(done);
    }

    /// Graceful stop: waits for the confirms of what was published, advancing the cursor over acks.
    async fn drain(&self, mut in_flight: VecDeque<InFlight>, persist: &watch::Sender<u64>) {
        while !in_flight.is_empty() {
            match first_confirm(&mut in_flight).await {
                Ok(Ok(Confirmation::Ack(None))) => {
                    if let Some(done) = in_flight.pop_front() {
                        self.advance(done.position + 1, persist);
                    }
                }
                _ => break,
            }
        }
    }
}

/// What the relay hears from its connection while it publishes.
enum ConnectionNews {
    /// The connection is gone.
    Broken(BusError),
    /// The broker stopped reading from publishers (a memory or disk alarm), with its reason.
    Blocked(String),
}

/// The connection's errors and blocks, as they happen.
fn connection_news(connection: &Connection) -> BoxStream<'static, ConnectionNews> {
    connection
        .events_listener()
        .filter_map(|event| {
            std::future::ready(match event {
                Event::Error(source) => {
                    Some(ConnectionNews::Broken(BusError::Broker { operation: "connection", source }))
                }
                Event::ConnectionBlocked(reason) => Some(ConnectionNews::Blocked(reason)),
                _ => None,
            })
        })
        .boxed()
}

/// What the relay tells an operator about publishing: a warning when it cannot publish (then about once
/// a minute while that lasts, see [`Outage`]) with the broker, the reason and how many events wait, and
/// a note when everything that waited is published.
struct Health {
    service: String,
    broker: BrokerAddress,
    outage: Outage,
    connected_before: bool,
    /// The first unconfirmed position when the outage began.
    published_at_start: u64,
    /// The outage is over once everything durable at its latest failure is confirmed.
    recover_at: u64,
}

impl Health {
    fn new(config: &RelayConfig) -> Health {
        Health {
            service: config.service.clone(),
            broker: config.bus.broker(),
            outage: Outage::default(),
            connected_before: false,
            published_at_start: 0,
            recover_at: 0,
        }
    }

    fn failed(&mut self, relay: &Relay, reason: &dyn std::fmt::Display) {
        let published = relay.published_up_to();
        let head = relay.log.next_position();
        if !self.outage.is_ongoing() {
            self.published_at_start = published;
        }
        self.recover_at = head;
        let Some(report) = self.outage.failed(std::time::Instant::now()) else { return };
        let (service, broker, waiting) = (&self.service, &self.broker, head.saturating_sub(published));
        if report.first {
            warn!(
                %service, broker = %broker.host, vhost = %broker.vhost, %reason, waiting,
                "relay cannot publish to the message bus; {waiting} events wait to be published"
            );
        } else {
            warn!(
                %service, broker = %broker.host, vhost = %broker.vhost, %reason, waiting,
                down_for_s = report.lasting.as_secs(), failures = report.failures,
                "relay still cannot publish to the message bus after {}; {waiting} events wait to be published",
                seconds(report.lasting)
            );
        }
    }

    fn connected(&mut self, published: u64) {
        if !self.connected_before {
            self.connected_before = true;
            info!(
                service = %self.service, broker = %self.broker.host, vhost = %self.broker.vhost,
                "relay publishing to the message bus from position {published}"
            );
        }
        self.progressed(published);
    }

    /// Every position below `published` is confirmed.
    fn progressed(&mut self, published: u64) {
        if !self.outage.is_ongoing() || published < self.recover_at {
            return;
        }
        if let Some(lasted) = self.outage.recovered(std::time::Instant::now()) {
            let count = published.saturating_sub(self.published_at_start);
            info!(
                service = %self.service, broker = %self.broker.host, vhost = %self.broker.vhost, published = count,
                down_for_s = lasted.as_secs(),
                "relay recovered after {}, published {count} events that waited", seconds(lasted)
            );
        }
    }
}

/// The oldest in-flight message's confirm, waiting no longer than its deadline. Cancel-safe: the confirm
/// stays in the queue.
async fn first_confirm(
    in_flight: &mut VecDeque<InFlight>,
) -> Result<lapin::Result<Confirmation>, tokio::time::error::Elapsed> {
    match in_flight.front_mut() {
        Some(first) => tokio::time::timeout_at(first.deadline, &mut first.confirm).await,
        None => std::future::pending().await,
    }
}

/// The event the log delivered, which must be the one at `next`; a log that ends or fails ends the relay.
fn expect_position(
    delivered: Option<Result<RecordedEvent, event_log::StorageError>>,
    next: u64,
) -> Result<RecordedEvent, BusError> {
    let event = delivered.ok_or(BusError::Storage(event_log::StorageError::Failed))??;
    if event.position != next {
        return Err(BusError::Corrupt {
            key: format!("log position {next}"),
            reason: format!("the log delivered position {}", event.position),
        });
    }
    Ok(event)
}

/// The confirm of the oldest message in flight, or why there is none (`timeout` is its deadline).
fn confirmation(
    outcome: Result<lapin::Result<Confirmation>, tokio::time::error::Elapsed>,
    timeout: Duration,
) -> Confirmed {
    match outcome {
        Ok(Ok(Confirmation::Ack(None))) => Confirmed::Ack,
        Ok(Ok(Confirmation::Ack(Some(returned)))) => {
            Confirmed::Refused(format!("unroutable ({} {})", returned.reply_code, returned.reply_text))
        }
        Ok(Ok(Confirmation::Nack(_))) => Confirmed::Refused("nacked by the broker".to_owned()),
        Ok(Ok(Confirmation::NotRequested)) => Confirmed::Broken(BusError::Refused("confirms are not enabled".into())),
        Ok(Err(source)) => Confirmed::Broken(BusError::Broker { operation: "confirm", source }),
        Err(_) => Confirmed::Broken(BusError::Timeout { operation: "confirm", millis: timeout.as_millis() }),
    }
}

/// Sleeps unless shutdown comes first; true if it did.
async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

fn read_cursor(log: &EventLog, marker: &str) -> Result<u64, BusError> {
    match log.marker(marker)? {
        None => Ok(0),
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| BusError::Corrupt { key: marker.to_owned(), reason: "cursor is not 8 bytes".into() }),
    }
}

/// Stores the cursor as it moves, coalescing updates: each write is a durable commit, and a cursor that
/// lags only means messages published again, which consumers recognise. Writes the last value before it
/// returns.
async fn persist_cursor(
    log: EventLog,
    marker: String,
    interval: Duration,
    mut confirmed: watch::Receiver<u64>,
) -> Result<(), BusError> {
    let mut stored = read_cursor(&log, &marker)?;
    let mut open = true;
    while open {
        open = confirmed.changed().await.is_ok();
        // Confirms that arrive during the pause are folded into one save; a stop ends the pause at once
        // so that the final cursor is saved without delay.
        let pause = tokio::time::sleep(interval);
        tokio::pin!(pause);
        while open {
            tokio::select! {
                _ = &mut pause => break,
                changed = confirmed.changed() => open = changed.is_ok(),
            }
        }
        let value = *confirmed.borrow_and_update();
        if value != stored {
            log.put_marker(&marker, value.to_be_bytes().to_vec()).await?;
            stored = value;
        }
    }
    Ok(())
}
