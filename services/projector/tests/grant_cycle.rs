//! All four services in this process on loopback ports, on the real broker (a vhost of its own): a grant
//! goes from round to second tranche through the real applications, awards and reporting services, and
//! the projector's read models show the right figures, the timeline across services, suppressed
//! indicators, and, as of a time before the second release, a summary without it.

mod support;

use std::time::Duration;

use contracts::awards::v1 as aw;
use contracts::names::service;
use contracts::projector::v1::{self as pb, ProjectorServiceClient};
use contracts::reporting::v1 as rp;
use domain_kernel::Role;
use test_support::fixtures::{agree_and_sign, agreement, approve_application, usd};
use test_support::services::Sources;
use test_support::{authed, eventually_within, request_id, token};

use self::support::platform::Platform;

fn release(award_id: &str, tranche: &str, amount: i64) -> aw::ReleaseTrancheRequest {
    aw::ReleaseTrancheRequest {
        request_id: request_id(),
        award_id: award_id.into(),
        tranche_id: tranche.into(),
        payment: Some(aw::Payment {
            paid_amount: usd(amount),
            payment_reference: format!("PAY-{tranche}"),
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_grant_cycle_the_read_models_show_the_right_figures_and_the_past() {
    let platform = Platform::start().await;
    let Platform { sources: Sources { applications, awards, reporting }, projector, .. } = &platform;

    let org = uuid::Uuid::new_v4().to_string();
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let officer2 = token(Role::ProgramOfficer, "officer-2", None);
    let finance = token(Role::FinanceOfficer, "finance-1", None);
    let auditor = token(Role::Auditor, "auditor-1", None);
    let partner = token(Role::Partner, "partner-1", Some(&org));
    let stranger = token(Role::Partner, "partner-9", Some(&uuid::Uuid::new_v4().to_string()));

    let application = approve_application(applications.channel().await, &org).await;
    let award_id = projector::projection::award_id_for(&application.application_id).unwrap();
    let mut awards_client = awards.client(aw::AwardsServiceClient::new).await;
    eventually_within("the award to be offered", Duration::from_secs(30), || {
        let mut client = awards_client.clone();
        let (award_id, officer) = (award_id.clone(), officer.clone());
        async move { client.get_award(authed(aw::GetAwardRequest { award_id }, &officer)).await.ok() }
    })
    .await;
    agree_and_sign(&mut awards_client, &award_id, agreement()).await;
    awards_client.release_tranche(authed(release(&award_id, "t1", 140_000), &finance)).await.unwrap();

    // The partner reports; another officer accepts; that unlocks the second tranche.
    let mut reporting_client = reporting.client(rp::ReportingServiceClient::new).await;
    eventually_within("the obligations to be scheduled", Duration::from_secs(30), || {
        let mut client = reporting_client.clone();
        let (award_id, officer) = (award_id.clone(), officer.clone());
        async move {
            client.get_obligations(authed(rp::GetObligationsRequest { award_id, as_of: None }, &officer)).await.ok()
        }
    })
    .await;
    let cell = |sex: rp::Sex, count| rp::Cell {
        sex: sex as i32,
        age_band: rp::AgeBand::Years18To24 as i32,
        disability: rp::Disability::WithoutDisability as i32,
        count,
    };
    let submit = rp::SubmitReportRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "progress-1".into(),
        progress: Some(rp::ProgressContent {
            narrative: "Shelter opened".into(),
            indicators: vec![rp::IndicatorValue {
                indicator_id: "persons_assisted_shelter".into(),
                total: 15,
                cells: vec![cell(rp::Sex::Female, 12), cell(rp::Sex::Male, 3)],
            }],
        }),
        financial: None,
        attestations: Some(rp::Attestations {
            consent_for_data_use: true,
            safeguarding_and_child_protection: true,
            fraud_and_anti_corruption: true,
        }),
        expected_version: None,
    };
    let report_id =
        reporting_client.submit_report(authed(submit, &partner)).await.unwrap().into_inner().report.unwrap().report_id;
    let accept = rp::AcceptReportRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "progress-1".into(),
        expected_version: None,
    };
    reporting_client.accept_report(authed(accept, &officer2)).await.unwrap();
    let before_second_release = eventually_within("the second tranche to be released", Duration::from_secs(30), || {
        let mut client = awards_client.clone();
        let (award_id, finance) = (award_id.clone(), finance.clone());
        async move {
            let before = prost_types::Timestamp::from(std::time::SystemTime::now());
            client.release_tranche(authed(release(&award_id, "t2", 105_000), &finance)).await.ok().map(|_| before)
        }
    })
    .await;

    // The projector catches up with all three logs.
    let mut grpc = projector.client(ProjectorServiceClient::new).await;
    let portfolio = eventually_within("the projector to show both releases", Duration::from_secs(30), || {
        let mut grpc = grpc.clone();
        let (org, partner) = (org.clone(), partner.clone());
        async move {
            let request = pb::GetPartnerPortfolioRequest { organisation_id: org, ..Default::default() };
            let portfolio = grpc.get_partner_portfolio(authed(request, &partner)).await.ok()?.into_inner();
            (portfolio.awards.first()?.released == usd(245_000)).then_some(portfolio)
        }
    })
    .await;
    let position = &portfolio.awards[0];
    assert_eq!((position.committed.clone(), position.remaining.clone()), (usd(350_000), usd(105_000)));
    assert_eq!(position.status, "active");
    assert_eq!(portfolio.legal_name, "Safe Harbour Foundation");
    assert_eq!(position.next_report_due.as_ref().map(|o| o.report_ref.as_str()), Some("final-1"));

    let lag = grpc.get_lag(authed(pb::GetLagRequest {}, &auditor)).await.unwrap().into_inner();
    assert_eq!(lag.sources.len(), 3);
    let summary =
        grpc.get_program_summary(authed(pb::GetProgramSummaryRequest::default(), &auditor)).await.unwrap().into_inner();
    let totals = &summary.totals[0];
    assert_eq!(
        (totals.currency.as_str(), totals.awards, totals.committed_minor_units, totals.released_minor_units),
        ("USD", 1, 350_000, 245_000)
    );
    assert_eq!(summary.by_service_type[0].service_type, "SHELTER");
    assert_eq!(summary.by_country[0].country, "KH");
    let indicator = summary.indicators.iter().find(|i| i.indicator_id == "persons_assisted_shelter").unwrap();
    // 15 (12 + 3), shown with the perturbation of its cell key under the development secret.
    let disclosure = projector::disclosure::Disclosure::development(5);
    let total_key = [rp::Sex::Female, rp::Sex::Male]
        .map(|sex| {
            let cell = cell(sex, 0);
            let key = projector::projection::cell_key(cell.sex, cell.age_band, cell.disability);
            disclosure.keys.key(&report_id, "persons_assisted_shelter", &key)
        })
        .into_iter()
        .sum();
    let total = disclosure.table.publish(15, total_key);
    assert_eq!(indicator.total, Some(pb::ProtectedCount { value: total, suppressed: false }));
    assert!(total.abs_diff(15) <= u64::from(summary.perturbation_bound) && summary.perturbation_bound == 2);
    for cell in &indicator.cells {
        assert_eq!(cell.count, Some(pb::ProtectedCount { value: 0, suppressed: true }), "3 is below k and 12 = 15 - 3");
    }

    // As of just before the second release: only the first tranche.
    let as_of = pb::AsOf { point: Some(pb::Point::RecordedAt(before_second_release)) };
    let past = grpc
        .get_program_summary(authed(
            pb::GetProgramSummaryRequest { as_of: Some(as_of), ..Default::default() },
            &auditor,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(past.totals[0].released_minor_units, 140_000);

    let pipeline = grpc
        .get_round_pipeline(authed(
            pb::GetRoundPipelineRequest { round_id: position.round_id.clone(), as_of: None },
            &officer,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((pipeline.requested_total.clone(), pipeline.approved_total.clone()), (usd(400_000), usd(350_000)));

    let request = pb::GetGrantTimelineRequest {
        grant: Some(pb::Grant::ApplicationId(application.application_id.clone())),
        as_of: None,
    };
    let timeline = grpc.get_grant_timeline(authed(request.clone(), &partner)).await.unwrap().into_inner();
    let sources: std::collections::BTreeSet<&str> = timeline.entries.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(sources.into_iter().collect::<Vec<_>>(), [service::APPLICATIONS, service::AWARDS, service::REPORTING]);
    let types: Vec<&str> = timeline.entries.iter().map(|e| e.event_type.as_str()).collect();
    let at = |t: &str| types.iter().position(|x| *x == t).unwrap_or_else(|| panic!("{t} in {types:?}"));
    assert!(at("ApplicationApproved") < at("AwardOffered") && at("AwardOffered") < at("AgreementSigned"));
    assert!(at("ReportAccepted") < at("ReportConditionMet"));
    let released: Vec<_> = timeline.entries.iter().filter(|e| e.event_type == "TrancheReleased").collect();
    assert_eq!(released.len(), 2);
    assert!(released.iter().all(|e| e.actor_subject == "finance-1"));

    // Partners see their own organisation only.
    let status = grpc.get_grant_timeline(authed(request, &stranger)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let request = pb::GetPartnerPortfolioRequest { organisation_id: org.clone(), ..Default::default() };
    assert_eq!(grpc.get_partner_portfolio(authed(request, &stranger)).await.unwrap_err().code(), tonic::Code::NotFound);
    let theirs = grpc
        .get_program_summary(authed(pb::GetProgramSummaryRequest::default(), &stranger))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.totals.is_empty() && theirs.indicators.is_empty());
    let refused = grpc
        .get_round_pipeline(authed(
            pb::GetRoundPipelineRequest { round_id: position.round_id.clone(), as_of: None },
            &partner,
        ))
        .await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);

    platform.stop().await;
}
