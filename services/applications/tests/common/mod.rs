//! Starts the real service in this process on a loopback port, with its data in a temporary directory.

// Each test file uses only some of it.
#![allow(dead_code)]

use tempfile::TempDir;
use test_support::Running;
use test_support::services::listen;

/// The service without a bus, with its data in a new temporary directory.
pub async fn start() -> Running {
    start_with(tempfile::tempdir().unwrap(), None).await
}

/// The service with its data (log and keys) in `dir/applications`, publishing to `amqp_uri` if given.
pub async fn start_with(dir: TempDir, amqp_uri: Option<String>) -> Running {
    test_support::start_applications!(listen().await, dir, amqp_uri)
}
