//! One skeleton for every service: the process (`service_main`: common flags, tracing, the bound listener,
//! shutdown on signals) and what a service assembles around its own parts ([`Foundation`]: the token
//! verifier, its own log checked against its last signed checkpoint, the sealed event store, the bus,
//! serving). A service's `main.rs` names its [`Process`] and its `run`; its `service.rs` adds only its
//! gRPC service, its reactions and its index.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches};
use event_bus::{BrokerTls, BusConfig, LogReaction, Rejection};
use event_log::{EventLog, RecordedEvent};
use personal_data::KeyVault;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
pub use tonic::service::Routes;

use crate::authorization::{AccessTable, AuthLayer};
use crate::bus::ServiceBus;
use crate::command::EventStore;
use crate::config::{Consumes, JwtArgs, LogFormat, ServerArgs, SourceArg, default_port, init_tracing};
use crate::errors::ServiceError;
use crate::identity::{JwtConfig, TokenVerifier};
pub use crate::log_location::log_dir;
use crate::log_sources::LogSources;
use crate::metrics::{CheckpointCheck, Metrics};
use crate::sealing::{TextSealer, key_dir};
use crate::server::{CheckedSigner, ServeError, ServerConfig, Serving, check_log_against_checkpoint};

/// What names a service's process.
#[derive(Clone, Copy, Debug)]
pub struct Process {
    /// Its name on the bus and in its log service, the prefix of its environment variables (upper case),
    /// and the folder of its default data directory.
    pub name: &'static str,
    /// What `--help` says it is.
    pub about: &'static str,
    /// The protobuf package of its contract and events, whose annotations say which fields are free text.
    pub package: &'static str,
    /// Whose events it consumes: the `--source` names it takes.
    pub consumes: Consumes,
}

/// The flags every service takes; the service's own come from its flag type (see [`service_main`]).
#[derive(Debug, clap::Parser)]
struct CommonArgs {
    /// Address to serve gRPC on.
    #[arg(long)]
    listen: SocketAddr,
    /// Directory of the service's data: its event log in `log/`, and what else it keeps beside it.
    #[arg(long)]
    data_dir: PathBuf,
    /// AMQP URI of the message bus (the relay of its log, the consumer of the events it reacts to); for a
    /// cluster, every node's URI separated by commas (one vhost): connections fail over between them.
    #[arg(long, env = "GRANTS_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Run without the bus: its events wait in the log, and the events it consumes in its queue, until a
    /// run with the bus.
    #[arg(long)]
    without_bus: bool,
    /// The log service of a service whose events it consumes, NAME=URL; repeat per source. None: each at
    /// its default local address.
    #[arg(long = "source", value_name = "NAME=URL", value_delimiter = ',')]
    sources: Vec<SourceArg>,
    /// How logs are written to stderr: `text` lines, or `json`, one object per line.
    #[arg(long, env = "GRANTS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    jwt: JwtArgs,
    #[command(flatten)]
    tls: tls::ServiceTlsArgs,
}

/// A service that takes no flags of its own.
#[derive(Debug, clap::Args)]
pub struct NoFlags {}

/// The settings every service runs with, from the common flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where it listens (already bound: see [`Launched::listener`]).
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub jwt: JwtConfig,
    /// `None` runs without the bus.
    pub amqp_uri: Option<String>,
    /// The log services of the sources it consumes, by service name.
    pub source_logs: std::collections::BTreeMap<String, String>,
}

/// What a service's `run` is given by [`service_main`].
#[derive(Debug)]
pub struct Launched<F> {
    pub listener: TcpListener,
    pub settings: Settings,
    /// The service's own flags.
    pub flags: F,
    /// Cancelled on SIGTERM or ctrl-c.
    pub shutdown: CancellationToken,
}

/// Runs a service's process: parses the common flags and the service's own `F`, logs to stderr in the
/// `--log-format` asked for, binds the listener, cancels the shutdown token on SIGTERM or ctrl-c, and runs `run` until it returns.
pub fn service_main<F, R, Fut, E>(process: Process, run: R) -> anyhow::Result<()>
where
    F: Args + FromArgMatches,
    R: FnOnce(Launched<F>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let matches = command::<F>(process).get_matches();
    let parsed = CommonArgs::from_arg_matches(&matches).and_then(|common| Ok((common, F::from_arg_matches(&matches)?)));
    let (common, flags) = parsed.unwrap_or_else(|error| error.exit());
    init_tracing(common.log_format);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = crate::server::bind(common.listen).await?;
        let shutdown = CancellationToken::new();
        crate::server::cancel_on_signals(shutdown.clone());
        let tls = common.tls.load()?;
        let source_logs = source_logs(process, &common.sources, tls.client.is_some())?;
        let settings = Settings {
            listen: common.listen,
            source_logs,
            data_dir: common.data_dir,
            server: crate::server::ServerConfig { tls, ..common.server.to_config()? },
            jwt: common.jwt.to_config(),
            amqp_uri: (!common.without_bus).then_some(common.amqp_url),
        };
        run(Launched { listener, settings, flags, shutdown })
            .await
            .with_context(|| format!("{} service failed", process.name))
    })
}

/// The log addresses of the sources `process` consumes, from the `--source`s given; the default local
/// ones over TLS (`https://`) when it reads them with TLS.
fn source_logs(
    process: Process,
    given: &[SourceArg],
    tls: bool,
) -> Result<std::collections::BTreeMap<String, String>, crate::config::SourcesError> {
    let mut sources = process.consumes.resolve(process.name, given)?;
    if given.is_empty() && tls {
        sources.values_mut().for_each(|url| *url = url.replacen("http://", "https://", 1));
    }
    Ok(sources)
}

/// The command line of `process`: the common flags, with its own environment variables and defaults, and
/// its own flags `F`.
fn command<F: Args>(process: Process) -> clap::Command {
    let name = process.name;
    // clap keeps environment variable names and defaults as `'static`; they are made once per process.
    let fixed = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
    let prefix = name.to_uppercase();
    let port = default_port(name).unwrap_or(0);
    // After the service's flags: their type's own documentation would otherwise stand as the command's.
    let command = F::augment_args(CommonArgs::command()).name(name).about(process.about);
    command
        .mut_arg("listen", |arg| {
            arg.env(fixed(format!("{prefix}_LISTEN"))).default_value(fixed(format!("127.0.0.1:{port}"))).required(false)
        })
        .mut_arg("data_dir", |arg| {
            arg.env(fixed(format!("{prefix}_DATA_DIR"))).default_value(fixed(format!("./data/{name}"))).required(false)
        })
        .mut_arg("without_bus", |arg| arg.env(fixed(format!("{prefix}_WITHOUT_BUS"))))
        .mut_arg("metrics_listen", |arg| arg.env(fixed(format!("{prefix}_METRICS_LISTEN"))))
        .mut_arg("sources", |arg| {
            arg.env(fixed(format!("{prefix}_SOURCES"))).hide(matches!(process.consumes, Consumes::Nothing))
        })
        // Each service's own certificate and CAs: a shell that starts several services, or that also runs
        // `grants` with its GRANTS_TLS_* client settings, gives each its own.
        .mut_arg("tls_cert", |arg| arg.env(fixed(format!("{prefix}_TLS_CERT"))))
        .mut_arg("tls_key", |arg| arg.env(fixed(format!("{prefix}_TLS_KEY"))))
        .mut_arg("tls_client_ca", |arg| arg.env(fixed(format!("{prefix}_TLS_CLIENT_CA"))))
        .mut_arg("tls_ca", |arg| arg.env(fixed(format!("{prefix}_TLS_CA"))))
}

/// Why a service could not start, or stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Open(#[from] event_log::OpenError),
    #[error(transparent)]
    Keys(#[from] personal_data::VaultError),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error("cannot build the read index")]
    Index(#[source] ServiceError),
    #[error("cannot start the event bus")]
    Bus(#[from] event_bus::BusError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    MoveLog(#[from] crate::log_location::MoveError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsBindError),
}

/// What every service holds while it serves: the token verifier and its own log, which has been checked
/// against its last signed checkpoint before anything publishes or extends it.
pub struct Foundation {
    /// The service's own log.
    pub log: EventLog,
    process: Process,
    /// The data directory the log was opened in; the key vault is beside the log.
    data_dir: PathBuf,
    /// Issues the tokens with which its consumer reads other services' logs.
    jwt: JwtConfig,
    /// Its TLS as a client: of other services' logs and of the broker.
    tls: tls::ServiceTls,
    verifier: TokenVerifier,
    checkpoints: Option<CheckedSigner>,
    /// The service's metrics, served while the foundation lives when an endpoint is configured.
    metrics: Metrics,
    /// Stops serving the metrics and lets go of the log when the foundation goes.
    metrics_server: MetricsServer,
}

/// Stops the metrics server and lets go of the log once dropped.
#[derive(Debug)]
struct MetricsServer {
    metrics: Metrics,
    stop: CancellationToken,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.cancel();
        self.metrics.release();
    }
}

impl std::fmt::Debug for Foundation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Foundation").field("process", &self.process).field("log", &self.log).finish_non_exhaustive()
    }
}

impl Foundation {
    /// Opens the log of `process` in `data_dir`'s `log/` (moving it there first if an earlier
    /// version wrote it at the root) and checks it against its last signed checkpoint when `server` has a
    /// checkpoint key.
    pub async fn open(
        process: Process,
        data_dir: &Path,
        jwt: &JwtConfig,
        server: &ServerConfig,
    ) -> Result<Foundation, StartError> {
        let verifier = TokenVerifier::new(jwt)?;
        crate::log_location::move_root_log_into_log_dir(data_dir)?;
        let log = EventLog::open(log_dir(data_dir))?;
        // Before the bus starts: a log that no longer extends its last signed checkpoint is neither
        // published nor reacted to.
        let checkpoints = check_log_against_checkpoint(&log, process.name, server).await?;
        tracing::info!(data_dir = %data_dir.display(), events = log.next_position(), "event log opened");
        let metrics = Metrics::new();
        metrics.watch_log(&log);
        metrics.checkpoint_checked(checkpoints.as_ref().map_or(CheckpointCheck::NotConfigured, CheckedSigner::check));
        let metrics_server = CancellationToken::new();
        if let Some(endpoint) = &server.metrics {
            metrics.serve(endpoint, metrics_server.clone()).await?;
        }
        Ok(Foundation {
            log,
            process,
            data_dir: data_dir.to_owned(),
            jwt: jwt.clone(),
            tls: server.tls.clone(),
            verifier,
            checkpoints,
            metrics_server: MetricsServer { metrics: metrics.clone(), stop: metrics_server },
            metrics,
        })
    }

    /// The service's metrics, to which a service may add its own ([`Metrics::add_gauges`]).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The event store over the log whose events' free text is sealed under the keys in the service's data
    /// directory; and the key vault.
    pub fn sealed_store(&self) -> Result<(EventStore, KeyVault), StartError> {
        let vault = KeyVault::open(key_dir(&self.data_dir))?;
        let store = EventStore::with_sealer(self.log.clone(), TextSealer::new(vault.clone(), self.process.package))
            .counting_refusals(self.metrics.clone());
        Ok((store, vault))
    }

    /// The relay publishing the log on the bus at `amqp_uri` (none without a bus).
    pub fn publish(&self, amqp_uri: Option<&str>) -> Result<ServiceBus, StartError> {
        Ok(ServiceBus::publish(self.bus_config(amqp_uri), self.process.name, &self.log)?)
    }

    /// The bus at `amqp_uri` (none without a bus), over TLS when the service is configured for it: the
    /// broker's CA, and the service's own certificate as its client certificate.
    pub fn bus_config(&self, amqp_uri: Option<&str>) -> Option<BusConfig> {
        let tls = self.tls.broker.as_ref().map(|tls| {
            BrokerTls::from_pem(tls.ca.pem(), tls.identity.as_ref().map(|id| (id.cert_pem(), id.key_pem())))
        });
        amqp_uri.map(|uri| BusConfig::new(uri).with_tls(tls))
    }

    /// The source services' logs at `endpoints`, read with this service's tokens and TLS.
    pub fn log_sources(&self, endpoints: impl IntoIterator<Item = (String, String)>) -> LogSources {
        LogSources::new(endpoints, self.jwt.clone(), format!("service:{}", self.process.name))
            .with_tls(self.tls.client.clone())
    }

    /// The relay, and the consumer of the events of every service the process consumes, which appends
    /// what `react` makes of each (with `store`, given the source service it came from) to the log, together with its checkpoint. Gaps are filled
    /// from `source_logs`.
    pub fn publish_and_react<F>(
        &self,
        amqp_uri: Option<&str>,
        source_logs: &HashMap<String, String>,
        store: &EventStore,
        react: F,
    ) -> Result<ServiceBus, StartError>
    where
        F: Fn(&EventStore, &str, &RecordedEvent) -> Result<Option<LogReaction>, Rejection> + Send + Sync + 'static,
    {
        let store = store.clone();
        let reaction = move |source: &str, event: &RecordedEvent| react(&store, source, event);
        let sources = self.process.consumes.names();
        let readers = self.log_sources(source_logs.clone());
        Ok(self.publish(amqp_uri)?.consume(sources, &self.log, readers, reaction)?)
    }

    /// Serves `api` and the log read-only on `listener` until `shutdown`; then drains, stops `bus` (which
    /// saves its cursors), signs a last checkpoint if configured, and closes the log.
    pub async fn serve(
        self,
        listener: TcpListener,
        server: &ServerConfig,
        api: Api,
        bus: Option<ServiceBus>,
        shutdown: CancellationToken,
    ) -> Result<(), StartError> {
        let auth = AuthLayer::new(self.verifier, vec![api.access]).with_metrics(self.metrics.clone());
        let serving = Serving {
            service_names: &[api.service_name],
            file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
            log: self.log.clone(),
            log_owner: self.process.name,
            bus,
            checkpoints: self.checkpoints,
        };
        let result = crate::server::serve(listener, server, auth, api.routes, serving, shutdown).await;
        drop(self.metrics_server);
        drop(self.log);
        tracing::info!("event log closed");
        Ok(result?)
    }
}

/// A generated gRPC server (`$server`, e.g. `AwardsServiceServer::new(api)`) as an [`Api`] named
/// `$service_name`, called as `$access` allows, with the message-size limit of the `ServerConfig`
/// `$config` (tonic sets it per generated server, so it cannot be set once for all).
#[macro_export]
macro_rules! grpc_api {
    ($server:expr, $service_name:expr, $access:expr, $config:expr $(,)?) => {{
        let limit = $config.max_message_bytes;
        $crate::launch::Api {
            service_name: $service_name,
            routes: $crate::launch::Routes::new(
                $server.max_decoding_message_size(limit).max_encoding_message_size(limit),
            ),
            access: $access,
        }
    }};
}

/// A service's own gRPC service: its full name, its routes and who may call each RPC.
#[derive(Debug)]
pub struct Api {
    pub service_name: &'static str,
    pub routes: Routes,
    pub access: AccessTable,
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    const AWARDS: Process = Process {
        name: "awards",
        about: "awards",
        package: "grants.awards.v1",
        consumes: Consumes::Every(&["applications", "reporting"]),
    };

    fn parse(process: Process, args: &[&str]) -> Result<CommonArgs, clap::Error> {
        let matches = command::<NoFlags>(process).try_get_matches_from(args)?;
        CommonArgs::from_arg_matches(&matches)
    }

    #[test]
    fn a_service_listens_on_its_own_port_with_its_data_in_its_own_folder_unless_told_otherwise() {
        let defaults = parse(AWARDS, &["awards", "--jwt-secret", "secret"]).unwrap();
        assert_eq!(defaults.listen, "127.0.0.1:50052".parse::<SocketAddr>().unwrap());
        assert_eq!(defaults.data_dir, PathBuf::from("./data/awards"));
        assert!(!defaults.without_bus && defaults.sources.is_empty());
        assert_eq!(defaults.log_format, LogFormat::Text);
        let json = parse(AWARDS, &["awards", "--jwt-secret", "secret", "--log-format", "json"]).unwrap();
        assert_eq!(json.log_format, LogFormat::Json);
        let error = parse(AWARDS, &["awards", "--jwt-secret", "secret", "--log-format", "xml"]).unwrap_err();
        assert!(error.to_string().contains("--log-format"), "{error}");

        let given = parse(
            AWARDS,
            &["awards", "--jwt-secret", "secret", "--listen", "127.0.0.1:9", "--source", "applications=http://a"],
        )
        .unwrap();
        assert_eq!(given.listen, "127.0.0.1:9".parse::<SocketAddr>().unwrap());
        assert_eq!(given.sources, vec![SourceArg { name: "applications".into(), url: "http://a".into() }]);
        assert!(parse(AWARDS, &["awards", "--jwt-secret", "secret", "--source", "http://a"]).is_err());
    }

    #[test]
    fn the_default_source_addresses_are_https_when_sources_are_read_over_tls() {
        let plain = source_logs(AWARDS, &[], false).unwrap();
        assert_eq!(plain["applications"], "http://127.0.0.1:50051");
        let over_tls = source_logs(AWARDS, &[], true).unwrap();
        assert_eq!(over_tls["applications"], "https://127.0.0.1:50051");
        assert_eq!(over_tls["reporting"], "https://127.0.0.1:50053");
        // Given addresses are taken as they are: an http:// one with TLS is refused when it is read.
        let given = [
            SourceArg { name: "applications".into(), url: "http://a".into() },
            SourceArg { name: "reporting".into(), url: "https://r".into() },
        ];
        let taken = source_logs(AWARDS, &given, true).unwrap();
        assert_eq!((taken["applications"].as_str(), taken["reporting"].as_str()), ("http://a", "https://r"));
    }

    #[test]
    fn each_service_reads_environment_variables_of_its_own_name() {
        let command = command::<NoFlags>(AWARDS);
        let env_of = |id: &str| command.get_arguments().find(|arg| arg.get_id() == id).and_then(|arg| arg.get_env());
        assert_eq!(env_of("listen"), Some(OsStr::new("AWARDS_LISTEN")));
        assert_eq!(env_of("data_dir"), Some(OsStr::new("AWARDS_DATA_DIR")));
        assert_eq!(env_of("without_bus"), Some(OsStr::new("AWARDS_WITHOUT_BUS")));
        assert_eq!(env_of("sources"), Some(OsStr::new("AWARDS_SOURCES")));
        assert_eq!(env_of("metrics_listen"), Some(OsStr::new("AWARDS_METRICS_LISTEN")));
        assert_eq!(env_of("amqp_url"), Some(OsStr::new("GRANTS_AMQP_URL")));
        assert_eq!(env_of("log_format"), Some(OsStr::new("GRANTS_LOG_FORMAT")));
        // Its certificate and CAs are its own: never `grants`'s GRANTS_TLS_* client settings.
        assert_eq!(env_of("tls_cert"), Some(OsStr::new("AWARDS_TLS_CERT")));
        assert_eq!(env_of("tls_key"), Some(OsStr::new("AWARDS_TLS_KEY")));
        assert_eq!(env_of("tls_client_ca"), Some(OsStr::new("AWARDS_TLS_CLIENT_CA")));
        assert_eq!(env_of("tls_ca"), Some(OsStr::new("AWARDS_TLS_CA")));
        assert_eq!(env_of("amqp_tls_ca"), Some(OsStr::new("GRANTS_AMQP_TLS_CA")));
    }
}
