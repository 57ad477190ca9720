//! A service started in this process on a loopback port, with its data in a temporary directory, until it
//! is stopped: [`Running`] takes any service's `run` and configuration, and the `start_*!` macros fill
//! them in for each service with the settings every suite uses. [`serve_log`] serves a log alone,
//! read-only, as every service serves its own.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use event_log::EventLog;
use service_runtime::ServerConfig;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The server settings of every service a test starts: the defaults with a short drain, so that stopping
/// a service with clients still connected does not hold the test up.
pub fn server_config() -> ServerConfig {
    ServerConfig { drain_timeout: Duration::from_secs(2), ..ServerConfig::default() }
}

/// A listener on a free loopback port.
pub async fn listen() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// The `http://` URL of `listener`: services that read each other's logs need the other's address before
/// it runs.
pub fn url_of(listener: &TcpListener) -> String {
    format!("http://{}", listener.local_addr().unwrap())
}

/// A new temporary directory for a service's data, removed when dropped.
pub fn data_dir() -> TempDir {
    tempfile::tempdir().unwrap()
}

/// A connected channel to `url`.
pub async fn connect(url: &str) -> Channel {
    Channel::from_shared(url.to_owned()).unwrap().connect().await.unwrap()
}

/// Serves `log` read-only as `owner`'s `EventLogService` on a loopback port until `shutdown` (with the
/// message size limit every service sets for it); returns its `http://` URL.
pub async fn serve_log(log: EventLog, owner: &str, shutdown: CancellationToken) -> String {
    let listener = listen().await;
    let url = url_of(&listener);
    let service = event_log_grpc::LogService::new(log, owner)
        .into_server()
        .max_encoding_message_size(event_log_grpc::MIN_MESSAGE_BYTES);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
            .unwrap();
    });
    url
}

/// A service running in this process until stopped.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub address: SocketAddr,
    /// The temporary directory holding its data (in the folder named after the service).
    pub dir: TempDir,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Running {
    /// Starts `service` on `listener` (see [`listen`]) with its data in `dir/<service>`: `config` is given
    /// that data directory, `run` (the service's own) the listener, the configuration and the shutdown
    /// token. An error from `run` fails the test when the service is stopped.
    pub fn start<C, R, Fut, E>(
        listener: TcpListener,
        service: &'static str,
        dir: TempDir,
        run: R,
        config: impl FnOnce(PathBuf) -> C,
    ) -> Running
    where
        R: FnOnce(TcpListener, C, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Debug,
    {
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let serving = run(listener, config(dir.path().join(service)), shutdown.clone());
        let handle = tokio::spawn(async move {
            if let Err(error) = serving.await {
                panic!("{service} service runs: {error:?}");
            }
        });
        Running { address, dir, shutdown, handle }
    }

    /// Its `http://` URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A connected channel to it.
    pub async fn channel(&self) -> Channel {
        connect(&self.url()).await
    }

    /// A connected client of it, made by `new` (a generated client's `new`).
    pub async fn client<C>(&self, new: impl FnOnce(Channel) -> C) -> C {
        new(self.channel().await)
    }

    /// Shuts the service down gracefully and waits until its log is closed; returns the data directory.
    pub async fn stop(self) -> TempDir {
        self.shutdown.cancel();
        self.handle.await.unwrap();
        self.dir
    }
}

/// The three services that own logs (applications, awards, reporting), on one bus, each filling gaps from
/// the log services of the others it consumes, as in production (see [`start_sources!`](crate::start_sources)).
#[derive(Debug)]
pub struct Sources {
    /// The applications service.
    pub applications: Running,
    /// The awards service, consuming applications and reporting.
    pub awards: Running,
    /// The reporting service, consuming awards.
    pub reporting: Running,
}

impl Sources {
    /// Their log services' URLs by source name, as the projector takes them.
    pub fn urls(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("applications".to_owned(), self.applications.url()),
            ("awards".to_owned(), self.awards.url()),
            ("reporting".to_owned(), self.reporting.url()),
        ])
    }
}

// The starters below are macros rather than functions: they name a service's crate, which this crate
// cannot depend on (every service takes it as a dev-dependency), so they expand in the suite that does.
// Their arguments are bound before the configuration closure, so that they may await.

/// Starts the applications service on `listener` with its data (log and keys) in `dir/applications`, on
/// the bus at `amqp_uri` (an `Option<String>`) if given; evaluates to a [`Running`].
#[macro_export]
macro_rules! start_applications {
    ($listener:expr, $dir:expr, $amqp_uri:expr $(,)?) => {{
        let amqp_uri = $amqp_uri;
        $crate::Running::start($listener, "applications", $dir, ::applications::service::run, |data_dir| {
            ::applications::service::Config {
                data_dir,
                server: $crate::services::server_config(),
                jwt: $crate::jwt(),
                amqp_uri,
            }
        })
    }};
}

/// Starts the awards service on `listener` with its log in `dir/awards`, on the bus at `amqp_uri` if
/// given, filling gaps from the log services in `source_logs` (by source name); evaluates to a
/// [`Running`].
#[macro_export]
macro_rules! start_awards {
    ($listener:expr, $dir:expr, $amqp_uri:expr, $source_logs:expr $(,)?) => {{
        let (amqp_uri, source_logs) = ($amqp_uri, $source_logs);
        $crate::Running::start($listener, "awards", $dir, ::awards::service::run, |data_dir| {
            ::awards::service::Config {
                data_dir,
                server: $crate::services::server_config(),
                jwt: $crate::jwt(),
                amqp_uri,
                source_logs,
            }
        })
    }};
}

/// Starts the reporting service on `listener` with its log in `dir/reporting` and the embedded indicator
/// catalogue, on the bus at `amqp_uri` if given, filling gaps from the log services in `source_logs`;
/// evaluates to a [`Running`].
#[macro_export]
macro_rules! start_reporting {
    ($listener:expr, $dir:expr, $amqp_uri:expr, $source_logs:expr $(,)?) => {{
        let (amqp_uri, source_logs) = ($amqp_uri, $source_logs);
        $crate::Running::start($listener, "reporting", $dir, ::reporting::service::run, |data_dir| {
            ::reporting::service::Config {
                data_dir,
                server: $crate::services::server_config(),
                jwt: $crate::jwt(),
                amqp_uri,
                source_logs,
                indicators: None,
            }
        })
    }};
}

/// Starts the applications, awards and reporting services on the bus at `amqp_uri` (a `String`), each
/// with its data in a directory of its own; evaluates to their [`Sources`].
#[macro_export]
macro_rules! start_sources {
    ($amqp_uri:expr $(,)?) => {{
        let amqp_uri: String = $amqp_uri;
        let applications = $crate::start_applications!(
            $crate::services::listen().await,
            $crate::services::data_dir(),
            Some(amqp_uri.clone()),
        );
        // Awards and reporting fill gaps from each other's log services: reporting's address is needed first.
        let reporting_listener = $crate::services::listen().await;
        let awards_sources = ::std::collections::HashMap::from([
            ("applications".to_owned(), applications.url()),
            ("reporting".to_owned(), $crate::services::url_of(&reporting_listener)),
        ]);
        let awards = $crate::start_awards!(
            $crate::services::listen().await,
            $crate::services::data_dir(),
            Some(amqp_uri.clone()),
            awards_sources,
        );
        let reporting_sources = ::std::collections::HashMap::from([("awards".to_owned(), awards.url())]);
        let reporting = $crate::start_reporting!(
            reporting_listener,
            $crate::services::data_dir(),
            Some(amqp_uri),
            reporting_sources,
        );
        $crate::services::Sources { applications, awards, reporting }
    }};
}

/// Starts the projector (suppression k = 5) on a port of its own with its read models in a temporary
/// directory, on the bus at `amqp_uri` (a `String`), filling gaps from the log services in `source_logs`
/// (by source name, a `BTreeMap`); evaluates to a [`Running`].
#[macro_export]
macro_rules! start_projector {
    ($amqp_uri:expr, $source_logs:expr $(,)?) => {{
        let (amqp_uri, source_logs): (String, _) = ($amqp_uri, $source_logs);
        $crate::Running::start(
            $crate::services::listen().await,
            "projector",
            $crate::services::data_dir(),
            ::projector::service::run,
            |data_dir| ::projector::service::Config {
                data_dir,
                server: $crate::services::server_config(),
                jwt: $crate::jwt(),
                amqp_uri: Some(amqp_uri),
                source_logs,
                suppression_k: 5,
                replica: None,
            },
        )
    }};
}
