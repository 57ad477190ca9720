//! A service's work on the message bus, started before it serves and stopped after it has drained: the
//! relay that publishes its log, and, for services that react to others, a consumer whose reactions are
//! appended to that same log together with the consumer's checkpoint.

use std::borrow::Cow;

use event_bus::{
    Backlog, BacklogMonitor, BusConfig, BusError, Consumer, ConsumerConfig, ConsumerProgress, LogHandler,
    ReactionResult, Rejection, Relay, RelayConfig,
};
use event_log::{EventLog, RecordedEvent};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::log_sources::LogSources;
use crate::server::join_stopped;

/// The bus tasks of one service. Without a bus (no AMQP URI) it holds none: events stay in the log and are
/// published from the relay's cursor, and other services' events wait in the queue, until a run with one.
#[derive(Debug)]
pub struct ServiceBus {
    bus: Option<BusConfig>,
    /// The service's name on the bus: first word of its routing keys and of its queue names (a projector
    /// replica's is `projector.<replica>`).
    name: Cow<'static, str>,
    stop: CancellationToken,
    relay: Option<JoinHandle<Result<(), BusError>>>,
    consumer: Option<JoinHandle<Result<(), BusError>>>,
    /// What the metrics read of the relay and the consumer.
    watched: Watched,
}

/// The relay's backlog and the consumer's progress, its sources and their logs, for the metrics.
#[derive(Debug, Default)]
struct Watched {
    relay: Option<BacklogMonitor>,
    consumer: Option<(tokio::sync::watch::Receiver<ConsumerProgress>, Vec<String>, LogSources)>,
}

impl ServiceBus {
    /// Publishes `log` as `name` on the bus `bus` (its broker and TLS), if there is one; says at start how
    /// many events wait when there is none.
    pub fn publish(bus: Option<BusConfig>, name: &'static str, log: &EventLog) -> Result<ServiceBus, BusError> {
        let stop = CancellationToken::new();
        let mut watched = Watched::default();
        let relay = match &bus {
            Some(bus) => {
                let relay = Relay::new(log.clone(), RelayConfig::new(bus.clone(), name))?;
                watched.relay = Some(relay.monitor());
                Some(tokio::spawn(relay.run(stop.clone())))
            }
            None => {
                match Backlog::stored(log, RelayConfig::DEFAULT_CURSOR_MARKER) {
                    Ok(Backlog { depth: waiting, .. }) => tracing::warn!(
                        service = name,
                        waiting,
                        "running without the bus, {waiting} events waiting to be published until a run with the bus"
                    ),
                    // The count is only for the operator: not knowing it is no reason to refuse to start.
                    Err(e) => tracing::warn!(
                        service = name,
                        error = %e,
                        "running without the bus; how many events wait to be published is unknown"
                    ),
                }
                None
            }
        };
        Ok(ServiceBus { bus, name: Cow::Borrowed(name), stop, relay, consumer: None, watched })
    }

    /// Also consumes the events of `sources` (service names), appending what `react` makes of each (given
    /// the source it came from) to `log` with the consumer's checkpoint in the same atomic append. Gaps are filled from the sources'
    /// log services through `readers`.
    pub fn consume<F>(
        mut self,
        sources: &[&str],
        log: &EventLog,
        readers: LogSources,
        react: F,
    ) -> Result<ServiceBus, BusError>
    where
        F: FnMut(&str, &RecordedEvent) -> ReactionResult + Send + Sync + 'static,
    {
        let Some(bus) = &self.bus else {
            let queue = ConsumerConfig::default_queue(&self.name);
            tracing::info!(
                service = %self.name,
                %queue,
                "running without the bus: events of {} wait in queue {queue} until a run with the bus",
                sources.join(", ")
            );
            return Ok(self);
        };
        let config = ConsumerConfig::new(bus.clone(), self.name.clone(), sources);
        let handler = LogHandler::by_source(log.clone(), react);
        let consumer = Consumer::new(config, handler, readers.clone())?;
        self.watch_consumer(&consumer, sources, readers);
        let stop = self.stop.clone();
        self.consumer = Some(tokio::spawn(async move { consumer.run(stop).await.map(drop) }));
        Ok(self)
    }

    /// No relay, for a service whose own log stays empty (the projector): only [`ServiceBus::consume_into`],
    /// whose queues are named after `name`.
    pub fn without_relay(bus: Option<BusConfig>, name: impl Into<Cow<'static, str>>) -> ServiceBus {
        ServiceBus {
            bus,
            name: name.into(),
            stop: CancellationToken::new(),
            relay: None,
            consumer: None,
            watched: Watched::default(),
        }
    }

    /// Consumes the events of `sources` into `handler`, which commits each effect with its checkpoint in a
    /// store of its own (the projector's read models); gaps are filled from `readers`.
    pub fn consume_into<H: event_bus::Handler + Sync + 'static>(
        mut self,
        sources: &[&str],
        handler: H,
        readers: LogSources,
    ) -> Result<ServiceBus, BusError> {
        let Some(bus) = &self.bus else {
            let queue = ConsumerConfig::default_queue(&self.name);
            tracing::warn!(
                service = %self.name,
                %queue,
                "running without the bus: nothing is consumed; events of {} wait in queue {queue} until a run \
                 with the bus",
                sources.join(", ")
            );
            return Ok(self);
        };
        let consumer =
            Consumer::new(ConsumerConfig::new(bus.clone(), self.name.clone(), sources), handler, readers.clone())?;
        self.watch_consumer(&consumer, sources, readers);
        let stop = self.stop.clone();
        self.consumer = Some(tokio::spawn(async move { consumer.run(stop).await.map(drop) }));
        Ok(self)
    }

    fn watch_consumer<H: event_bus::Handler, S: event_bus::SourceReader>(
        &mut self,
        consumer: &Consumer<H, S>,
        sources: &[&str],
        readers: LogSources,
    ) {
        let sources = sources.iter().map(|s| (*s).to_owned()).collect();
        self.watched.consumer = Some((consumer.progress(), sources, readers));
    }

    /// Shows the relay's backlog and the consumer's progress and lag in `metrics`.
    pub fn watch_with(&self, metrics: &crate::metrics::Metrics) {
        if let Some(relay) = &self.watched.relay {
            metrics.watch_relay(relay.clone());
        }
        if let Some((progress, sources, readers)) = &self.watched.consumer {
            metrics.watch_consumer(progress.clone(), sources.clone(), readers.clone());
        }
    }

    /// Stops the consumer (which acks only what it committed), then the relay (which saves its cursor after
    /// the outstanding confirms), and waits for both.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(consumer) = self.consumer.take() {
            join_stopped("event consumer", consumer).await;
        }
        if let Some(relay) = self.relay.take() {
            join_stopped("event relay", relay).await;
        }
    }
}

impl Drop for ServiceBus {
    /// A bus dropped without [`ServiceBus::stop`] (the service failed to start) still stops its tasks.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Refuses a consumed event for `reason`: it goes to the dead-letter queue, the reason naming the event.
pub fn refusal(consumed: &RecordedEvent, reason: &dyn std::fmt::Display) -> Rejection {
    Rejection::new(format!("{} at position {}: {reason}", consumed.event_type, consumed.position))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventStore;
    use crate::command::{DomainEvent, EventDecodeError};
    use event_bus::LogReaction;
    use event_log::{EventMetadata, ExpectedVersion, NewEvent, StreamId};
    use uuid::Uuid;

    #[derive(Debug)]
    struct Noted;

    impl DomainEvent for Noted {
        fn event_type(&self) -> &'static str {
            "Noted"
        }
        fn encode_payload(&self) -> Vec<u8> {
            b"noted".to_vec()
        }
        fn decode_payload(_: &str, _: &[u8]) -> Result<Self, EventDecodeError> {
            Ok(Noted)
        }
    }

    /// An event of another service that a consumer reacts to.
    fn cause(occurred_at: event_log::Timestamp) -> NewEvent {
        NewEvent {
            event_id: Uuid::new_v4(),
            event_type: "Happened".into(),
            schema_version: 1,
            payload: Vec::new(),
            metadata: EventMetadata {
                actor: event_log::Actor {
                    subject: "officer-1".into(),
                    role: "program_officer".into(),
                    organisation: String::new(),
                },
                correlation_id: Uuid::new_v4(),
                causation_id: Uuid::new_v4(),
                occurred_at,
                trace: None,
            },
        }
    }

    #[tokio::test]
    async fn without_the_bus_the_start_says_how_many_events_wait() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let stream = StreamId::new("source", "1").unwrap();
        log.append(stream, ExpectedVersion::NoStream, (0..3).map(|_| cause(event_log::Timestamp::now())).collect())
            .await
            .unwrap();

        let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(crate::config::log_filter(None))
            .with_ansi(false)
            .without_time()
            .with_writer(move || crate::config::CaptureWriter(sink.clone()))
            .finish();
        let bus = tracing::subscriber::with_default(subscriber, || {
            ServiceBus::publish(None, "awards", &log).and_then(|bus| {
                bus.consume(
                    &["applications", "reporting"],
                    &log,
                    LogSources::new(
                        [],
                        crate::identity::JwtConfig {
                            secret: vec![7; 32],
                            issuer: "grants-dev".into(),
                            audience: "grants".into(),
                        },
                        "service:awards",
                    ),
                    |_, _| Ok(None),
                )
            })
        });
        bus.unwrap().stop().await;
        let shown = String::from_utf8_lossy(&written.lock().unwrap()).into_owned();
        assert!(shown.contains("WARN") && shown.contains("running without the bus, 3 events waiting"), "{shown}");
        assert!(shown.contains("events of applications, reporting wait in queue awards.inbox"), "{shown}");
    }

    #[tokio::test]
    async fn a_reaction_carries_the_cause_over_and_is_the_same_append_when_retried() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let cause = cause(event_log::Timestamp::from_micros(1_000_000));
        let source = StreamId::new("source", "1").unwrap();
        log.append(source, ExpectedVersion::NoStream, vec![cause]).await.unwrap();
        let consumed = log.event(0).unwrap().unwrap();
        let stream = StreamId::new("target", "7").unwrap();

        let store = EventStore::new(log.clone());
        let reaction = |service, version, events: &[Noted]| {
            store.reaction(&consumed, service, stream.clone(), version, events).unwrap()
        };
        let first = reaction("awards", Some(3), &[Noted, Noted]);
        let again = reaction("awards", Some(3), &[Noted, Noted]);
        let elsewhere = reaction("reporting", None, &[Noted]);
        assert_eq!(first.expected, ExpectedVersion::Exact(3));
        assert_eq!(elsewhere.expected, ExpectedVersion::NoStream);
        let ids = |r: &LogReaction| r.events.iter().map(|e| e.event_id).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&again), "a retried reaction has the same ids");
        assert_ne!(ids(&first)[0], ids(&first)[1]);
        assert_ne!(ids(&first)[0], ids(&elsewhere)[0], "another service's reaction has other ids");
        let metadata = &first.events[0].metadata;
        assert_eq!(metadata.causation_id, consumed.event_id);
        assert_eq!(metadata.correlation_id, consumed.metadata.correlation_id);
        assert_eq!(
            (metadata.actor.clone(), metadata.occurred_at),
            (consumed.metadata.actor.clone(), consumed.metadata.occurred_at)
        );
        assert_eq!(first.events[0].event_type, "Noted");
    }
}
