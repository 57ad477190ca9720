//! Assembling the service: open the read models, consume the source services' events from the bus,
//! serve the query API; on shutdown stop the consumer (which acks only what it committed) and flush.
//!
//! The projector owns no event log. The runtime serves every service's log read-only; the projector
//! serves an empty log of its own (`log_owner` "projector") so that the same server shape and health
//! checks hold everywhere.

use std::collections::BTreeMap;
use std::path::PathBuf;

use contracts::projector::v1::{ProjectorServiceServer, SERVICE_NAME};
use event_bus::{BusConfig, Consumer, ConsumerConfig};
use event_log::EventLog;
use service_runtime::{AuthLayer, JwtConfig, LogSources, ServerConfig, Serving, TokenVerifier};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::grpc::ProjectorApi;
use crate::models::Models;
use crate::projection::SOURCES;
use crate::sources::{READER_SUBJECT, SourceLogs};

/// Everything the service needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of the read models (sled).
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub jwt: JwtConfig,
    /// AMQP URI of the message bus; `None` serves the current models without consuming.
    pub amqp_uri: Option<String>,
    /// Addresses of the source services' log gRPC services, by source name.
    pub source_logs: BTreeMap<String, String>,
    /// Small-cell suppression threshold: counts 1..k-1 are withheld.
    pub suppression_k: u32,
}

/// The service's name on the bus: its queues are `projector.inbox` and `projector.dead-letters`.
pub const BUS_NAME: &str = "projector";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("`suppression_k` must be at least 1, is {0}")]
    SuppressionK(u32),
    #[error("`source_logs` names unknown source `{0}`; sources are applications, awards, reporting")]
    UnknownSource(String),
    #[error("cannot open the read models in {path}: {error}")]
    Open { path: PathBuf, error: String },
    #[error(transparent)]
    Identity(#[from] service_runtime::identity::IdentityError),
    #[error("cannot start the event bus: {0}")]
    Bus(event_bus::BusError),
    #[error(transparent)]
    Serve(#[from] service_runtime::server::ServeError),
}

/// Serves the projector on `listener` until `shutdown` is cancelled.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    if config.suppression_k == 0 {
        return Err(RunError::SuppressionK(0));
    }
    if let Some(unknown) = config.source_logs.keys().find(|s| !SOURCES.contains(&s.as_str())) {
        return Err(RunError::UnknownSource(unknown.clone()));
    }
    let verifier = TokenVerifier::new(&config.jwt)?;
    let open_error = |error: String| RunError::Open { path: config.data_dir.clone(), error };
    let db =
        event_log::open_sled_when_unlocked(config.data_dir.join("models")).map_err(|e| open_error(e.to_string()))?;
    let models = Models::open(db).map_err(|e| open_error(e.to_string()))?;
    let own_log = EventLog::open(config.data_dir.join("log")).map_err(|e| open_error(e.to_string()))?;
    let sources = SourceLogs::new(config.source_logs.clone(), config.jwt.clone());
    tracing::info!(data_dir = %config.data_dir.display(), generation = models.active().number, "read models opened");

    let bus_shutdown = CancellationToken::new();
    let mut consumer = None;
    if let Some(uri) = &config.amqp_uri {
        let names: Vec<&str> = SOURCES.iter().copied().filter(|s| sources.has(s)).collect();
        let names = if names.is_empty() { SOURCES.to_vec() } else { names };
        let consumer_config = ConsumerConfig::new(BusConfig::new(uri.clone()), BUS_NAME, &names);
        // Gap filling reads with the runtime's shared reader (auditor tokens, one connection per gap).
        let gaps =
            LogSources::new(config.source_logs.clone().into_iter().collect(), config.jwt.clone(), READER_SUBJECT);
        let applier = Consumer::new(consumer_config, models.handler(), gaps).map_err(RunError::Bus)?;
        consumer = Some(tokio::spawn(applier.run(bus_shutdown.clone())));
    } else {
        let queue = ConsumerConfig::default_queue(BUS_NAME);
        tracing::warn!(
            %queue,
            "running without the bus: the read models are not updated; events wait in queue {queue} until a run \
             with the bus"
        );
    }

    let api = ProjectorApi::new(models.clone(), sources, config.suppression_k);
    let service = ProjectorServiceServer::new(api)
        .max_decoding_message_size(config.server.max_message_bytes)
        .max_encoding_message_size(config.server.max_message_bytes);
    let routes = tonic::service::Routes::new(service);
    let auth = AuthLayer::new(verifier, vec![crate::access::table()]);
    let serving = Serving {
        service_names: &[SERVICE_NAME],
        file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
        log: own_log.clone(),
        log_owner: BUS_NAME,
        // Its consumer writes read models, not this log: it is stopped below.
        bus: None,
    };
    let result = service_runtime::serve(listener, &config.server, auth, routes, serving, shutdown).await;
    bus_shutdown.cancel();
    if let Some(consumer) = consumer {
        service_runtime::server::join_stopped("event consumer", consumer).await;
    }
    if let Err(e) = models.flush().await {
        tracing::error!(error = %e, "flushing the read models failed");
    }
    drop(own_log);
    Ok(result?)
}
