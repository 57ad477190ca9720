//! The server on a loopback port, with a service whose one RPC takes a second: a call that outlives the
//! request timeout is cancelled, and a call already running when shutdown begins finishes during the drain.

mod slow_server;

use std::time::Duration;

use service_runtime::{AuthLayer, ServerConfig, Serving, TokenVerifier};
use slow_server::{Server, TAKES, jwt, wait};
use tokio_util::sync::CancellationToken;
use tonic::Code;

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
