//! A service's work on the message bus, started before it serves and stopped after it has drained: the
//! relay that publishes its log, and, for services that react to others, a consumer whose reactions are
//! appended to that same log together with the consumer's checkpoint.

use std::borrow::Cow;
use std::time::Duration;

use event_bus::{
    Backlog, BacklogMonitor, BusConfig, BusError, Consumer, ConsumerConfig, ConsumerProgress, LogHandler,
    ReactionResult, Rejection, Relay, RelayConfig, SourceReader,
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
    stop: CancellationToken,
    relay: Option<JoinHandle<Result<(), BusError>>>,
    consumer: Option<JoinHandle<Result<(), BusError>>>,
    /// What the metrics and the operations service read of the relay and the consumer.
    watch: BusWatch,
}

/// How long reading a source's head for [`BusWatch::status`] may take.
const SOURCE_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// What can be read of a service's bus while it serves: the relay's backlog, the consumer's progress, its
/// sources and their logs. Cheap to clone; the metrics and `grants.operations.v1` both read it through
/// [`BusWatch::status`]. It holds the service's log: let go of it before closing the log.
#[derive(Clone, Debug)]
pub struct BusWatch {
    /// The service's name on the bus: first word of its routing keys and of its queue names (a projector
    /// replica's is `projector.<replica>`).
    name: Cow<'static, str>,
    with_bus: bool,
    relay: Option<RelayWatch>,
    consumer: Option<ConsumerWatch>,
}

#[derive(Clone, Debug)]
enum RelayWatch {
    /// A relay runs: its progress.
    Running(BacklogMonitor),
    /// No relay runs (no bus): the log, whose backlog is read from the cursor the last relay stored.
    Stored(EventLog),
}

#[derive(Clone, Debug)]
struct ConsumerWatch {
    progress: tokio::sync::watch::Receiver<ConsumerProgress>,
    sources: Vec<String>,
    readers: LogSources,
}

/// How a service's bus stood when [`BusWatch::status`] read it.
#[derive(Debug)]
pub struct BusStatus {
    /// The service's name on the bus.
    pub service: String,
    /// Whether it runs with a bus.
    pub with_bus: bool,
    /// The relay's backlog (without a bus, from the stored cursor, not connected); `None` for a service that
    /// publishes nothing; an error when the log could not be read.
    pub relay: Option<Result<Backlog, BusError>>,
    /// The consumer's progress and its sources; `None` when no consumer runs.
    pub consumer: Option<ConsumerStatus>,
}

/// A running consumer's progress and how far each source's log is ahead of it.
#[derive(Clone, Debug)]
pub struct ConsumerStatus {
    pub progress: ConsumerProgress,
    /// One per source consumed, in name order.
    pub sources: Vec<SourceStatus>,
}

/// One source of a consumer.
#[derive(Clone, Debug)]
pub struct SourceStatus {
    pub source: String,
    /// The consumer's checkpoint of this source; `None` until the consumer has read it.
    pub applied: Option<u64>,
    /// The source log's next position, or why it could not be read.
    pub head: Result<u64, String>,
}

impl SourceStatus {
    /// Events of the source the consumer has not applied, when both ends are known.
    pub fn behind(&self) -> Option<u64> {
        Some(self.head.as_ref().ok()?.saturating_sub(self.applied?))
    }
}

impl BusWatch {
    /// A service without a bus that publishes `log`: its backlog is read from the stored cursor.
    pub fn without_bus(name: impl Into<Cow<'static, str>>, log: &EventLog) -> BusWatch {
        BusWatch { name: name.into(), with_bus: false, relay: Some(RelayWatch::Stored(log.clone())), consumer: None }
    }

    /// Reads the relay's backlog, the consumer's progress and each source's head (from its log service, at
    /// most [`SOURCE_HEAD_TIMEOUT`] each, all at once).
    pub async fn status(&self) -> BusStatus {
        let relay = self.relay.as_ref().map(|relay| match relay {
            RelayWatch::Running(monitor) => monitor.backlog(),
            RelayWatch::Stored(log) => Backlog::stored(log, RelayConfig::DEFAULT_CURSOR_MARKER),
        });
        let consumer = match &self.consumer {
            Some(watch) => Some(watch.status().await),
            None => None,
        };
        BusStatus { service: self.name.clone().into_owned(), with_bus: self.with_bus, relay, consumer }
    }
}

impl ConsumerWatch {
    async fn status(&self) -> ConsumerStatus {
        let heads = futures::future::join_all(self.sources.iter().map(|source| {
            let mut readers = self.readers.clone();
            async move {
                match tokio::time::timeout(SOURCE_HEAD_TIMEOUT, readers.head(source)).await {
                    Ok(head) => head.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("source `{source}` did not answer within {SOURCE_HEAD_TIMEOUT:?}")),
                }
            }
        }))
        .await;
        // Read after the heads: a consumer that keeps up is not shown behind by events recorded meanwhile.
        let progress = self.progress.borrow().clone();
        let sources = self
            .sources
            .iter()
            .zip(heads)
            .map(|(source, head)| SourceStatus {
                source: source.clone(),
                applied: progress.applied.get(source).copied(),
                head,
            })
            .collect();
        ConsumerStatus { progress, sources }
    }
}

impl ServiceBus {
    /// Publishes `log` as `name` on the bus `bus` (its broker and TLS), if there is one; says at start how
    /// many events wait when there is none.
    pub fn publish(bus: Option<BusConfig>, name: &'static str, log: &EventLog) -> Result<ServiceBus, BusError> {
        let stop = CancellationToken::new();
        let (relay, watch) = match &bus {
            Some(bus) => {
                let relay = Relay::new(log.clone(), RelayConfig::new(bus.clone(), name))?;
                let watch = BusWatch {
                    name: Cow::Borrowed(name),
                    with_bus: true,
                    relay: Some(RelayWatch::Running(relay.monitor())),
                    consumer: None,
                };
                (Some(tokio::spawn(relay.run(stop.clone()))), watch)
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
                (None, BusWatch::without_bus(name, log))
            }
        };
        Ok(ServiceBus { bus, stop, relay, consumer: None, watch })
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
            let queue = ConsumerConfig::default_queue(&self.watch.name);
            tracing::info!(
                service = %self.watch.name,
                %queue,
                "running without the bus: events of {} wait in queue {queue} until a run with the bus",
                sources.join(", ")
            );
            return Ok(self);
        };
        let config = ConsumerConfig::new(bus.clone(), self.watch.name.clone(), sources);
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
        let watch = BusWatch { name: name.into(), with_bus: bus.is_some(), relay: None, consumer: None };
        ServiceBus { bus, stop: CancellationToken::new(), relay: None, consumer: None, watch }
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
            let queue = ConsumerConfig::default_queue(&self.watch.name);
            tracing::warn!(
                service = %self.watch.name,
                %queue,
                "running without the bus: nothing is consumed; events of {} wait in queue {queue} until a run \
                 with the bus",
                sources.join(", ")
            );
            return Ok(self);
        };
        let config = ConsumerConfig::new(bus.clone(), self.watch.name.clone(), sources);
        let consumer = Consumer::new(config, handler, readers.clone())?;
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
        let mut sources: Vec<String> = sources.iter().map(|s| (*s).to_owned()).collect();
        sources.sort();
        self.watch.consumer = Some(ConsumerWatch { progress: consumer.progress(), sources, readers });
    }

    /// What the metrics and the operations service read of the relay and the consumer.
    pub fn watch(&self) -> BusWatch {
        self.watch.clone()
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
        let bus = bus.unwrap();
        // Its status shows the same: what waits behind the stored cursor, and no consumer running.
        let status = bus.watch().status().await;
        assert_eq!((status.service.as_str(), status.with_bus), ("awards", false));
        let backlog = status.relay.expect("a relay's backlog").unwrap();
        assert_eq!((backlog.published_up_to, backlog.depth, backlog.head, backlog.connected), (0, 3, 3, false));
        assert!(backlog.oldest_unpublished_age.is_some());
        assert!(status.consumer.is_none());
        bus.stop().await;
        let shown = String::from_utf8_lossy(&written.lock().unwrap()).into_owned();
        assert!(shown.contains("WARN") && shown.contains("running without the bus, 3 events waiting"), "{shown}");
        assert!(shown.contains("events of applications, reporting wait in queue awards.inbox"), "{shown}");
    }

    #[test]
    fn a_source_is_behind_by_what_its_head_is_ahead_of_the_checkpoint_when_both_are_known() {
        let source = |applied, head| SourceStatus { source: "applications".into(), applied, head };
        assert_eq!(source(Some(3), Ok(10)).behind(), Some(7));
        assert_eq!(source(Some(10), Ok(10)).behind(), Some(0));
        // A checkpoint read after a head that moved on since.
        assert_eq!(source(Some(12), Ok(10)).behind(), Some(0));
        assert_eq!(source(None, Ok(10)).behind(), None);
        assert_eq!(source(Some(3), Err("unreachable".into())).behind(), None);
    }

    #[tokio::test]
    async fn a_process_without_relay_shows_none_under_its_own_name() {
        let status = ServiceBus::without_relay(None, "projector.r2").watch().status().await;
        assert_eq!((status.service.as_str(), status.with_bus), ("projector.r2", false));
        assert!(status.relay.is_none() && status.consumer.is_none());
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
