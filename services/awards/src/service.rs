//! Assembling the service: open the log, build the index, serve the awards API and the read-only log
//! service, publish the log with the relay, apply other services' events with the consumer; on shutdown
//! stop all of them and close the log.

use std::collections::HashMap;
use std::path::PathBuf;

use contracts::awards::v1::{AwardsServiceServer, SERVICE_NAME};
use event_log::EventLog;
use personal_data::KeyVault;
use service_runtime::{
    AuthLayer, EventStore, JwtConfig, ServerConfig, ServiceBus, ServiceError, Serving, TextSealer, TokenVerifier,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::grpc::AwardsApi;
use crate::index::Index;

/// Everything the service needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of the service's data; the event log is in its `log/` folder.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub jwt: JwtConfig,
    /// AMQP URI of the message bus; `None` runs without publishing or consuming (events stay in the log
    /// and are published, and other services' events wait in this service's queue, until a run with the bus).
    pub amqp_uri: Option<String>,
    /// Addresses of the source services' log gRPC services (`applications`, `reporting`) for gap filling.
    pub source_logs: HashMap<String, String>,
}

/// Where the event log lives inside the data directory (kept apart so that other stores can sit beside it).
pub fn log_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("log")
}

/// The protobuf package of this service's contract and events.
const PACKAGE: &str = "grants.awards.v1";

/// The service's name on the bus: first part of its routing keys (`awards.<EventType>`), and its queues
/// (`awards.inbox`, `awards.dead-letters`).
pub const BUS_NAME: &str = "awards";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Open(#[from] event_log::OpenError),
    #[error(transparent)]
    Keys(#[from] personal_data::VaultError),
    #[error("cannot build the read index: {0}")]
    Index(ServiceError),
    #[error(transparent)]
    Identity(#[from] service_runtime::identity::IdentityError),
    #[error("cannot start the event bus: {0}")]
    Bus(event_bus::BusError),
    #[error(transparent)]
    Serve(#[from] service_runtime::server::ServeError),
}

/// Serves the awards service on `listener` until `shutdown` is cancelled; then drains requests in flight,
/// stops the consumer (which acks only what it committed) and the relay (which stores its cursor after
/// outstanding confirms), and closes the log.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let verifier = TokenVerifier::new(&config.jwt)?;
    let log = EventLog::open(log_dir(&config.data_dir))?;
    // Before the bus starts: a log that no longer extends its last signed checkpoint is neither published
    // nor reacted to.
    let checkpoints = service_runtime::server::check_log_against_checkpoint(&log, BUS_NAME, &config.server).await?;
    let index = Index::build(&log).map_err(RunError::Index)?;
    tracing::info!(data_dir = %config.data_dir.display(), events = log.next_position(), "event log opened");
    let vault = KeyVault::open(service_runtime::sealing::key_dir(&config.data_dir))?;
    let store = EventStore::with_sealer(log.clone(), TextSealer::new(vault, PACKAGE));

    let reactions = store.clone();
    let bus = ServiceBus::publish(config.amqp_uri.as_deref(), BUS_NAME, &log)
        .and_then(|bus| {
            let react = move |event: &_| crate::inbound::react(&reactions, event);
            bus.consume(&crate::inbound::SOURCES, &log, config.source_logs.clone(), config.jwt.clone(), react)
        })
        .map_err(RunError::Bus)?;

    let api = AwardsApi::new(store, index);
    let service = AwardsServiceServer::new(api)
        .max_decoding_message_size(config.server.max_message_bytes)
        .max_encoding_message_size(config.server.max_message_bytes);
    // The runtime also serves the log read-only (EventLogService) under its own access table.
    let routes = tonic::service::Routes::new(service);
    let auth = AuthLayer::new(verifier, vec![crate::access::table()]);
    let serving = Serving {
        service_names: &[SERVICE_NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        log: log.clone(),
        log_owner: BUS_NAME,
        bus: Some(bus),
        checkpoints,
    };
    let result = service_runtime::serve(listener, &config.server, auth, routes, serving, shutdown).await;
    drop(log);
    tracing::info!("event log closed");
    Ok(result?)
}
