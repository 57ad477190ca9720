//! Serving: a tonic server with health and reflection, limits, timeouts and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;

use event_log::EventLog;

use crate::authorization::AuthLayer;
use crate::bus::{BusWatch, ServiceBus};

/// Limits and timeouts of a server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request or response message; apply it to the service with
    /// `max_decoding_message_size`/`max_encoding_message_size` (it is per generated service in tonic).
    pub max_message_bytes: usize,
    /// Most requests in flight across all connections; further requests wait.
    pub concurrency_limit: usize,
    /// Most requests in flight on one connection.
    pub concurrency_limit_per_connection: usize,
    /// A request that takes longer is cancelled (`CANCELLED`).
    pub request_timeout: Duration,
    /// After shutdown is requested, how long in-flight requests may still run.
    pub drain_timeout: Duration,
    /// Sign the log's head with this key (a signed checkpoint event) at start, periodically and at shutdown.
    /// With it, the service first checks that its log still extends the last checkpoint recorded in it
    /// ([`check_log_against_checkpoint`]), and refuses to start if it does not.
    pub checkpoint: Option<CheckpointConfig>,
    /// TLS: what it serves with (mutual TLS with a client CA), what it reads other services' logs with,
    /// and what it connects to the broker with. The default is plaintext throughout.
    pub tls: tls::ServiceTls,
    /// Where to serve Prometheus metrics over HTTP; `None` serves none (see [`crate::metrics`]).
    pub metrics: Option<crate::metrics::MetricsEndpoint>,
}

/// How a service signs checkpoints of its log (`proto/grants/eventlog/v1/checkpoint.proto`).
#[derive(Clone)]
pub struct CheckpointConfig {
    /// Ed25519 private key seed.
    pub seed: [u8; 32],
    /// Public keys the service signed with before `seed`'s: at start, its last checkpoint may be signed by
    /// one of them (after a change of key).
    pub previous_public_keys: Vec<[u8; 32]>,
    /// How often to sign when new events arrived.
    pub interval: Duration,
}

impl std::fmt::Debug for CheckpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointConfig")
            .field("seed", &"<redacted>")
            .field("previous_public_keys", &self.previous_public_keys.iter().map(hex::encode).collect::<Vec<_>>())
            .field("interval", &self.interval)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: 4 * 1024 * 1024,
            concurrency_limit: 256,
            concurrency_limit_per_connection: 64,
            request_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            checkpoint: None,
            tls: tls::ServiceTls::default(),
            metrics: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serve over TLS: {0}")]
    Tls(#[source] tonic::transport::Error),
    #[error("reflection service could not be built: {0}")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// Reading the listener's address or serving failed.
    #[error("server failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Checkpoint signing is configured and the log does not (or could not be shown to) extend the last
    /// checkpoint recorded in it: signing its head now would vouch for a log cut short or rewritten.
    #[error("refusing to start: the {service} log does not extend its last signed checkpoint: {source}")]
    LogDoesNotExtendCheckpoint {
        service: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A checkpoint key is configured but `serve` was given no signer: the service skipped
    /// [`check_log_against_checkpoint`], and would otherwise run without signing.
    #[error("refusing to start: a checkpoint key is configured but the {service} log was not checked against it")]
    UncheckedLog { service: &'static str },
}

/// Binds a listener (port 0 picks a free port; see `local_addr`).
pub async fn bind(address: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address).await.map_err(|source| ServeError::Bind { address, source })
}

/// What to serve besides the service routes.
#[derive(Debug)]
pub struct Serving<'a> {
    /// Full names of the services to report as SERVING in the health service.
    pub service_names: &'a [&'static str],
    /// Encoded `FileDescriptorSet` for the reflection service.
    pub file_descriptor_set: &'static [u8],
    /// The service's own event log, served read-only through `grants.eventlog.v1.EventLogService` so that
    /// auditors and the projector can replay and verify it.
    pub log: EventLog,
    /// The name the log's owner goes by on the bus and in `LogHead` answers, e.g. `applications`.
    pub log_owner: &'static str,
    /// The service's relay and consumer, if it runs them: stopped after the drain and before the last
    /// checkpoint is signed, so that the last checkpoint covers the consumer's last reactions too.
    pub bus: Option<crate::ServiceBus>,
    /// What [`check_log_against_checkpoint`] returned: signs checkpoints from the start, periodically and
    /// once more after the drain; `None` signs nothing.
    pub checkpoints: Option<CheckedSigner>,
}

/// Serves `routes` on `listener` until `shutdown` is cancelled, then stops accepting, reports NOT_SERVING,
/// and drains in-flight requests for at most `drain_timeout`; then stops the service's bus, if given, and
/// signs a last checkpoint, if configured. The caller then closes its log.
pub async fn serve(
    listener: TcpListener,
    config: &ServerConfig,
    auth: AuthLayer,
    routes: Routes,
    serving: Serving<'_>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let Serving { service_names, file_descriptor_set, log, log_owner, bus, checkpoints } = serving;
    if config.checkpoint.is_some() && checkpoints.is_none() {
        // A service that skipped the check (a defect of the service, not of its log): stop what it started.
        if let Some(bus) = bus {
            bus.stop().await;
        }
        return Err(ServeError::UncheckedLog { service: log_owner });
    }
    let mut names: Vec<&'static str> = service_names.to_vec();
    names.extend([event_log_grpc::SERVICE_NAME, contracts::operations::v1::SERVICE_NAME]);
    // A server given no bus runs without one, its log's backlog waiting at the stored cursor.
    let watch = bus.as_ref().map_or_else(|| BusWatch::without_bus(log_owner, &log), ServiceBus::watch);
    // The metrics read the very watch the operations service answers from.
    if let Some(metrics) = auth.metrics() {
        metrics.watch_bus(watch.clone());
    }
    let shared = Shared { file_descriptor_set, log, log_owner, bus: watch };
    let (routes, health) = with_shared_services(routes, config, shared, &names).await?;
    let signer = match checkpoints {
        Some(checkpoints) => Some(start_signing(checkpoints).await),
        None => None,
    };

    let address = listener.local_addr().map_err(|e| ServeError::Transport(e.into()))?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let metrics = auth.metrics().cloned().map(|metrics| {
        let auth = auth.clone();
        crate::metrics::GrpcMetricsLayer::new(metrics, move |path| auth.serves(path))
    });
    let builder = match &config.tls.server {
        Some(tls) => Server::builder().tls_config(tls.tonic_config()).map_err(ServeError::Tls)?,
        None => Server::builder(),
    };
    let server = builder
        .timeout(config.request_timeout)
        .concurrency_limit_per_connection(config.concurrency_limit_per_connection)
        // Outermost: every request is logged once, refused ones too, and runs in its trace.
        .layer(crate::request_log::RequestLogLayer::new(log_owner))
        .layer(tower::util::option_layer(metrics))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(config.concurrency_limit))
        .layer(crate::message_limit::MessageLimitLayer)
        .layer(auth)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, not_serving_once_cancelled(shutdown.clone(), health, names));
    let tls = match &config.tls.server {
        Some(tls) if tls.mutual() => "mutual TLS",
        Some(_) => "TLS",
        None => "plaintext",
    };
    tracing::info!(%address, tls, "serving gRPC");
    let served = drain_within(server, shutdown, config.drain_timeout).await;

    if let Some(bus) = bus {
        bus.stop().await;
    }
    if let Some((signer, stop)) = signer {
        stop.cancel();
        let _ = signer.await;
    }
    served?;
    tracing::info!("server stopped");
    Ok(())
}

/// What every server serves besides its service's routes.
struct Shared {
    file_descriptor_set: &'static [u8],
    log: EventLog,
    log_owner: &'static str,
    bus: BusWatch,
}

/// `routes` and what every service serves besides: its log read-only, how its bus stands, health (every
/// one of `names` reported SERVING, through the reporter returned) and reflection.
async fn with_shared_services(
    routes: Routes,
    config: &ServerConfig,
    Shared { file_descriptor_set, log, log_owner, bus }: Shared,
    names: &[&'static str],
) -> Result<(Routes, tonic_health::server::HealthReporter), ServeError> {
    let (health, health_service) = report_serving(names).await;
    let (reflection_v1, reflection_v1alpha) = reflection(file_descriptor_set)?;
    let log_service = event_log_grpc::LogService::new(log, log_owner)
        .into_server()
        .max_encoding_message_size(config.max_message_bytes.max(event_log_grpc::MIN_MESSAGE_BYTES));
    let routes = routes
        .add_service(log_service)
        .add_service(crate::operations::Operations::new(bus).into_server())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok((routes, health))
}

/// The health service, with every one of `names` reported SERVING.
async fn report_serving(
    names: &[&'static str],
) -> (
    tonic_health::server::HealthReporter,
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) {
    let (health, health_service) = tonic_health::server::health_reporter();
    for name in names {
        health.set_service_status(*name, tonic_health::ServingStatus::Serving).await;
    }
    (health, health_service)
}

/// Once `shutdown` is cancelled, reports every one of `names` NOT_SERVING; then the server stops accepting.
async fn not_serving_once_cancelled(
    shutdown: CancellationToken,
    health: tonic_health::server::HealthReporter,
    names: Vec<&'static str>,
) {
    shutdown.cancelled().await;
    tracing::info!("shutdown requested: no new connections, draining requests in flight");
    for name in names {
        health.set_service_status(name, tonic_health::ServingStatus::NotServing).await;
    }
}

/// The reflection services (v1 and v1alpha) over the service's descriptors, the log's and, in v1, health's.
fn reflection(
    file_descriptor_set: &'static [u8],
) -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServeError,
> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(file_descriptor_set)
        .register_encoded_file_descriptor_set(event_log_grpc::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(ServeError::Reflection)?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(file_descriptor_set)
        .register_encoded_file_descriptor_set(event_log_grpc::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(ServeError::Reflection)?;
    Ok((v1, v1alpha))
}

/// Starts signing checkpoints periodically; cancelling the token signs once more and ends the task.
async fn start_signing(
    CheckedSigner { signer, interval, .. }: CheckedSigner,
) -> (tokio::task::JoinHandle<()>, CancellationToken) {
    tracing::info!(public_key = %hex::encode(signer.public_key()), "signing log checkpoints");
    // The head at start is signed before serving, so that no request races the signature at start.
    signer.sign_and_log().await;
    // Its own token: it signs once more after the server has drained, so the last head is covered.
    let stop = CancellationToken::new();
    (tokio::spawn(signer.follow(interval, stop.clone())), stop)
}

/// Runs `server` until it has drained after `shutdown`, giving requests still in flight at most
/// `drain_timeout` after it.
async fn drain_within(
    server: impl std::future::Future<Output = Result<(), tonic::transport::Error>>,
    shutdown: CancellationToken,
    drain_timeout: Duration,
) -> Result<(), ServeError> {
    let deadline = async move {
        shutdown.cancelled().await;
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::select! {
        result = server => result.map_err(|e| ServeError::Transport(e.into())),
        () = deadline => {
            tracing::warn!(?drain_timeout, "requests still in flight after the drain timeout; stopping");
            Ok(())
        }
    }
}

/// A service's checkpoint signer, made once its log was shown to extend the last checkpoint recorded in it.
#[derive(Debug)]
pub struct CheckedSigner {
    signer: event_log_grpc::CheckpointSigner,
    interval: Duration,
    /// Whether the log held a signed checkpoint that it was shown to extend.
    found_checkpoint: bool,
}

impl CheckedSigner {
    /// What the check found, for the metrics.
    pub fn check(&self) -> crate::metrics::CheckpointCheck {
        if self.found_checkpoint {
            crate::metrics::CheckpointCheck::Extends
        } else {
            crate::metrics::CheckpointCheck::NoCheckpoint
        }
    }
}

/// With a checkpoint key in `config`, checks that `log` (of the service `service`) still extends the last
/// checkpoint recorded in it (see `CheckpointSigner::check_log_extends_last_checkpoint`) and returns the
/// signer to give `serve` ([`Serving::checkpoints`]); `None` without a key. A service calls it right after
/// opening its log, before its relay publishes the log or its consumer appends to it, so that a log that
/// fails is neither published nor extended: the service refuses to start with the error.
pub async fn check_log_against_checkpoint(
    log: &EventLog,
    service: &'static str,
    config: &ServerConfig,
) -> Result<Option<CheckedSigner>, ServeError> {
    let Some(checkpoint) = &config.checkpoint else { return Ok(None) };
    let signer = event_log_grpc::CheckpointSigner::new(log.clone(), service, &checkpoint.seed);
    let refused =
        |source: Box<dyn std::error::Error + Send + Sync>| ServeError::LogDoesNotExtendCheckpoint { service, source };
    let previous_keys = checkpoint.previous_public_keys.clone();
    // Reads and rehashes every event since the last checkpoint: off the async threads.
    let (signer, checked) = tokio::task::spawn_blocking(move || {
        let checked = signer.check_log_extends_last_checkpoint(&previous_keys);
        (signer, checked)
    })
    .await
    .map_err(|e| refused(CheckDidNotFinish(e).into()))?;
    let found_checkpoint = match checked {
        Ok(Some(last)) => {
            tracing::info!(position = last.position, hash = %last.head_hash, "the log extends its last signed checkpoint");
            true
        }
        Ok(None) => {
            tracing::info!("the log holds no signed checkpoint yet");
            false
        }
        Err(error) => return Err(refused(error.into())),
    };
    Ok(Some(CheckedSigner { signer, interval: checkpoint.interval, found_checkpoint }))
}

/// The checkpoint check's task ended without an answer (it panicked or was cancelled).
#[derive(Debug, thiserror::Error)]
#[error("the check did not finish: {0}")]
struct CheckDidNotFinish(#[source] tokio::task::JoinError);

/// Waits for a background task of the service (relay, consumer) that was told to stop, and logs how it
/// ended: services stop them after the server has drained.
pub async fn join_stopped<T, E: std::fmt::Display>(what: &str, task: tokio::task::JoinHandle<Result<T, E>>) {
    match task.await {
        Ok(Ok(_)) => tracing::info!("{what} stopped"),
        Ok(Err(e)) => tracing::error!(error = %e, "{what} failed"),
        Err(e) => tracing::error!(error = %e, "{what} task failed"),
    }
}

/// Cancels `token` on SIGTERM or ctrl-c.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => tracing::info!("ctrl-c received"),
            () = terminate => tracing::info!("SIGTERM received"),
            () = token.cancelled() => return,
        }
        token.cancel();
    });
}
