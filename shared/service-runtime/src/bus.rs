//! A service's work on the message bus, started before it serves and stopped after it has drained: the
//! relay that publishes its log, and, for services that react to others, a consumer whose reactions are
//! appended to that same log together with the consumer's checkpoint.

use std::collections::HashMap;

use event_bus::{
    BusConfig, BusError, Consumer, ConsumerConfig, LogHandler, LogReaction, Rejection, Relay, RelayConfig,
};
use event_log::{EventLog, RecordedEvent};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::identity::JwtConfig;
use crate::log_sources::LogSources;
use crate::server::join_stopped;

/// The bus tasks of one service. Without a bus (no AMQP URI) it holds none: events stay in the log and are
/// published from the relay's cursor, and other services' events wait in the queue, until a run with one.
#[derive(Debug)]
pub struct ServiceBus {
    uri: Option<String>,
    /// The service's name on the bus: first word of its routing keys and of its queue names.
    name: &'static str,
    stop: CancellationToken,
    relay: Option<JoinHandle<Result<(), BusError>>>,
    consumer: Option<JoinHandle<Result<(), BusError>>>,
}

impl ServiceBus {
    /// Publishes `log` as `name` on the bus at `uri`, if there is one.
    pub fn publish(uri: Option<&str>, name: &'static str, log: &EventLog) -> Result<ServiceBus, BusError> {
        let stop = CancellationToken::new();
        let relay = match uri {
            Some(uri) => {
                let relay = Relay::new(log.clone(), RelayConfig::new(BusConfig::new(uri), name))?;
                Some(tokio::spawn(relay.run(stop.clone())))
            }
            None => None,
        };
        Ok(ServiceBus { uri: uri.map(str::to_owned), name, stop, relay, consumer: None })
    }

    /// Also consumes the events of `sources` (service names), appending what `react` makes of each to
    /// `log` with the consumer's checkpoint in the same atomic append. Gaps are filled from the sources'
    /// log services at `source_logs` (by source name), read with tokens issued under `jwt`.
    pub fn consume<F>(
        mut self,
        sources: &[&str],
        log: &EventLog,
        source_logs: HashMap<String, String>,
        jwt: JwtConfig,
        react: F,
    ) -> Result<ServiceBus, BusError>
    where
        F: FnMut(&RecordedEvent) -> Result<Option<LogReaction>, Rejection> + Send + Sync + 'static,
    {
        let Some(uri) = &self.uri else { return Ok(self) };
        let config = ConsumerConfig::new(BusConfig::new(uri.clone()), self.name, sources);
        let handler = LogHandler::new(log.clone(), react);
        let readers = LogSources::new(source_logs, jwt, format!("service:{}", self.name));
        let consumer = Consumer::new(config, handler, readers)?;
        let stop = self.stop.clone();
        self.consumer = Some(tokio::spawn(async move { consumer.run(stop).await.map(drop) }));
        Ok(self)
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
