//! All four services in this process on loopback ports, on the real broker (a vhost of its own): a grant
//! goes from round to second tranche through the real applications, awards and reporting services, and
//! the projector's read models show the right figures, the timeline across services, suppressed
//! indicators, and, as of a time before the second release, a summary without it.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use contracts::applications::v1 as apps;
use contracts::awards::v1 as aw;
use contracts::projector::v1::{self as pb, ProjectorServiceClient};
use contracts::reporting::v1 as rp;
use service_runtime::{Role, ServerConfig};
use support::broker::{Vhost, authed, eventually, token};
use support::events::{date, usd};
use support::logs::jwt;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

struct Running {
    address: String,
    handle: tokio::task::JoinHandle<()>,
}

async fn start<F, Fut>(run: F) -> Running
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    Running { address, handle: tokio::spawn(run(listener)) }
}

async fn channel(address: &str) -> Channel {
    Channel::from_shared(address.to_owned()).unwrap().connect().await.unwrap()
}

fn server() -> ServerConfig {
    ServerConfig { drain_timeout: Duration::from_secs(2), ..ServerConfig::default() }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// 350 000: t1 140 000 (ungated), t2 105 000 (gated by `progress-1`), t3 105 000 (gated by `final-1`).
fn agreement() -> aw::AgreementTerms {
    let tranche = |id: &str, kind: aw::TrancheKind, amount, month, reports: &[&str]| aw::Tranche {
        tranche_id: id.into(),
        kind: kind as i32,
        amount: usd(amount),
        due_date: date(2026, month, 15),
        required_reports: reports.iter().map(|r| (*r).to_owned()).collect(),
    };
    let requirement = |reference: &str, kind: rp::ReportKind, end_month, due| aw::ReportRequirement {
        report_ref: reference.into(),
        kind: kind as i32,
        period_start: date(2026, 1, 1),
        period_end: date(2026, end_month, 31),
        due_date: due,
    };
    aw::AgreementTerms {
        amount: usd(350_000),
        period_start: date(2026, 1, 1),
        period_end: date(2026, 12, 31),
        budget_lines: vec![
            aw::BudgetLine { line_id: "shelter".into(), category: "Shelter".into(), amount: usd(210_000) },
            aw::BudgetLine { line_id: "legal".into(), category: "Legal aid".into(), amount: usd(140_000) },
        ],
        tranches: vec![
            tranche("t1", aw::TrancheKind::Initial, 140_000, 1, &[]),
            tranche("t2", aw::TrancheKind::Interim, 105_000, 6, &["progress-1"]),
            tranche("t3", aw::TrancheKind::Final, 105_000, 12, &["final-1"]),
        ],
        reports: vec![
            requirement("progress-1", rp::ReportKind::Progress, 5, date(2026, 6, 10)),
            requirement("final-1", rp::ReportKind::Final, 12, date(2026, 12, 31)),
        ],
        variance_threshold_percent: 10,
    }
}

/// Takes an application of `organisation_id` through the applications service to approval of 350 000.
async fn approve_application(channel: Channel, organisation_id: &str) -> apps::Application {
    let mut client = apps::ApplicationsServiceClient::new(channel);
    let officer = token(Role::ProgramOfficer, "officer-0", None);
    let partner = token(Role::Partner, "partner-1", Some(organisation_id));
    let reviewer = token(Role::Reviewer, "reviewer-1", None);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let at = |offset: i64| Some(prost_types::Timestamp { seconds: now + offset, nanos: 0 });
    let open = apps::OpenRoundRequest {
        request_id: request_id(),
        title: "Round 1".into(),
        description: "Services for survivors".into(),
        budget_ceiling: usd(1_000_000),
        eligible_countries: vec!["KH".into()],
        themes: vec!["shelter".into()],
        opens_at: at(-3600),
        closes_at: at(86_400),
        criteria: vec![apps::Criterion {
            criterion_id: "relevance".into(),
            name: "Relevance".into(),
            guidance: String::new(),
            weight: 100,
            max_score: 10,
        }],
        required_reviews: 1,
    };
    let round = client.open_round(authed(open, &officer)).await.unwrap().into_inner().round.unwrap();
    let register = apps::RegisterOrganisationRequest {
        request_id: request_id(),
        organisation_id: organisation_id.into(),
        legal_name: "Safe Harbour Foundation".into(),
        country: "KH".into(),
        organisation_type: apps::OrganisationType::NationalNgo as i32,
        registration_number: format!("KH-{organisation_id}"),
        contact_person: Some(apps::ContactPerson {
            full_name: "Contact Person".into(),
            email: "c@example.org".into(),
            phone: String::new(),
        }),
    };
    client.register_organisation(authed(register, &officer)).await.unwrap();
    let content = apps::ApplicationContent {
        title: "Shelter in Phnom Penh".into(),
        summary: "Safe shelter and legal aid".into(),
        requested_amount: usd(400_000),
        budget_lines: vec![apps::BudgetLine { description: "Shelter".into(), amount: usd(400_000) }],
        countries: vec!["KH".into()],
        services_offered: vec![apps::ServiceType::Shelter as i32],
        target_groups: vec!["women returning from abroad".into()],
    };
    let draft = apps::DraftApplicationRequest {
        request_id: request_id(),
        round_id: round.round_id.clone(),
        content: Some(content),
    };
    let app = client.draft_application(authed(draft, &partner)).await.unwrap().into_inner().application.unwrap();
    let id = app.application_id.clone();
    let submit =
        apps::SubmitApplicationRequest { request_id: request_id(), application_id: id.clone(), expected_version: None };
    client.submit_application(authed(submit, &partner)).await.unwrap();
    let assign = apps::AssignReviewerRequest {
        request_id: request_id(),
        application_id: id.clone(),
        reviewer_subject: "reviewer-1".into(),
    };
    client.assign_reviewer(authed(assign, &officer)).await.unwrap();
    let declare = apps::DeclareConflictOfInterestRequest {
        request_id: request_id(),
        application_id: id.clone(),
        has_conflict: false,
        statement: String::new(),
    };
    client.declare_conflict_of_interest(authed(declare, &reviewer)).await.unwrap();
    let review = apps::RecordReviewRequest {
        request_id: request_id(),
        application_id: id.clone(),
        scores: vec![apps::CriterionScore { criterion_id: "relevance".into(), score: 8 }],
        recommendation: apps::Recommendation::Fund as i32,
        comment: "Strong".into(),
    };
    client.record_review(authed(review, &reviewer)).await.unwrap();
    let approve = apps::ApproveApplicationRequest {
        request_id: request_id(),
        application_id: id,
        approved_amount: usd(350_000),
        reasons: vec!["Fits the round".into()],
    };
    client.approve_application(authed(approve, &officer)).await.unwrap().into_inner().application.unwrap()
}

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
    let vhost = Vhost::create();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let uri = vhost.uri();

    let (path, amqp, stop) = (dir.path().to_path_buf(), Some(uri.clone()), shutdown.clone());
    let applications = start(move |listener| async move {
        let config = applications::service::Config {
            data_dir: path.join("applications"),
            server: server(),
            jwt: jwt(),
            amqp_uri: amqp,
        };
        applications::service::run(listener, config, stop).await.expect("applications runs");
    })
    .await;
    // Awards and reporting read each other's logs for gap filling: reserve reporting's address first.
    let reporting_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reporting_address = format!("http://{}", reporting_listener.local_addr().unwrap());
    let (path, amqp, stop) = (dir.path().to_path_buf(), Some(uri.clone()), shutdown.clone());
    let logs = HashMap::from([
        ("applications".to_owned(), applications.address.clone()),
        ("reporting".to_owned(), reporting_address.clone()),
    ]);
    let awards = start(move |listener| async move {
        let config = awards::service::Config {
            data_dir: path.join("awards"),
            server: server(),
            jwt: jwt(),
            amqp_uri: amqp,
            source_logs: logs,
        };
        awards::service::run(listener, config, stop).await.expect("awards runs");
    })
    .await;
    let (path, amqp, stop) = (dir.path().to_path_buf(), Some(uri.clone()), shutdown.clone());
    let logs = HashMap::from([("awards".to_owned(), awards.address.clone())]);
    let reporting_handle = tokio::spawn(async move {
        let config = reporting::service::Config {
            data_dir: path.join("reporting"),
            server: server(),
            jwt: jwt(),
            amqp_uri: amqp,
            source_logs: logs,
            indicators: None,
        };
        reporting::service::run(reporting_listener, config, stop).await.expect("reporting runs");
    });
    let (path, amqp, stop) = (dir.path().to_path_buf(), Some(uri.clone()), shutdown.clone());
    let sources = BTreeMap::from([
        ("applications".to_owned(), applications.address.clone()),
        ("awards".to_owned(), awards.address.clone()),
        ("reporting".to_owned(), reporting_address.clone()),
    ]);
    let projector = start(move |listener| async move {
        let config = projector::service::Config {
            data_dir: path.join("projector"),
            server: server(),
            jwt: jwt(),
            amqp_uri: amqp,
            source_logs: sources,
            suppression_k: 5,
        };
        projector::service::run(listener, config, stop).await.expect("projector runs");
    })
    .await;

    let org = uuid::Uuid::new_v4().to_string();
    let officer = token(Role::ProgramOfficer, "officer-1", None);
    let officer2 = token(Role::ProgramOfficer, "officer-2", None);
    let finance = token(Role::FinanceOfficer, "finance-1", None);
    let auditor = token(Role::Auditor, "auditor-1", None);
    let partner = token(Role::Partner, "partner-1", Some(&org));
    let stranger = token(Role::Partner, "partner-9", Some(&uuid::Uuid::new_v4().to_string()));

    let application = approve_application(channel(&applications.address).await, &org).await;
    let award_id = projector::projection::award_id_for(&application.application_id).unwrap();
    let mut awards_client = aw::AwardsServiceClient::new(channel(&awards.address).await);
    eventually("the award to be offered", 30, || {
        let mut client = awards_client.clone();
        let (award_id, officer) = (award_id.clone(), officer.clone());
        async move { client.get_award(authed(aw::GetAwardRequest { award_id }, &officer)).await.ok() }
    })
    .await;
    let set = aw::SetAgreementRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        terms: Some(agreement()),
        expected_version: None,
    };
    awards_client.set_agreement(authed(set, &officer)).await.unwrap();
    let sign =
        aw::SignAgreementRequest { request_id: request_id(), award_id: award_id.clone(), expected_version: None };
    awards_client.sign_agreement(authed(sign, &officer)).await.unwrap();
    awards_client.release_tranche(authed(release(&award_id, "t1", 140_000), &finance)).await.unwrap();

    // The partner reports; another officer accepts; that unlocks the second tranche.
    let mut reporting_client = rp::ReportingServiceClient::new(channel(&reporting_address).await);
    eventually("the obligations to be scheduled", 30, || {
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
    reporting_client.submit_report(authed(submit, &partner)).await.unwrap();
    let accept = rp::AcceptReportRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "progress-1".into(),
        expected_version: None,
    };
    reporting_client.accept_report(authed(accept, &officer2)).await.unwrap();
    let before_second_release = eventually("the second tranche to be released", 30, || {
        let mut client = awards_client.clone();
        let (award_id, finance) = (award_id.clone(), finance.clone());
        async move {
            let before = prost_types::Timestamp::from(std::time::SystemTime::now());
            client.release_tranche(authed(release(&award_id, "t2", 105_000), &finance)).await.ok().map(|_| before)
        }
    })
    .await;

    // The projector catches up with all three logs.
    let mut grpc = ProjectorServiceClient::new(channel(&projector.address).await);
    let portfolio = eventually("the projector to show both releases", 30, || {
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
    assert_eq!(indicator.total, Some(pb::ProtectedCount { value: 15, suppressed: false }));
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
        .get_round_pipeline(authed(pb::GetRoundPipelineRequest { round_id: position.round_id.clone() }, &officer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((pipeline.requested_total.clone(), pipeline.approved_total.clone()), (usd(400_000), usd(350_000)));

    let request =
        pb::GetGrantTimelineRequest { grant: Some(pb::Grant::ApplicationId(application.application_id.clone())) };
    let timeline = grpc.get_grant_timeline(authed(request.clone(), &partner)).await.unwrap().into_inner();
    let sources: std::collections::BTreeSet<&str> = timeline.entries.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(sources.into_iter().collect::<Vec<_>>(), ["applications", "awards", "reporting"]);
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
        .get_round_pipeline(authed(pb::GetRoundPipelineRequest { round_id: position.round_id.clone() }, &partner))
        .await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);

    shutdown.cancel();
    for handle in [applications.handle, awards.handle, projector.handle, reporting_handle] {
        handle.await.unwrap();
    }
}
