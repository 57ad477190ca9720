//! Assembling the service: open the log, build the index, serve until shutdown, close the log.

use std::path::PathBuf;

use contracts::applications::v1::{ApplicationsServiceServer, SERVICE_NAME};
use event_log::EventLog;
use personal_data::KeyVault;
use service_runtime::{
    AuthLayer, EventStore, JwtConfig, ServerConfig, ServiceBus, ServiceError, Serving, TextSealer, TokenVerifier,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::grpc::ApplicationsApi;
use crate::index::Index;

/// Everything the service needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of the service's data: its event log (`log/`) and the keys of sealed personal data
    /// (`personal-data-keys/`).
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub jwt: JwtConfig,
    /// AMQP URI of the message bus; `None` runs without publishing (events stay in the log and are
    /// published from the relay's cursor whenever the service runs with a bus again).
    pub amqp_uri: Option<String>,
}

/// The protobuf package of this service's contract and events.
const PACKAGE: &str = "grants.applications.v1";

/// The service's name on the bus: first part of its routing keys (`applications.<EventType>`).
pub const BUS_NAME: &str = "applications";

/// Where the service keeps its event log inside its data directory (beside `personal-data-keys/`).
pub fn log_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("log")
}

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
    #[error("cannot start the event relay: {0}")]
    Relay(event_bus::BusError),
    #[error(transparent)]
    Serve(#[from] service_runtime::server::ServeError),
}

/// Serves the applications service on `listener` until `shutdown` is cancelled; then drains requests in
/// flight, stops the relay (which stores its cursor after outstanding confirms) and closes the log (every
/// acknowledged append is already on disk).
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let verifier = TokenVerifier::new(&config.jwt)?;
    let log = EventLog::open(log_dir(&config.data_dir))?;
    // Before the bus starts: a log that no longer extends its last signed checkpoint is neither published
    // nor reacted to.
    let checkpoints = service_runtime::server::check_log_against_checkpoint(&log, BUS_NAME, &config.server).await?;
    let vault = KeyVault::open(service_runtime::sealing::key_dir(&config.data_dir))?;
    let index = Index::build(&log).map_err(RunError::Index)?;
    tracing::info!(data_dir = %config.data_dir.display(), events = log.next_position(), "event log opened");
    // The relay publishes the log from its own cursor; it is stopped only after the server has drained.
    let bus = ServiceBus::publish(config.amqp_uri.as_deref(), BUS_NAME, &log).map_err(RunError::Relay)?;
    let sealer = TextSealer::new(vault.clone(), PACKAGE);
    let api = ApplicationsApi::new(EventStore::with_sealer(log.clone(), sealer), index, vault);
    let service = ApplicationsServiceServer::new(api)
        .max_decoding_message_size(config.server.max_message_bytes)
        .max_encoding_message_size(config.server.max_message_bytes);
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
