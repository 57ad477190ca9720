//! The whole platform in this process for a suite: the three source services (`start_sources!`) and a
//! projector reading them, on one vhost; and a grant taken through it to a signed agreement.

#![allow(dead_code)] // Each including test uses its own subset.

use contracts::applications::v1 as apps;
use contracts::awards::v1::{self as aw, AwardsServiceClient};
use contracts::names::service::PROJECTOR;
use contracts::reporting::v1::{self as rp, ReportingServiceClient};
use domain_kernel::Role;
use test_support::fixtures::{self, agree_and_sign, approve_application};
use test_support::services::Sources;
use test_support::{Running, authed, eventually, start_projector, start_sources, token};
use tonic::transport::Channel;

/// The four services on `amqp_uri`'s vhost, and every one's address for `grants --endpoint`.
pub async fn start(amqp_uri: String) -> (Sources, Running, Vec<(String, String)>) {
    let sources = start_sources!(amqp_uri.clone());
    let urls = sources.urls();
    let projector = start_projector!(amqp_uri, urls);
    let mut endpoints: Vec<(String, String)> = sources.urls().into_iter().collect();
    endpoints.push((PROJECTOR.into(), projector.url()));
    (sources, projector, endpoints)
}

/// `grants` against `endpoints`, able to issue tokens with the test services' secret, issuer and audience, and
/// taking nothing from the environment that would change whom it calls or as whom.
pub fn grants(endpoints: &[(String, String)], args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_grants"));
    for (name, url) in endpoints {
        command.arg("--endpoint").arg(format!("{name}={url}"));
    }
    let jwt = test_support::jwt();
    command
        .args(args)
        .env("GRANTS_JWT_SECRET", String::from_utf8(jwt.secret).unwrap())
        .env("GRANTS_JWT_ISSUER", jwt.issuer)
        .env("GRANTS_JWT_AUDIENCE", jwt.audience)
        .env_remove("GRANTS_TOKEN")
        .env_remove("GRANTS_ENDPOINTS");
    command
}

/// The partner submits the progress report `progress-1` of `award_id` with `progress` and every attestation
/// given; the request, for a retry.
pub async fn submit_progress(
    reporting: &ReportingServiceClient<Channel>,
    partner: &str,
    award_id: &str,
    progress: rp::ProgressContent,
) -> (rp::SubmitReportRequest, rp::ReportResponse) {
    let submit = rp::SubmitReportRequest {
        request_id: fixtures::request_id(),
        award_id: award_id.to_owned(),
        report_ref: "progress-1".into(),
        progress: Some(progress),
        attestations: Some(rp::Attestations {
            consent_for_data_use: true,
            safeguarding_and_child_protection: true,
            fraud_and_anti_corruption: true,
        }),
        ..Default::default()
    };
    let submitted = reporting.clone().submit_report(authed(submit.clone(), partner)).await.unwrap().into_inner();
    (submit, submitted)
}

/// A grant with a signed agreement whose obligations are scheduled.
pub struct SignedGrant {
    pub application: apps::Application,
    pub award_id: String,
    pub awards: AwardsServiceClient<Channel>,
    pub reporting: ReportingServiceClient<Channel>,
}

/// An application of `organisation` approved (the fixtures' round and application), its award offered over
/// the bus, the fixtures' agreement signed, and the obligations the reporting service schedules from it.
pub async fn signed_grant(sources: &Sources, organisation: &str) -> SignedGrant {
    let application = approve_application(sources.applications.channel().await, organisation).await;
    let application_id = awards::domain::ApplicationId::parse("", &application.application_id).unwrap();
    let award_id = awards::domain::AwardId::for_application(application_id).to_string();
    let mut awards_client = sources.awards.client(AwardsServiceClient::new).await;
    let auditor = token(Role::Auditor, "auditor-1", None);
    eventually("the award offered from the bus", || {
        let (mut client, request) = (awards_client.clone(), aw::GetAwardRequest { award_id: award_id.clone() });
        let auditor = auditor.clone();
        async move { client.get_award(authed(request, &auditor)).await.ok() }
    })
    .await;
    agree_and_sign(&mut awards_client, &award_id, fixtures::agreement()).await;
    let reporting = sources.reporting.client(ReportingServiceClient::new).await;
    eventually("the obligations scheduled from the bus", || {
        let (mut client, auditor) = (reporting.clone(), auditor.clone());
        let request = rp::GetObligationsRequest { award_id: award_id.clone(), as_of: None };
        async move {
            client.get_obligations(authed(request, &auditor)).await.ok().filter(|r| !r.get_ref().obligations.is_empty())
        }
    })
    .await;
    SignedGrant { application, award_id, awards: awards_client, reporting }
}
