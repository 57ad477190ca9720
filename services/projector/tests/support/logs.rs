//! Source logs served in-process through the read-only log gRPC service, as the real services serve them.

#![allow(dead_code)]

use std::collections::BTreeMap;

use event_log::EventLog;
use tokio_util::sync::CancellationToken;

/// Serves `log` as `owner`'s `EventLogService` on a loopback port until `shutdown`; returns its address.
pub async fn serve_log(log: EventLog, owner: &'static str, shutdown: CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = event_log_grpc::LogService::new(log, owner)
        .into_server()
        .max_encoding_message_size(event_log_grpc::MIN_MESSAGE_BYTES);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
            .unwrap();
    });
    format!("http://{address}")
}

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
