//! Assembling the service: load the indicator catalogue, compile the identity guard, open the log, build
//! the index, serve the reporting API and the read-only log service, publish the log with the relay,
//! apply the awards service's events with the consumer; on shutdown stop all of them and close the log.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use contracts::reporting::v1::{ReportingServiceServer, SERVICE_NAME};
use event_log::EventLog;
use personal_data::KeyVault;
use service_runtime::{
    AuthLayer, EventStore, JwtConfig, ServerConfig, ServiceBus, ServiceError, Serving, TextSealer, TokenVerifier,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::domain::catalogue::{Catalogue, CatalogueError};
use crate::grpc::ReportingApi;
use crate::index::Index;

/// Everything the service needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of the service's event log.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub jwt: JwtConfig,
    /// AMQP URI of the message bus; `None` runs without publishing or consuming (events stay in the log
    /// and are published, and the awards service's events wait in this service's queue, until a run with
    /// the bus).
    pub amqp_uri: Option<String>,
    /// Addresses of the source services' log gRPC services (`awards`) for gap filling.
    pub source_logs: HashMap<String, String>,
    /// An indicator catalogue file (JSON) to use instead of the embedded one.
    pub indicators: Option<PathBuf>,
}

/// The protobuf package of this service's contract and events.
const PACKAGE: &str = "grants.reporting.v1";

/// The service's name on the bus: first part of its routing keys (`reporting.<EventType>`), and its
/// queues (`reporting.inbox`, `reporting.dead-letters`).
pub const BUS_NAME: &str = "reporting";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read the indicator catalogue {path}: {error}")]
    CatalogueFile { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
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

/// Loads and validates the catalogue the service checks reports against.
pub fn load_catalogue(path: Option<&PathBuf>) -> Result<Catalogue, RunError> {
    match path {
        None => Ok(Catalogue::embedded()?),
        Some(path) => {
            let json =
                std::fs::read_to_string(path).map_err(|error| RunError::CatalogueFile { path: path.clone(), error })?;
            Ok(Catalogue::from_json(&json)?)
        }
    }
}

/// Serves the reporting service on `listener` until `shutdown` is cancelled; then drains requests in
/// flight, stops the consumer (which acks only what it committed) and the relay (which stores its cursor
/// after outstanding confirms), and closes the log.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let catalogue = Arc::new(load_catalogue(config.indicators.as_ref())?);
    tracing::info!(version = %catalogue.version, indicators = catalogue.len(), "indicator catalogue loaded");
    let verifier = TokenVerifier::new(&config.jwt)?;
    let log = EventLog::open(&config.data_dir)?;
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

    let api = ReportingApi::new(store, index, catalogue);
    let service = ReportingServiceServer::new(api)
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
