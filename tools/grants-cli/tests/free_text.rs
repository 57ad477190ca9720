//! Free text about the people served, end to end, with the four real services in this process and the real
//! RabbitMQ, the three layers of victim safety together: a narrative that identifies someone is refused by
//! the guard; a canary sentence that passes it (in a narrative and in a revision reason) is sealed before
//! anything records it, so it appears in clear in no file under any data directory, in no message on the
//! bus and in no `grants export`; the owning service shows it to the roles that read reports; the report's
//! counts are published perturbed and suppressed; after a safeguarding erasure nobody can read the text
//! any more, across a restart, and every log still verifies.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use contracts::common::v1::ErasureReason;
use contracts::names::service::{AWARDS, REPORTING};
use contracts::projector::v1::{self as pj, ProjectorServiceClient};
use contracts::reporting::v1::{self as rp, ReportingServiceClient};
use domain_kernel::Role;
use event_bus::lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use event_bus::lapin::types::FieldTable;
use event_bus::lapin::{Connection, ConnectionProperties, ExchangeKind};
use test_support::disk::{contains, files_containing};
use test_support::services::listen;
use test_support::{Vhost, authed, eventually, request_id, token};

mod platform_in_process;

const NARRATIVE_CANARY: &str = "The canary sang in the shelter at dawn";
const REASON_CANARY: &str = "Please say more about the canary of the night shift";

/// Every message published on the events exchange of `uri`'s vhost, kept in a queue of the test's own.
struct Capture {
    channel: event_bus::lapin::Channel,
    _connection: Connection,
}

impl Capture {
    async fn bind(uri: &str) -> Capture {
        let connection = Connection::connect(uri, ConnectionProperties::default()).await.unwrap();
        // The relays declare the exchange when they connect; wait for it rather than race them. A passive
        // declaration of a missing exchange closes its channel: each attempt has a channel of its own.
        eventually("the events exchange", || {
            let connection = &connection;
            async move {
                let channel = connection.create_channel().await.ok()?;
                let passive = ExchangeDeclareOptions { passive: true, ..Default::default() };
                channel
                    .exchange_declare("grants.events".into(), ExchangeKind::Topic, passive, FieldTable::default())
                    .await
                    .ok()
            }
        })
        .await;
        let channel = connection.create_channel().await.unwrap();
        channel.queue_declare("capture".into(), QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
        channel
            .queue_bind(
                "capture".into(),
                "grants.events".into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Capture { channel, _connection: connection }
    }

    /// The bodies and properties (type, headers) of every message captured so far, as raw bytes.
    async fn drain(&self) -> Vec<Vec<u8>> {
        let mut messages = Vec::new();
        while let Some(message) =
            self.channel.basic_get("capture".into(), BasicGetOptions { no_ack: true }).await.unwrap()
        {
            let mut bytes = message.delivery.data.clone();
            bytes.extend(format!("{:?}", message.delivery.properties).into_bytes());
            messages.push(bytes);
        }
        messages
    }
}

/// Runs `grants` against the platform as an auditor (off the runtime's workers).
async fn grants(endpoints: &[(String, String)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_grants"));
    for (name, url) in endpoints {
        command.arg("--endpoint").arg(format!("{name}={url}"));
    }
    command.args(args).env("GRANTS_TOKEN", token(Role::Auditor, "auditor-1", None)).env_remove("GRANTS_JWT_SECRET");
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

async fn report(client: &ReportingServiceClient<tonic::transport::Channel>, award_id: &str) -> rp::Report {
    let request =
        rp::GetReportRequest { award_id: award_id.into(), report_ref: "progress-1".into(), ..Default::default() };
    let officer = token(Role::ProgramOfficer, "officer-2", None);
    client.clone().get_report(authed(request, &officer)).await.unwrap().into_inner().report.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrative_is_sealed_everywhere_and_once_erased_nobody_reads_it_again() {
    let vhost = Vhost::create();
    let (sources, projector, endpoints) = platform_in_process::start(vhost.uri()).await;
    let capture = Capture::bind(&vhost.uri()).await;

    // An approved application becomes an award over the bus; its agreement is signed; reporting schedules.
    let organisation = uuid::Uuid::new_v4().to_string();
    let platform_in_process::SignedGrant { award_id, reporting, .. } =
        platform_in_process::signed_grant(&sources, &organisation).await;

    // The partner reports with the canary in its narrative; the officer asks for a revision with another.
    let partner = token(Role::Partner, "partner-1", Some(&organisation));
    let officer = token(Role::ProgramOfficer, "officer-2", None);
    let progress = rp::ProgressContent {
        narrative: format!("{NARRATIVE_CANARY}; forty survivors were sheltered this period."),
        indicators: vec![rp::IndicatorValue {
            indicator_id: "legal_cases_prosecution".into(),
            total: 3,
            cells: vec![],
        }],
    };
    let (submit, submitted) = platform_in_process::submit_progress(&reporting, &partner, &award_id, progress).await;
    let narrative =
        |r: &rp::Report| r.versions[0].submission.as_ref().unwrap().progress.as_ref().unwrap().narrative.clone();
    assert!(narrative(submitted.report.as_ref().unwrap()).starts_with(NARRATIVE_CANARY), "the answer shows it");
    let retried = reporting.clone().submit_report(authed(submit.clone(), &partner)).await.unwrap().into_inner();
    assert_eq!(retried, submitted, "a retry returns the first answer, kept sealed");
    let revision = rp::RequestRevisionRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "progress-1".into(),
        reasons: vec![REASON_CANARY.into()],
    };
    reporting.clone().request_revision(authed(revision, &officer)).await.unwrap();
    // Readers with a role that sees reports read the text through the owning service.
    let seen = report(&reporting, &award_id).await;
    assert!(narrative(&seen).starts_with(NARRATIVE_CANARY));
    assert_eq!(seen.versions[0].revision_reasons, [REASON_CANARY]);
    // A resubmission that names someone is refused by the guard and records nothing.
    let mut resubmit = submit.clone();
    resubmit.request_id = request_id();
    resubmit.progress.as_mut().unwrap().narrative = "Ms. Sokha can be reached on +855 12 345 678.".into();
    let refused = reporting.clone().submit_report(authed(resubmit.clone(), &partner)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("progress.narrative") && !refused.message().contains("345"), "{refused:?}");
    assert_eq!(report(&reporting, &award_id).await.versions.len(), 1, "the refusal recorded nothing");
    // The revised version passes, is accepted, and its counts reach the projector.
    resubmit.request_id = request_id();
    resubmit.progress.as_mut().unwrap().narrative = format!("{NARRATIVE_CANARY}; three legal cases were supported.");
    reporting.clone().submit_report(authed(resubmit, &partner)).await.unwrap();
    let accept = rp::AcceptReportRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "progress-1".into(),
        expected_version: None,
    };
    reporting.clone().accept_report(authed(accept, &officer)).await.unwrap();
    // Published counts: 3 legal cases is below k = 5, so it is withheld, never shown exactly.
    let projector_client = ProjectorServiceClient::new(projector.channel().await);
    let legal_cases = eventually("the accepted report's counts in the projector", || {
        let (mut client, officer) = (projector_client.clone(), officer.clone());
        async move {
            let request = pj::GetProgramSummaryRequest::default();
            let summary = client.get_program_summary(authed(request, &officer)).await.ok()?.into_inner();
            summary.indicators.into_iter().find(|i| i.indicator_id == "legal_cases_prosecution")
        }
    })
    .await;
    let total = legal_cases.total.unwrap();
    assert!(total.suppressed && total.value == 0, "a count below k is withheld: {total:?}");

    // Everything published reaches the capture queue and the projector (which reads reports' counts). What
    // is taken from the queue is gone from it: kept here across attempts.
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        messages.extend(capture.drain().await);
        if messages.iter().any(|m| contains(m, "ReportAccepted")) {
            break;
        }
        assert!(Instant::now() < deadline, "timed out waiting for the acceptance on the bus");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for published in ["ReportSubmitted", "RevisionRequested"] {
        assert!(messages.iter().any(|m| contains(m, published)), "{published} was published");
    }
    for canary in [NARRATIVE_CANARY, REASON_CANARY] {
        assert!(!messages.iter().any(|m| contains(m, canary)), "{canary:?} in clear in a message on the bus");
    }
    let export_dir = tempfile::tempdir().unwrap();
    let export_file = export_dir.path().join("export.jsonl");
    let exported = grants(&endpoints, &["export", "--all", "--output", export_file.to_str().unwrap()]).await;
    assert!(exported.status.success(), "export: {}", String::from_utf8_lossy(&exported.stderr));
    let export = std::fs::read(&export_file).unwrap();
    assert!(contains(&export, "sealed_text"), "the export holds the sealed text");
    for canary in [NARRATIVE_CANARY, REASON_CANARY] {
        assert!(!contains(&export, canary), "{canary:?} in clear in grants export");
    }

    // A safeguarding erasure: a code, not words; partners may not; then nobody reads the text.
    let erase = |reason: ErasureReason| rp::EraseReportTextRequest {
        request_id: request_id(),
        award_id: award_id.clone(),
        report_ref: "progress-1".into(),
        reason: reason as i32,
    };
    let refused = reporting.clone().erase_report_text(authed(erase(ErasureReason::Unspecified), &officer)).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::InvalidArgument);
    let refused =
        reporting.clone().erase_report_text(authed(erase(ErasureReason::IdentifiesPersonServed), &partner)).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
    let erased = reporting
        .clone()
        .erase_report_text(authed(erase(ErasureReason::IdentifiesPersonServed), &officer))
        .await
        .unwrap()
        .into_inner();
    let after = erased.report.unwrap();
    assert_eq!(narrative(&after), contracts::free_text::ERASED_TEXT);
    assert_eq!(after.versions[0].revision_reasons, [contracts::free_text::ERASED_TEXT]);
    assert_eq!(after.versions.len(), 2);
    let second = after.versions[1].submission.as_ref().unwrap().progress.as_ref().unwrap();
    assert_eq!(second.narrative, contracts::free_text::ERASED_TEXT, "every version of the report");
    assert_eq!(second.indicators[0].total, 3, "the counts are no free text: they stay");
    let verified = grants(&endpoints, &["verify", "--all"]).await;
    assert!(verified.status.success(), "verify --all: {}", String::from_utf8_lossy(&verified.stdout));

    // Erased for good: across a restart, and no key left that opens what the log holds.
    let dir = sources.reporting.stop().await;
    let keys = dir.path().join(REPORTING).join("personal-data-keys");
    let key_files: Vec<_> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    assert!(key_files.is_empty(), "the report's key is destroyed and no other text was sealed: {key_files:?}");
    let reporting_sources = std::collections::HashMap::from([(AWARDS.to_owned(), sources.awards.url())]);
    let restarted = test_support::start_reporting!(listen().await, dir, Some(vhost.uri()), reporting_sources);
    let client = restarted.client(ReportingServiceClient::new).await;
    let after_restart = report(&client, &award_id).await;
    assert_eq!(narrative(&after_restart), contracts::free_text::ERASED_TEXT);
    // Every service stopped, so that nothing is left unflushed: no data directory holds the text in clear.
    let dirs = [
        restarted.stop().await,
        projector.stop().await,
        sources.applications.stop().await,
        sources.awards.stop().await,
    ];
    for dir in &dirs {
        let found = files_containing(dir.path(), &[NARRATIVE_CANARY, REASON_CANARY]);
        assert!(found.is_empty(), "in clear on disk: {found:?}");
    }
}
