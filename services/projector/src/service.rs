//! What the projector adds to the runtime's skeleton: its read models, its flags (disclosure control), its
//! query service and role table, and its bus consumer writing read models; on shutdown the runtime stops
//! the consumer (which acks only what it committed) and the models are flushed.
//!
//! The projector owns no event log. The runtime serves every service's log read-only; the projector
//! serves an empty log of its own (`log_owner` "projector") so that the same server shape and health
//! checks hold everywhere.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use contracts::names::service;
use contracts::projector::v1::{ProjectorServiceServer, SERVICE_NAME};
use domain_kernel::Role;
use service_runtime::config::Consumes;
use service_runtime::launch::{Foundation, Process, Settings, StartError};
use service_runtime::{JwtConfig, LogSources, ServerConfig, ServiceBus};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::disclosure::{DEFAULT_BOUND, Disclosure};
use crate::grpc::ProjectorApi;
use crate::models::Models;
use crate::perturbation::{DEVELOPMENT_SECRET, PerturbationError};
use crate::projection::SOURCES;
use crate::replica::{ReplicaName, ReplicaNameError, consumer_name};

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
    /// The replica's name, when several projectors consume the same broker: its queues are
    /// `projector.<replica>.inbox` and `projector.<replica>.dead-letters`; `None` keeps `projector.inbox`
    /// and `projector.dead-letters`.
    pub replica: Option<ReplicaName>,
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

/// The projector's process: its queues are `projector.inbox` and `projector.dead-letters`, or those of its
/// replica name ([`crate::replica`]). It consumes the sources it is given an address for (every one when
/// none is given).
pub const PROCESS: Process = Process {
    name: service::PROJECTOR,
    about: "The projector of the grants platform: read models from every service's events, rebuildable, as of any date",
    package: "grants.projector.v1",
    consumes: Consumes::Given(&SOURCES),
};

/// The subject the projector reads source logs as.
pub const READER_SUBJECT: &str = "service:projector";

/// The source services' logs at `endpoints` (by source name, `http://host:port`) as the projector reads
/// them: for rebuilds, as-of answers, lag and its consumer's gaps.
pub fn source_logs(endpoints: BTreeMap<String, String>, jwt: JwtConfig) -> LogSources {
    // Reading whole logs is for auditors, administrators and program officers; the projector operates the
    // platform, and a rebuild's reads may outlast an auditor's short token.
    LogSources::new(endpoints, jwt, READER_SUBJECT).reading_as(Role::Administrator, Duration::from_secs(3600))
}

/// The projector's own flags.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// Small-cell suppression threshold k: indicator counts 1..k-1 are withheld.
    #[arg(long, env = "PROJECTOR_SUPPRESSION_K", default_value_t = 5)]
    pub suppression_k: u32,
    /// Perturbation bound D: every shown indicator count is within D of the exact count (2 or 3).
    #[arg(long, env = "PROJECTOR_PERTURBATION_BOUND", default_value_t = DEFAULT_BOUND)]
    pub perturbation_bound: u32,
    /// Secret of the record keys that pick each count's perturbation, at least 32 bytes; the same for
    /// every replica and kept across rebuilds. Required unless listening on a loopback address, where a
    /// development secret is used (with a warning).
    #[arg(long, env = "PROJECTOR_PERTURBATION_SECRET", hide_env_values = true)]
    pub perturbation_secret: Option<String>,
    /// This replica's name, when several projectors run side by side (each with its own data directory):
    /// its queues become `projector.NAME.inbox` and `projector.NAME.dead-letters`. 1 to 32 lowercase
    /// letters, digits and '-'. Unset: `projector.inbox`, as a single projector always had.
    #[arg(long, env = "PROJECTOR_REPLICA", value_name = "NAME")]
    pub replica: Option<String>,
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

/// Why the projector could not start or stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("`suppression_k` must be at least 1, is {0}")]
    SuppressionK(u32),
    #[error(transparent)]
    Perturbation(#[from] PerturbationError),
    #[error(transparent)]
    Replica(#[from] ReplicaNameError),
    #[error("`source_logs` names unknown source `{0}`; sources are applications, awards, reporting")]
    UnknownSource(String),
    #[error(
        "--perturbation-secret (PROJECTOR_PERTURBATION_SECRET) is required when listening on {0}, which is not a \
         loopback address: published counts need a secret of their own, the same for every replica"
    )]
    PerturbationSecretMissing(std::net::SocketAddr),
    #[error("cannot open the read models in {path}: {error}")]
    Open { path: PathBuf, error: String },
    #[error(transparent)]
    Start(#[from] StartError),
}

impl Config {
    /// The configuration from the common settings and the projector's own flags; refuses a replica name
    /// that breaks the rules, naming the flag.
    pub fn new(settings: Settings, flags: &Flags) -> Result<Config, RunError> {
        Ok(Config {
            data_dir: settings.data_dir,
            server: settings.server,
            jwt: settings.jwt,
            amqp_uri: settings.amqp_uri,
            source_logs: settings.source_logs,
            suppression_k: flags.suppression_k,
            replica: flags.replica.as_deref().map(ReplicaName::parse).transpose()?,
        })
    }
}

impl PerturbationConfig {
    /// The perturbation settings of the flags; without a secret, the development one, but only on a
    /// loopback address: a projector reachable from elsewhere would publish counts whose noise anyone can
    /// compute.
    pub fn of_flags(flags: &Flags, listen: std::net::SocketAddr) -> Result<PerturbationConfig, RunError> {
        let bound = flags.perturbation_bound;
        match &flags.perturbation_secret {
            Some(secret) => Ok(PerturbationConfig { bound, secret: secret.as_bytes().to_vec() }),
            None if listen.ip().is_loopback() => {
                tracing::warn!(
                    "no --perturbation-secret (PROJECTOR_PERTURBATION_SECRET): using the development secret, \
                     acceptable on a loopback address only"
                );
                Ok(PerturbationConfig { bound, ..PerturbationConfig::development() })
            }
            None => Err(RunError::PerturbationSecretMissing(listen)),
        }
    }
}

/// Serves the projector on `listener` until `shutdown` is cancelled, perturbing with the development
/// secret ([`PerturbationConfig::development`]): for local runs and tests. Production: [`run_with`].
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    Box::pin(run_with(listener, config, PerturbationConfig::development(), shutdown)).await
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
    let open_error = |error: String| RunError::Open { path: config.data_dir.clone(), error };
    let db =
        event_log::open_sled_when_unlocked(config.data_dir.join("models")).map_err(|e| open_error(e.to_string()))?;
    let models = Models::open(db).map_err(|e| open_error(e.to_string()))?;
    // Its own log stays empty, so there is never a head to sign: a configured checkpoint key is ignored
    // rather than announced as signing.
    if config.server.checkpoint.is_some() {
        tracing::info!("the projector records no events of its own and signs no checkpoints; ignoring the key");
    }
    let server_config = ServerConfig { checkpoint: None, ..config.server.clone() };
    let foundation = Foundation::open(PROCESS, &config.data_dir, &config.jwt, &server_config).await?;
    let sources =
        source_logs(config.source_logs.clone(), config.jwt.clone()).with_tls(config.server.tls.client.clone());
    let consumer = consumer_name(config.replica.as_ref());
    tracing::info!(
        data_dir = %config.data_dir.display(),
        generation = models.active().number,
        queue = %event_bus::ConsumerConfig::default_queue(&consumer),
        "read models opened"
    );

    let consumed: Vec<&str> = SOURCES.iter().copied().filter(|s| sources.has(s)).collect();
    let consumed = if consumed.is_empty() { SOURCES.to_vec() } else { consumed };
    // The consumer writes read models, not the projector's own log: it has no relay.
    let bus = ServiceBus::without_relay(foundation.bus_config(config.amqp_uri.as_deref()), consumer)
        .consume_into(&consumed, models.handler(), sources.clone())
        .map_err(StartError::Bus)?;

    let api = ProjectorApi::new(models.clone(), sources, disclosure);
    api.show_rebuilds_in(foundation.metrics());
    if let Some(format) = models.outdated_format() {
        // Queries of the old entries would fail until then; they keep being served meanwhile.
        tracing::warn!(
            format,
            current = crate::models::MODEL_FORMAT,
            "the read models were written by an earlier version: rebuilding them from the source logs"
        );
        api.start_rebuild().map_err(|e| open_error(e.to_string()))?;
    }
    let server = ProjectorServiceServer::new(api);
    let api = service_runtime::grpc_api!(server, SERVICE_NAME, crate::access::table(), config.server);
    let result = foundation.serve(listener, &server_config, api, Some(bus), shutdown).await;
    if let Err(e) = models.flush().await {
        tracing::error!(error = %e, "flushing the read models failed");
    }
    Ok(result?)
}
