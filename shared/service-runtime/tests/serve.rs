//! The server on a loopback port, with a service whose one RPC takes a second: a call that outlives the
//! request timeout is cancelled, and a call already running when shutdown begins finishes during the drain.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use domain_kernel::Role;
use futures::future::BoxFuture;
use service_runtime::{AccessTable, AuthLayer, JwtConfig, ServerConfig, Serving, TokenIssuer, TokenVerifier};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Code, Status};

const SERVICE: &str = "test.v1.Slow";
const PATH: &str = "/test.v1.Slow/Wait";
const TAKES: Duration = Duration::from_secs(1);

/// Answers every call after [`TAKES`], telling `started` when a call arrives.
#[derive(Clone)]
struct Slow {
    started: Arc<Notify>,
}

impl NamedService for Slow {
    const NAME: &'static str = SERVICE;
}

impl tower::Service<http::Request<Body>> for Slow {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let wait = Wait { started: self.started.clone() };
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<(), ()>::default());
            Ok(grpc.unary(wait, request).await)
        })
    }
}

struct Wait {
    started: Arc<Notify>,
}

impl tonic::server::UnaryService<()> for Wait {
    type Response = ();
    type Future = BoxFuture<'static, Result<tonic::Response<()>, Status>>;

    fn call(&mut self, _: tonic::Request<()>) -> Self::Future {
        let started = self.started.clone();
        Box::pin(async move {
            started.notify_one();
            tokio::time::sleep(TAKES).await;
            Ok(tonic::Response::new(()))
        })
    }
}

fn jwt() -> JwtConfig {
    JwtConfig {
        secret: b"serve-test-secret-serve-test-secret".to_vec(),
        issuer: "grants-test".into(),
        audience: "grants".into(),
    }
}

struct Server {
    address: String,
    started: Arc<Notify>,
    shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(config: ServerConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log = event_log::EventLog::open(dir.path().join("log")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let started = Arc::new(Notify::new());
        let auth = AuthLayer::new(
            TokenVerifier::new(&jwt()).unwrap(),
            vec![AccessTable::new(SERVICE).allow("Wait", &[Role::ProgramOfficer])],
        );
        let routes = tonic::service::Routes::new(Slow { started: started.clone() });
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let serving = tokio::spawn(async move {
            let serving = Serving {
                service_names: &[SERVICE],
                file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
                log,
                log_owner: "test",
                bus: None,
                checkpoints: None,
            };
            service_runtime::serve(listener, &config, auth, routes, serving, stop).await.unwrap();
        });
        Server { address, started, shutdown, serving, _dir: dir }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.serving.await.unwrap();
    }
}

/// Calls the slow RPC as a program officer; returns the status code of the answer.
async fn wait(address: &str) -> Code {
    let channel = tonic::transport::Channel::from_shared(address.to_owned()).unwrap().connect().await.unwrap();
    let issuer = TokenIssuer::new(&jwt()).unwrap();
    let token = issuer.issue(Role::ProgramOfficer, "officer-1", None, Duration::from_secs(600)).unwrap();
    let mut request = tonic::Request::new(());
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let answer = grpc.unary(request, PATH.parse().unwrap(), tonic_prost::ProstCodec::<(), ()>::default()).await;
    answer.err().map_or(Code::Ok, |status| status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_outlives_the_request_timeout_is_cancelled() {
    let server = Server::start(ServerConfig { request_timeout: TAKES / 5, ..ServerConfig::default() }).await;
    assert_eq!(wait(&server.address).await, Code::Cancelled);
    server.stop().await;

    // With room for it, the same call succeeds: the timeout, not the service, cancelled the first.
    let server = Server::start(ServerConfig { request_timeout: TAKES * 10, ..ServerConfig::default() }).await;
    assert_eq!(wait(&server.address).await, Code::Ok);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_running_when_shutdown_begins_finishes_during_the_drain() {
    let config = ServerConfig { request_timeout: TAKES * 10, drain_timeout: TAKES * 10, ..ServerConfig::default() };
    let server = Server::start(config).await;
    let address = server.address.clone();
    let call = tokio::spawn(async move { wait(&address).await });
    server.started.notified().await;

    server.shutdown.cancel();
    assert_eq!(call.await.unwrap(), Code::Ok, "the call in flight was answered");
    server.serving.await.unwrap();
}

#[tokio::test]
async fn a_checkpoint_key_without_a_checked_log_is_refused_and_a_checked_one_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let log = event_log::EventLog::open(dir.path().join("log")).unwrap();
    let checkpoint = service_runtime::CheckpointConfig {
        seed: [2u8; 32],
        previous_public_keys: Vec::new(),
        interval: Duration::from_secs(3600),
    };
    let config = ServerConfig { checkpoint: Some(checkpoint), ..ServerConfig::default() };
    let serve = |checkpoints| {
        let (log, config) = (log.clone(), config.clone());
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let serving = Serving {
                service_names: &[],
                file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
                log,
                log_owner: "test",
                bus: None,
                checkpoints,
            };
            let auth = AuthLayer::new(TokenVerifier::new(&jwt()).unwrap(), Vec::new());
            let shutdown = CancellationToken::new();
            shutdown.cancel();
            service_runtime::serve(listener, &config, auth, tonic::service::Routes::default(), serving, shutdown).await
        }
    };
    // A service that skipped the check would serve without ever signing: it is refused instead.
    let unchecked = serve(None).await.unwrap_err();
    assert_eq!(
        unchecked.to_string(),
        "refusing to start: a checkpoint key is configured but the test log was not checked against it"
    );
    let checked = service_runtime::server::check_log_against_checkpoint(&log, "test", &config).await.unwrap();
    assert!(checked.is_some(), "a key gives a signer");
    serve(checked).await.unwrap();
    let unsigned = ServerConfig::default();
    assert!(service_runtime::server::check_log_against_checkpoint(&log, "test", &unsigned).await.unwrap().is_none());
}
