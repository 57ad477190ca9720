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

use crate::disclosure::{DEFAULT_BOUND, Disclosure};
use crate::grpc::ProjectorApi;
use crate::models::Models;
use crate::perturbation::{DEVELOPMENT_SECRET, PerturbationError};
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

/// How shown indicator counts are perturbed (see [`crate::perturbation`]).
#[derive(Clone)]
pub struct PerturbationConfig {
    /// D: the largest perturbation either way; one of the bounds the bundled tables define (2 or 3).
    pub bound: u32,
    /// The per-installation secret of record keys, at least 32 bytes. Every replica and every rebuild of
    /// one installation must use the same one, or the published values change.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for PerturbationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerturbationConfig").field("bound", &self.bound).field("secret", &"<secret>").finish()
    }
}

impl PerturbationConfig {
    /// Bound 2 under a secret written in the source: for local runs and tests only, since anyone who
    /// reads it can compute every cell's perturbation.
    pub fn development() -> PerturbationConfig {
        PerturbationConfig { bound: DEFAULT_BOUND, secret: DEVELOPMENT_SECRET.to_vec() }
    }
}

/// The service's name on the bus: its queues are `projector.inbox` and `projector.dead-letters`.
pub const BUS_NAME: &str = "projector";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("`suppression_k` must be at least 1, is {0}")]
    SuppressionK(u32),
    #[error(transparent)]
    Perturbation(#[from] PerturbationError),
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

/// Serves the projector on `listener` until `shutdown` is cancelled, perturbing with the development
/// secret ([`PerturbationConfig::development`]): for local runs and tests. Production: [`run_with`].
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with(listener, config, PerturbationConfig::development(), shutdown).await
}

/// Serves the projector on `listener` until `shutdown` is cancelled.
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    perturbation: PerturbationConfig,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    if config.suppression_k == 0 {
        return Err(RunError::SuppressionK(0));
    }
    let disclosure = Disclosure::new(config.suppression_k, perturbation.bound, &perturbation.secret)?;
    if perturbation.secret == DEVELOPMENT_SECRET {
        tracing::warn!("published counts are perturbed under the development secret: set a secret of its own");
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

    let api = ProjectorApi::new(models.clone(), sources, disclosure);
    if let Some(format) = models.outdated_format() {
        // Queries of the old entries would fail until then; they keep being served meanwhile.
        tracing::warn!(
            format,
            current = crate::models::MODEL_FORMAT,
            "the read models were written by an earlier version: rebuilding them from the source logs"
        );
        api.start_rebuild().map_err(|e| open_error(e.to_string()))?;
    }
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
        checkpoints: None,
    };
    // Its own log stays empty, so there is never a head to sign: a configured checkpoint key is ignored
    // rather than announced as signing.
    if config.server.checkpoint.is_some() {
        tracing::info!("the projector records no events of its own and signs no checkpoints; ignoring the key");
    }
    let server = ServerConfig { checkpoint: None, ..config.server.clone() };
    let result = service_runtime::serve(listener, &server, auth, routes, serving, shutdown).await;
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
