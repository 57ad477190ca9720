//! What the reporting service adds to the runtime's skeleton: the indicator catalogue, its index, its gRPC
//! service, its role table, and its reactions to the awards service's events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use contracts::names::service;
use contracts::reporting::v1::{ReportingServiceServer, SERVICE_NAME};
use service_runtime::config::Consumes;
use service_runtime::launch::{Foundation, Process, Settings, StartError};
use service_runtime::{JwtConfig, ServerConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::domain::catalogue::{Catalogue, CatalogueError};
use crate::grpc::ReportingApi;
use crate::index::Index;

/// The service's process: its name on the bus is the first part of its routing keys
/// (`reporting.<EventType>`) and of its queues (`reporting.inbox`, `reporting.dead-letters`).
pub const PROCESS: Process = Process {
    name: service::REPORTING,
    about: "The reporting service of the grants platform: reporting obligations, victim-safe indicator reports, acquittals, review",
    package: "grants.reporting.v1",
    consumes: Consumes::Every(&crate::inbound::SOURCES),
};

/// The reporting service's own flags.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// An indicator catalogue (JSON, the format of the embedded `indicators.json`) to use instead of the
    /// embedded one; validated at start-up.
    #[arg(long, env = "REPORTING_INDICATORS")]
    pub indicators: Option<PathBuf>,
}

/// Everything the service needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of the service's data: its event log (`log/`; moved there at start from the root, where
    /// earlier versions kept it) and the keys of sealed free text (`personal-data-keys/`).
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

impl Config {
    /// The configuration from the common settings and the service's own flags.
    pub fn new(settings: Settings, flags: Flags) -> Config {
        Config {
            data_dir: settings.data_dir,
            server: settings.server,
            jwt: settings.jwt,
            amqp_uri: settings.amqp_uri,
            source_logs: settings.source_logs.into_iter().collect(),
            indicators: flags.indicators,
        }
    }
}

/// Where the event log lives inside the data directory.
pub use service_runtime::launch::log_dir;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read the indicator catalogue {path}")]
    CatalogueFile {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(transparent)]
    Start(#[from] StartError),
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
    let foundation = Foundation::open(PROCESS, &config.data_dir, &config.jwt, &config.server).await?;
    let index = Index::build(&foundation.log).map_err(StartError::Index)?;
    let (store, _) = foundation.sealed_store()?;
    let bus =
        foundation.publish_and_react(config.amqp_uri.as_deref(), &config.source_logs, &store, crate::inbound::react)?;
    let server = ReportingServiceServer::new(ReportingApi::new(store, index, catalogue));
    let api = service_runtime::grpc_api!(server, SERVICE_NAME, crate::access::table(), config.server);
    Ok(foundation.serve(listener, &config.server, api, Some(bus), shutdown).await?)
}
