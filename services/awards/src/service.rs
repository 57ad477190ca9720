//! What the awards service adds to the runtime's skeleton: its index, its gRPC service, its role table,
//! and its reactions to the applications and reporting services' events.

use std::collections::HashMap;
use std::path::PathBuf;

use contracts::awards::v1::{AwardsServiceServer, SERVICE_NAME};
use contracts::names::service;
use service_runtime::config::Consumes;
use service_runtime::launch::{Foundation, Process, Settings, StartError};
use service_runtime::{JwtConfig, ServerConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::grpc::AwardsApi;
use crate::index::Index;

/// The service's process: its name on the bus is the first part of its routing keys (`awards.<EventType>`)
/// and of its queues (`awards.inbox`, `awards.dead-letters`).
pub const PROCESS: Process = Process {
    name: service::AWARDS,
    about: "The awards service of the grants platform: agreements, tranches gated by accepted reports, variations, close-out",
    package: "grants.awards.v1",
    consumes: Consumes::Every(&crate::inbound::SOURCES),
};

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

impl From<Settings> for Config {
    fn from(settings: Settings) -> Config {
        Config {
            data_dir: settings.data_dir,
            server: settings.server,
            jwt: settings.jwt,
            amqp_uri: settings.amqp_uri,
            source_logs: settings.source_logs.into_iter().collect(),
        }
    }
}

/// Where the event log lives inside the data directory.
pub use service_runtime::launch::log_dir;

/// Why the service could not start or stopped with a failure.
pub type RunError = StartError;

/// Serves the awards service on `listener` until `shutdown` is cancelled; then drains requests in flight,
/// stops the consumer (which acks only what it committed) and the relay (which stores its cursor after
/// outstanding confirms), and closes the log.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let foundation = Foundation::open(PROCESS, &config.data_dir, &config.jwt, &config.server).await?;
    let index = Index::build(&foundation.log).map_err(StartError::Index)?;
    let (store, _) = foundation.sealed_store()?;
    let bus =
        foundation.publish_and_react(config.amqp_uri.as_deref(), &config.source_logs, &store, crate::inbound::react)?;
    let server = AwardsServiceServer::new(AwardsApi::new(store, index));
    let api = service_runtime::grpc_api!(server, SERVICE_NAME, crate::access::table(), config.server);
    foundation.serve(listener, &config.server, api, Some(bus), shutdown).await
}
