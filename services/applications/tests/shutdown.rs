//! Graceful shutdown over the wire: health watchers see NOT_SERVING, streams already open are still
//! served while the server drains, new connections are refused, and the log is closed whole.

use event_log::EventLog;
use test_support::services::{data_dir, listen};
use test_support::{eventually, fixtures};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_reports_not_serving_drains_open_streams_refuses_new_connections_and_closes_the_log() {
    let running = test_support::start_applications!(listen().await, data_dir(), None);
    let organisation = uuid::Uuid::new_v4().to_string();
    let approved = fixtures::approve_application(running.channel().await, &organisation).await;
    let address = running.address;

    // A health watcher: a stream in flight when the stop begins.
    let mut health = HealthClient::new(running.channel().await);
    let service = contracts::applications::v1::SERVICE_NAME.to_owned();
    let mut watch = health.watch(HealthCheckRequest { service }).await.unwrap().into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::Serving as i32);

    let stopping = tokio::spawn(running.stop());

    // The open stream is still served during the drain and tells the watcher the service is going away.
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::NotServing as i32);
    // Nobody new gets in.
    eventually("new connections to be refused", || async move {
        tokio::net::TcpStream::connect(address).await.is_err().then_some(())
    })
    .await;

    // The stop completes although the watcher never hung up (the drain has a deadline), and the log it
    // closed opens again with everything the service acknowledged.
    let dir = stopping.await.unwrap();
    drop(watch);
    let log = EventLog::open(applications::service::log_dir(&dir.path().join("applications"))).unwrap();
    assert!(log.verify(..).unwrap().is_intact());
    let approvals = log.read_all(0).filter(|e| e.as_ref().unwrap().event_type == "ApplicationApproved").count();
    assert_eq!(approvals, 1, "the approval of {} is in the log", approved.application_id);
}
