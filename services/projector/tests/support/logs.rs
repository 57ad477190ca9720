//! Source logs served in-process through the read-only log gRPC service, as the real services serve them.

#![allow(dead_code)]

use std::collections::BTreeMap;

use event_log::EventLog;
pub use test_support::services::serve_log;
use tokio_util::sync::CancellationToken;

/// Serves each log and returns the source addresses.
pub async fn serve_logs(
    logs: &std::collections::HashMap<&'static str, EventLog>,
    shutdown: &CancellationToken,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, log) in logs {
        out.insert((*name).to_owned(), serve_log(log.clone(), name, shutdown.clone()).await);
    }
    out
}

/// Publishes each log to the bus at `amqp_uri` through the relay the real services run, until `shutdown`.
pub fn publish_logs(
    logs: &std::collections::HashMap<&'static str, EventLog>,
    amqp_uri: &str,
    shutdown: &CancellationToken,
) {
    for (name, log) in logs {
        let config = event_bus::RelayConfig::new(event_bus::BusConfig::new(amqp_uri.to_owned()), *name);
        let relay = event_bus::Relay::new(log.clone(), config).expect("the relay starts");
        tokio::spawn(relay.run(shutdown.clone()));
    }
}
