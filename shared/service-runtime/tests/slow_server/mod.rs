//! A server on a loopback port with one RPC that takes a second (`test.v1.Slow/Wait`), and its calls: what
//! the tests of serving and of request logs share.

#![allow(dead_code)] // Each test binary uses its own part.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use domain_kernel::Role;
use event_log::TraceContext;
use futures::future::BoxFuture;
use service_runtime::{AccessTable, AuthLayer, JwtConfig, ServerConfig, Serving, TokenIssuer, TokenVerifier};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Code, Status};

pub const SERVICE: &str = "test.v1.Slow";
pub const PATH: &str = "/test.v1.Slow/Wait";
pub const TAKES: Duration = Duration::from_secs(1);

/// Answers every call after [`TAKES`], telling `started` when a call arrives and noting the trace context
/// it runs in.
#[derive(Clone)]
struct Slow {
    started: Arc<Notify>,
    traces: Arc<Mutex<Vec<Option<TraceContext>>>>,
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
        let wait = Wait { started: self.started.clone(), traces: self.traces.clone() };
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<(), ()>::default());
            Ok(grpc.unary(wait, request).await)
        })
    }
}

struct Wait {
    started: Arc<Notify>,
    traces: Arc<Mutex<Vec<Option<TraceContext>>>>,
}

impl tonic::server::UnaryService<()> for Wait {
    type Response = ();
    type Future = BoxFuture<'static, Result<tonic::Response<()>, Status>>;

    fn call(&mut self, _: tonic::Request<()>) -> Self::Future {
        self.traces.lock().unwrap().push(service_runtime::request_log::current_trace());
        let started = self.started.clone();
        Box::pin(async move {
            started.notify_one();
            tokio::time::sleep(TAKES).await;
            Ok(tonic::Response::new(()))
        })
    }
}

pub fn jwt() -> JwtConfig {
    JwtConfig {
        secret: b"serve-test-secret-serve-test-secret".to_vec(),
        issuer: "grants-test".into(),
        audience: "grants".into(),
    }
}

pub struct Server {
    pub address: String,
    pub started: Arc<Notify>,
    pub traces: Arc<Mutex<Vec<Option<TraceContext>>>>,
    pub shutdown: CancellationToken,
    pub serving: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(config: ServerConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log = event_log::EventLog::open(dir.path().join("log")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let started = Arc::new(Notify::new());
        let auth = AuthLayer::new(
            TokenVerifier::new(&jwt()).unwrap(),
            vec![AccessTable::new(SERVICE).allow("Wait", &[Role::ProgramOfficer])],
        );
        let traces = Arc::default();
        let routes = tonic::service::Routes::new(Slow { started: started.clone(), traces: Arc::clone(&traces) });
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
        Server { address, started, traces, shutdown, serving, _dir: dir }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.serving.await.unwrap();
    }
}

/// A program officer's token.
pub fn token() -> String {
    let issuer = TokenIssuer::new(&jwt()).unwrap();
    issuer.issue(Role::ProgramOfficer, "officer-1", None, Duration::from_secs(600)).unwrap()
}

/// Calls the slow RPC as a program officer; returns the status code of the answer.
pub async fn wait(address: &str) -> Code {
    call(address, Some(&token()), None).await
}

/// Calls the slow RPC with this token and `traceparent` metadata, if given.
pub async fn call(address: &str, token: Option<&str>, traceparent: Option<&str>) -> Code {
    let channel = tonic::transport::Channel::from_shared(address.to_owned()).unwrap().connect().await.unwrap();
    let mut request = tonic::Request::new(());
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    if let Some(traceparent) = traceparent {
        request.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let answer = grpc.unary(request, PATH.parse().unwrap(), tonic_prost::ProstCodec::<(), ()>::default()).await;
    answer.err().map_or(Code::Ok, |status| status.code())
}
