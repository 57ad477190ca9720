//! The consumer: reads its quorum queue with manual acks and applies each source service's events exactly
//! once in effect, in position order.
//!
//! Per source it keeps a [`Checkpoint`] that the handler commits atomically with the effect. A message at
//! or below the checkpoint is a duplicate and is acked without effect; a message ahead of a gap waits
//! while the missing positions are read from the source ([`SourceReader`]) and applied first. Messages are
//! taken in batches of whatever has arrived (at most the prefetch), applied one by one, made durable with
//! one [`Handler::sync`], then acked together. When a commit fails part-way (a handler that holds its
//! commits back until `sync` may lose the end of a batch), the checkpoints are read again from the
//! handler and only the deliveries they cover are acked; the rest go back to the queue.

use std::collections::HashMap;

use event_log::{RecordedEvent, Timestamp, decode_envelope, encode_envelope};
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::broker::{self, BrokerConnection, Nodes, Pacing, timed};
use crate::checkpoint::{Checkpoint, Verdict};
use crate::config::{BrokerAddress, ConsumerConfig};
use crate::error::{BusError, Cause, HandlerError, SourceError};
use crate::handler::Handler;
use crate::message::{
    bool_header, event_properties, event_type as message_event_type, header, number_header, number_value, source_of,
    source_service, text_value, trace_context, with_headers,
};
use crate::outage::{Outage, seconds};
use crate::source::SourceReader;

/// Counters of what a consumer did since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerProgress {
    /// Events passed to the handler and committed (including events it ignores).
    pub handled: u64,
    /// Of those, events read from the source log to fill a gap.
    pub filled_from_source: u64,
    /// Messages recognised as already handled and acked without effect.
    pub duplicates: u64,
    /// Messages and events sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Transient failures after which messages were handed back to the broker.
    pub retries: u64,
    /// Connections opened.
    pub connections: u64,
    pub connected: bool,
    /// Per source: the next position past what the consumer has applied or dead-lettered (its checkpoint
    /// as last read or advanced; a batch's advances are committed at its end). A source's lag is its
    /// log's head minus this.
    pub applied: std::collections::BTreeMap<String, u64>,
}

/// Applies the events of the configured source services with `H`, filling gaps from `S`.
#[derive(Debug)]
pub struct Consumer<H, S> {
    config: ConsumerConfig,
    nodes: Nodes,
    handler: H,
    source: S,
    checkpoints: HashMap<String, Checkpoint>,
    progress: watch::Sender<ConsumerProgress>,
}

/// Why processing a message stopped short of success.
enum Interrupt {
    /// Transient: hand the message back to the broker and try again later.
    Retry(Cause),
    /// The connection or channel broke: reconnect.
    Broken(BusError),
    /// Local storage failed: stop the consumer.
    Fatal(BusError),
}

impl Interrupt {
    fn into_error(self) -> BusError {
        match self {
            Interrupt::Retry(cause) => BusError::Handler(cause),
            Interrupt::Broken(e) | Interrupt::Fatal(e) => e,
        }
    }
}

/// What makes a processed delivery safe to acknowledge.
enum Settled {
    /// Nothing that could be undone: a duplicate, or a dead letter without a known position.
    Done,
    /// The position must be durably handled: it is once the handler's checkpoint for `source` would take
    /// a redelivery (`replay`: of a replayed dead letter) for a duplicate.
    At { source: String, position: u64, replay: bool },
}

impl Settled {
    fn at(source: &str, position: u64, replay: bool) -> Settled {
        Settled::At { source: source.to_owned(), position, replay }
    }
}

/// Events missing before a delivery could not be read from their source log.
#[derive(Debug, thiserror::Error)]
#[error("gap {from}..{to}: {source}")]
struct GapUnread {
    from: u64,
    to: u64,
    source: SourceError,
}

enum SessionEnd {
    Stopped,
    Broken(BusError),
}

/// The channels of a connection, before it consumes.
struct Channels {
    consuming: Channel,
    dead_letters: Channel,
}

/// The channels of one connection.
struct Session {
    consume: lapin::Consumer,
    dead_letters: Channel,
}

impl<H: Handler, S: SourceReader> Consumer<H, S> {
    pub fn new(config: ConsumerConfig, handler: H, source: S) -> Result<Consumer<H, S>, BusError> {
        config.validate()?;
        Ok(Consumer {
            nodes: Nodes::new(&config.bus)?,
            config,
            handler,
            source,
            checkpoints: HashMap::new(),
            progress: watch::channel(ConsumerProgress::default()).0,
        })
    }

    pub fn progress(&self) -> watch::Receiver<ConsumerProgress> {
        self.progress.subscribe()
    }

    /// Consumes until `shutdown` is cancelled: finishes and acks the batch in hand, then closes. Broker and
    /// network failures are retried forever; a failure of the handler's storage ends it with an error.
    /// Returns the handler.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<H, BusError> {
        match self.consume_until_stopped(&shutdown).await {
            Ok(()) => Ok(self.handler),
            Err(e) => {
                error!(
                    consumer = %self.config.name,
                    queue = %self.config.queue,
                    error = %e,
                    "consumer gave up: events wait in its queue until the service restarts"
                );
                Err(e)
            }
        }
    }

    async fn consume_until_stopped(&mut self, shutdown: &CancellationToken) -> Result<(), BusError> {
        let mut pacing = Pacing::new(&self.config.bus);
        let mut health = Health::new(&self.config);
        // What was handled before this run, for what is reported while the broker cannot be reached.
        for source in self.config.sources.clone() {
            self.checkpoint(&source).map_err(Interrupt::into_error)?;
        }
        health.note_handled(&self.checkpoints);
        let name = format!("{}-consumer", self.config.name);
        while !shutdown.is_cancelled() {
            let cannot_connect = |e: BusError| health.failed(&e);
            let opened =
                broker::first_connected(&mut pacing.reconnect, shutdown, || self.open(&name), cannot_connect).await;
            let Some((connection, channels)) = opened else { break };
            let end = match self.start_consuming(channels).await {
                Err(e) => Ok(SessionEnd::Broken(e)),
                Ok(mut session) => {
                    self.progress.send_modify(|p| {
                        p.connections += 1;
                        p.connected = true;
                    });
                    health.connected();
                    // The broker hands back every unacknowledged message; checkpoints are re-read so that
                    // the cache can never be ahead of what was committed.
                    self.checkpoints.clear();
                    let end = match self.catch_up(&session.dead_letters).await {
                        Ok(()) => {
                            health.recovered();
                            self.session(&mut session, shutdown, &mut pacing, &mut health).await
                        }
                        Err(Interrupt::Fatal(e)) => Err(e),
                        Err(Interrupt::Broken(e)) => Ok(SessionEnd::Broken(e)),
                        Err(retry @ Interrupt::Retry(_)) => Ok(SessionEnd::Broken(retry.into_error())),
                    };
                    self.progress.send_modify(|p| p.connected = false);
                    end
                }
            };
            match end {
                Ok(SessionEnd::Broken(e)) => {
                    // No polite close: it could wait for a broker that no longer answers. Dropping the
                    // connection shuts its socket down.
                    drop(connection);
                    debug!(error = %e, queue = %self.config.queue, "consumer lost its connection");
                    health.note_handled(&self.checkpoints);
                    health.failed(&e);
                    pause(pacing.reconnect.next_delay(), shutdown).await;
                }
                Ok(SessionEnd::Stopped) => {
                    connection.close(&self.config.bus).await;
                    break;
                }
                Err(e) => {
                    connection.close(&self.config.bus).await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Connects and declares what the consumer needs, without consuming yet: connection attempts race
    /// (see [`broker::first_connected`]), and deliveries to an attempt that loses would be handed back
    /// to the queue and count against each message's delivery limit.
    async fn open(&self, name: &str) -> Result<(BrokerConnection, Channels), BusError> {
        let bus = &self.config.bus;
        let connection = broker::connect(bus, self.nodes.next(), name).await?;
        let setup = async {
            let limit = bus.operation_timeout;
            let consuming = timed("channel.open", limit, connection.connection().create_channel()).await?;
            broker::declare_consumer_topology(&self.config, &consuming).await?;
            timed("basic.qos", limit, consuming.basic_qos(self.config.prefetch, BasicQosOptions::default())).await?;
            let dead_letters = timed("channel.open", limit, connection.connection().create_channel()).await?;
            timed("confirm.select", limit, dead_letters.confirm_select(ConfirmSelectOptions::default())).await?;
            Ok::<_, BusError>(Channels { consuming, dead_letters })
        };
        match setup.await {
            Ok(channels) => Ok((connection, channels)),
            Err(e) => {
                connection.close(bus).await;
                Err(e)
            }
        }
    }

    async fn start_consuming(&self, channels: Channels) -> Result<Session, BusError> {
        let consume = timed(
            "basic.consume",
            self.config.bus.operation_timeout,
            channels.consuming.basic_consume(
                ShortString::from(self.config.queue.as_str()),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(Session { consume, dead_letters: channels.dead_letters })
    }

    async fn session(
        &mut self,
        session: &mut Session,
        shutdown: &CancellationToken,
        pacing: &mut Pacing,
        health: &mut Health,
    ) -> Result<SessionEnd, BusError> {
        let limit = self.config.bus.operation_timeout;
        loop {
            let first = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(SessionEnd::Stopped),
                delivery = session.consume.next() => delivery,
            };
            let mut batch = match first {
                Some(Ok(delivery)) => vec![delivery],
                Some(Err(source)) => return Ok(SessionEnd::Broken(BusError::Broker { operation: "consume", source })),
                None => return Ok(SessionEnd::Broken(BusError::Refused("the broker cancelled the consumer".into()))),
            };
            while batch.len() < usize::from(self.config.prefetch) {
                match session.consume.next().now_or_never() {
                    Some(Some(Ok(delivery))) => batch.push(delivery),
                    _ => break,
                }
            }

            let mut settled = Vec::with_capacity(batch.len());
            let mut interrupt = None;
            for delivery in &batch {
                match self.process(delivery, &session.dead_letters).await {
                    Ok(done) => settled.push(done),
                    Err(e) => {
                        interrupt = Some(e);
                        break;
                    }
                }
            }
            // Nothing is acked before the effects of the batch are durable.
            // A handler failure may have taken commits held back with it; a storage failure stops the
            // consumer, with nothing acked, as it would when handling.
            let recover = match self.handler.sync().await {
                Ok(()) => matches!(interrupt, Some(Interrupt::Retry(_))),
                Err(HandlerError::Uncommitted(cause)) => {
                    interrupt.get_or_insert(Interrupt::Retry(cause));
                    true
                }
                Err(e) => return Err(BusError::Handler(e.into())),
            };
            let durable = if recover { self.durable_prefix(&settled)? } else { settled.len() };
            if durable > 0 {
                let ack = BasicAckOptions { multiple: true };
                if let Err(e) = timed("basic.ack", limit, batch[durable - 1].acker.ack(ack)).await {
                    // Expected after a connection loss: the broker redelivers and the checkpoint dedupes.
                    return Ok(SessionEnd::Broken(e));
                }
            }
            match interrupt {
                None => {
                    pacing.progressed();
                    health.recovered();
                }
                Some(Interrupt::Fatal(e)) => return Err(e),
                Some(Interrupt::Broken(e)) => return Ok(SessionEnd::Broken(e)),
                Some(Interrupt::Retry(reason)) => {
                    health.note_handled(&self.checkpoints);
                    health.failed(&format!("an event cannot be applied yet, messages go back to the queue: {reason}"));
                    self.progress.send_modify(|p| p.retries += 1);
                    let requeue = BasicNackOptions { multiple: true, requeue: true };
                    if let Some(last) = batch.last()
                        && let Err(e) = timed("basic.nack", limit, last.acker.nack(requeue)).await
                    {
                        return Ok(SessionEnd::Broken(e));
                    }
                    pause(pacing.retry.next_delay(), shutdown).await;
                }
            }
        }
    }

    /// After a failed commit, which may have taken part of the batch with it: the checkpoints are read
    /// again from the handler, and the deliveries they cover, up to the first one they do not, are
    /// durable. The rest goes back to the queue and is recognised, when it comes back, by these
    /// checkpoints.
    fn durable_prefix(&mut self, settled: &[Settled]) -> Result<usize, BusError> {
        self.checkpoints.clear();
        let mut durable = 0;
        for done in settled {
            if let Settled::At { source, position, replay } = done {
                let checkpoint = self.checkpoint(source).map_err(Interrupt::into_error)?;
                if checkpoint.verdict(*position, *replay) != Verdict::Duplicate {
                    break;
                }
            }
            durable += 1;
        }
        Ok(durable)
    }

    fn checkpoint(&mut self, source: &str) -> Result<Checkpoint, Interrupt> {
        if let Some(checkpoint) = self.checkpoints.get(source) {
            return Ok(checkpoint.clone());
        }
        let checkpoint = self.handler.checkpoint(source).map_err(|e| Interrupt::Fatal(BusError::Handler(e.into())))?;
        self.note_checkpoint(source, checkpoint.clone());
        Ok(checkpoint)
    }

    /// Holds `checkpoint` as `source`'s, and shows it in the progress.
    fn note_checkpoint(&mut self, source: &str, checkpoint: Checkpoint) {
        let next = checkpoint.next_position;
        self.checkpoints.insert(source.to_owned(), checkpoint);
        self.progress.send_modify(|p| {
            p.applied.insert(source.to_owned(), next);
        });
    }

    async fn process(&mut self, delivery: &Delivery, dead_letters: &Channel) -> Result<Settled, Interrupt> {
        let properties = &delivery.properties;
        let replayed = bool_header(properties, header::REPLAYED);
        let source = source_of(properties, delivery.routing_key.as_str());
        match decode_envelope(&delivery.data) {
            Ok(event) => {
                let Some(source) = source else {
                    let outgoing = Outgoing::from_delivery(delivery);
                    return self
                        .dead_letter(
                            outgoing,
                            Outcome::DeadLettered,
                            "the source service is unknown".into(),
                            None,
                            dead_letters,
                        )
                        .await;
                };
                let checkpoint = self.checkpoint(&source)?;
                match checkpoint.verdict(event.position, replayed) {
                    Verdict::Duplicate => {
                        self.progress.send_modify(|p| p.duplicates += 1);
                        Ok(Settled::Done)
                    }
                    Verdict::Next | Verdict::Replay => {
                        self.apply(&source, &event, || Outgoing::from_delivery(delivery), dead_letters).await
                    }
                    Verdict::AheadOfGap => {
                        self.fill_gap(&source, checkpoint.next_position, event.position, dead_letters).await?;
                        self.apply(&source, &event, || Outgoing::from_delivery(delivery), dead_letters).await
                    }
                }
            }
            Err(e) => {
                let reason = format!("undecodable: {e}");
                let outgoing = Outgoing::from_delivery(delivery);
                let position = number_header(properties, header::GLOBAL_POSITION);
                let (Some(source), Some(position)) = (source, position) else {
                    return self.dead_letter(outgoing, Outcome::DeadLettered, reason, None, dead_letters).await;
                };
                let checkpoint = self.checkpoint(&source)?;
                match checkpoint.verdict(position, replayed) {
                    Verdict::Duplicate => {
                        self.progress.send_modify(|p| p.duplicates += 1);
                        Ok(Settled::Done)
                    }
                    Verdict::Replay => {
                        self.dead_letter(outgoing, Outcome::DeadLettered, reason, None, dead_letters).await
                    }
                    verdict @ (Verdict::Next | Verdict::AheadOfGap) => {
                        if verdict == Verdict::AheadOfGap {
                            self.fill_gap(&source, checkpoint.next_position, position, dead_letters).await?;
                        }
                        let position = Some((source.as_str(), position));
                        self.dead_letter(outgoing, Outcome::DeadLettered, reason, position, dead_letters).await
                    }
                }
            }
        }
    }

    /// Brings every source up to its head before taking deliveries. The queue exists and is consuming by
    /// now, so anything published from here on is queued too (and recognised as a duplicate once applied
    /// here); what was published before the queue existed, or while this consumer was new, is read from the
    /// source log. A source that cannot be reached now is caught up later, when a delivery shows the gap.
    async fn catch_up(&mut self, dead_letters: &Channel) -> Result<(), Interrupt> {
        const CHUNK: u64 = 1024;
        for source in self.config.sources.clone() {
            let head = match self.source.head(&source).await {
                Ok(head) => head,
                Err(e) => {
                    warn!(%source, error = %e, "cannot reach the source log to catch up; relying on deliveries");
                    continue;
                }
            };
            let mut next = self.checkpoint(&source)?.next_position;
            if next < head {
                info!(%source, from = next, to = head, "catching up from the source log");
            }
            while next < head {
                let until = head.min(next + CHUNK);
                self.fill_gap(&source, next, until, dead_letters).await?;
                self.handler.sync().await.map_err(|e| match e {
                    HandlerError::Uncommitted(cause) => Interrupt::Retry(cause),
                    e => Interrupt::Fatal(BusError::Handler(e.into())),
                })?;
                next = self.checkpoint(&source)?.next_position.max(until);
            }
        }
        Ok(())
    }

    /// Applies the events at `from..to` of `source`, read from the source log.
    async fn fill_gap(&mut self, source: &str, from: u64, to: u64, dead_letters: &Channel) -> Result<(), Interrupt> {
        debug!(source, from, to, "filling a gap from the source log");
        let events = self
            .source
            .read_range(source, from, to)
            .await
            .map_err(|source| Interrupt::Retry(Box::new(GapUnread { from, to, source })))?;
        if events.len() as u64 != to - from {
            return Err(Interrupt::Retry(
                format!("gap {from}..{to}: the source returned {} events", events.len()).into(),
            ));
        }
        for (expected, event) in (from..to).zip(&events) {
            if event.position != expected {
                return Err(Interrupt::Retry(
                    format!("source returned position {} for {expected}", event.position).into(),
                ));
            }
            // The message is only rebuilt for the rare event that goes to the dead-letter queue.
            let outgoing = || Outgoing {
                body: encode_envelope(event),
                properties: event_properties(source, event),
                routing_key: None,
            };
            self.apply(source, event, outgoing, dead_letters).await?;
            self.progress.send_modify(|p| p.filled_from_source += 1);
        }
        Ok(())
    }

    async fn apply(
        &mut self,
        source: &str,
        event: &RecordedEvent,
        outgoing: impl FnOnce() -> Outgoing,
        dead_letters: &Channel,
    ) -> Result<Settled, Interrupt> {
        let checkpoint = self.checkpoint(source)?;
        if checkpoint.diverges(event.position, &event.prev_hash) {
            let reason = format!(
                "diverged: {source}'s event at position {} does not link to the event this consumer applied at \
                 position {}: the source log is no longer the one it followed (restored from a backup that lacked \
                 events already applied here?); the positions it took as duplicates since may be events it never \
                 applied",
                event.position,
                event.position.saturating_sub(1)
            );
            let position = Some((source, event.position));
            return self.dead_letter(outgoing(), Outcome::Diverged, reason, position, dead_letters).await;
        }
        let replay = checkpoint.verdict(event.position, true) == Verdict::Replay;
        let next = checkpoint.applied(event.position, event.hash);
        match self.handler.handle(event, &next).await {
            Ok(()) => {
                info!(
                    consumer = %self.config.name,
                    source,
                    event_type = %event.event_type,
                    event_id = %event.event_id,
                    position = event.position,
                    trace_id = event.metadata.trace.map(|trace| trace.trace_id()).unwrap_or_default(),
                    outcome = "applied",
                    "consumed event applied"
                );
                self.note_checkpoint(source, next);
                self.progress.send_modify(|p| p.handled += 1);
                Ok(Settled::at(source, event.position, replay))
            }
            Err(HandlerError::Rejected(reason)) => {
                let outgoing = outgoing();
                let position = Some((source, event.position));
                self.dead_letter(outgoing, Outcome::Rejected, format!("rejected: {reason}"), position, dead_letters)
                    .await
            }
            Err(HandlerError::Failed(cause) | HandlerError::Uncommitted(cause)) => Err(Interrupt::Retry(cause)),
        }
    }

    /// Publishes the message to this consumer's dead-letter queue with the reason and, once the broker has
    /// confirmed it, records its position (if known) as handled. In that order: a crash in between leaves
    /// a second copy in the dead-letter queue, never none.
    async fn dead_letter(
        &mut self,
        outgoing: Outgoing,
        outcome: Outcome,
        reason: String,
        position: Option<(&str, u64)>,
        channel: &Channel,
    ) -> Result<Settled, Interrupt> {
        // Given up on: it is not applied until an operator replays it.
        let properties = &outgoing.properties;
        error!(
            consumer = %self.config.name,
            source = source_service(properties).unwrap_or_default(),
            event_type = message_event_type(properties).unwrap_or_default(),
            event_id = properties.message_id().as_ref().map(|id| id.as_str()).unwrap_or_default(),
            trace_id = trace_context(properties).map(|trace| trace.trace_id()).unwrap_or_default(),
            outcome = outcome.as_str(),
            dead_letter_queue = %self.config.dead_letter_queue,
            %reason,
            ?position,
            "dead-lettering a message: it is not applied unless it is replayed from {}",
            self.config.dead_letter_queue
        );
        let bus = &self.config.bus;
        let mut extra = vec![
            (header::DEAD_LETTER_REASON, text_value(reason)),
            (header::DEAD_LETTERED_AT, number_value(u64::try_from(Timestamp::now().as_micros()).unwrap_or(0))),
        ];
        if let Some(routing_key) = outgoing.routing_key {
            extra.push((header::ORIGINAL_ROUTING_KEY, text_value(routing_key)));
        }
        // A dead letter is not itself a replay, whatever the message was.
        let properties = with_headers(&outgoing.properties, extra, &[header::REPLAYED]);
        let publish = channel.basic_publish(
            ShortString::from(bus.dead_letter_exchange.as_str()),
            ShortString::from(self.config.queue.as_str()),
            BasicPublishOptions { mandatory: true, immediate: false },
            &outgoing.body,
            properties,
        );
        let confirm = timed("basic.publish", bus.operation_timeout, publish).await.map_err(Interrupt::Broken)?;
        match timed("confirm", bus.confirm_timeout, confirm).await.map_err(Interrupt::Broken)? {
            Confirmation::Ack(None) => {}
            Confirmation::Ack(Some(_)) => {
                return Err(Interrupt::Retry(
                    format!("dead-letter queue {} is not bound", self.config.dead_letter_queue).into(),
                ));
            }
            other => return Err(Interrupt::Retry(format!("dead letter not confirmed: {other:?}").into())),
        }
        let settled = match position {
            Some((source, position)) => {
                let next = self.checkpoint(source)?.dead_lettered(position);
                self.handler.commit_checkpoint(&next).await.map_err(|e| match e {
                    HandlerError::Failed(cause) | HandlerError::Uncommitted(cause) => Interrupt::Retry(cause),
                    HandlerError::Rejected(reason) => Interrupt::Fatal(BusError::Handler(reason.into())),
                })?;
                self.note_checkpoint(source, next);
                Settled::at(source, position, false)
            }
            None => Settled::Done,
        };
        self.progress.send_modify(|p| p.dead_lettered += 1);
        Ok(settled)
    }
}

/// What the consumer tells an operator about consuming: a warning when it cannot consume or apply
/// (then about once a minute while that lasts, see [`Outage`]) with the broker, the reason and how far it
/// got, and a note when it consumes again.
struct Health {
    consumer: String,
    queue: String,
    broker: BrokerAddress,
    outage: Outage,
    connected_before: bool,
    /// `<source>@<next position>` per source, as last known.
    handled: String,
}

impl Health {
    fn new(config: &ConsumerConfig) -> Health {
        Health {
            consumer: config.name.clone(),
            queue: config.queue.clone(),
            broker: config.bus.broker(),
            outage: Outage::default(),
            connected_before: false,
            handled: String::new(),
        }
    }

    fn note_handled(&mut self, checkpoints: &HashMap<String, Checkpoint>) {
        if checkpoints.is_empty() {
            return;
        }
        let mut handled: Vec<String> =
            checkpoints.iter().map(|(source, checkpoint)| format!("{source}@{}", checkpoint.next_position)).collect();
        handled.sort();
        self.handled = handled.join(", ");
    }

    fn failed(&mut self, reason: &dyn std::fmt::Display) {
        let Some(report) = self.outage.failed(std::time::Instant::now()) else { return };
        let (consumer, queue, broker, handled) = (&self.consumer, &self.queue, &self.broker, &self.handled);
        if report.first {
            warn!(
                %consumer, broker = %broker.host, vhost = %broker.vhost, %reason, %queue, %handled,
                "consumer cannot consume from the message bus; events wait in queue {queue}"
            );
        } else {
            warn!(
                %consumer, broker = %broker.host, vhost = %broker.vhost, %reason, %queue, %handled,
                lag_s = report.lasting.as_secs(), failures = report.failures,
                "consumer still cannot consume from the message bus; nothing applied from queue {queue} for {}",
                seconds(report.lasting)
            );
        }
    }

    fn connected(&mut self) {
        if !self.connected_before {
            self.connected_before = true;
            info!(
                consumer = %self.consumer, broker = %self.broker.host, vhost = %self.broker.vhost,
                queue = %self.queue, "consumer consuming from queue {}", self.queue
            );
        }
    }

    fn recovered(&mut self) {
        if let Some(lasted) = self.outage.recovered(std::time::Instant::now()) {
            info!(
                consumer = %self.consumer, broker = %self.broker.host, vhost = %self.broker.vhost,
                queue = %self.queue, lag_s = lasted.as_secs(),
                "consumer recovered after {}, consuming from queue {} again", seconds(lasted), self.queue
            );
        }
    }
}

/// How a consumed message ended, as its log line says (`outcome`); `applied` is the third.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// The handler refused the event: dead-lettered with its reason.
    Rejected,
    /// The message could not be read (or its source is unknown): dead-lettered.
    DeadLettered,
    /// The event does not link to the one applied before it: its source log diverged. Dead-lettered.
    Diverged,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Rejected => "rejected",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Diverged => "diverged",
        }
    }
}

/// A message as it would be dead-lettered.
struct Outgoing {
    body: Vec<u8>,
    properties: BasicProperties,
    /// The routing key it arrived with; none for events read from the source.
    routing_key: Option<String>,
}

impl Outgoing {
    fn from_delivery(delivery: &Delivery) -> Outgoing {
        Outgoing {
            body: delivery.data.clone(),
            properties: delivery.properties.clone(),
            routing_key: Some(delivery.routing_key.as_str().to_owned()),
        }
    }
}

async fn pause(delay: std::time::Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(delay) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_gap_the_source_cannot_fill_keeps_the_source_error() {
        let source = SourceError::UnknownSource("applications".into());
        let gap = GapUnread { from: 3, to: 5, source };
        assert_eq!(gap.to_string(), "gap 3..5: no reader for source `applications`");
        let source = gap.source().and_then(|source| source.downcast_ref::<SourceError>());
        assert!(matches!(source, Some(SourceError::UnknownSource(name)) if name == "applications"), "{gap:?}");
    }
}
