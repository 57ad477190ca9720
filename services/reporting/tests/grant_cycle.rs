//! The whole grant cycle over gRPC and the real RabbitMQ (127.0.0.1:5672, guest/guest), all three
//! services running in this process on loopback ports, each with its own log, on a vhost of the test's
//! own: a round opened, an organisation registered, an application submitted, reviewed and approved; the
//! award offered from the bus, its agreement set and signed; obligations scheduled from the bus; a
//! progress and a financial report submitted, revised and accepted; tranches released only once their
//! gating reports are accepted. Then every event any service consumed is delivered twice more, and
//! nothing changes.

use contracts::awards::v1::{self as awards, AwardsServiceClient};
use contracts::common::v1::Date;
use contracts::reporting::v1::{self as pb, ReportKind, ReportingServiceClient};
use domain_kernel::Role;
use event_bus::lapin::Confirmation;
use event_log::RecordedEvent;
use event_log_grpc::LogClient;
use test_support::broker::Unrouted;
use test_support::disk::files_containing;
use test_support::fixtures::{self, agree_and_sign, approve_application, date, release_tranche, usd};
use test_support::services::Sources;
use test_support::{Vhost, authed, eventually, request_id, start_sources, token};
use tonic::Code;
use tonic::transport::Channel;

type Reporting = ReportingServiceClient<Channel>;
type Awards = AwardsServiceClient<Channel>;

/// The standard agreement with a financial report beside the progress report: tranche t2 waits
/// for both.
fn agreement() -> awards::AgreementTerms {
    let mut terms = fixtures::agreement();
    terms.reports.insert(
        1,
        awards::ReportRequirement {
            report_ref: "financial-1".into(),
            kind: ReportKind::Financial as i32,
            period_start: date(2026, 1, 1),
            period_end: date(2026, 5, 31),
            due_date: date(2026, 6, 10),
        },
    );
    terms.tranches[1].required_reports.push("financial-1".into());
    terms
}

fn attested() -> Option<pb::Attestations> {
    Some(pb::Attestations {
        consent_for_data_use: true,
        safeguarding_and_child_protection: true,
        fraud_and_anti_corruption: true,
    })
}

fn progress(narrative: &str) -> Option<pb::ProgressContent> {
    let cell = |sex: pb::Sex, age: pb::AgeBand, count| pb::Cell {
        sex: sex as i32,
        age_band: age as i32,
        disability: pb::Disability::NotAssessed as i32,
        count,
    };
    Some(pb::ProgressContent {
        narrative: narrative.into(),
        indicators: vec![
            pb::IndicatorValue {
                indicator_id: "persons_assisted_shelter".into(),
                total: 45,
                cells: vec![
                    cell(pb::Sex::Female, pb::AgeBand::Years12To17, 20),
                    cell(pb::Sex::Female, pb::AgeBand::Years18To24, 25),
                ],
            },
            pb::IndicatorValue { indicator_id: "legal_cases_prosecution".into(), total: 3, cells: vec![] },
        ],
    })
}

fn expenditure(shelter: i64, legal: i64) -> Option<pb::FinancialContent> {
    let line =
        |id: &str, spent| pb::LineExpenditure { line_id: id.into(), spent: usd(spent), explanation: String::new() };
    Some(pb::FinancialContent { lines: vec![line("shelter", shelter), line("legal", legal)] })
}

fn submission(award_id: &str, report_ref: &str) -> pb::SubmitReportRequest {
    pb::SubmitReportRequest {
        request_id: request_id(),
        award_id: award_id.into(),
        report_ref: report_ref.into(),
        attestations: attested(),
        ..Default::default()
    }
}

async fn obligations(
    client: &Reporting,
    award_id: &str,
    as_of: Option<Date>,
) -> Result<pb::ObligationsResponse, tonic::Status> {
    let request = pb::GetObligationsRequest { award_id: award_id.into(), as_of };
    let auditor = token(Role::Auditor, "auditor-1", None);
    client.clone().get_obligations(authed(request, &auditor)).await.map(|r| r.into_inner())
}

fn status_of(response: &pb::ObligationsResponse, report_ref: &str) -> pb::ObligationStatus {
    let view = response.obligations.iter().find(|o| o.obligation.as_ref().unwrap().report_ref == report_ref).unwrap();
    pb::ObligationStatus::try_from(view.status).unwrap()
}

async fn get_award(client: &Awards, award_id: &str) -> awards::Award {
    let request = awards::GetAwardRequest { award_id: award_id.into() };
    let auditor = token(Role::Auditor, "auditor-1", None);
    client.clone().get_award(authed(request, &auditor)).await.unwrap().into_inner().award.unwrap()
}

/// Every event of a service's log, read through its log service as an auditor would.
async fn log_of(url: &str) -> Vec<RecordedEvent> {
    let auditor = token(Role::Auditor, "auditor-1", None);
    let mut client = LogClient::connect(url, Some(&auditor)).await.unwrap();
    let head = client.head().await.unwrap().next_position;
    client.read_range(0, head).await.unwrap()
}

fn types(events: &[RecordedEvent]) -> Vec<String> {
    events.iter().map(|e| e.event_type.clone()).collect()
}

/// Publishes `events` of `source` again, as a relay would after losing its confirms (queued before
/// anything published afterwards), and asserts that the broker took each one.
async fn publish_again(uri: &str, source: &str, events: &[RecordedEvent]) {
    for confirmation in test_support::broker::publish_again(uri, source, events, Unrouted::Dropped).await {
        assert!(matches!(confirmation, Confirmation::Ack(_)), "the broker took the duplicate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_grant_cycle_runs_over_the_bus_and_duplicates_change_nothing() {
    let vhost = Vhost::create();
    let Sources { applications, awards: awards_service, reporting } = start_sources!(vhost.uri());
    let reporting_url = reporting.url();
    let mut awards_client = awards_service.client(AwardsServiceClient::new).await;
    let client = reporting.client(ReportingServiceClient::new).await;

    // Round, organisation, application, review and approval in the applications service.
    let organisation_id = uuid::Uuid::new_v4().to_string();
    let application = approve_application(applications.channel().await, &organisation_id).await;
    // The award offer arrives from the bus.
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let award_id = eventually("the award offer", || {
        let mut awards_client = awards_client.clone();
        let request = awards::ListAwardsRequest { round_id: application.round_id.clone(), ..Default::default() };
        let officer = officer.clone();
        async move { awards_client.list_awards(authed(request, &officer)).await.unwrap().into_inner().awards.pop() }
    })
    .await
    .award_id;
    agree_and_sign(&mut awards_client, &award_id, agreement()).await;

    // Obligations are scheduled from AgreementSigned; nobody called the reporting service.
    let schedule = eventually("the obligations", || async { obligations(&client, &award_id, None).await.ok() }).await;
    let refs: Vec<_> = schedule.obligations.iter().map(|o| o.obligation.as_ref().unwrap().report_ref.clone()).collect();
    assert_eq!(refs, ["progress-1", "financial-1", "final-1"]);
    assert_eq!(schedule.organisation_id, organisation_id);
    let before_due = obligations(&client, &award_id, date(2026, 6, 10)).await.unwrap();
    assert_eq!(status_of(&before_due, "progress-1"), pb::ObligationStatus::Open);
    let overdue = obligations(&client, &award_id, date(2026, 6, 15)).await.unwrap();
    assert_eq!(status_of(&overdue, "progress-1"), pb::ObligationStatus::Overdue);
    assert_eq!(overdue.obligations[0].days_overdue, 5);

    // Who may see and do what.
    let partner = token(Role::Partner, "partner-1", Some(&organisation_id));
    let stranger = token(Role::Partner, "partner-9", Some(&uuid::Uuid::new_v4().to_string()));
    let request = pb::GetObligationsRequest { award_id: award_id.clone(), as_of: None };
    let hidden = client.clone().get_obligations(authed(request, &stranger)).await.unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let mut by_stranger = submission(&award_id, "progress-1");
    by_stranger.progress = progress("The shelter assisted 45 survivors.");
    assert_eq!(client.clone().submit_report(authed(by_stranger, &stranger)).await.unwrap_err().code(), Code::NotFound);
    let reviewer = token(Role::Reviewer, "reviewer-1", None);
    let request = pb::GetObligationsRequest { award_id: award_id.clone(), as_of: None };
    let denied = client.clone().get_obligations(authed(request, &reviewer)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The initial tranche is not gated; the interim one waits for its reports.
    release_tranche(&mut awards_client, &award_id, "t1", 140_000, "finance-1").await.unwrap();
    let refused = release_tranche(&mut awards_client, &award_id, "t2", 105_000, "finance-1").await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("waits for report"), "{}", refused.message());
    eventually("the first disbursement in reporting", || async {
        let schedule = obligations(&client, &award_id, None).await.unwrap();
        (schedule.released_total == usd(140_000)).then_some(())
    })
    .await;

    // A narrative that identifies a survivor is refused, naming field and rule, and nothing of it is
    // stored (on disk: checked once the service has stopped).
    let head_before = log_of(&reporting_url).await.len();
    let mut identifying = submission(&award_id, "progress-1");
    identifying.progress = progress("Ms Sokha (mobile +855 12 987 654) was moved to the shelter.");
    let error = client.clone().submit_report(authed(identifying, &partner)).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("`progress.narrative`"), "{}", error.message());
    assert!(error.message().contains("rule `personal-name`"), "{}", error.message());
    assert!(!error.message().contains("Sokha"), "the refused text is not echoed: {}", error.message());
    assert_eq!(log_of(&reporting_url).await.len(), head_before, "a refused report writes nothing");

    // Progress and financial reports: submitted, a revision requested and resubmitted, accepted.
    let mut report = submission(&award_id, "progress-1");
    report.progress = progress("The shelter assisted 45 survivors in 2026; 3 prosecutions were supported.");
    let submitted = client.clone().submit_report(authed(report, &partner)).await.unwrap().into_inner().report.unwrap();
    assert_eq!(submitted.status, pb::ObligationStatus::Submitted as i32);
    let mut report = submission(&award_id, "financial-1");
    report.financial = expenditure(90_000, 30_000);
    client.clone().submit_report(authed(report, &partner)).await.unwrap();

    let finance_reader = token(Role::FinanceOfficer, "finance-1", None);
    let request = pb::ListReportsAwaitingReviewRequest::default();
    let waiting =
        client.clone().list_reports_awaiting_review(authed(request, &finance_reader)).await.unwrap().into_inner();
    assert_eq!(
        waiting.reports.iter().map(|r| r.report_ref.as_str()).collect::<Vec<_>>(),
        ["progress-1", "financial-1"]
    );

    let revise = pb::RequestRevisionRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "financial-1".into(),
        reasons: vec!["Legal aid spending looks low against the court calendar; please check.".into()],
    };
    client.clone().request_revision(authed(revise, &officer)).await.unwrap();
    let mut report = submission(&award_id, "financial-1");
    report.financial = expenditure(90_000, 45_000);
    let resubmitted =
        client.clone().submit_report(authed(report, &partner)).await.unwrap().into_inner().report.unwrap();
    assert_eq!(resubmitted.versions.len(), 2);
    let figures = resubmitted.versions[1].submission.as_ref().unwrap().financial_summary.clone().unwrap();
    assert_eq!(figures.total_spent, usd(135_000));
    assert_eq!(figures.total_variance, usd(135_000 - 350_000));

    for report_ref in ["progress-1", "financial-1"] {
        let accept = pb::AcceptReportRequest {
            request_id: request_id(),
            award_id: award_id.clone(),
            report_ref: report_ref.into(),
            expected_version: None,
        };
        let accepted =
            client.clone().accept_report(authed(accept, &officer)).await.unwrap().into_inner().report.unwrap();
        assert_eq!(accepted.status, pb::ObligationStatus::Accepted as i32);
    }
    let request = pb::GetReportRequest { report_id: resubmitted.report_id.clone(), ..Default::default() };
    let read = client.clone().get_report(authed(request, &partner)).await.unwrap().into_inner().report.unwrap();
    let reviews: Vec<_> = read.versions.iter().map(|v| v.review_status).collect();
    assert_eq!(reviews, [pb::ReviewStatus::RevisionRequested as i32, pb::ReviewStatus::Accepted as i32]);
    assert_eq!(read.versions[1].reviewed_by, "officer-1");

    // The acceptances reach the awards service over the bus: the interim tranche may now be released, by
    // someone who did not accept its reports.
    eventually("the reporting conditions", || async {
        let award = get_award(&awards_client, &award_id).await;
        award.tranches[1].conditions_met.then_some(())
    })
    .await;
    let released = release_tranche(&mut awards_client, &award_id, "t2", 105_000, "finance-1").await.unwrap();
    assert_eq!(released.released_total, usd(245_000));
    // And the releases reach the reporting service (for the final report's unspent balance).
    eventually("the disbursements", || async {
        let schedule = obligations(&client, &award_id, None).await.unwrap();
        (schedule.released_total == usd(245_000)).then_some(())
    })
    .await;

    // Every event any service consumed, delivered twice more.
    let reporting_before = log_of(&reporting_url).await;
    let awards_before = log_of(&awards_service.url()).await;
    let applications_events = log_of(&applications.url()).await;
    for _ in 0..2 {
        publish_again(&vhost.uri(), "applications", &applications_events).await;
        publish_again(&vhost.uri(), "awards", &awards_before).await;
        publish_again(&vhost.uri(), "reporting", &reporting_before).await;
    }
    // Fresh events behind the duplicates, one for each consumer: once they are applied, the duplicates
    // before them in the same queues were handled.
    let suspend = awards::SuspendAwardRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        reason: "Audit visit".into(),
    };
    awards_client.clone().suspend_award(authed(suspend, &officer)).await.unwrap();
    eventually("the suspension in reporting", || async {
        obligations(&client, &award_id, None).await.unwrap().suspended.then_some(())
    })
    .await;
    // Reports may still be submitted while the award is suspended.
    let mut report = submission(&award_id, "final-1");
    report.progress = progress("Over the year the shelter assisted 45 survivors; 3 prosecutions were supported.");
    report.financial = expenditure(200_000, 130_000);
    let final_report =
        client.clone().submit_report(authed(report, &partner)).await.unwrap().into_inner().report.unwrap();
    let unspent = final_report.versions[0]
        .submission
        .as_ref()
        .unwrap()
        .financial_summary
        .as_ref()
        .unwrap()
        .unspent_balance
        .clone();
    assert_eq!(
        unspent,
        usd(245_000 - (90_000 + 45_000) - (200_000 + 130_000)),
        "released less spent over all accepted periods"
    );
    let accept = pb::AcceptReportRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "final-1".into(),
        expected_version: None,
    };
    client.clone().accept_report(authed(accept, &officer)).await.unwrap();
    eventually("the final report in awards", || async {
        let award = get_award(&awards_client, &award_id).await;
        award.conditions.iter().all(|c| c.met).then_some(())
    })
    .await;

    let mut expected = types(&reporting_before);
    expected.extend(["ObligationsSuspended", "ReportSubmitted", "ReportAccepted"].map(String::from));
    let reporting_after = log_of(&reporting_url).await;
    assert_eq!(types(&reporting_after), expected, "only the fresh events changed the reporting service");
    assert_eq!(
        types(&reporting_before),
        [
            "ObligationsScheduled",
            "DisbursementRecorded",
            "ReportSubmitted",
            "ReportSubmitted",
            "RevisionRequested",
            "ReportSubmitted",
            "ReportAccepted",
            "ReportAccepted",
            "DisbursementRecorded",
        ]
    );
    let mut expected = types(&awards_before);
    expected.extend(["AwardSuspended", "ReportConditionMet"].map(String::from));
    let awards_after = log_of(&awards_service.url()).await;
    assert_eq!(types(&awards_after), expected, "only the fresh events changed the awards service");

    // Stopped, reporting has flushed everything it held: nothing of the refused payload is on disk.
    let reporting_dir = reporting.stop().await;
    let refused_payload = files_containing(reporting_dir.path(), &["987 654"]);
    assert!(refused_payload.is_empty(), "nothing of the refused payload is on disk: {refused_payload:?}");
    awards_service.stop().await;
    applications.stop().await;
    drop(vhost);
}
