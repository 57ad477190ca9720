//! `grants.operations.v1.OperationsService` as every service serves it, over the real RabbitMQ
//! (127.0.0.1:5672, guest/guest) in a vhost of the test's own: the applications service's relay catches up
//! with its log, the awards service's consumer with the applications log's head while its own offer waits
//! for a queue to take it, a source that cannot be reached is reported as such; only the log's readers may
//! ask; a service without the bus reports what waits behind its stored cursor.

mod common;

use std::collections::HashMap;

use common::{start_applications, start_awards};
use contracts::applications::v1::ApplicationsServiceClient;
use contracts::names::service;
use contracts::operations::v1::{self as pb, OperationsServiceClient};
use domain_kernel::Role;
use test_support::authorization::assert_enforced;
use test_support::fixtures::{approve_application, open_round};
use test_support::{Running, Vhost, authed, eventually, token};
use tonic::Code;
use tonic::transport::Channel;

async fn status(channel: &Channel) -> pb::BusStatus {
    let mut client = OperationsServiceClient::new(channel.clone());
    let auditor = token(Role::Auditor, "auditor-1", None);
    client.get_bus_status(authed(pb::GetBusStatusRequest {}, &auditor)).await.unwrap().into_inner()
}

/// Waits until `running`'s relay has published everything it recorded, and returns its status then.
async fn published(running: &Running) -> pb::BusStatus {
    let channel = running.channel().await;
    eventually("the relay to publish everything", || async {
        let status = status(&channel).await;
        let relay = status.relay.expect("a relay");
        (relay.connected && relay.log_next_position > 0 && relay.backlog_events == 0).then_some(status)
    })
    .await
}

#[tokio::test]
async fn the_relays_and_the_consumer_are_shown_catching_up_and_only_the_logs_readers_may_ask() {
    let vhost = Vhost::create();
    let applications = start_applications(tempfile::tempdir().unwrap(), Some(vhost.uri())).await;
    // Nothing listens at reporting's address: its head cannot be read.
    let sources = HashMap::from([
        (service::APPLICATIONS.to_owned(), applications.url()),
        (service::REPORTING.to_owned(), "http://127.0.0.1:1".to_owned()),
    ]);
    let awards = start_awards(tempfile::tempdir().unwrap(), Some(vhost.uri()), sources).await;
    approve_application(applications.channel().await, &uuid::Uuid::new_v4().to_string()).await;

    let shown = published(&applications).await;
    assert_eq!((shown.service.as_str(), shown.with_bus), (service::APPLICATIONS, true));
    assert!(shown.consumer.is_none(), "the applications service consumes nothing: {shown:?}");
    let relay = shown.relay.unwrap();
    assert_eq!(relay.published_next_position, relay.log_next_position);
    assert_eq!(relay.oldest_unpublished_age, None);
    let head = relay.log_next_position;

    // Awards' consumer applies the applications log up to its head, and offers the award.
    let channel = awards.channel().await;
    let shown = eventually("awards to apply the applications log up to its head", || async {
        let status = status(&channel).await;
        let consumer = status.consumer.clone().expect("awards consumes");
        let offered = status.relay.as_ref()?.log_next_position > 0;
        (consumer.sources[0].behind == Some(0) && offered).then_some(status)
    })
    .await;
    assert_eq!((shown.service.as_str(), shown.with_bus), (service::AWARDS, true));
    let consumer = shown.consumer.unwrap();
    assert!(consumer.connected);
    let names: Vec<&str> = consumer.sources.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, [service::APPLICATIONS, service::REPORTING]);
    let (from_applications, from_reporting) = (&consumer.sources[0], &consumer.sources[1]);
    assert_eq!(from_applications.head_next_position, Some(head), "{from_applications:?}");
    assert_eq!(from_applications.applied_next_position, Some(head));
    assert_eq!(from_applications.error, "");
    assert_eq!((from_reporting.head_next_position, from_reporting.behind), (None, None), "{from_reporting:?}");
    assert!(from_reporting.error.contains("reporting"), "{from_reporting:?}");
    // No queue of this vhost takes awards' events (no reporting service runs): the relay keeps the offer
    // and shows it waiting.
    let relay = shown.relay.unwrap();
    assert!(relay.connected);
    assert_eq!((relay.published_next_position, relay.backlog_events), (0, relay.log_next_position), "{relay:?}");
    assert!(relay.oldest_unpublished_age.is_some(), "{relay:?}");

    // The log's readers only: partners, reviewers and finance officers are refused.
    assert_enforced(
        &applications.channel().await,
        pb::SERVICE_NAME,
        "GetBusStatus",
        &[Role::Auditor, Role::Administrator, Role::ProgramOfficer],
    )
    .await;
    let partner = token(Role::Partner, "partner-1", Some(&uuid::Uuid::new_v4().to_string()));
    let refused = OperationsServiceClient::new(channel)
        .get_bus_status(authed(pb::GetBusStatusRequest {}, &partner))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("GetBusStatus"), "{}", refused.message());

    awards.stop().await;
    applications.stop().await;
}

#[tokio::test]
async fn without_the_bus_a_service_reports_what_waits_behind_its_stored_cursor() {
    let applications = start_applications(tempfile::tempdir().unwrap(), None).await;
    let mut client = applications.client(ApplicationsServiceClient::new).await;
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    client.open_round(authed(open_round(), &officer)).await.unwrap();
    client.open_round(authed(open_round(), &officer)).await.unwrap();

    let shown = status(&applications.channel().await).await;
    assert_eq!((shown.service.as_str(), shown.with_bus), (service::APPLICATIONS, false));
    assert!(shown.consumer.is_none());
    let relay = shown.relay.expect("its log waits to be published");
    assert!(!relay.connected);
    assert_eq!(relay.published_next_position, 0, "no run with the bus stored a cursor");
    assert!(relay.backlog_events >= 2, "{relay:?}");
    assert_eq!(relay.backlog_events, relay.log_next_position);
    assert!(relay.oldest_unpublished_age.is_some(), "{relay:?}");

    // Without the bus, the awards service runs no consumer.
    let awards = start_awards(tempfile::tempdir().unwrap(), None, HashMap::new()).await;
    let shown = status(&awards.channel().await).await;
    assert_eq!((shown.service.as_str(), shown.with_bus, shown.consumer), (service::AWARDS, false, None));
    assert_eq!(shown.relay.map(|relay| (relay.backlog_events, relay.connected)), Some((0, false)));

    awards.stop().await;
    applications.stop().await;
}
