//! The whole platform in this process for a suite: the three source services (`start_sources!`) and a
//! projector reading them, on one vhost.

use contracts::names::service::PROJECTOR;
use test_support::services::{Sources, listen};
use test_support::{Running, start_sources};

/// The four services on `amqp_uri`'s vhost, and every one's address for `grants --endpoint`.
pub async fn start(amqp_uri: String) -> (Sources, Running, Vec<(String, String)>) {
    let sources = start_sources!(amqp_uri.clone());
    let urls = sources.urls();
    let projector = Running::start(listen().await, PROJECTOR, tempfile::tempdir().unwrap(), projector::service::run, {
        move |data_dir| projector::service::Config {
            data_dir,
            server: test_support::services::server_config(),
            jwt: test_support::jwt(),
            amqp_uri: Some(amqp_uri),
            source_logs: urls,
            suppression_k: 5,
            replica: None,
        }
    });
    let mut endpoints: Vec<(String, String)> = sources.urls().into_iter().collect();
    endpoints.push((PROJECTOR.into(), projector.url()));
    (sources, projector, endpoints)
}
