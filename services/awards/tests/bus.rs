//! Over the real RabbitMQ (127.0.0.1:5672, guest/guest), in a vhost of the test's own: an application
//! approved in the applications service becomes an award offer here without anyone calling this service;
//! a tranche is released only after its gating report is accepted (the reporting service is simulated by
//! a log of its own published by a relay, as the real one will be); every consumed event delivered twice
//! changes nothing; a gap is filled from the source's log service.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ReportingStandIn, start_applications, start_awards};
use contracts::awards::v1::{self as pb, AwardsServiceClient};
use contracts::names::{service, stream};
use contracts::reporting::v1::{ReportAccepted, ReportKind};
use domain_kernel::Role;
use event_bus::lapin::Confirmation;
use event_log::{EventLog, RecordedEvent};
use test_support::broker::{Publisher, Unrouted};
use test_support::fixtures::{self, agree_and_sign, agreement, approve_application, date, release_tranche, usd};
use test_support::{Running, Vhost, authed, eventually, jwt, token};
use tonic::Code;
use tonic::transport::Channel;

type Client = AwardsServiceClient<Channel>;

/// Waits until the award of `round_id` is offered (the consumer appended it) and returns it.
async fn offered_award(client: &Client, round_id: &str) -> pb::Award {
    let reader = token(Role::Auditor, "auditor-1", None);
    eventually("the award offer", || {
        let mut client = client.clone();
        let request = pb::ListAwardsRequest { round_id: round_id.into(), ..Default::default() };
        let reader = reader.clone();
        async move { client.list_awards(authed(request, &reader)).await.unwrap().into_inner().awards.pop() }
    })
    .await
}

async fn get(client: &Client, award_id: &str) -> pb::Award {
    let request = pb::GetAwardRequest { award_id: award_id.into() };
    let reader = token(Role::Auditor, "auditor-1", None);
    client.clone().get_award(authed(request, &reader)).await.unwrap().into_inner().award.unwrap()
}

/// Waits until the award's reporting requirement `report_ref` is met.
async fn condition_met(client: &Client, award_id: &str, report_ref: &str) -> pb::Award {
    eventually("the reporting condition", || async {
        let award = get(client, award_id).await;
        let met = award.conditions.iter().any(|c| c.met && c.requirement.as_ref().unwrap().report_ref == report_ref);
        met.then_some(award)
    })
    .await
}

async fn set_and_sign(client: &mut Client, award_id: &str) {
    let award = agree_and_sign(client, award_id, agreement()).await;
    assert_eq!(award.status, pb::AwardStatus::Active as i32);
}

fn acceptance(award_id: &str, report_ref: &str, kind: ReportKind, by: &str) -> ReportAccepted {
    ReportAccepted {
        report_id: uuid::Uuid::new_v4().to_string(),
        award_id: award_id.into(),
        report_ref: report_ref.into(),
        kind: kind as i32,
        period_start: date(2026, 1, 1),
        period_end: date(2026, 5, 31),
        organisation_id: String::new(),
        accepted_by: by.into(),
        accepted_at: Some(prost_types::Timestamp { seconds: 1_780_000_000, nanos: 0 }),
    }
}

/// The applications and awards services on one bus, an award offered from a real approval, signed.
struct Platform {
    vhost: Vhost,
    applications: Running,
    awards: Running,
    reporting: ReportingStandIn,
    client: Client,
    award_id: String,
}

impl Platform {
    async fn start() -> Platform {
        let vhost = Vhost::create();
        let awards = start_awards(tempfile::tempdir().unwrap(), Some(vhost.uri()), HashMap::new()).await;
        let applications = start_applications(tempfile::tempdir().unwrap(), Some(vhost.uri())).await;
        let reporting = ReportingStandIn::start(&vhost.uri());
        let organisation_id = uuid::Uuid::new_v4().to_string();
        let application = approve_application(applications.channel().await, &organisation_id).await;
        let mut client = awards.client(AwardsServiceClient::new).await;
        // Nobody calls the awards service: the offer arrives from the bus.
        let offer = offered_award(&client, &application.round_id).await;
        assert_eq!(offer.application_id, application.application_id);
        assert_eq!(offer.organisation_id, organisation_id);
        assert_eq!(offer.status, pb::AwardStatus::Offered as i32);
        assert_eq!(offer.approved_amount, usd(350_000));
        let expected_id = uuid::Uuid::new_v5(
            &awards::domain::AWARD_ID_NAMESPACE,
            uuid::Uuid::parse_str(&application.application_id).unwrap().as_bytes(),
        );
        assert_eq!(offer.award_id, expected_id.to_string());
        set_and_sign(&mut client, &offer.award_id).await;
        Platform { vhost, applications, awards, reporting, client, award_id: offer.award_id }
    }
}

#[tokio::test]
async fn an_approved_application_becomes_an_offer_and_a_gated_tranche_waits_for_its_accepted_report() {
    let mut p = Platform::start().await;
    let award_id = p.award_id.clone();
    let released = release_tranche(&mut p.client, &award_id, "t1", 140_000, "finance-1").await.unwrap();
    assert_eq!(released.released_total, usd(140_000));

    let refused = release_tranche(&mut p.client, &award_id, "t2", 105_000, "finance-2").await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("waits for report `progress-1`"), "{}", refused.message());
    assert_eq!(get(&p.client, &award_id).await.version, 4, "a refused release writes nothing");

    // The reporting service accepts the progress report; finance-1 accepted it.
    p.reporting.accept(&acceptance(&award_id, "progress-1", ReportKind::Progress, "finance-1")).await;
    let award = condition_met(&p.client, &award_id, "progress-1").await;
    let tranche = award.tranches.iter().find(|t| t.tranche.as_ref().unwrap().tranche_id == "t2").unwrap();
    assert!(tranche.conditions_met);

    let refused = release_tranche(&mut p.client, &award_id, "t2", 105_000, "finance-1").await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("segregation of duties"), "{}", refused.message());
    let released = release_tranche(&mut p.client, &award_id, "t2", 105_000, "finance-2").await.unwrap();
    assert_eq!(released.released_total, usd(245_000));
    assert_eq!(released.tranches[1].released_by, "finance-2");

    let history: Vec<String> = get(&p.client, &award_id).await.history.into_iter().map(|h| h.event_type).collect();
    assert_eq!(
        history,
        ["AwardOffered", "AgreementSet", "AgreementSigned", "TrancheReleased", "ReportConditionMet", "TrancheReleased"]
    );
    p.reporting.stop().await;
    p.applications.stop().await;
    p.awards.stop().await;
    drop(p.vhost);
}

/// Publishes `events` of `source` again, as a relay would after losing its confirms (queued before
/// anything published afterwards), and asserts that each one was routed to a queue.
async fn publish_again(uri: &str, source: &str, events: &[RecordedEvent]) {
    for confirmation in test_support::broker::publish_again(uri, source, events, Unrouted::Returned).await {
        assert!(matches!(confirmation, Confirmation::Ack(None)), "the duplicate was routed");
    }
}

fn all_events(log: &EventLog) -> Vec<RecordedEvent> {
    log.read_all(0).collect::<Result<Vec<_>, _>>().unwrap()
}

#[tokio::test]
async fn every_consumed_event_delivered_twice_changes_nothing() {
    let mut p = Platform::start().await;
    let award_id = p.award_id.clone();
    p.reporting.accept(&acceptance(&award_id, "progress-1", ReportKind::Progress, "reviewer-9")).await;
    let before = condition_met(&p.client, &award_id, "progress-1").await;

    // Every event the awards service consumed so far, delivered again (twice more for good measure).
    let applications_dir = p.applications.stop().await;
    let applications_log =
        EventLog::open(applications::service::log_dir(&applications_dir.path().join(service::APPLICATIONS))).unwrap();
    let from_applications = all_events(&applications_log);
    drop(applications_log);
    assert!(from_applications.iter().any(|e| e.event_type == "ApplicationApproved"));
    let from_reporting = all_events(&p.reporting.log);
    for _ in 0..2 {
        publish_again(&p.vhost.uri(), service::APPLICATIONS, &from_applications).await;
        publish_again(&p.vhost.uri(), service::REPORTING, &from_reporting).await;
    }
    // A fresh event behind the duplicates: once it is applied, so were (or were not) they.
    p.reporting.accept(&acceptance(&award_id, "final-1", ReportKind::Final, "reviewer-9")).await;
    let after = condition_met(&p.client, &award_id, "final-1").await;
    assert_eq!(after.version, before.version + 1, "only the fresh event changed the award");
    assert_eq!(after.conditions, {
        let mut expected = before.conditions.clone();
        let fresh = after.conditions.iter().find(|c| c.requirement.as_ref().unwrap().report_ref == "final-1");
        expected[1] = fresh.unwrap().clone();
        expected
    });

    p.reporting.stop().await;
    let dir = p.awards.stop().await;
    let log = EventLog::open(awards::service::log_dir(&dir.path().join(service::AWARDS))).unwrap();
    let types: Vec<String> = all_events(&log).into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["AwardOffered", "AgreementSet", "AgreementSigned", "ReportConditionMet", "ReportConditionMet"]);
    drop(p.vhost);
}

#[tokio::test]
async fn a_gap_in_a_source_is_filled_from_its_log_service() {
    let vhost = Vhost::create();
    // The stand-in for the reporting service serves its log like every service does.
    let reporting_dir = tempfile::tempdir().unwrap();
    let reporting_log = EventLog::open(reporting_dir.path().join(service::REPORTING)).unwrap();
    let log_server = serve_log(reporting_log.clone()).await;
    let sources = HashMap::from([(service::REPORTING.to_owned(), format!("http://{}", log_server.0))]);

    // An award offered and signed without a broker, then the service joins the bus.
    let awards_dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let applications_log = EventLog::open(scratch.path().join(service::APPLICATIONS)).unwrap();
    let application_id = uuid::Uuid::new_v4().to_string();
    let approved =
        fixtures::approved(&application_id, &uuid::Uuid::new_v4().to_string(), &uuid::Uuid::new_v4().to_string());
    let stream = event_log::StreamId::new(stream::APPLICATION, application_id.clone()).unwrap();
    let recorded =
        common::append(&applications_log, stream, "ApplicationApproved", prost::Message::encode_to_vec(&approved))
            .await;
    assert!(common::react_offline(awards_dir.path(), &recorded).await);
    let awards = start_awards(awards_dir, Some(vhost.uri()), sources).await;
    let mut client = awards.client(AwardsServiceClient::new).await;
    let award_id = offered_award(&client, &approved.round_id).await.award_id;
    set_and_sign(&mut client, &award_id).await;

    // Position 0 never reaches the broker; position 1 does, and brings 0 along from the log service.
    let first = acceptance(&award_id, "progress-1", ReportKind::Progress, "reviewer-9");
    let stream = |id: &str| event_log::StreamId::new("report", id.to_owned()).unwrap();
    common::append(&reporting_log, stream(&first.report_id), "ReportAccepted", prost::Message::encode_to_vec(&first))
        .await;
    let second = acceptance(&award_id, "final-1", ReportKind::Final, "reviewer-9");
    let late = common::append(
        &reporting_log,
        stream(&second.report_id),
        "ReportAccepted",
        prost::Message::encode_to_vec(&second),
    )
    .await;
    // The consumer's queue exists once the service has started consuming; publish until it is routed.
    eventually("the consumer's queue", || async {
        let published =
            tokio::time::timeout(Duration::from_secs(5), try_publish(&vhost.uri(), service::REPORTING, &late)).await;
        published.unwrap_or(false).then_some(())
    })
    .await;
    let award = condition_met(&client, &award_id, "final-1").await;
    assert!(award.conditions.iter().all(|c| c.met), "the missing acceptance was read from the log service");
    awards.stop().await;
    log_server.1.cancel();
    drop(vhost);
}

/// Publishes one event; false when no queue took it.
async fn try_publish(uri: &str, source: &str, event: &RecordedEvent) -> bool {
    let publisher = Publisher::connect(uri).await;
    let routed = match publisher.publish(source, event, Unrouted::Returned).await {
        Ok(confirm) => matches!(confirm.await, Ok(Confirmation::Ack(None))),
        Err(_) => false,
    };
    publisher.close().await;
    routed
}

/// Serves `log`'s read-only gRPC service as every service does (the runtime's log access table: auditors
/// read), with no other routes.
async fn serve_log(log: EventLog) -> (std::net::SocketAddr, event_bus::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = event_bus::CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        let verifier = service_runtime::TokenVerifier::new(&jwt()).unwrap();
        let auth = service_runtime::AuthLayer::new(verifier, Vec::new());
        let serving = service_runtime::Serving {
            service_names: &[],
            file_descriptor_set: contracts::FILE_DESCRIPTOR_SET,
            log,
            log_owner: service::REPORTING,
            bus: None,
            checkpoints: None,
        };
        let config = service_runtime::ServerConfig::default();
        let routes = tonic::service::Routes::default();
        service_runtime::serve(listener, &config, auth, routes, serving, token).await.unwrap();
    });
    (address, shutdown)
}
