//! What the applications service adds to the runtime's skeleton: its index, its gRPC service and its
//! role table (it reacts to no other service's events).

use std::path::PathBuf;

use contracts::applications::v1::{ApplicationsServiceServer, SERVICE_NAME};
use contracts::names::service;
use service_runtime::config::Consumes;
use service_runtime::launch::{Foundation, Process, Settings, StartError};
use service_runtime::{JwtConfig, ServerConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::grpc::ApplicationsApi;
use crate::index::Index;

/// The service's process: its name on the bus is the first part of its routing keys
/// (`applications.<EventType>`).
pub const PROCESS: Process = Process {
    name: service::APPLICATIONS,
    about: "The applications service of the grants platform: rounds, organisations, applications, review, decision",
    package: "grants.applications.v1",
    consumes: Consumes::Nothing,
};

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

impl From<Settings> for Config {
    fn from(settings: Settings) -> Config {
        Config { data_dir: settings.data_dir, server: settings.server, jwt: settings.jwt, amqp_uri: settings.amqp_uri }
    }
}

/// Where the service keeps its event log inside its data directory (beside `personal-data-keys/`).
pub use service_runtime::launch::log_dir;

/// Why the service could not start or stopped with a failure.
pub type RunError = StartError;

/// Serves the applications service on `listener` until `shutdown` is cancelled; then drains requests in
/// flight, stops the relay (which stores its cursor after outstanding confirms) and closes the log (every
/// acknowledged append is already on disk).
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let foundation = Foundation::open(PROCESS, &config.data_dir, &config.jwt, &config.server).await?;
    let index = Index::build(&foundation.log).map_err(StartError::Index)?;
    let (store, vault) = foundation.sealed_store()?;
    let bus = foundation.publish(config.amqp_uri.as_deref())?;
    let server = ApplicationsServiceServer::new(ApplicationsApi::new(store, index, vault));
    let api = service_runtime::grpc_api!(server, SERVICE_NAME, crate::access::table(), config.server);
    foundation.serve(listener, &config.server, api, Some(bus), shutdown).await
}
