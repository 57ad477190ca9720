//! Starts the real service on a loopback port with its log in a temporary directory, and issues tokens.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use applications::service::{Config, run};
use contracts::applications::v1::ApplicationsServiceClient;
use service_runtime::{JwtConfig, Role, ServerConfig, TokenIssuer};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub fn jwt() -> JwtConfig {
    JwtConfig {
        secret: b"test-secret-test-secret-test-secret".to_vec(),
        issuer: "grants-test".into(),
        audience: "grants".into(),
    }
}

pub fn token(role: Role, subject: &str, organisation: Option<&str>) -> String {
    TokenIssuer::new(&jwt()).unwrap().issue(role, subject, organisation, Duration::from_secs(600)).unwrap()
}

pub struct TestServer {
    pub address: SocketAddr,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        TestServer::start_in(dir).await
    }

    pub async fn start_in(dir: tempfile::TempDir) -> TestServer {
        TestServer::start_with(dir, None).await
    }

    pub async fn start_with(dir: tempfile::TempDir, amqp_uri: Option<String>) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let config = Config {
            data_dir: dir.path().join("applications"),
            server: ServerConfig { drain_timeout: Duration::from_secs(2), ..ServerConfig::default() },
            jwt: jwt(),
            amqp_uri,
        };
        let token = shutdown.clone();
        let handle = tokio::spawn(async move { run(listener, config, token).await.expect("service runs") });
        TestServer { address, dir, shutdown, handle: Some(handle) }
    }

    pub async fn client(&self) -> ApplicationsServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.address)).unwrap().connect().await.unwrap();
        ApplicationsServiceClient::new(channel)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address)).unwrap().connect().await.unwrap()
    }

    /// Shuts the server down gracefully and waits until its log is closed; returns the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap();
        }
        self.dir
    }
}

/// A request with a bearer token.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
